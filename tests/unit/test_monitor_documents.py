"""Monitor documents from real cn=monitor dumps: fields defined, histograms consistent, deltas, ACI."""

from __future__ import annotations

import copy
import math
from collections import Counter
from pathlib import Path

import pytest

from dirsrvbeat.fielddefs import field_map
from dirsrvbeat.monitor.collector import Collector
from dirsrvbeat.monitor.config import build_config
from dirsrvbeat.monitor.documents import DocumentBuilder
from dirsrvbeat.monitor.histograms import INF_LE
from dirsrvbeat.monitor.snapshot import Snapshot, load_ldif
from dirsrvbeat.monitor.state import StateStore

DATA = Path(__file__).parent.parent / "data" / "monitor"
S = DATA / "samples"
TAGS = ["t20", "t50", "t80", "t110", "verbose", "bench-120s", "bench-240s", "bench-360s", "bench-480s",
        "bench-600s"]


def snapshot(tag: str, config: bool = True) -> Snapshot:
    files = [S / f"{tag}-cn=monitor-subtree.ldif", S / f"{tag}-cn=monitor.ldif",
             S / f"{tag}-cn=monitor,cn=ldbm_database.ldif", S / f"{tag}-cn=monitor,cn=userRoot,cn=ldbm_database.ldif"]
    if config:
        files += [DATA / "config" / "cn=config.performance-attrs.ldif",
                  DATA / "config" / "cn=config,cn=ldbm_database.ldif"]
    return load_ldif([str(f) for f in files])


def config(**kw):
    kw.setdefault("state_dir", "none")
    kw.setdefault("service_name", "slapd-lab")
    kw.setdefault("host_name", "ldap1.example.com")
    return build_config(kw)


def run(snap: Snapshot, cfg=None, collector: Collector | None = None, native: bool = False):
    cfg = cfg or config(native_histograms=native)
    collector = collector or Collector(cfg, reader=object())
    scrape = collector.process(snap)
    return scrape, DocumentBuilder(cfg).documents(scrape)


def leaf_paths(doc, prefix=""):
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaf_paths(value, path + ".")
        else:
            yield path, value


TYPES = {"long": (int,), "double": (int, float), "keyword": (str,), "boolean": (bool,), "date": (str,),
         "text": (str,), "ip": (str,)}


def check_fields(docs):
    fields = field_map()
    undefined, wrong = set(), set()
    for doc in docs:
        for path, value in leaf_paths(doc):
            f = fields.get(path)
            if f is None:
                undefined.add(path)
                continue
            if path.startswith("dirsrv.monitor."):
                assert f.datasets == ("dirsrv.monitor",), path
            values = value if isinstance(value, list) else [value]
            for v in values:
                ok = isinstance(v, TYPES.get(f.type, (object,)))
                if f.type in ("long", "double") and isinstance(v, bool):
                    ok = False
                if not ok:
                    wrong.add((path, f.type, type(v).__name__))
    assert not undefined, f"fields missing from fields/monitor.yml: {sorted(undefined)}"
    assert not wrong, f"values of the wrong type: {sorted(wrong)}"


def synthetic_32(snap: Snapshot) -> Snapshot:
    """A 3.2.1+/main style cn=monitor: work queue, busy workers, threadpoolworker."""
    s = copy.deepcopy(snap)
    s.monitor.update({"currentworkqueue": ["3"], "maxworkqueue": ["40"], "currentbusyworkers": ["12"],
                      "maxbusyworkers": ["16"], "version": ["389-Directory/3.2.1 B2026.060.0000"],
                      "threadpoolworker": ["worker=0 state=busy op=SRCH duration_ns=1200",
                                           "worker=1 state=idle op= duration_ns=0",
                                           "worker=2 state=busy op=MOD duration_ns=99"]})
    return s


@pytest.mark.parametrize("tag", TAGS)
def test_every_emitted_field_is_defined(tag):
    scrape, docs = run(snapshot(tag), native=True)
    assert scrape.ok and scrape.connections_readable
    check_fields(docs)


def test_fields_of_32_deltas_native_and_down_documents():
    cfg = config(native_histograms=True)
    col = Collector(cfg, reader=object())
    run(synthetic_32(snapshot("t50")), cfg, col)
    later = synthetic_32(snapshot("t80"))
    scrape, docs = run(later, cfg, col)
    assert scrape.deltas and not scrape.deltas.first
    check_fields(docs)
    server = next(d for d in docs if d["dirsrv"]["monitor"]["metricset"] == "server")["dirsrv"]["monitor"]["server"]
    assert server["work_queue"] == {"current": 3, "max": 40}
    assert server["busy_workers"] == {"current": 12, "max": 16}
    assert server["thread_pool"] == {"busy": 2, "idle": 1, "exited": 0}
    down = DocumentBuilder(cfg).documents(_down(cfg))
    check_fields(down)


def _down(cfg):
    from dirsrvbeat.monitor.collector import Scrape

    return Scrape(ok=False, url=cfg.url, started_at=1796413980.5, error="ldap://x: connection refused",
                  timestamp="2026-12-04T19:53:00.500+00:00")


def test_document_shape_and_timestamp_from_the_server_clock():
    scrape, docs = run(snapshot("t50"))
    for d in docs:
        assert d["@timestamp"] == "2026-12-04T19:54:00.000+00:00"  # cn=monitor currenttime
        assert d["event"]["dataset"] == "dirsrv.monitor" and d["event"]["kind"] == "metric"
        assert d["service"]["address"].startswith("file://") and d["service"]["version"] == "2.3.1"
        assert d["host"]["name"] == "ldap1.example.com" and d["service"]["name"] == "slapd-lab"
    kinds = Counter(d["dirsrv"]["monitor"]["metricset"] for d in docs)
    assert kinds["scrape"] == kinds["server"] == kinds["snmp"] == kinds["database"] == 1
    assert kinds["backend"] == 1 and kinds["disk"] == 1
    nworkloads = 3  # default rules: small-long, unknown, small-short (catch-all: no default workload)
    assert kinds["workload"] == nworkloads
    buckets = sum(len(s.buckets) + 1 for s in scrape.histograms and config().histogram_specs)
    assert kinds["histogram"] == nworkloads * buckets
    assert kinds["histogram_total"] == nworkloads * 3


def test_event_ids_unique_and_deterministic():
    _, docs1 = run(snapshot("t50"))
    _, docs2 = run(snapshot("t50"))
    ids1 = [d["event"]["id"] for d in docs1]
    assert len(set(ids1)) == len(ids1)
    assert ids1 == [d["event"]["id"] for d in docs2]
    _, docs3 = run(snapshot("t80"))
    assert not set(ids1) & {d["event"]["id"] for d in docs3}  # another scrape time, other ids


def test_histogram_buckets_are_cumulative_and_match_the_connections():
    scrape, docs = run(snapshot("bench-240s"))
    counted = [r for r in scrape.connections if not r.excluded]
    per_workload = Counter(r.workload for r in counted)
    hist = [d for d in docs if d["dirsrv"]["monitor"]["metricset"] == "histogram"]
    by_key: dict = {}
    for d in hist:
        h = d["dirsrv"]["monitor"]["histogram"]
        by_key.setdefault((d["dirsrv"]["workload"], h["name"]), []).append(h)
    for (workload, name), rows in by_key.items():
        rows.sort(key=lambda h: h["bucket_index"])
        counts = [h["count"] for h in rows]
        assert counts == sorted(counts)                                   # cumulative
        assert [h["bucket_count"] for h in rows] == [b - a for a, b in zip([0, *counts], counts)]
        assert rows[-1]["le"] == INF_LE and rows[-1]["le_label"] == "+Inf"
        if name in ("ops_per_connection", "connection_age_seconds"):
            assert rows[-1]["count"] == per_workload[workload]
        else:  # blocked_ratio skips connections without operations
            assert rows[-1]["count"] == sum(1 for r in counted if r.workload == workload
                                            and r.conn.ops_initiated > 0)
    totals = {(d["dirsrv"]["workload"], d["dirsrv"]["monitor"]["histogram"]["name"]):
              d["dirsrv"]["monitor"]["histogram"] for d in docs
              if d["dirsrv"]["monitor"]["metricset"] == "histogram_total"}
    for (workload, name), t in totals.items():
        if name == "ops_per_connection":
            assert t["sum"] == sum(r.conn.ops_initiated for r in counted if r.workload == workload)
    w = {d["dirsrv"]["workload"]: d["dirsrv"]["monitor"]["workload"] for d in docs
         if d["dirsrv"]["monitor"]["metricset"] == "workload"}
    assert sum(x["connections"] for x in w.values()) == len(counted) == 46


def test_le_boundaries():
    cfg = config(rules=[{"workload": "all", "rule": "true"}],
                 histograms=[{"name": "ops", "value": "ops_initiated", "buckets": [1, 5]}])
    snap = Snapshot(monitor={"currenttime": ["20261204195400Z"], "connection": [
        f"{i}:20261204195300Z:{n}:{n}:-:uid=a:0:0:0:{i}:ip=1.2.3.4" for i, n in enumerate([0, 1, 2, 5, 6, 100])]})
    scrape, _ = run(snap, cfg)
    h = scrape.histograms["ops"]["all"]
    assert h.buckets() == [(1.0, 2, 2), (5.0, 4, 2), (math.inf, 6, 2)]  # value <= le
    assert h.sum == 114 and h.count == 6


def test_acl_missing_is_reported_not_zero(caplog):
    snap = load_ldif([str(S / "t50-cn=monitor.anonymous.ldif")])
    snap.bind_dn = "uid=svc-report,ou=services,dc=example,dc=com"
    scrape, docs = run(snap)
    assert scrape.ok and scrape.connections_readable is False
    kinds = {d["dirsrv"]["monitor"]["metricset"] for d in docs}
    assert kinds == {"scrape", "server"}                    # no workload/histogram documents at all
    sd = docs[0]["dirsrv"]["monitor"]
    assert sd["up"] == 1 and sd["scrape"]["connections_readable"] is False
    assert "not readable by uid=svc-report" in docs[0]["error"]["message"]
    assert "this is not zero connections" in sd["scrape"]["warnings"][0]
    assert 'dirsrvbeat monitor aci "uid=svc-report' in sd["scrape"]["warnings"][0]
    assert "histogram" not in sd


def test_deltas_interval_and_restart():
    cfg = config()
    col = Collector(cfg, reader=object())
    s1, d1 = run(snapshot("t50"), cfg, col)
    assert s1.deltas.first
    server1 = next(d for d in d1 if d["dirsrv"]["monitor"]["metricset"] == "server")["dirsrv"]["monitor"]
    assert "initiated_delta" not in server1["server"]["ops"] and "interval" not in server1
    s2, d2 = run(snapshot("t80"), cfg, col)
    assert not s2.deltas.first and not s2.deltas.restarted and s2.deltas.interval == 30.0
    server2 = next(d for d in d2 if d["dirsrv"]["monitor"]["metricset"] == "server")["dirsrv"]["monitor"]
    ops1, ops2 = server1["server"]["ops"], server2["server"]["ops"]
    assert ops2["initiated_delta"] == ops2["initiated"] - ops1["initiated"] > 0
    assert server2["interval"] == 30.0
    backend = next(d for d in d2 if d["dirsrv"]["monitor"]["metricset"] == "backend")["dirsrv"]["monitor"]["backend"]
    assert backend["entry_cache"]["hits_delta"] >= 0 and 0 <= backend["entry_cache"]["hit_ratio_interval"] <= 100
    # per-connection op deltas: connections open in both scrapes count their increase only
    w = {d["dirsrv"]["workload"]: d["dirsrv"]["monitor"]["workload"] for d in d2
         if d["dirsrv"]["monitor"]["metricset"] == "workload"}
    assert all("ops_initiated_delta" in x for x in w.values())
    keys1 = {r.conn.key(): r.conn.ops_initiated for r in s1.connections}
    expected = sum(r.conn.ops_initiated - keys1[r.conn.key()] if r.conn.key() in keys1 else r.conn.ops_initiated
                   for r in s2.connections
                   if not r.excluded and (r.conn.key() in keys1 or r.conn.start_epoch >= s1.server_epoch))
    assert sum(x["ops_initiated_delta"] for x in w.values()) == expected
    # restart: new starttime, counters start again from zero
    restarted = snapshot("t110")
    restarted.monitor["starttime"] = ["20261204195600Z"]
    restarted.monitor["opsinitiated"] = ["17"]
    s3, d3 = run(restarted, cfg, col)
    assert s3.deltas.restarted
    server3 = next(d for d in d3 if d["dirsrv"]["monitor"]["metricset"] == "server")["dirsrv"]["monitor"]
    assert server3["server"]["ops"]["initiated_delta"] == 17
    assert d3[0]["dirsrv"]["monitor"]["scrape"]["restarted"] is True


def test_state_survives_between_runs_on_disk(tmp_path):
    cfg = config(state_dir=str(tmp_path))
    run(snapshot("t50"), cfg, Collector(cfg, reader=object()))
    s2, _ = run(snapshot("t80"), cfg, Collector(cfg, reader=object()))  # a new process (cron)
    assert not s2.deltas.first and s2.deltas.counters["server.ops.initiated"] > 0
    files = list(tmp_path.glob("monitor-*.json"))
    assert len(files) == 1
    (files[0]).write_text("{not json")
    s3, _ = run(snapshot("t110"), cfg, Collector(cfg, reader=object()))  # corrupt state: no deltas, no crash
    assert s3.deltas.first


def test_unusable_state_dir_keeps_deltas_in_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = StateStore(str(blocker / "sub"), "k")
    cfg = config()
    col = Collector(cfg, reader=object(), state=store)
    run(snapshot("t50"), cfg, col)
    s2, _ = run(snapshot("t80"), cfg, col)
    assert not s2.deltas.first


def test_self_connection_is_recognised_and_excluded():
    snap = snapshot("t50")
    # t50 was read by `cn=directory manager`: conn 582 shows 2:1 (bind + the monitor search)
    snap.bind_dn = "cn=Directory Manager"
    snap.self_ops = 2
    scrape, docs = run(snap)
    me = [r for r in scrape.connections if r.is_self]
    assert [r.conn.conn_id for r in me] == [582] and me[0].excluded
    assert sum(s.connections for s in scrape.workloads.values()) == len(scrape.connections) - 1
    assert docs[0]["dirsrv"]["monitor"]["scrape"]["self_excluded"] is True
    cfg = config(exclude_self=False)
    scrape2, _ = run(snap, cfg)
    assert sum(s.connections for s in scrape2.workloads.values()) == len(scrape2.connections)


def test_readwaiters_sample():
    snap = load_ldif([str(S / "readwaiter-demo-cn=monitor.ldif")])
    scrape, docs = run(snap)
    assert sum(s.read_waiting for s in scrape.workloads.values()) == 2
    check_fields(docs)


def test_unparsed_values_are_counted_not_fatal():
    snap = snapshot("t50")
    snap.monitor["connection"] = [*snap.monitor["connection"], "garbage", "1:2:3"]
    scrape, docs = run(snap)
    assert len(scrape.unparsed) == 2
    sd = docs[0]["dirsrv"]["monitor"]["scrape"]
    assert sd["unparsed_connections"] == 2 and "not parsed" in sd["warnings"][-1]


def test_native_histogram_documents():
    _, docs = run(snapshot("bench-240s"), native=True)
    native = [d for d in docs if d["dirsrv"]["monitor"]["metricset"] == "histogram_native"]
    assert native
    for d in native:
        h = d["dirsrv"]["monitor"]["histogram"]
        values, counts = h["native"]["values"], h["native"]["counts"]
        assert values == sorted(set(values)) and len(values) == len(counts)
        assert sum(counts) == h["count"]


def test_native_histogram_mapping_overlay():
    from dirsrvbeat.fielddefs import mapping_properties
    from dirsrvbeat.monitor.documents import native_histogram_fields, native_histogram_overlay

    assert native_histogram_fields() == ["dirsrv.monitor.histogram.native"]
    base = mapping_properties()
    hist = base["dirsrv"]["properties"]["monitor"]["properties"]["histogram"]["properties"]
    assert hist["native"] == {"properties": {"values": {"type": "double"}, "counts": {"type": "long"}}}
    over = native_histogram_overlay(base)
    assert over["dirsrv"]["properties"]["monitor"]["properties"]["histogram"]["properties"]["native"] == \
        {"type": "histogram"}
    assert base["dirsrv"]["properties"]["monitor"]["properties"]["histogram"]["properties"]["native"] != \
        {"type": "histogram"}  # the input is not modified
