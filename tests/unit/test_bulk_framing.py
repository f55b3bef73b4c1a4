"""The compiled engine's `_bulk` framing (Engine.set_bulk) equals what ElasticsearchOutput sends
for the Python pipeline's documents: same action line bytes (index name, _id, _type) and the same
source with `event.ingested`."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dirsrvbeat.access import fast
from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.es.indices import IndexNamer

pytestmark = pytest.mark.skipif(not fast.available(),
                                reason="dirsrvbeat_fast is not built (run rust/build.sh to build it)")

ROOT = Path(__file__).resolve().parents[2]
LOGS = [ROOT / "tests" / "data" / "samples" / "access.full.log",
        *sorted((ROOT / "tests" / "golden").glob("**/*.log"))]
INGESTED = "2026-12-04T23:59:59.999Z"


def python_items(path: Path, mode: str, doc_type: str | None) -> list[tuple[bytes, dict]]:
    namer = IndexNamer("dsb", mode)
    items = []
    for doc in AccessPipeline([str(path)], connections=True, with_ids=True).documents():
        meta = {"_index": namer(doc), "_id": doc["event"]["id"]}
        if doc_type:
            meta["_type"] = doc_type
        source = {**doc, "event": {**doc["event"], "ingested": INGESTED}}
        items.append((orjson.dumps({"index": meta}), source))
    return items


def engine_items(path: Path, mode: str, doc_type: str | None) -> list[tuple[bytes, dict]]:
    engine = fast.new_engine(connections=True, with_ids=True)
    engine.set_bulk("dsb", mode, doc_type)
    engine.set_ingested(INGESTED)
    data = path.read_bytes()
    lines = (engine.feed(str(path), data, 0, 0) + engine.finish()).split(b"\n")
    assert lines.pop() == b""
    return [(lines[i], orjson.loads(lines[i + 1])) for i in range(0, len(lines), 2)]


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(ROOT / "tests")))
def test_framing_equals_elasticsearch_output(path):
    try:
        want = python_items(path, "daily", "_doc")
    except (ValueError, TypeError, AttributeError, OverflowError):
        pytest.skip("the reference dies on this input")
    got = engine_items(path, "daily", "_doc")
    assert len(got) == len(want) > 0
    for (gact, gsrc), (wact, wsrc) in zip(got, want):
        assert gact == wact
        assert gsrc == wsrc


def test_rollover_mode_and_typeless():
    path = LOGS[0]
    got = engine_items(path, "rollover", None)
    assert [a for a, _ in got] == [a for a, _ in python_items(path, "rollover", None)]
    assert {orjson.loads(a)["index"]["_index"] for a, _ in got} == {"dsb-access", "dsb-connection"}


def test_documents_across_midnight_utc_go_to_their_utc_day():
    # 23:30 at -02:00 is 01:30 UTC the next day (and the next month, and year)
    line = (b"[31/Dec/2026:23:30:00.000000000 -0200] conn=1 fd=64 slot=64 connection from 10.0.0.1 "
            b"to 10.0.0.2\n[31/Dec/2026:23:30:00.100000000 -0200] conn=1 op=0 UNBIND\n"
            b"[31/Dec/2026:23:30:00.200000000 -0200] conn=1 op=0 fd=64 closed - U1\n")
    engine = fast.new_engine(connections=True, with_ids=True)
    engine.set_bulk("dsb")
    lines = (engine.feed("x", line, 0, 0) + engine.finish()).split(b"\n")
    indices = {orjson.loads(lines[i])["index"]["_index"] for i in range(0, len(lines) - 1, 2)}
    assert indices == {"dsb-access-2027.01.01", "dsb-connection-2027.01.01"}


def test_bad_mode_is_refused():
    engine = fast.new_engine()
    with pytest.raises(ValueError, match="daily or rollover"):
        engine.set_bulk("dsb", "weekly")
    with pytest.raises(ValueError, match="set_bulk"):
        fast.new_engine().set_ingested(INGESTED)
