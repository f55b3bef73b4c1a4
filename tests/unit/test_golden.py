"""Golden files in the Beats manner: `tests/golden/<release>/<name>.log` -> `<name>.log-expected.ndjson`.

An expected file holds the documents that

    cd tests/golden && dirsrvbeat access parse --connections <release>/<name>.log

must print (run from `tests/golden`, so `log.file.path` is the path relative to that folder and
the same on every machine). Every document was read and checked against the 389 DS reference
(`389ds-access-log-and-monitor.md`, `389ds-2.3.1-observed-format.md`) before it was frozen.

Expected files hold *correct* output. Where the code is known to be wrong outside the parser
(join.py, enrich.py, stages.py), `KNOWN_BUGS` names the bug and a small function that turns
today's output into the correct one; `AFFECTED` says which golden files show it. Such a test
is `xfail(strict=True)` and fails for real if the output differs in any *other* way; once the
bug is fixed it XPASSes, which fails too: then drop its entry here.

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_golden.py    # regenerate

Regenerate only after reading the diff: a changed expected file is a changed output contract.
Logs under `bad-input/` are deliberately broken; for them the dead letters are pinned too
(`<name>.log-deadletter.ndjson`: file, line, offset, reason and text of every unparsed line).
"""

from __future__ import annotations

import copy
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.cli import main as cli_main
from dirsrvbeat.deadletter import DeadLetter

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
BAD_INPUT_DIR = "bad-input"
EXPECTED_SUFFIX = "-expected.ndjson"
DEADLETTER_SUFFIX = "-deadletter.ndjson"

# Release lines that must have golden files (the 389 DS compatibility matrix).
RELEASE_LINES = ("1.3", "1.4", "2.x", "3.x-text", "3.x-json", "2.3.1-real")

# bad-input logs: the 1-based line numbers that must be dead-lettered, and the lines with bytes
# that are not UTF-8 (those are read with U+FFFD and still parsed when their shape is known).
BAD_INPUT_EXPECTED: dict[str, dict[str, list[int]]] = {
    "bad-input/access-junk.log": {"dead": [7, 10, 11, 12, 13, 14, 15, 16, 19, 20], "bad_utf8": [7, 8]},
    "bad-input/access-json-junk.log": {"dead": [4, 6, 7, 8, 9, 10, 14, 15], "bad_utf8": []},
}

Doc = dict[str, Any]


# ------------------------------------------------------------------------------ known bugs
class KnownBug(AssertionError):
    """The output differs from the expected file exactly by known, unfixed bugs."""


def _ops(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["event"]["dataset"] == "dirsrv.access"]


# Known, unfixed output bugs: name -> (description, a function turning today's output into the
# correct one). Each golden file they affect is listed in AFFECTED and runs as a strict xfail, so
# a fix shows up as an unexpected pass. None is open now.
KNOWN_BUGS: dict[str, tuple[str, Callable[[list[Doc], str], None]]] = {}


# Golden file -> the known bugs its correct output shows (checked: each entry changes the output).
# All nine bugs found when the corpus was written are fixed; the mechanism stays for the next ones.
AFFECTED: dict[str, list[str]] = {}


def correct(rel: str, docs: list[Doc]) -> list[Doc]:
    """Today's output with the known bugs of `rel` fixed: what the expected file holds."""
    docs = copy.deepcopy(docs)
    log = (GOLDEN / rel).read_text(encoding="utf-8", errors="replace")
    for bug in AFFECTED.get(rel, []):
        KNOWN_BUGS[bug][1](docs, log)
    return docs


# ------------------------------------------------------------------------------ helpers
def _logs() -> list[str]:
    return sorted(p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.log"))


LOGS = _logs()
GOOD_LOGS = [rel for rel in LOGS if not rel.startswith(BAD_INPUT_DIR + "/")]
BAD_LOGS = [rel for rel in LOGS if rel.startswith(BAD_INPUT_DIR + "/")]


def _params(logs: list[str]) -> list[Any]:
    out = []
    for rel in logs:
        marks = []
        if AFFECTED.get(rel) and not UPDATE:
            reason = "; ".join(f"[{b}] {KNOWN_BUGS[b][0]}" for b in AFFECTED[rel])
            marks.append(pytest.mark.xfail(strict=True, raises=KnownBug, reason=reason))
        out.append(pytest.param(rel, id=rel, marks=marks))
    return out


def run_pipeline(rel: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Doc], dict[str, Any], list[Doc]]:
    """Documents, run summary and dead letters of one golden log, read as `<release>/<name>.log`."""
    monkeypatch.chdir(GOLDEN)
    sink = io.BytesIO()
    dead = DeadLetter(stream=sink)
    pipeline = AccessPipeline([rel], connections=True, deadletter=dead)
    docs = list(pipeline.documents())
    summary = pipeline.summary()
    dead_items = [orjson.loads(line) for line in sink.getvalue().splitlines()]
    return docs, summary, dead_items


def _dump(items: list[Doc]) -> bytes:
    return b"".join(orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE) for item in items)


def _load(path: Path) -> list[Doc]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _first_difference(rel: str, got: list[Doc], expected: list[Doc]) -> str:
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            return (f"{rel}: document {i + 1} differs\n got: {orjson.dumps(g).decode()}\n"
                    f"want: {orjson.dumps(e).decode()}")
    return f"{rel}: {len(got)} documents, expected {len(expected)}"


def _compare(rel: str, got: list[Doc]) -> None:
    path = GOLDEN / (rel + EXPECTED_SUFFIX)
    if UPDATE:
        path.write_bytes(_dump(correct(rel, got)))
        return
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1 and review it"
    expected = _load(path)
    if got == expected:
        return
    if AFFECTED.get(rel) and correct(rel, got) == expected:
        raise KnownBug(", ".join(AFFECTED[rel]))
    raise AssertionError(_first_difference(rel, got, expected))


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("rel", _params(LOGS))
def test_golden_documents(rel, monkeypatch):
    docs, _, _ = run_pipeline(rel, monkeypatch)
    _compare(rel, docs)


@pytest.mark.parametrize("rel", _params(LOGS))
def test_cli_prints_the_expected_file(rel, monkeypatch, tmp_path):
    """`dirsrvbeat access parse --connections` prints the expected file byte for byte."""
    if UPDATE:
        pytest.skip("regenerating")
    monkeypatch.chdir(GOLDEN)
    out = tmp_path / "out.ndjson"
    dead = tmp_path / "dead.ndjson"
    rc = cli_main(["access", "parse", "--connections", "-o", str(out), "--dead-letter", str(dead), rel])
    assert rc == 0
    data = out.read_bytes()
    if data != (GOLDEN / (rel + EXPECTED_SUFFIX)).read_bytes():
        _compare(rel, [orjson.loads(line) for line in data.splitlines()])
        raise AssertionError(f"{rel}: same documents, different bytes (key order or number format)")


@pytest.mark.parametrize("rel", GOOD_LOGS)
def test_golden_logs_parse_cleanly(rel, monkeypatch):
    docs, summary, dead = run_pipeline(rel, monkeypatch)
    assert summary["unparsed"] == 0, dead
    assert dead == []
    assert summary["bad_utf8_lines"] == 0
    assert summary["bad_timestamps"] == 0
    assert docs, "a golden log must produce documents"
    for doc in docs:
        assert doc["@timestamp"], doc
        if doc["event"]["dataset"] == "dirsrv.access":
            assert doc["log"]["file"]["path"] == rel


@pytest.mark.parametrize("rel", BAD_LOGS)
def test_bad_input_is_dead_lettered_not_fatal(rel, monkeypatch):
    docs, summary, dead = run_pipeline(rel, monkeypatch)
    path = GOLDEN / (rel + DEADLETTER_SUFFIX)
    if UPDATE:
        path.write_bytes(_dump(dead))
        return
    want = BAD_INPUT_EXPECTED[rel]
    assert [d["line"] for d in dead] == want["dead"]
    assert summary["unparsed"] == len(want["dead"])
    assert summary["bad_utf8_lines"] == len(want["bad_utf8"])
    assert all(d["file"] == rel and d["reason"] and isinstance(d["offset"], int) for d in dead)
    assert summary["parsed"] + summary["unparsed"] + summary["blank_lines"] + summary["header_lines"] \
        == summary["lines"]
    assert dead == _load(path)
    assert docs and all(doc["@timestamp"] for doc in docs)


def test_every_release_line_has_golden_files():
    for release in RELEASE_LINES:
        assert any(rel.startswith(release + "/") for rel in GOOD_LOGS), f"no golden log for {release}"
    assert set(BAD_INPUT_EXPECTED) == set(BAD_LOGS)
    assert set(AFFECTED) <= set(LOGS)
    assert {b for bugs in AFFECTED.values() for b in bugs} == set(KNOWN_BUGS)


def test_every_known_bug_entry_changes_the_output(monkeypatch):
    """An AFFECTED entry whose correction is a no-op would hide nothing: keep the table honest
    (empty while no known bug is left)."""
    for rel in sorted(AFFECTED):
        docs, _, _ = run_pipeline(rel, monkeypatch)
        for bug in AFFECTED[rel]:
            fixed = copy.deepcopy(docs)
            KNOWN_BUGS[bug][1](fixed, (GOLDEN / rel).read_text(encoding="utf-8", errors="replace"))
            if fixed == docs:
                pytest.fail(f"{rel}: [{bug}] changes nothing: fixed? remove it from AFFECTED")


def test_no_orphan_expected_files():
    logs = set(LOGS)
    for path in GOLDEN.rglob("*.ndjson"):
        rel = path.relative_to(GOLDEN).as_posix()
        base = rel.removesuffix(EXPECTED_SUFFIX).removesuffix(DEADLETTER_SUFFIX)
        assert base in logs, f"{rel} has no log"


@pytest.mark.parametrize("rel", GOOD_LOGS)
def test_golden_logs_are_small_and_newline_terminated(rel):
    data = (GOLDEN / rel).read_bytes()
    lines = data.count(b"\n")
    assert data.endswith(b"\n")
    assert 10 <= lines <= 80, f"{rel}: {lines} lines"


# ------------------------------------------------------------------------------ real 2.3.1 coverage
REAL_SAMPLE = GOLDEN.parent / "data" / "samples" / "access.full.log"


def line_shape(line: str) -> str:
    """A line with its values masked: the rules of the lab's `shapes.py` (line-shapes.txt)."""
    s = re.sub(r"^\[[^\]]+\] ", "[TS] ", line.rstrip("\n"))
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '"…"', s)
    s = re.sub(r"conn=Internal\(\d+\)", "conn=Internal(N)", s)
    s = re.sub(r"=(-?\d+(\.\d+)?)", "=N", s)
    s = re.sub(r"fd=N slot=N (SSL |)connection from \S+ to \S+", r"fd=N slot=N \1connection from IP to IP", s)
    s = re.sub(r"VLV \S+ \S+ \(\d+\)", "VLV a:b:c:d e:f (rc)", s)
    s = re.sub(r"SORT .*", "SORT <keys>", s)
    s = re.sub(r"(TLS\S*|SSL\S*) \d+-bit \S+", r"TLSx N-bit CIPHER", s)
    s = re.sub(r"\(Internal\) op=\d+\(\d+\)\(\d+\)", "(Internal) op=N(N)(N)", s)
    s = re.sub(r"STAT read index: attribute=\S+ key\(\w+\)=.* --> count \d+",
               "STAT read index: attribute=A key(T)=V --> count N", s)
    s = re.sub(r"STAT read index: duration \S+", "STAT read index: duration N", s)
    if " RESULT " in s:
        s = re.sub(r" - (Invalid credentials|No such entry|SASL\(.*|missing attribute.*|"
                   r"Invalid attribute in filter.*|[A-Z][^=]*)$", " - <text>", s)
    return s


@pytest.mark.skipif(not REAL_SAMPLE.exists(), reason="tests/data/samples/access.full.log not present")
def test_real_excerpts_cover_every_shape_of_the_real_log():
    """`2.3.1-real/*.log` are lines copied from the real 2.3.1 log and hold every shape it has."""
    real = REAL_SAMPLE.read_text(encoding="utf-8", errors="replace").splitlines()
    excerpt = [line for rel in GOOD_LOGS if rel.startswith("2.3.1-real/")
               for line in (GOLDEN / rel).read_text(encoding="utf-8").splitlines()]
    assert set(excerpt) <= set(real), "2.3.1-real lines must be copied verbatim from the real log"
    missing = {line_shape(x) for x in real} - {line_shape(x) for x in excerpt}
    assert not missing, sorted(missing)


def test_real_excerpts_hold_the_hard_cases(monkeypatch):
    """A restart, a RESULT after its connection's Disconnect, requests without RESULT, internal ops."""
    restarts = no_result = 0
    result_after_close = False
    text = ""
    for rel in [r for r in GOOD_LOGS if r.startswith("2.3.1-real/")]:
        docs, summary, _ = run_pipeline(rel, monkeypatch)
        restarts += summary["server_restarts"]
        no_result += sum(1 for d in _ops(docs) if d["dirsrv"]["op"]["status"] == "no_result")
        log = (GOLDEN / rel).read_text(encoding="utf-8")
        text += log
        closed: set[str] = set()
        for line in log.splitlines():
            m = re.search(r"\] conn=(\d+) op=-?\d+ (fd=\d+ Disconnect|RESULT)", line)
            if m and m.group(2).startswith("fd="):
                closed.add(m.group(1))
            elif m and m.group(1) in closed:
                result_after_close = True
        assert all(d["dirsrv"]["op"].get("parent_key") for d in _ops(docs) if d["dirsrv"]["op"]["internal"])
    assert restarts >= 1 and no_result >= 1 and result_after_close
    for shape in ("(Internal) op=", " ENTRY dn=", " STAT read index: attribute=", " STAT read index: duration"):
        assert shape in text
