"""The real 389 DS 2.3.1 sample log: zero unparsed lines, exactly one document per RESULT line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dirsrvbeat.access.pipeline import AccessPipeline

SAMPLES = Path(__file__).parent.parent / "data" / "samples"
EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "access"
REAL_LOGS = [SAMPLES / "access.full.log", EXAMPLE]


def result_line_offsets(path: Path) -> list[int]:
    """Byte offsets of every RESULT line, found without the project's parser."""
    offsets = []
    pos = 0
    with open(path, "rb") as f:
        for raw in f:
            if b" RESULT err=" in raw:
                offsets.append(pos)
            pos += len(raw)
    return offsets


@pytest.fixture(scope="module", params=REAL_LOGS, ids=lambda p: p.name)
def parsed(request):
    pipeline = AccessPipeline([str(request.param)], connections=True)
    docs = list(pipeline.documents())
    return request.param, docs, pipeline.summary()


def test_no_unparsed_lines(parsed):
    _, _, summary = parsed
    assert summary["unparsed"] == 0
    assert summary["lines"] > 10_000


def test_one_document_per_result_line(parsed):
    path, docs, summary = parsed
    expected = result_line_offsets(path)
    got = [d["log"]["offset"] for d in docs
           if d["event"]["dataset"] == "dirsrv.access" and "result" in d["dirsrv"]]
    assert Counter(got) == Counter(expected)
    assert summary["results_without_request"] == 0


def test_every_result_document_has_code_and_name(parsed):
    _, docs, _ = parsed
    ops = [d for d in docs if d["event"]["dataset"] == "dirsrv.access"]
    for d in ops:
        if d["dirsrv"]["op"]["status"] == "complete" and d["dirsrv"]["op"]["type"] not in ("UNBIND", "ABANDON"):
            assert isinstance(d["dirsrv"]["result"]["code"], int)
            assert d["dirsrv"]["result"]["name"]


def test_unindexed_flags_match_notes(parsed):
    path, docs, _ = parsed
    text = path.read_text(encoding="utf-8")
    expected_full = sum(1 for line in text.splitlines() if " RESULT " in line and "notes=" in line
                        and "A" in line.split("notes=")[1].split(" ")[0])
    got_full = sum(1 for d in docs if d["dirsrv"].get("search", {}).get("unindexed") == "full")
    assert got_full == expected_full > 0


def test_connection_documents_match_open_lines(parsed):
    path, docs, _ = parsed
    opens = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if " connection from " in line)
    conns = [d for d in docs if d["event"]["dataset"] == "dirsrv.connection"]
    assert sum(1 for d in conns if d["dirsrv"]["conn"]["open_line_seen"]) == opens
    closed = [d for d in conns if "close" in d["dirsrv"]]
    assert {d["dirsrv"]["close"].get("code") for d in closed} >= {"U1", "B1"}
