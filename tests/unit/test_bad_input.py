"""Arbitrary input never crashes the pipeline; what it cannot read is counted and kept."""

from __future__ import annotations

import gzip
import io

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.deadletter import DeadLetter, MalformedLine
from dirsrvbeat.inputs.access_file import iter_lines
from dirsrvbeat.processors.parse import parse_line

PREFIXES = ["", "[04/Dec/2026:19:53:00.675805620 +0000] ", "[04/Dec/2026:19:53:00.675805620 +0000] conn=1 ",
            "[04/Dec/2026:19:53:00.675805620 +0000] conn=1 op=2 ", "{", "\t"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PREFIXES), st.text(max_size=200))
def test_parse_line_never_raises(prefix, text):
    parse_line(prefix + text)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_pipeline_never_raises_on_bytes(data):
    stream = io.BytesIO(data)
    lines = list(iter_lines("junk.log", stream))
    p = AccessPipeline(lines=lines, connections=True)
    for doc in p.documents():
        orjson.dumps(doc)
    s = p.summary()
    assert s["lines"] == len(lines)
    assert s["parsed"] + s["unparsed"] + s["blank_lines"] + s["header_lines"] == s["lines"]


def test_unparsed_lines_are_dead_lettered_with_file_and_line(tmp_path):
    log = tmp_path / "access"
    log.write_bytes(b"[04/Dec/2026:19:53:00.675805620 +0000] conn=1 fd=64 slot=64 connection from 1.2.3.4 to 5.6.7.8\n"
                    b"garbage \xff\xfe line\n"
                    b"[04/Dec/2026:19:53:00.675805620 +0000] conn=1 op=0 FROB x=y\n")
    dl = tmp_path / "dead.ndjson"
    dead = DeadLetter(str(dl))
    p = AccessPipeline([str(log)], deadletter=dead)
    list(p.documents())
    dead.close()
    items = [orjson.loads(x) for x in dl.read_bytes().splitlines()]
    assert [(i["file"], i["line"]) for i in items] == [(str(log), 2), (str(log), 3)]
    assert p.summary()["unparsed"] == 2
    assert p.summary()["bad_utf8_lines"] == 1
    with pytest.raises(MalformedLine, match=r"access:2"):
        list(AccessPipeline([str(log)], strict=True).documents())


def test_gzip_and_missing_and_empty_files(tmp_path):
    src = b"[04/Dec/2026:19:53:00.675805620 +0000] conn=1 op=0 UNBIND\n"
    gz = tmp_path / "access.20261204-195300.gz"
    gz.write_bytes(gzip.compress(src))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    p = AccessPipeline([str(gz), str(empty), str(tmp_path / "missing")])
    docs = list(p.documents())
    assert len(docs) == 1 and docs[0]["dirsrv"]["op"]["type"] == "UNBIND"
    s = p.summary()
    assert s["files"] == 2 and s["missing_files"] == 1 and "missing" in s["errors"][0]


def test_values_that_used_to_crash_the_run_are_survived():
    """Found by the Rust twin's equivalence fuzzing: each of these once killed the whole run."""
    from dirsrvbeat.inputs.access_file import Line

    stamp = "[04/Dec/2026:19:53:00.675805620 +0000] "
    bad = [
        '{"local_time":"2026-13-04T19:53:00.1 +0000","operation":"CONNECTION","conn_id":1,"client_ip":"1.2.3.4"}',
        stamp + "conn=123456789012345678901234 fd=64 slot=64 connection from 1.2.3.4 to 5.6.7.8",
        stamp + 'conn=1 op=0 SRCH base="" scope=0 filter="(a=b)" attrs=ALL',
        stamp + "conn=1 op=0 RESULT err=--5 tag=1\u00b21 nentries=99999999999999999999999 etime=nan pr_idx=--1",
        stamp + 'conn=1 op=1 MOD kind=header dn="x"',
        stamp + "conn=1 op=1 RESULT err=0 tag=103 nentries=0 etime=inf",
        "[00/Dec/0000:19:53:00.675805620 +0000] conn=2 op=1 UNBIND",
    ]
    p = AccessPipeline(lines=[Line("x", i, i + 1, t, False) for i, t in enumerate(bad)], connections=True)
    docs = list(p.documents())
    for doc in docs:
        orjson.dumps(doc)
    s = p.summary()
    assert s["unparsed"] == 1 and s["bad_timestamps"] >= 1
    srch = next(d for d in docs if d["dirsrv"]["op"]["type"] == "SRCH")
    assert "code" not in srch["dirsrv"]["result"] and "duration" not in srch["event"]
    mod = next(d for d in docs if d["dirsrv"]["op"]["type"] == "MOD")
    assert mod["dirsrv"]["target"]["dn"] == "x"


def test_junk_the_compiled_engine_survived_first(tmp_path):
    """The Python pipeline used to die on these while the engine went on; now it does what the engine
    does (tests/unit/test_fast_equivalence.py compares the two when the extension is built)."""
    stamp = "[04/Dec/2026:19:53:00.1 +0000]"
    head = '{"local_time":"2026-12-04T19:53:00.1 +0000","conn_id":7,'
    lines = [
        "[04/Dec/2026:19:53:00.\u00b25 +0000] conn=1 op=1 UNBIND",
        f"{stamp} conn=1 op=2 ABANDON targetop=\u00b2 msgid=2",
        f"{stamp} conn=1 op=3 RESULT err=0 tag=101 etime=20000000000",
        f"{stamp} conn=1 op=4 RESULT err=0 tag=101 etime={'9' * 400}",
        head.replace('"conn_id":7', '"conn_id":1e20') + '"operation":"UNBIND","op_id":1}',
        head + '"operation":"DISCONNECT","close_reason":[" - "]}',
        head + '"operation":"BIND","op_id":1,"bind_dn":"cn=a","method":128,"version":3}',
        head + '"operation":"SEARCH","op_id":[5],"base_dn":"","scope":0,"filter":"(x=1)"}',
        head + '"operation":"SEARCH","op_id":"6","base_dn":"","scope":0,"filter":"(x=1)"}',
        head + '"operation":"RESULT","op_id":[5],"err":0,"tag":101}',
        "[04/Dec/0001:19:53:00.1 +0000] conn=2 fd=64 slot=64 connection from 1.2.3.4 to 1.2.3.5",
        f"{stamp} conn=2 op=-1 fd=64 closed - U1",
    ]
    log = tmp_path / "access"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    buf = io.BytesIO()
    p = AccessPipeline([str(log)], connections=True, deadletter=DeadLetter(stream=buf))
    docs = [orjson.loads(orjson.dumps(doc)) for doc in p.documents()]
    dead = [orjson.loads(x) for x in buf.getvalue().splitlines()]
    assert [(d["line"], d["reason"]) for d in dead] == [(5, "parser error: OverflowError"),
                                                       (6, "parser error: TypeError")]
    ops = {str(d["dirsrv"]["op"]["id"]): d for d in docs if "op" in d["dirsrv"] and d["dirsrv"]["conn"]["id"] == 1}
    ops.update((str(d["dirsrv"]["op"]["id"]), d) for d in docs if "op" in d["dirsrv"] and d["dirsrv"]["conn"]["id"] == 7
               and d["dirsrv"]["op"]["type"] == "SRCH")
    assert ops["1"]["@timestamp"] == "2026-12-04T19:53:00.\u00b250+00:00"
    assert ops["2"]["dirsrv"]["abandon"]["target_key"].endswith("-\u00b2")
    assert "duration" not in ops["3"]["event"] and ops["3"]["dirsrv"]["timing"]["etime"] == 2e10
    assert "timing" not in ops["4"]["dirsrv"]
    assert ops["[5]"]["dirsrv"]["op"]["status"] == "complete"
    conn2 = next(d for d in docs if d["event"]["dataset"] == "dirsrv.connection" and d["dirsrv"]["conn"]["id"] == 2)
    assert "duration" not in conn2["event"]
