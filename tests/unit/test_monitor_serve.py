"""monitor serve (loop, backoff, HTTP endpoints, Prometheus) and monitor collect/check-rules/aci CLI,
with a fake reader: no server needed. Every loop is bounded by a scrape count and a timeout."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from dirsrvbeat.cli import main
from dirsrvbeat.monitor.collector import Collector
from dirsrvbeat.monitor.config import build_config
from dirsrvbeat.monitor.documents import DocumentBuilder
from dirsrvbeat.monitor.reader import ScrapeError
from dirsrvbeat.monitor.service import MonitorService
from dirsrvbeat.monitor.snapshot import load_ldif

DATA = Path(__file__).parent.parent / "data" / "monitor"
T50 = [str(DATA / "samples" / f) for f in ("t50-cn=monitor-subtree.ldif", "t50-cn=monitor.ldif",
                                          "t50-cn=monitor,cn=ldbm_database.ldif",
                                          "t50-cn=monitor,cn=userRoot,cn=ldbm_database.ldif")]


class FakeReader:
    """Plays a script: a snapshot (LDIF paths) or an exception per read."""

    def __init__(self, script):
        self.script = list(script)
        self.reads = 0
        self.closed = 0

    def read(self):
        step = self.script[min(self.reads, len(self.script) - 1)]
        self.reads += 1
        if isinstance(step, Exception):
            raise step
        return load_ldif(step)

    def close(self):
        self.closed += 1


def make(script, **kw):
    kw.setdefault("state_dir", "none")
    kw.setdefault("retries", 0)
    kw.setdefault("interval", 0.01)
    kw.setdefault("max_backoff", 0.05)
    cfg = build_config(kw)
    reader = FakeReader(script)
    return cfg, reader, Collector(cfg, reader=reader)


def test_down_server_gives_up_zero_and_retries_with_backoff():
    cfg, reader, col = make([ScrapeError("ldap://127.0.0.1:1: connection refused")], retries=2, timeout=1)
    scrape = col.scrape()
    assert not scrape.ok and reader.reads == 3 and scrape.attempts == 3
    doc = DocumentBuilder(cfg).documents(scrape)
    assert len(doc) == 1 and doc[0]["dirsrv"]["monitor"]["up"] == 0
    assert doc[0]["error"]["message"] == "ldap://127.0.0.1:1: connection refused"
    assert doc[0]["event"]["outcome"] == "failure"
    # not retryable (bad credentials): one attempt only
    cfg, reader, col = make([ScrapeError("bind failed: invalidCredentials", retryable=False)], retries=3)
    assert not col.scrape().ok and reader.reads == 1


def test_unexpected_reader_bug_is_up_zero_not_a_crash():
    _, _, col = make([ZeroDivisionError("boom")])
    scrape = col.scrape()
    assert not scrape.ok and "internal error while reading: ZeroDivisionError" in scrape.error


def test_service_loop_never_dies_and_backs_off():
    sent = []
    script = [ScrapeError("down"), ScrapeError("down"), ScrapeError("down"), T50, ScrapeError("down"), T50]
    cfg, reader, col = make(script, interval=0.01, max_backoff=0.03)

    def sink(docs):
        sent.append(docs)
        if len(sent) == 4:
            raise RuntimeError("elasticsearch is full")

    svc = MonitorService(col, DocumentBuilder(cfg), sink)
    waits = []
    orig = svc.next_wait
    svc.next_wait = lambda: waits.append(orig()) or waits[-1]  # type: ignore[method-assign]
    stop = threading.Event()
    t = threading.Thread(target=svc.run, args=(stop, 6))
    t.start()
    t.join(timeout=20)
    assert not t.is_alive()
    assert reader.reads == 6 and len(sent) == 6 and svc.output_errors == 1
    assert "elasticsearch is full" in svc.last_output_error
    assert [d[0]["dirsrv"]["monitor"]["up"] for d in sent] == [0, 0, 0, 1, 0, 1]
    assert waits == [0.01, 0.02, 0.03, 0.01, 0.01]  # doubling up to max_backoff, reset after a success
    assert svc.last.ok and reader.closed == 1


@contextlib.contextmanager
def serving(svc):
    httpd = svc.make_server("127.0.0.1", 0)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(timeout=10)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def test_http_endpoints_and_prometheus_histograms():
    cfg, _, col = make([T50], rules=[
        {"workload": "sync", "rule": 'bind_dn.startsWith("uid=svc-sync")'},
        {"workload": "anon", "rule": "anonymous"},
        {"workload": "other", "rule": "true"}])
    svc = MonitorService(col, DocumentBuilder(cfg))
    with serving(svc) as base:
        code, _, body = get(base + "/healthz")
        assert code == 200 and json.loads(body)["last_scrape"] == {"scraped": False}
        code, _, body = get(base + "/metrics")
        assert code == 200 and "dirsrv_up" not in body and "dirsrv_monitor_scrapes_total 0.0" in body
        svc.run_once()
        code, ctype, body = get(base + "/metrics")
        assert code == 200 and ctype.startswith("text/plain")
        fams = {f.name: f for f in text_string_to_metric_families(body)}
        assert fams["dirsrv_up"].samples[0].value == 1
        h = fams["dirsrv_workload_ops_per_connection"]
        assert h.type == "histogram"
        buckets = {(s.labels["workload"], s.labels["le"]): s.value for s in h.samples if s.name.endswith("_bucket")}
        counts = {s.labels["workload"]: s.value for s in h.samples if s.name.endswith("_count")}
        assert counts == {"sync": 2.0, "anon": 2.0, "other": 6.0}
        assert buckets[("sync", "+Inf")] == 2.0 and buckets[("anon", "1.0")] == 1.0
        assert fams["dirsrv_workload_connections"].samples
        assert fams["dirsrv_server_ops_initiated"].type == "counter"
        assert fams["dirsrv_snmp_searchops"].type == "counter"
        assert fams["dirsrv_backend_entry_cache_hits"].samples[0].labels == {"backend": "userroot"}
        assert fams["dirsrv_monitor_connections_readable"].samples[0].value == 1
        code, ctype, body = get(base + "/connections")
        data = json.loads(body)
        assert code == 200 and len(data["connections"]) == 10 and data["scrape"]["ok"]
        assert {r["workload"] for r in data["connections"]} == {"sync", "anon", "other"}
        code, _, body = get(base + "/connections?workload=sync&format=text")
        assert code == 200 and body.count("uid=svc-sync") == 2 and "conn_id" in body
        code, ctype, body = get(base + "/")
        assert code == 200 and "/metrics" in body and "/connections" in body and "Last scrape" in body
        assert get(base + "/nope")[0] == 404


def test_metrics_when_down_and_when_acl_missing():
    cfg, _, col = make([ScrapeError("refused")])
    svc = MonitorService(col, DocumentBuilder(cfg))
    svc.run_once()
    with serving(svc) as base:
        fams = {f.name: f for f in text_string_to_metric_families(get(base + "/metrics")[2])}
        assert fams["dirsrv_up"].samples[0].value == 0
        assert "dirsrv_server_threads" not in fams  # no stale values
        assert fams["dirsrv_monitor_scrape_failures"].samples[0].value == 1
        assert "last scrape failed: refused" in get(base + "/connections?format=text")[2]
    cfg, _, col = make([[str(DATA / "samples" / "t50-cn=monitor.anonymous.ldif")]])
    svc = MonitorService(col, DocumentBuilder(cfg))
    svc.run_once()
    with serving(svc) as base:
        body = get(base + "/metrics")[2]
        fams = {f.name: f for f in text_string_to_metric_families(body)}
        assert fams["dirsrv_monitor_connections_readable"].samples[0].value == 0
        assert "dirsrv_workload_connections" not in fams and "dirsrv_server_threads" in fams
        assert "not readable" in get(base + "/connections?format=text")[2]


# ------------------------------------------------------------------ CLI
def run_cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_collect_from_ldif(tmp_path, capsys):
    out = tmp_path / "docs.ndjson"
    argv = ["monitor", "collect", "--ldif", *T50, "--state-dir", str(tmp_path / "state"), "--ndjson-file", str(out),
            "--service-name", "slapd-lab", "--connections"]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert docs[0]["dirsrv"]["monitor"]["metricset"] == "scrape" and len(docs) > 100
    assert "conn_id" in err and "uid=svc-sync" in err
    code, _, _ = run_cli(argv, capsys)  # appends, with deltas this time
    docs2 = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(docs2) == 2 * len(docs) and docs2[len(docs)]["dirsrv"]["monitor"]["scrape"]["first"] is False


def test_cli_bad_rules_exit_2_with_the_rule_name(tmp_path, capsys):
    rules = tmp_path / "rules.yml"
    rules.write_text("- {workload: ok, rule: 'true'}\n- {workload: bad, name: broken, rule: 'ops_initiated >'}\n")
    code, _, err = run_cli(["monitor", "collect", "--ldif", *T50, "--rules", str(rules), "--state-dir", "none"],
                           capsys)
    assert code == 2 and "rule broken: CEL does not compile" in err
    code, _, err = run_cli(["monitor", "check-rules", "--rules", str(rules)], capsys)
    assert code == 2 and "broken" in err
    rules.write_text("- {workload: ok, rule: 'ops_pending > 2'}\n")
    code, out, _ = run_cli(["monitor", "check-rules", "--rules", str(rules)], capsys)
    assert code == 0 and json.loads(out)["rules"][0]["variables"] == ["ops_pending"]


def test_cli_config_file_errors_name_the_key(tmp_path, capsys):
    f = tmp_path / "dirsrvbeat.yml"
    f.write_text("monitor:\n  url: ldap://127.0.0.1:13389\n  timeout: soon\n")
    code, _, err = run_cli(["monitor", "collect", "-c", str(f), "--state-dir", "none"], capsys)
    assert code == 2 and "monitor.timeout" in err


def test_cli_down_server_exit_3_with_up_zero(tmp_path, capsys):
    out = tmp_path / "docs.ndjson"
    code, _, err = run_cli(["monitor", "collect", "--ldap-url", "ldap://127.0.0.1:1", "--timeout", "1",
                            "--retries", "0", "--state-dir", "none", "--ndjson-file", str(out)], capsys)
    assert code == 3 and "ldap://127.0.0.1:1" in err
    [doc] = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert doc["dirsrv"]["monitor"]["up"] == 0 and doc["error"]["message"]


def test_cli_aci(capsys):
    code, out, _ = run_cli(["monitor", "aci", "uid=svc-monitor,ou=services,dc=example,dc=com"], capsys)
    assert code == 0
    assert out.count("changetype: modify") == 4 and 'targetattr = "connection"' in out
    assert "nsslapd-rootpw" not in out


def test_input_plugin_replays_ldif():
    from dirsrvbeat.plugins import create

    inp = create("input", "ldap_monitor", ldif=T50, state_dir="none")
    docs = list(inp.read())
    assert docs[0]["dirsrv"]["monitor"]["metricset"] == "scrape" and inp.last.ok


def test_serve_command_runs_bounded(tmp_path, capsys, monkeypatch):
    # the real command path, against a closed port: it must keep going and exit after --max-scrapes
    out = tmp_path / "docs.ndjson"
    code = main(["monitor", "serve", "--ldap-url", "ldap://127.0.0.1:1", "--timeout", "1", "--retries", "0",
                 "--interval", "0.05", "--listen", "127.0.0.1:0", "--max-scrapes", "2", "--state-dir", "none",
                 "--ndjson-file", str(out)])
    assert code == 0
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [d["dirsrv"]["monitor"]["up"] for d in docs] == [0, 0]
    capsys.readouterr()


def test_cli_elasticsearch_output_unreachable(tmp_path, capsys):
    # documents for an unreachable Elasticsearch: a clear error and exit 69, never a traceback
    f = tmp_path / "dirsrvbeat.yml"
    f.write_text("elasticsearch:\n  hosts: ['http://127.0.0.1:1']\n  timeout: 2s\n"
                 "  bulk: {max_retries: 0, initial_backoff: 0.1s, max_backoff: 0.1s}\n")
    code, _, err = run_cli(["monitor", "collect", "-c", str(f), "--ldif", *T50, "--state-dir", "none",
                            "--output", "elasticsearch"], capsys)
    assert code == 69, err
    assert "output failed" in err and "Traceback" not in err


def test_slow_server_times_out_to_up_zero():
    """A 'server' that accepts the TCP connection and never answers: the scrape gives up after
    the timeout (per attempt) and reports up=0; nothing hangs."""
    import socket
    import time

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        cfg = build_config({"url": f"ldap://127.0.0.1:{srv.getsockname()[1]}", "timeout": 1, "retries": 1,
                            "state_dir": "none"})
        t0 = time.monotonic()
        scrape = Collector(cfg).scrape()
        elapsed = time.monotonic() - t0
    finally:
        stop.set()
        t.join(timeout=5)
        for c in held:
            c.close()
        srv.close()
    assert not scrape.ok and scrape.attempts == 2
    assert elapsed < 8, elapsed
    assert "127.0.0.1" in scrape.error and "timed out" in scrape.error


def test_background_sink_never_blocks_the_scrapes():
    from dirsrvbeat.monitor.service import BackgroundSink

    gate = threading.Event()
    got = []

    def slow(docs):
        if not gate.wait(timeout=20):
            raise RuntimeError("gate never opened")
        if docs and docs[0] == "boom":
            raise RuntimeError("elasticsearch said no")
        got.append(docs)

    sink = BackgroundSink(slow, max_batches=3)
    import time

    t0 = time.monotonic()
    for i in range(6):
        sink([i])                      # returns at once although the output is stuck
    sink(["boom"])
    assert time.monotonic() - t0 < 1
    assert sink.dropped_batches >= 3   # only the newest 3 waited
    gate.set()
    sink.close(timeout=20)
    assert got[-2:] == [[4], [5]] and sink.errors == 1 and "said no" in sink.last_error
    cfg, _, col = make([T50])
    svc = MonitorService(col, DocumentBuilder(cfg), sink)
    assert svc.output_summary()["errors"] == 1
