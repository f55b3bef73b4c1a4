"""The monitor collector against the real 389 DS (scripts/ds, fixture `dirsrv`).

Known service accounts open connections the way real clients do (a long-lived pool, short
bursts, anonymous clients, a bulk account, a pipelining client) and the collector must put each
into the right workload with exact histogram counts. The other engineers' tests may use the same
server at the same time, so every connection of this module comes from its own loopback source
address (127.x.y.z, still connecting to 127.0.0.1) and the first rule sends everything else to
`other`. Every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import ldap3
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dirsrvbeat.monitor.aci import acis
from dirsrvbeat.monitor.collector import Collector
from dirsrvbeat.monitor.config import build_config
from dirsrvbeat.monitor.documents import DocumentBuilder
from dirsrvbeat.monitor.service import MonitorService

pytestmark = [pytest.mark.integration, pytest.mark.dirsrv]

REPO = Path(__file__).resolve().parents[2]
UNINDEXED = ["(description=*staff*)", "(employeeType=contractor)", "(l=Paris)", "(title=*ire*)"]


@pytest.fixture(scope="module")
def src():
    """A loopback source address no other test uses (connections still go to 127.0.0.1)."""
    rng = random.Random()
    return f"127.{rng.randint(60, 250)}.{rng.randint(1, 250)}.{rng.randint(2, 250)}"


def rules(src: str) -> list[dict]:
    return [
        {"workload": "other", "rule": f'ip != "{src}"', "name": "not-this-test"},
        {"workload": "pipelining", "rule": "threads_blocked > 0"},
        {"workload": "large-long", "rule": 'bind_dn in ["uid=svc-sync,ou=services,dc=example,dc=com"]'},
        {"workload": "small-long", "rule": "connection_age_seconds >= 4"},
        {"workload": "unknown", "rule": 'bind_dn == "NULLDN"'},
        {"workload": "small-short", "rule": "true"},
    ]


def monitor_config(dirsrv, tmp_path, who: str = "svc-monitor", **kw):
    dn, pw = dirsrv.credentials(who)
    pw_file = tmp_path / f"{who}.pw"
    pw_file.write_text(pw + "\n")
    raw = {"url": dirsrv.ldaps_url, "ca_file": dirsrv.ca_cert, "bind_dn": dn, "password_file": str(pw_file),
           "state_dir": str(tmp_path / "state"), "timeout": 10, "service_name": f"slapd-{dirsrv.inst}",
           "host_name": "ds-test"}
    raw.update(kw)
    return build_config(raw)


class Clients:
    """ldap3 connections from one source address; all closed at the end."""

    def __init__(self, dirsrv, src: str) -> None:
        self.ds = dirsrv
        self.src = src
        self.conns: list = []

    def open(self, who, bind=True, strategy=ldap3.SYNC, searches=0):
        user, pw = self.ds.credentials(who)
        # receive_timeout also for ASYNC: without it ldap3's receiver thread drops a connection that
        # stays idle longer than the connect timeout (5 s)
        c = ldap3.Connection(self.ds.server(), user=user, password=pw, client_strategy=strategy,
                             source_address=self.src, auto_referrals=False, raise_exceptions=False,
                             receive_timeout=30)
        c.open()
        if bind and user:
            assert c.bind(), c.result
        for i in range(searches):
            c.search(self.ds.suffix, f"(uid=user{i:04d})", ldap3.SUBTREE, attributes=["uid"])
        self.conns.append(c)
        return c

    def pipelined(self, who, n=60):
        """n unindexed searches sent without waiting on one connection, then every result read:
        the connection hits nsslapd-maxthreadsperconn (its maxblocked counter moves) and stays open."""
        c = self.open(who, strategy=ldap3.ASYNC)
        ids = [c.search(self.ds.suffix, UNINDEXED[i % len(UNINDEXED)], ldap3.SUBTREE, attributes=["uid", "cn"])
               for i in range(n)]
        deadline = time.monotonic() + 60
        for m in ids:
            c.get_response(m, timeout=max(1, int(deadline - time.monotonic())))
        return c

    def close(self):
        for c in self.conns:
            try:
                c.unbind()
            except Exception:
                pass
        self.conns.clear()


def by_workload(scrape, src):
    mine = [r for r in scrape.connections if r.conn.ip == src]
    out: dict[str, list] = {}
    for r in mine:
        out.setdefault(r.workload, []).append(r)
    return out


def bucket(scrape, name, workload, le):
    for b_le, cum, _ in scrape.histograms[name][workload].buckets():
        if b_le == le:
            return cum
    raise AssertionError(f"no bucket le={le}")


# ------------------------------------------------------------------------------------ workloads
def test_workloads_and_histograms_on_a_real_server(dirsrv, tmp_path, src):
    cfg = monitor_config(dirsrv, tmp_path, rules=rules(src))
    clients = Clients(dirsrv, src)
    try:
        t0 = time.monotonic()
        pool = [clients.open("svc-portal", searches=3) for _ in range(3)]          # long-lived pool
        sync = [clients.open("svc-sync", searches=5) for _ in range(2)]            # bulk account
        clients.pipelined("svc-report", n=60)                                      # pipelining
        time.sleep(max(0.0, 6.5 - (time.monotonic() - t0)))                        # pool ages >= 4 s
        short = [clients.open("svc-mail", searches=1) for _ in range(4)]           # short burst, still open
        anon = [clients.open(None, bind=False, searches=1) for _ in range(2)]      # anonymous
        scrape = Collector(cfg).scrape()
    finally:
        clients.close()
    assert scrape.ok, scrape.error
    assert scrape.connections_readable is True
    assert len(pool) + len(sync) + len(short) + len(anon) == 11
    got = by_workload(scrape, src)
    assert {w: len(rs) for w, rs in got.items()} == {
        "small-long": 3, "large-long": 2, "pipelining": 1, "small-short": 4, "unknown": 2}
    assert scrape.workloads["small-long"].connections == 3
    assert scrape.workloads["small-short"].connections == 4
    assert scrape.workloads["unknown"].connections == 2
    assert scrape.workloads["pipelining"].connections == 1
    assert scrape.workloads["large-long"].connections == 2
    # the collector (127.0.0.1, svc-monitor) recognised itself
    me = [r for r in scrape.connections if r.is_self]
    assert len(me) == 1 and me[0].excluded and me[0].conn.bind_dn == cfg.bind_dn
    # histograms: exact counts per workload and bucket. ops per connection: svc-mail = BIND + 1 SRCH,
    # anonymous = 1 SRCH, pool = BIND + 3 SRCH, pipelining = BIND + 60 SRCH. The server's counter
    # may run one or two ahead of the requests (2.3.1 sometimes skips op numbers, and LDAPS counts
    # one more), so each count is checked against a bucket with that much room.
    assert bucket(scrape, "ops_per_connection", "small-short", 1.0) == 0
    assert bucket(scrape, "ops_per_connection", "small-short", 5.0) == 4
    assert bucket(scrape, "ops_per_connection", "unknown", 5.0) == 2
    assert bucket(scrape, "ops_per_connection", "small-long", 2.0) == 0
    assert bucket(scrape, "ops_per_connection", "small-long", 10.0) == 3
    assert bucket(scrape, "ops_per_connection", "pipelining", 50.0) == 0
    assert bucket(scrape, "ops_per_connection", "pipelining", 100.0) == 1
    assert scrape.histograms["ops_per_connection"]["small-long"].sum == \
        sum(r.conn.ops_initiated for r in got["small-long"]) >= 3 * 4
    # connection age (server clock): the pool is >= 4 s old, the burst is not
    assert bucket(scrape, "connection_age_seconds", "small-long", 1.0) == 0
    assert bucket(scrape, "connection_age_seconds", "small-long", 10.0) == 3
    assert bucket(scrape, "connection_age_seconds", "small-short", 1.0) == 4
    # blocked/initiated ratio: only the pipelining client was ever blocked
    [pipe] = got["pipelining"]
    assert pipe.conn.threads_blocked > 0 and pipe.conn.max_threads_hits > 0
    assert bucket(scrape, "blocked_ratio", "pipelining", 0.0) == 0
    assert bucket(scrape, "blocked_ratio", "pipelining", 1.0) == 1
    for w in ("small-long", "large-long", "small-short", "unknown"):
        assert bucket(scrape, "blocked_ratio", w, 0.0) == scrape.histograms["blocked_ratio"][w].count
    # the same numbers in the bucketed-gauge documents
    docs = DocumentBuilder(cfg).documents(scrape)
    gauge = {(d["dirsrv"]["workload"], d["dirsrv"]["monitor"]["histogram"]["name"],
              d["dirsrv"]["monitor"]["histogram"]["le_label"]): d["dirsrv"]["monitor"]["histogram"]["count"]
             for d in docs if d["dirsrv"]["monitor"]["metricset"] == "histogram"}
    assert gauge[("small-short", "ops_per_connection", "5.0")] == 4
    assert gauge[("unknown", "ops_per_connection", "+Inf")] == 2
    assert gauge[("pipelining", "blocked_ratio", "0.0")] == 0
    server = next(d for d in docs if d["dirsrv"]["monitor"]["metricset"] == "server")
    assert server["service"]["version"].startswith("2.") and server["dirsrv"]["monitor"]["server"]["threads"] > 0
    assert server["@timestamp"].startswith(time.strftime("%Y-%m-%d", time.gmtime(scrape.server_epoch)))


# ------------------------------------------------------------------------------------ permissions
def test_acl_missing_is_a_clear_message_not_zero(dirsrv, tmp_path):
    # svc-report has no ACI on cn=monitor: it sees every attribute except `connection`
    dn, pw = dirsrv.credentials("svc-report")
    pw_file = tmp_path / "pw"
    pw_file.write_text(pw)
    out = tmp_path / "docs.ndjson"
    proc = subprocess.run(
        [sys.executable, "-m", "dirsrvbeat", "monitor", "collect", "--ldap-url", dirsrv.ldap_url, "--starttls",
         "--ldap-ca-file", dirsrv.ca_cert, "--bind-dn", dn, "--bind-password-file", str(pw_file),
         "--state-dir", "none", "--ndjson-file", str(out)],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert f"cn=monitor `connection` is not readable by {dn}" in proc.stderr
    assert "this is not zero connections" in proc.stderr and "dirsrvbeat monitor aci" in proc.stderr
    assert pw not in proc.stderr + proc.stdout
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    kinds = {d["dirsrv"]["monitor"]["metricset"] for d in docs}
    assert "histogram" not in kinds and "workload" not in kinds and "server" in kinds
    scrape_doc = docs[0]["dirsrv"]["monitor"]
    assert scrape_doc["up"] == 1 and scrape_doc["scrape"]["connections_readable"] is False
    assert "not readable" in docs[0]["error"]["message"]


def test_documented_acis_grant_what_the_collector_reads(dirsrv, tmp_path):
    """A fresh account with exactly the ACIs of `dirsrvbeat monitor aci` (applied as Directory
    Manager, removed afterwards) reads `connection`, the ldbm monitors and the tuning values."""
    uid = f"dirsrvbeat-mon-{uuid.uuid4().hex[:8]}"
    dn = f"uid={uid},ou=services,{dirsrv.suffix}"
    pw = "Mon-" + uuid.uuid4().hex
    dm = dirsrv.dm()
    added = []
    try:
        assert dm.add(dn, ["inetOrgPerson"], {"uid": uid, "cn": uid, "sn": uid, "userPassword": pw})
        pw_file = tmp_path / "pw"
        pw_file.write_text(pw)
        cfg = build_config({"url": dirsrv.ldaps_url, "ca_file": dirsrv.ca_cert, "bind_dn": dn,
                            "password_file": str(pw_file), "state_dir": "none"})
        before = Collector(cfg).scrape()
        assert before.ok and before.connections_readable is False and not before.backends
        for target, value in acis(dn):
            dm.modify(target, {"aci": [(ldap3.MODIFY_ADD, [value])]})
            added.append((target, value))
        after = Collector(cfg).scrape()
        assert after.ok and after.connections_readable is True, after.connections_message
        assert after.backends["userroot"]["entry_cache.hits"] >= 0
        assert "db_cache.hits" in after.sections["database"]
        assert after.sections["config"]["maxthreadsperconn"] > 0
        assert "ldbm.idlistscanlimit" in after.sections["config"]
        assert "threadnumber" not in after.sections["config"]  # not grantable on 2.3.1 (see monitor.aci)
        assert not [w for w in after.warnings if "not readable" in w]
    finally:
        for target, value in added:
            dm.modify(target, {"aci": [(ldap3.MODIFY_DELETE, [value])]})
        dm.delete(dn)
        dm.unbind()


# ------------------------------------------------------------------------------------ transports, TLS
def test_transports_and_certificate_verification(dirsrv, tmp_path):
    ok = {}
    for name, kw in {"ldaps": {}, "starttls": {"url": dirsrv.ldap_url, "starttls": True},
                     "ldapi": {"url": dirsrv.ldapi_url, "sasl_external": True, "bind_dn": None,
                               "password_file": None, "ca_file": None}}.items():
        cfg = monitor_config(dirsrv, tmp_path, state_dir="none", **{k: v for k, v in kw.items()})
        scrape = Collector(cfg).scrape()
        assert scrape.ok, (name, scrape.error)
        assert scrape.connections_readable, name
        ok[name] = [r for r in scrape.connections if r.is_self]
    assert all(len(v) == 1 for v in ok.values()), ok
    assert ok["ldapi"][0].conn.ip == "local"
    # a CA that did not sign the server certificate: refused, up=0, the daemon would go on
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(other_ca), "-days", "1", "-subj", "/CN=not-the-ds-ca"],
                   check=True, capture_output=True, timeout=60)
    cfg = monitor_config(dirsrv, tmp_path, state_dir="none", ca_file=str(other_ca), retries=0)
    scrape = Collector(cfg).scrape()
    assert not scrape.ok and "certificate" in scrape.error.lower()
    assert DocumentBuilder(cfg).documents(scrape)[0]["dirsrv"]["monitor"]["up"] == 0


# ------------------------------------------------------------------------------------ daemon
def test_serve_prometheus_deltas_and_diagnostics(dirsrv, tmp_path, src):
    cfg = monitor_config(dirsrv, tmp_path, rules=rules(src), interval=1)
    svc = MonitorService(Collector(cfg, keep_open=True), DocumentBuilder(cfg))
    httpd = svc.make_server("127.0.0.1", 0)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    clients = Clients(dirsrv, src)
    try:
        sync = clients.open("svc-sync", searches=2)
        first = svc.run_once()
        assert first.ok and first.deltas.first
        for i in range(7):
            sync.search(dirsrv.suffix, f"(uid=user{i:04d})", ldap3.SUBTREE, attributes=["uid"])
        [clients.open("svc-mail", searches=1) for _ in range(2)]
        second = svc.run_once()
        assert second.ok and not second.deltas.first and not second.deltas.restarted
        # the kept-open collector connection is followed across scrapes
        assert [r.conn.conn_id for r in first.connections if r.is_self] == \
            [r.conn.conn_id for r in second.connections if r.is_self]
        # per-connection deltas: 7 searches between the scrapes (the server's counter may run ahead
        # by an op number it skipped; the delta is exactly the difference of its values)
        before = {r.conn.key(): r.conn.ops_initiated for r in first.connections}
        sync_rec = next(r for r in second.connections if r.conn.ip == src and r.workload == "large-long")
        assert sync_rec.ops_delta == sync_rec.conn.ops_initiated - before[sync_rec.conn.key()] >= 7
        assert second.workloads["large-long"].ops_initiated_delta == sync_rec.ops_delta
        new = [r for r in second.connections if r.conn.ip == src and r.workload == "small-short"]
        assert len(new) == 2 and all(r.ops_delta == r.conn.ops_initiated >= 2 for r in new)  # new: all ops
        assert second.workloads["small-short"].ops_initiated_delta == sum(r.ops_delta for r in new)
        body = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        fams = {f.name: f for f in text_string_to_metric_families(body)}
        assert fams["dirsrv_up"].samples[0].value == 1
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for s in fams["dirsrv_workload_ops_per_connection"].samples}
        assert samples[("dirsrv_workload_ops_per_connection_bucket", (("le", "1.0"), ("workload", "small-short")))] == 0
        assert samples[("dirsrv_workload_ops_per_connection_bucket", (("le", "5.0"), ("workload", "small-short")))] == 2
        assert samples[("dirsrv_workload_ops_per_connection_count", (("workload", "large-long"),))] == 1
        diag = json.loads(urllib.request.urlopen(base + "/connections?workload=small-short", timeout=10).read())
        assert len(diag["connections"]) == 2 and {r["ip"] for r in diag["connections"]} == {src}
        health = json.loads(urllib.request.urlopen(base + "/healthz", timeout=10).read())
        assert health["status"] == "ok" and health["ldap_up"] is True
    finally:
        clients.close()
        httpd.shutdown()
        httpd.server_close()
        svc.collector.close()


def test_collect_cli_twice_gives_deltas(dirsrv, tmp_path):
    out = tmp_path / "docs.ndjson"
    argv = [sys.executable, "-m", "dirsrvbeat", "monitor", "collect", "--ldap-url", dirsrv.ldapi_url,
            "--sasl-external", "--state-dir", str(tmp_path / "state"), "--ndjson-file", str(out)]
    for _ in range(2):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        time.sleep(1.1)  # currenttime has a 1 s resolution
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    servers = [d["dirsrv"]["monitor"] for d in docs if d["dirsrv"]["monitor"]["metricset"] == "server"]
    assert len(servers) == 2
    assert "initiated_delta" not in servers[0]["server"]["ops"]
    assert servers[1]["server"]["ops"]["initiated_delta"] > 0 and servers[1]["interval"] >= 1
    assert len({d["event"]["id"] for d in docs}) == len(docs)


# ------------------------------------------------------------------------------------ Elasticsearch
@pytest.mark.elasticsearch
def test_collect_into_elasticsearch(dirsrv, es, tmp_path, src):
    """`monitor collect --output elasticsearch` with the templates of `dirsrvbeat setup`: every
    document indexed (bucketed gauges included, +Inf bucket too) and the histogram queryable."""
    prefix = f"monitest{uuid.uuid4().hex[:8]}"
    cfg_file = tmp_path / "dirsrvbeat.yml"
    cfg_file.write_text(
        f"elasticsearch:\n  hosts: ['{es.url}']\n  index_prefix: {prefix}\n"
        "  bulk: {max_retries: 2, initial_backoff: 0.5s, max_backoff: 2s}\n"
        f"monitor:\n  url: '{dirsrv.ldapi_url}'\n  sasl_external: true\n  state_dir: {tmp_path / 'state'}\n"
        f"  rules:\n    - {json.dumps(rules(src)[0])}\n    - {{workload: small-short, rule: 'true'}}\n")
    clients = Clients(dirsrv, src)
    try:
        setup = subprocess.run([sys.executable, "-m", "dirsrvbeat", "setup", "-c", str(cfg_file), "--no-ilm"],
                               capture_output=True, text=True, timeout=300, cwd=REPO)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        for _ in range(3):
            clients.open("svc-mail", searches=1)
        proc = subprocess.run([sys.executable, "-m", "dirsrvbeat", "monitor", "collect", "-c", str(cfg_file),
                               "--output", "elasticsearch"], capture_output=True, text=True, timeout=300, cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        es.ok("POST", f"/{prefix}-monitor-*/_refresh")
        total = es.ok("GET", f"/{prefix}-monitor-*/_count")["count"]
        assert total > 50
        body = {"size": 20, "query": {"bool": {"filter": [
            {"term": {"dirsrv.monitor.metricset": "histogram"}},
            {"term": {"dirsrv.workload": "small-short"}},
            {"term": {"dirsrv.monitor.histogram.name": "ops_per_connection"}}]}},
            "sort": [{"dirsrv.monitor.histogram.bucket_index": "asc"}]}
        hits = es.ok("POST", f"/{prefix}-monitor-*/_search", body)["hits"]["hits"]
        rows = [h["_source"]["dirsrv"]["monitor"]["histogram"] for h in hits]
        assert rows[-1]["le_label"] == "+Inf" and rows[-1]["count"] == 3
        assert [r["le_label"] for r in rows][:2] == ["1.0", "2.0"] and rows[0]["count"] == 0
        assert all(h["_id"] == h["_source"]["event"]["id"] for h in hits)
        # the same scrape again is idempotent (same server second -> same _id) or adds one more scrape
        mapping = es.ok("GET", f"/{prefix}-monitor-*/_mapping")
        props = next(iter(mapping.values()))["mappings"]
        props = props.get("properties") or next(iter(props.values()))["properties"]
        assert props["dirsrv"]["properties"]["monitor"]["properties"]["histogram"]["properties"]["le"]["type"] \
            == "double"
    finally:
        clients.close()
        es.delete_indices(f"{prefix}-*")
        subprocess.run([sys.executable, "-m", "dirsrvbeat", "setup", "-c", str(cfg_file), "--no-ilm", "--remove"],
                       capture_output=True, text=True, timeout=300, cwd=REPO)
