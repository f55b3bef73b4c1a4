"""The compiled engine (`dirsrvbeat_fast`, rust/) makes exactly the Python pipeline's output.

The Python pipeline (AccessPipeline) is the reference. For every real log we have, for random
mixes of real lines (shuffled, cut, with junk bytes, CRLF, no final newline) and for small read
blocks, both paths must give the same documents in the same order (compared as parsed JSON,
floats included), the same summary counters and the same dead letters.

Skipped when the extension is not built (`rust/build.sh` builds and installs it).
"""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from dirsrvbeat.access import fast
from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.deadletter import DeadLetter

pytestmark = pytest.mark.skipif(not fast.available(),
                                reason="dirsrvbeat_fast is not built (run rust/build.sh to build it)")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "samples" / "access.full.log"
EXAMPLE = ROOT / "examples" / "access"
GOLDEN = sorted((ROOT / "tests" / "golden").glob("**/*.log"))
COMPARED_KEYS = (*fast.SUMMARY_KEYS, "files", "missing_files", "bytes", "errors")
OPTIONS = [dict(connections=True, with_ids=True, host_name="ldap1", service_name=None),
           dict(connections=False, with_ids=False, host_name=None, service_name="slapd-x")]


class _Sink(io.BytesIO):
    pass


def _deadletter() -> tuple[DeadLetter, io.BytesIO]:
    buf = io.BytesIO()
    return DeadLetter(stream=buf), buf


def run_python(paths: list[str], **options: Any) -> tuple[list[bytes], dict[str, Any], list[Any]]:
    dead, buf = _deadletter()
    pipeline = AccessPipeline(paths, deadletter=dead, **options)
    docs = [orjson.dumps(doc) for doc in pipeline.documents()]
    return docs, pipeline.summary(), [orjson.loads(x) for x in buf.getvalue().splitlines()]


def run_fast(paths: list[str], block_bytes: int = fast.BLOCK_BYTES,
             **options: Any) -> tuple[list[bytes], dict[str, Any], list[Any]]:
    dead, buf = _deadletter()
    out = _Sink()
    summary = fast.fast_documents_ndjson(paths, deadletter=dead, out_stream=out, block_bytes=block_bytes,
                                         **options)
    return out.getvalue().splitlines(), summary, [orjson.loads(x) for x in buf.getvalue().splitlines()]


def assert_same(paths: list[str], block_bytes: int = fast.BLOCK_BYTES, exact_bytes: bool = False,
                **options: Any) -> int:
    py_docs, py_sum, py_dead = run_python(paths, **options)
    rs_docs, rs_sum, rs_dead = run_fast(paths, block_bytes=block_bytes, **options)
    assert len(rs_docs) == len(py_docs), (len(rs_docs), len(py_docs))
    for i, (a, b) in enumerate(zip(py_docs, rs_docs)):
        if a != b:
            pa, pb = orjson.loads(a), orjson.loads(b)
            assert pa == pb, f"document {i} differs:\npython: {a.decode()}\nrust:   {b.decode()}"
            assert not exact_bytes, f"document {i}: same JSON, other bytes:\n{a.decode()}\n{b.decode()}"
    assert {k: rs_sum[k] for k in COMPARED_KEYS} == {k: py_sum[k] for k in COMPARED_KEYS}
    assert rs_sum["documents"] == len(py_docs)
    assert rs_dead == py_dead
    return len(py_docs)


# ------------------------------------------------------------------------------ real logs

@pytest.mark.parametrize("options", OPTIONS, ids=["conns-ids", "plain"])
def test_real_sample(options: dict[str, Any]) -> None:
    assert assert_same([str(SAMPLE)], exact_bytes=True, **options) > 5000


@pytest.mark.parametrize("options", OPTIONS, ids=["conns-ids", "plain"])
def test_example_and_rotation_order(options: dict[str, Any]) -> None:
    assert_same([str(EXAMPLE), str(SAMPLE)], exact_bytes=True, **options)


@pytest.mark.skipif(not GOLDEN, reason="no golden logs yet")
@pytest.mark.parametrize("path", GOLDEN, ids=[str(p.relative_to(ROOT / "tests" / "golden")) for p in GOLDEN])
def test_golden_logs(path: Path) -> None:
    for options in OPTIONS:
        assert_same([str(path)], **options)


def test_all_golden_logs_as_one_run() -> None:
    """One engine across many files: state (conn ids, restarts, banner facts) carries over."""
    assert_same([str(p) for p in GOLDEN] + [str(EXAMPLE)], **OPTIONS[0])


def test_small_blocks_gzip_and_missing(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()[:300_000]
    gz = tmp_path / "access.20261204-195300.gz"
    gz.write_bytes(gzip.compress(data))
    plain = tmp_path / "access"
    plain.write_bytes(data[:5000] + b"[04/Dec/2026:19:59:00.1 +0000] conn=1 op=9 RESULT err=0 tag=101")  # no final \n
    paths = [str(tmp_path), str(tmp_path / "missing.log")]
    for block in (997, 65536, fast.BLOCK_BYTES):
        assert_same(paths, block_bytes=block, **OPTIONS[0])


# ------------------------------------------------------------------------------ generated mixes

def _pool() -> list[bytes]:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)[:4000]
    for p in GOLDEN:
        lines += p.read_bytes().splitlines(keepends=True)
    return lines


POOL = _pool() if SAMPLE.exists() else []


def _mutate(line: bytes, rnd: random.Random) -> bytes:
    r = rnd.random()
    body = line.rstrip(b"\r\n")
    if r < 0.6:
        return line
    if r < 0.72:  # cut (a line cut at 2048 bytes, or the end of a file being written)
        return body[:rnd.randrange(0, len(body) + 1)] + b"\n"
    if r < 0.86:  # junk bytes somewhere
        pos = rnd.randrange(0, len(body) + 1)
        junk = bytes(rnd.choice((0x00, 0x09, 0x20, 0x22, 0x28, 0x29, 0x2c, 0x2d, 0x3d, 0x5c, 0x80, 0xc3, 0xe2,
                                 0xff, rnd.randrange(256))) for _ in range(rnd.randrange(1, 4)))
        return body[:pos] + junk + body[pos:] + b"\n"
    if r < 0.92:
        return body + b"\r\n"
    if r < 0.96:  # a byte dropped
        if not body:
            return line
        pos = rnd.randrange(0, len(body))
        return body[:pos] + body[pos + 1:] + b"\n"
    return b"\n"


def _write_mix(tmp_path: Path, seed: int, shuffled: bool) -> Path:
    rnd = random.Random(seed)
    n = rnd.randrange(1, 400)
    if shuffled:
        lines = [rnd.choice(POOL) for _ in range(n)]
    else:  # a window of consecutive lines keeps the joins realistic
        start = rnd.randrange(0, max(1, len(POOL) - n))
        lines = POOL[start:start + n]
    data = b"".join(_mutate(x, rnd) for x in lines)
    if rnd.random() < 0.3:
        data = data.rstrip(b"\n")
    path = tmp_path / f"mix-{seed}.log"
    path.write_bytes(data)
    return path


@pytest.mark.skipif(not POOL, reason="no sample log")
@pytest.mark.parametrize("seed", range(60))
def test_random_mixes(tmp_path: Path, seed: int) -> None:
    path = _write_mix(tmp_path, seed, shuffled=seed % 2 == 0)
    assert_same([str(path)], block_bytes=random.Random(seed).choice((61, 4096, fast.BLOCK_BYTES)),
                **OPTIONS[seed % 2])


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None


if given is not None and POOL:

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 2**32 - 1), shuffled=st.booleans(), conns=st.booleans(),
           block=st.sampled_from((53, 1024, fast.BLOCK_BYTES)))
    def test_hypothesis_mixes(tmp_path_factory: Any, seed: int, shuffled: bool, conns: bool, block: int) -> None:
        path = _write_mix(tmp_path_factory.mktemp("mix"), seed, shuffled)
        assert_same([str(path)], block_bytes=block, **OPTIONS[0 if conns else 1])

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lines=st.lists(st.binary(max_size=120).map(lambda b: b.replace(b"\n", b"")) | st.sampled_from(POOL)
                          .map(lambda b: b.rstrip(b"\n")), max_size=30))
    def test_hypothesis_arbitrary_bytes(tmp_path_factory: Any, lines: list[bytes]) -> None:
        path = tmp_path_factory.mktemp("bytes") / "access"
        path.write_bytes(b"\n".join(lines))
        assert_same([str(path)], **OPTIONS[0])
