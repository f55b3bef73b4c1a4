"""The incremental shipper with the NDJSON sender: rotation, .gz, partial lines, failures, lock."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pytest

from dirsrvbeat.access import fast
from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.access.ship import DeliveryFailed, Locked, RunLock, SendResult, Shipper

SAMPLE = Path(__file__).parent.parent / "data" / "samples" / "access.full.log"
LINES = SAMPLE.read_bytes().splitlines(keepends=True)[:12000]


def one_pass_ids(lines):
    """What a single shipping run over all lines delivers: everything but still-open work."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"onepass-{os.getpid()}.log"
    tmp.write_bytes(b"".join(lines))
    p = AccessPipeline([str(tmp)], connections=True, with_ids=True, flush_at_end=False)
    docs = list(p.documents())
    p.expire_closed(float("inf"), docs)  # the log is old: every closed connection's grace is over
    tmp.unlink()
    return docs


class Collect:
    def __init__(self, fail_on_call: int | None = None):
        self.docs: list[dict] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, docs):
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            self.docs.extend(docs[: len(docs) // 2])  # half delivered, then the server died
            raise DeliveryFailed("simulated outage")
        self.docs.extend(orjson.loads(orjson.dumps(d)) for d in docs)
        return SendResult(acknowledged=len(docs))

    # the compiled engine's sender protocol: NDJSON lines, chunks of BATCH documents
    def framing(self):
        return None

    def limits(self):
        return BATCH, 1 << 30

    def send_framed(self, lines):
        return self([orjson.loads(x) for x in lines])


def ids(docs):
    return [d["event"]["id"] for d in docs]


@pytest.fixture()
def expected():
    return sorted(ids(one_pass_ids(LINES)))


BATCH = 700


@pytest.fixture(params=["python", pytest.param("rust", marks=pytest.mark.skipif(
    not fast.available(), reason="dirsrvbeat_fast is not built (rust/build.sh)"))])
def engine(request):
    return request.param


def ship(tmp_path, sender, pattern="access*", engine="python", **kw):
    shipper = Shipper([str(tmp_path / "logs" / pattern)], str(tmp_path / "state"), sender, batch_docs=BATCH,
                      engine=engine, checkpoint_seconds=0, **kw)
    assert shipper.uses_native() == (engine == "rust")
    return shipper.run()


def test_incremental_runs_deliver_each_document_once(engine, tmp_path, expected):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "access"
    sender = Collect()
    for chunk in (LINES[:3000], LINES[3000:3001], LINES[3001:9000], LINES[9000:]):
        with open(live, "ab") as f:
            f.writelines(chunk)
        ship(tmp_path, sender, engine=engine)
    got = ids(sender.docs)
    assert len(got) == len(set(got))
    assert sorted(got) == expected


@pytest.mark.parametrize("compress", [False, True])
def test_rotation_with_and_without_gzip(engine, tmp_path, expected, compress):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "access"
    live.write_bytes(b"".join(LINES[:5000]))
    sender = Collect()
    ship(tmp_path, sender, engine=engine)
    with open(live, "ab") as f:  # more lines land before the rotation
        f.writelines(LINES[5000:7000])
    rotated = logs / "access.20261204-195244"
    os.rename(live, rotated)
    if compress:
        rotated.with_name(rotated.name + ".gz").write_bytes(gzip.compress(rotated.read_bytes()))
        rotated.unlink()
    live.write_bytes(b"".join(LINES[7000:]))
    ship(tmp_path, sender, engine=engine)
    ship(tmp_path, sender, engine=engine)
    got = ids(sender.docs)
    assert len(got) == len(set(got))
    assert sorted(got) == expected


def test_partial_last_line_waits_for_its_newline(engine, tmp_path, expected):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "access"
    cut = LINES[4000]
    live.write_bytes(b"".join(LINES[:4000]) + cut[:40])
    sender = Collect()
    ship(tmp_path, sender, engine=engine)
    with open(live, "ab") as f:
        f.write(cut[40:])
        f.writelines(LINES[4001:])
    ship(tmp_path, sender, engine=engine)
    assert sorted(ids(sender.docs)) == expected


def test_failed_delivery_does_not_advance_state_and_rerun_completes(engine, tmp_path, expected):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access").write_bytes(b"".join(LINES))
    failing = Collect(fail_on_call=3)
    with pytest.raises(DeliveryFailed):
        ship(tmp_path, failing, engine=engine)
    registry = orjson.loads((tmp_path / "state" / "registry.json").read_bytes())
    (state,) = registry["files"].values()
    assert 0 < state["offset"] < len(b"".join(LINES))
    retry = Collect()
    ship(tmp_path, retry, engine=engine)
    delivered = ids(failing.docs) + ids(retry.docs)
    assert set(delivered) == set(expected)  # nothing lost
    if engine == "python":  # a checkpoint per batch: only the failed batch repeats
        assert sorted(ids(retry.docs) + ids(failing.docs[: 2 * BATCH])) == expected
    else:  # checkpoints at block boundaries: what repeats is the failed chunk and less than a batch + a block
        repeated = len(delivered) - len(set(delivered))
        assert repeated <= 3 * BATCH, repeated


def test_replaced_file_is_read_from_the_start(engine, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "access"
    live.write_bytes(b"".join(LINES[:3000]))
    sender = Collect()
    ship(tmp_path, sender, engine=engine)
    first = len(sender.docs)
    live.unlink()
    live.write_bytes(b"".join(LINES[6000:6500]))  # a new file under the same name, shorter
    ship(tmp_path, sender, engine=engine)
    assert len(sender.docs) > first
    offsets = {d["log"]["offset"] for d in sender.docs[first:] if "log" in d}
    assert offsets and max(offsets) < len(b"".join(LINES[6000:6500]))


def test_second_run_exits_at_once_while_locked(engine, tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "access").write_bytes(b"".join(LINES[:10]))
    with RunLock(str(tmp_path / "state")), pytest.raises(Locked, match="pid"):
        ship(tmp_path, Collect(), engine=engine)
