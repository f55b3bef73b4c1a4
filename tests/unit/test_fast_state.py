"""The compiled engine carries its state across runs exactly as the Python pipeline does.

`Engine.export_state()` is the JSON text of `AccessPipeline.export_state()` (compared after a trip
through JSON, identity ids renumbered by first appearance), `Engine.import_state()` reads a state
written by either, and `Engine.expire_closed()` is `AccessPipeline.expire_closed()`. Checked on the
real logs (every cut of the small ones; on the large sample, cuts chosen where the joiner holds
something: a BIND waiting for its RESULT, held operations, requests waiting for a BIND, closed
connections in their grace period, abandoned or detailed pending operations) and on a small log
made to stack internal operations under one key. Both the shipper's settings (with_ids,
connections, no flush at the end) and connections=False.

Not carried, in either engine: request errors logged before their request line
(`Joiner.unprocessed`); cuts that fall between such a line and its RESULT are compared with the
Python pipeline's own continuation instead of the uninterrupted run.

Skipped when the extension is not built (`rust/build.sh` builds and installs it).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from dirsrvbeat.access import fast
from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.inputs.access_file import Line, iter_lines

pytestmark = pytest.mark.skipif(not fast.available(),
                                reason="dirsrvbeat_fast is not built (run rust/build.sh to build it)")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "samples" / "access.full.log"
GOLDEN = sorted((ROOT / "tests" / "golden").glob("**/*.log"))
OPTIONS = [dict(connections=True, with_ids=True, host_name="ldap1", service_name=None),
           dict(connections=False, with_ids=True, host_name=None, service_name="slapd-x")]
OPTION_IDS = ["shipper", "no-conns"]

# Internal operations stacked under one key (identities before and after the BIND RESULT), a
# request waiting for the BIND, an operation held until the BIND RESULT, then the close.
SYNTHETIC = """\
[03/Sep/2019:16:21:14.550918012 +0200] conn=12 fd=64 slot=64 connection from 192.168.122.1 to 192.168.122.50
[03/Sep/2019:16:21:14.551360422 +0200] conn=12 op=0 BIND dn="cn=DM" method=128 version=3
[03/Sep/2019:16:21:14.551400000 +0200] conn=12 (Internal) op=0(1)(1) SRCH base="cn=config" scope=0 filter="(cn=*)"
[03/Sep/2019:16:21:14.551500000 +0200] conn=12 (Internal) op=0(1)(1) SRCH base="cn=schema" scope=0 filter="(cn=*)"
[03/Sep/2019:16:21:14.551600000 +0200] conn=12 op=1 SRCH base="dc=lab" scope=2 filter="(uid=a)" attrs="uid"
[03/Sep/2019:16:21:14.551700000 +0200] conn=12 op=1 RESULT err=0 tag=101 nentries=1 etime=0.0000219903
[03/Sep/2019:16:21:14.551800000 +0200] conn=12 op=2 SRCH base="dc=lab" scope=2 filter="(uid=b)" attrs="uid"
[03/Sep/2019:16:21:14.551900000 +0200] conn=12 op=2 ENTRY dn="uid=b,dc=lab"
[03/Sep/2019:16:21:14.557792115 +0200] conn=12 op=0 RESULT err=0 tag=97 nentries=0 etime=0.0006431693 dn="cn=dm"
[03/Sep/2019:16:21:14.558000000 +0200] conn=12 (Internal) op=0(1)(1) SRCH base="cn=monitor" scope=0 filter="(cn=*)"
[03/Sep/2019:16:21:14.558050000 +0200] conn=12 op=3 ABANDON targetop=2 msgid=3 nentries=0 etime=0.0000100000
[03/Sep/2019:16:21:14.558100000 +0200] conn=12 (Internal) op=0(1)(1) RESULT err=0 tag=48 nentries=1 etime=0.0000219903
[03/Sep/2019:16:21:14.558300000 +0200] conn=12 (Internal) op=0(1)(1) RESULT err=0 tag=48 nentries=1 etime=0.0000219903
[03/Sep/2019:16:21:14.558350000 +0200] conn=12 op=2 RESULT err=0 tag=101 nentries=1 etime=0.0000219903
[03/Sep/2019:16:21:14.558400000 +0200] conn=12 (Internal) op=0(1)(1) RESULT err=0 tag=48 nentries=1 etime=0.0000219903
[03/Sep/2019:16:21:14.562870004 +0200] conn=12 op=4 UNBIND
[03/Sep/2019:16:21:14.562870004 +0200] conn=12 op=4 fd=64 closed - U1
[03/Sep/2019:16:21:15.000000000 +0200] conn=13 fd=65 slot=65 connection from 192.168.122.2 to 192.168.122.50
[03/Sep/2019:16:21:25.000000000 +0200] conn=13 op=0 UNBIND
"""


@dataclass
class Log:
    path: str
    data: bytes
    lines: list[Line]
    offs: list[int]  # offs[i]: where line i starts; offs[len(lines)]: the end

    @property
    def n(self) -> int:
        return len(self.lines)


@functools.cache
def load(path: str) -> Log:
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "rb") as f:
        lines = list(iter_lines(path, f))
    return Log(path, data, lines, [line.offset for line in lines] + [len(data)])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("state") / "access-synthetic.log"
    path.write_text(SYNTHETIC)
    return str(path)


SMALL = [str(p) for p in GOLDEN] + ["synthetic"]
SMALL_IDS = [str(Path(p).relative_to(ROOT / "tests" / "golden")) for p in GOLDEN] + ["synthetic"]


def small_path(name: str, synthetic: str) -> str:
    return synthetic if name == "synthetic" else name


# ------------------------------------------------------------------------------ both engines

def canon(state: Any) -> dict[str, Any]:
    """A state as it reads back from JSON, identity ids renumbered by their first appearance."""
    state = orjson.loads(state if isinstance(state, (str, bytes)) else orjson.dumps(state))
    join = state.get("join") or {}
    ids: dict[str, int] = {}
    for entry in join.get("pending", []):
        for item in entry["chain"]:
            item["ident"] = ids.setdefault(str(item["ident"]), len(ids))
    join["identities"] = {str(ids[k]): v for k, v in join.get("identities", {}).items()}
    return state


def inlined(state: Any) -> dict[str, Any]:
    """A state with each pending operation's identity written out (which ones are shared is lost)."""
    state = canon(state)
    join = state.get("join") or {}
    for entry in join.get("pending", []):
        for item in entry["chain"]:
            item["ident"] = join["identities"][str(item["ident"])]
    join.pop("identities", None)
    return state


def py_new(opts: dict[str, Any]) -> AccessPipeline:
    return AccessPipeline(lines=[], flush_at_end=False, **opts)


def py_feed(pl: AccessPipeline, log: Log, a: int, b: int) -> list[bytes]:
    docs: list[dict[str, Any]] = []
    for line in log.lines[a:b]:
        pl.feed_line(line, docs)
    return [orjson.dumps(d) for d in docs]


def py_finish(pl: AccessPipeline) -> list[bytes]:
    docs: list[dict[str, Any]] = []
    pl.flush(docs)
    return [orjson.dumps(d) for d in docs]


def py_import(opts: dict[str, Any], state: str | None) -> AccessPipeline:
    pl = py_new(opts)
    if state is not None:
        pl.import_state(orjson.loads(state))
    return pl


def py_export(pl: AccessPipeline) -> str:
    return orjson.dumps(pl.export_state()).decode()


def rs_new(opts: dict[str, Any]) -> Any:
    return fast.new_engine(**opts)


def rs_feed(engine: Any, log: Log, a: int, b: int) -> list[bytes]:
    return engine.feed(log.path, log.data[log.offs[a]:log.offs[b]], log.offs[a], a).splitlines()


def rs_finish(engine: Any) -> list[bytes]:
    return engine.finish().splitlines()


def rs_import(opts: dict[str, Any], state: str | None) -> Any:
    engine = rs_new(opts)
    if state is not None:
        engine.import_state(state)
    return engine


def assert_docs(got: list[bytes], want: list[bytes], what: str) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} documents, expected {len(want)}"
    for i, (a, b) in enumerate(zip(got, want)):
        assert a == b, f"{what}: document {i} differs:\ngot:      {a.decode()}\nexpected: {b.decode()}"


def assert_state(got: Any, want: Any, what: str) -> None:
    got, want = canon(got), canon(want)
    if got == want:
        return
    gj, wj = got.get("join", {}), want.get("join", {})
    for key in sorted(set(gj) | set(wj)):
        if gj.get(key) != wj.get(key):
            g, w = gj.get(key), wj.get(key)
            if isinstance(g, list) and isinstance(w, list):
                for i, (x, y) in enumerate(zip(g, w)):
                    assert x == y, f"{what}: join.{key}[{i}] differs:\nrust:   {x}\npython: {y}"
            assert g == w, f"{what}: join.{key} differs:\nrust:   {g}\npython: {w}"
    assert got == want, f"{what}: states differ"


@dataclass
class Reference:
    """One uninterrupted Python pass: its documents, and at each cut its state and documents so far."""
    docs: list[bytes]
    states: dict[int, str]
    done: dict[int, int]  # cut -> documents emitted by then
    unprocessed: set[int]  # cuts with request errors waiting for their RESULT (not carried)


def reference(log: Log, opts: dict[str, Any], cuts: list[int]) -> Reference:
    pl = py_new(opts)
    docs: list[bytes] = []
    states: dict[int, str] = {}
    done: dict[int, int] = {}
    unprocessed: set[int] = set()
    prev = 0
    for cut in sorted(set(cuts)):
        docs += py_feed(pl, log, prev, cut)
        prev = cut
        states[cut] = py_export(pl)
        done[cut] = len(docs)
        if pl.joiner.unprocessed:
            unprocessed.add(cut)
    docs += py_feed(pl, log, prev, log.n)
    docs += py_finish(pl)
    return Reference(docs, states, done, unprocessed)


def rust_uninterrupted(log: Log, opts: dict[str, Any]) -> list[bytes]:
    engine = rs_new(opts)
    return rs_feed(engine, log, 0, log.n) + rs_finish(engine)


# ------------------------------------------------------------------------------ cut points

@functools.cache
def interesting_cuts(path: str, per_kind: int = 3, seed: int = 20251) -> tuple[tuple[str, int], ...]:
    """(kind, cut) where the joiner holds something worth carrying (first ones and random ones)."""
    log = load(path)
    pl = py_new(OPTIONS[0])
    j = pl.joiner
    found: dict[str, list[int]] = {}
    docs: list[dict[str, Any]] = []
    for i, line in enumerate(log.lines):
        pl.feed_line(line, docs)
        conns = list(j.conns.values())
        kinds = []
        if " BIND " in line.text and any(c.bind_op is not None for c in conns):
            kinds.append("after-bind-request")
        if any(c.held for c in conns):
            kinds.append("held")
        if any(c.awaiting_bind for c in conns):
            kinds.append("awaiting-bind")
        if any(c.close is not None for c in conns):
            kinds.append("close-grace")
        if any(c.close is not None and c.bind_op is not None for c in conns):
            kinds.append("closed-waiting-bind")
        if any(op.get("abandoned") for op in j.pending.values()):
            kinds.append("abandoned-pending")
        if any(op.get("details") for op in j.pending.values()):
            kinds.append("detailed-pending")
        if any("_prev" in op for op in j.pending.values()):
            kinds.append("stacked")
        for kind in kinds:
            found.setdefault(kind, []).append(i + 1)
    rng = random.Random(seed)
    out: list[tuple[str, int]] = []
    for kind, cuts in sorted(found.items()):
        pick = cuts[:per_kind - 1] + rng.sample(cuts, min(1, len(cuts)))
        out += [(kind, c) for c in dict.fromkeys(pick)]
    return tuple(out)


def test_sample_has_every_kind_of_cut() -> None:
    kinds = {k for k, _ in interesting_cuts(str(SAMPLE))}
    assert {"after-bind-request", "held", "awaiting-bind", "close-grace", "closed-waiting-bind",
            "abandoned-pending", "detailed-pending"} <= kinds


def test_synthetic_log_stacks_and_holds(synthetic: str) -> None:
    kinds = {k for k, _ in interesting_cuts(synthetic)}
    assert {"after-bind-request", "held", "awaiting-bind", "stacked", "close-grace"} <= kinds


# ------------------------------------------------------------------------------ 1. the same state

@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize("name", SMALL, ids=SMALL_IDS)
def test_state_equal_at_every_cut(name: str, options: dict[str, Any], synthetic: str) -> None:
    log = load(small_path(name, synthetic))
    ref = reference(log, options, list(range(log.n + 1)))
    engine = rs_new(options)
    docs: list[bytes] = []
    for cut in range(log.n + 1):
        if cut:
            docs += rs_feed(engine, log, cut - 1, cut)
        assert len(docs) == ref.done[cut]
        assert_state(engine.export_state(), ref.states[cut], f"{name} cut {cut}")
    assert_docs(docs + rs_finish(engine), ref.docs, name)


@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
def test_state_equal_on_the_sample(options: dict[str, Any]) -> None:
    log = load(str(SAMPLE))
    cuts = sorted({c for _, c in interesting_cuts(str(SAMPLE))} | set(range(0, log.n + 1, 211)) | {log.n})
    ref = reference(log, options, cuts)
    engine = rs_new(options)
    docs: list[bytes] = []
    prev = 0
    for cut in cuts:
        docs += rs_feed(engine, log, prev, cut)
        prev = cut
        assert len(docs) == ref.done[cut]
        assert_state(engine.export_state(), ref.states[cut], f"sample cut {cut}")
    assert_docs(docs + rs_finish(engine), ref.docs, "sample")


# ------------------------------------------------------------------------------ 2. continuing

def cross_check(log: Log, options: dict[str, Any], cuts: list[int]) -> int:
    """At each cut: Python's state -> Rust, and Rust's state -> Python, continue to the end."""
    ref = reference(log, options, cuts)
    assert_docs(rust_uninterrupted(log, options), ref.docs, "uninterrupted rust")
    checked = 0
    for cut in cuts:
        if cut in ref.unprocessed:
            continue  # not carried, as in Python: see test_unprocessed_is_not_carried
        # python -> rust
        engine = rs_import(options, ref.states[cut])
        got = ref.docs[:ref.done[cut]] + rs_feed(engine, log, cut, log.n) + rs_finish(engine)
        assert_docs(got, ref.docs, f"python state at {cut} -> rust")
        # rust -> python
        engine = rs_new(options)
        head = rs_feed(engine, log, 0, cut)
        state = engine.export_state()
        pl = py_import(options, state)
        got = head + py_feed(pl, log, cut, log.n) + py_finish(pl)
        assert_docs(got, ref.docs, f"rust state at {cut} -> python")
        checked += 1
    return checked


@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize("name", SMALL, ids=SMALL_IDS)
def test_cross_continuation_at_every_cut(name: str, options: dict[str, Any], synthetic: str) -> None:
    log = load(small_path(name, synthetic))
    assert cross_check(log, options, list(range(log.n + 1))) >= log.n - 3


@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
def test_cross_continuation_on_the_sample(options: dict[str, Any]) -> None:
    log = load(str(SAMPLE))
    rng = random.Random(7)
    cuts = sorted({c for _, c in interesting_cuts(str(SAMPLE), per_kind=2)} | set(rng.sample(range(1, log.n), 2)))
    assert cross_check(log, options, cuts) == len(cuts)


def chained(log: Log, options: dict[str, Any], cuts: list[int], engines: list[str],
            ref: Reference) -> tuple[list[bytes], list[str]]:
    """Runs over [0, c1), [c1, c2) ... each in the engine named, each importing the last state:
    the documents and the states exported at the cuts."""
    bounds = [0, *cuts, log.n]
    state: str | None = None
    docs: list[bytes] = []
    states: list[str] = []
    for i, kind in enumerate(engines):
        a, b = bounds[i], bounds[i + 1]
        last = i == len(engines) - 1
        if kind == "rust":
            engine = rs_import(options, state)
            docs += rs_feed(engine, log, a, b)
            if last:
                docs += rs_finish(engine)
            else:
                state = engine.export_state()
        else:
            pl = py_import(options, state)
            docs += py_feed(pl, log, a, b)
            if last:
                docs += py_finish(pl)
            else:
                state = py_export(pl)
        if not last:
            assert state is not None
            states.append(state)
            assert len(docs) == ref.done[b], f"{engines} cut {b}: documents so far"
            # after an import, new identities are new objects in both engines: which ones are
            # shared can differ from the uninterrupted run's, not what they hold
            assert inlined(state) == inlined(ref.states[b]), f"{engines}: state at {b}"
    return docs, states


@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize("name", [str(SAMPLE), *SMALL], ids=["sample", *SMALL_IDS])
def test_chained_runs(name: str, options: dict[str, Any], synthetic: str) -> None:
    """Rust -> Rust -> Rust (and mixed chains) over 2-3 cuts give the uninterrupted documents."""
    log = load(small_path(name, synthetic))
    if log.n < 4:
        pytest.skip("too short to cut three times")
    rng = random.Random(log.n)
    special = [c for _, c in interesting_cuts(log.path)]
    plans = []
    for size in (2, 3, 3):
        pool = list(range(1, log.n))
        cuts = sorted(set(rng.sample(pool, size - 1) + ([rng.choice(special)] if special else rng.sample(pool, 1))))
        plans.append(cuts)
    ref = reference(log, options, [c for p in plans for c in p])
    runs = 0
    for cuts in plans:
        if set(cuts) & ref.unprocessed:
            continue
        _, py_states = chained(log, options, cuts, ["python"] * (len(cuts) + 1), ref)
        for engines in (["rust"] * (len(cuts) + 1),
                        [rng.choice(["rust", "python"]) for _ in range(len(cuts) + 1)],
                        [("python", "rust")[i % 2] for i in range(len(cuts) + 1)]):
            docs, states = chained(log, options, cuts, engines, ref)
            assert_docs(docs, ref.docs, f"{engines} cut at {cuts}")
            for cut, got, want in zip(cuts, states, py_states):
                assert_state(got, want, f"{engines} cut at {cuts}: state at {cut}")
            runs += 1
    assert runs


def test_unprocessed_is_not_carried() -> None:
    """A request error logged before its request line, cut from its RESULT: neither engine carries
    it over (Joiner.export_state has no `unprocessed`), and both continue alike."""
    log = load(str(ROOT / "tests" / "golden" / "2.x" / "access-2.5-errors-notes.log"))
    options = OPTIONS[0]
    cuts = [c for c in range(log.n + 1) if c in reference(log, options, list(range(log.n + 1))).unprocessed]
    assert cuts
    for cut in cuts:
        ref = reference(log, options, [cut])
        outcomes = {}
        for first in ("python", "rust"):
            for second in ("python", "rust"):
                outcomes[first, second] = chained(log, options, [cut], [first, second], ref)[0]
        assert len({tuple(v) for v in outcomes.values()}) == 1, f"cut {cut}: continuations differ"
        assert outcomes["python", "python"] != ref.docs  # the documented loss, as in Python


# ------------------------------------------------------------------------------ 3. expire_closed

@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
@pytest.mark.parametrize("name", [str(SAMPLE), str(ROOT / "tests" / "golden" / "3.x-json" / "access-3.1-json.log"),
                                  "synthetic"], ids=["sample", "3.x-json", "synthetic"])
def test_expire_closed(name: str, options: dict[str, Any], synthetic: str) -> None:
    log = load(small_path(name, synthetic))
    cuts = sorted({c for k, c in interesting_cuts(log.path) if k in ("close-grace", "closed-waiting-bind")})
    assert cuts
    checked = 0
    for cut in cuts:
        pl = py_new(options)
        py_feed(pl, log, 0, cut)
        engine = rs_new(options)
        rs_feed(engine, log, 0, cut)
        deadlines = [x[0] for x in pl.joiner.closing]
        assert deadlines
        epochs = [deadlines[0] - 1.0, deadlines[0], deadlines[len(deadlines) // 2] + 1e-6, deadlines[-1],
                  deadlines[-1] + 0.5, 4102444800.0]
        for epoch in sorted(epochs):
            docs: list[dict[str, Any]] = []
            pl.expire_closed(epoch, docs)
            want = [orjson.dumps(d) for d in docs]
            got = engine.expire_closed(epoch).splitlines()
            assert_docs(got, want, f"expire_closed({epoch!r}) at {cut}")
            assert_state(engine.export_state(), py_export(pl), f"after expire_closed({epoch!r}) at {cut}")
            checked += len(want)
        assert_docs(rs_feed(engine, log, cut, log.n) + rs_finish(engine),
                    py_feed(pl, log, cut, log.n) + py_finish(pl), f"after expiring at {cut}")
    if options["connections"]:
        assert checked


def test_expire_closed_then_carry_over() -> None:
    """The shipper's end of run: expire with the wall clock, export; the next run (the other
    engine) continues as the same engine would."""
    log = load(str(SAMPLE))
    options = OPTIONS[0]
    for cut in [c for k, c in interesting_cuts(str(SAMPLE)) if k == "close-grace"]:
        pl = py_new(options)
        py_docs = py_feed(pl, log, 0, cut)
        engine = rs_new(options)
        rs_docs = rs_feed(engine, log, 0, cut)
        epoch = pl.joiner.closing[-1][0] + 1.0
        docs: list[dict[str, Any]] = []
        pl.expire_closed(epoch, docs)
        py_docs += [orjson.dumps(d) for d in docs]
        rs_docs += engine.expire_closed(epoch).splitlines()
        assert_docs(rs_docs, py_docs, f"expired at {cut}")
        py_state, rs_state = py_export(pl), engine.export_state()
        assert canon(py_state)["join"]["closing"] == []
        nxt = py_import(options, rs_state)
        want = py_feed(pl, log, cut, log.n) + py_finish(pl)
        assert_docs(py_feed(nxt, log, cut, log.n) + py_finish(nxt), want, f"rust -> python after expiring at {cut}")
        nxt_rs = rs_import(options, py_state)
        assert_docs(rs_feed(nxt_rs, log, cut, log.n) + rs_finish(nxt_rs), want,
                    f"python -> rust after expiring at {cut}")


# ------------------------------------------------------------------------------ the API

def test_import_nothing() -> None:
    fresh = rs_new(OPTIONS[0]).export_state()
    for text in (None, "", "  \n", "null", "{}", '{"join": {}}'):
        engine = rs_new(OPTIONS[0])
        engine.import_state(text)
        assert canon(engine.export_state()) == canon(fresh)
    engine = rs_new(OPTIONS[0])
    engine.import_state()
    assert canon(engine.export_state()) == canon(py_export(py_new(OPTIONS[0])))


@pytest.mark.parametrize("text", ["{", "[1, 2]", '"state"', '{"join": [1]}'])
def test_import_rejects_what_is_no_state(text: str) -> None:
    with pytest.raises(ValueError):
        rs_new(OPTIONS[0]).import_state(text)


def test_export_import_export_is_stable() -> None:
    log = load(str(SAMPLE))
    for _, cut in interesting_cuts(str(SAMPLE)):
        engine = rs_new(OPTIONS[0])
        rs_feed(engine, log, 0, cut)
        state = engine.export_state()
        again = rs_import(OPTIONS[0], state)
        assert_state(again.export_state(), state, f"re-exported at {cut}")


def test_service_facts_are_carried() -> None:
    """The banner's version and instance (doc ids use the instance name) come with the state."""
    log = load(str(ROOT / "tests" / "golden" / "1.4" / "access-1.4.1-internal-ops.log"))
    engine = rs_new(OPTIONS[0])
    rs_feed(engine, log, 0, 3)
    pl = py_new(OPTIONS[0])
    py_feed(pl, log, 0, 3)
    service = orjson.loads(engine.export_state())["service"]
    assert service == pl.export_state()["service"] == {"type": "dirsrv", "version": "1.4.1.6", "name": "slapd-lab"}
    for state in (engine.export_state(), py_export(pl)):
        again = rs_import(OPTIONS[0], state)
        assert orjson.loads(again.export_state())["service"] == service
        docs = rs_feed(again, log, 3, log.n) + rs_finish(again)
        assert_docs(docs, rust_uninterrupted(log, OPTIONS[0])[-len(docs):], "after the banner")


def test_sharded_engine_has_no_state() -> None:
    engine = fast.new_engine(connections=True, with_ids=True, shard=0, nshards=2)
    with pytest.raises(ValueError):
        engine.export_state()
    with pytest.raises(ValueError):
        engine.import_state("{}")
