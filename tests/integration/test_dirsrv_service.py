"""The real 389 DS test service (scripts/ds/ds.sh + tests/services) does what the other
integration tests rely on: every transport answers, and the traffic helpers leave the
expected lines in the real access log and values in cn=monitor."""
from __future__ import annotations

import re
import ssl
import sys
from pathlib import Path

import ldap3
import pytest

# tests/ on sys.path even when no tests/conftest.py puts it there (rootdir insertion
# only adds the directory of a conftest.py or of this module).
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from services.traffic import STARTTLS_OID, Traffic  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.dirsrv]

# the `dirsrv` fixture comes from tests/conftest.py (services.dirsrv.dirsrv)

CONN_RE = re.compile(r" conn=(\d+) ")


def conn_ids(lines, *needles):
    return {m.group(1) for ln in lines if all(n in ln for n in needles)
            for m in [CONN_RE.search(ln)] if m}


def lines_of(lines, conn_id):
    return [ln for ln in lines if (f" conn={conn_id} ") in ln]


def monitor(conn, *attrs):
    conn.search("cn=monitor", "(objectClass=*)", ldap3.BASE, attributes=list(attrs) or ["*"])
    assert conn.result["result"] == 0, conn.result
    return conn.response[0]["attributes"] if conn.response else {}


# ------------------------------------------------------------------ transports
def test_ldap_answers(dirsrv):
    c = dirsrv.connect(None, bind=False)
    c.search("", "(objectClass=*)", ldap3.BASE, attributes=["vendorVersion", "namingContexts"])
    attrs = c.response[0]["attributes"]
    assert attrs["vendorVersion"][0].startswith("389-Directory/2.")
    assert dirsrv.suffix in attrs["namingContexts"]
    c.unbind()
    assert dirsrv.ldap_url == f"ldap://127.0.0.1:{dirsrv.port}"


def test_ldaps_verifies_the_ca(dirsrv):
    c = dirsrv.connect("svc-backup", transport="ldaps", raise_exceptions=True)
    assert c.extend.standard.who_am_i() == "dn: " + dirsrv.service_accounts["svc-backup"][0]
    c.unbind()
    # without the test CA the certificate must not verify
    untrusted = ldap3.Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT)
    s = ldap3.Server("127.0.0.1", port=dirsrv.sport, use_ssl=True, tls=untrusted,
                     get_info=ldap3.NONE, connect_timeout=5)
    with pytest.raises(ldap3.core.exceptions.LDAPSocketOpenError, match="CERTIFICATE_VERIFY_FAILED"):
        ldap3.Connection(s, raise_exceptions=True).open()


def test_starttls_logs_ext_and_tls_lines(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.capture_access_log() as cap:
        c = t.starttls_connection("svc-mail")
        assert c.tls_started and c.bound
        t.indexed_search(c, 1)
        t.unbind(c)
    ids = conn_ids(cap.lines, f'EXT oid="{STARTTLS_OID}"')
    assert len(ids) == 1
    own = lines_of(cap.lines, ids.pop())
    assert any(re.search(r" TLS1\.[23] \d+-bit ", ln) for ln in own), own
    assert any('BIND dn="uid=svc-mail,' in ln for ln in own)
    assert any(" Disconnect - Cleanly Closed Connection - U1" in ln for ln in own)


def test_ldapi_autobinds_root_as_directory_manager(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.capture_access_log() as cap:
        c = t.ldapi_connection()
        assert c.extend.standard.who_am_i() == "dn: " + dirsrv.dm_dn
        t.unbind(c)
    assert any('AUTOBIND dn="cn=Directory Manager"' in ln for ln in cap.lines)
    assert any(f"connection from local to {dirsrv.ldapi_socket}" in ln for ln in cap.lines)
    assert any("mech=EXTERNAL" in ln for ln in cap.lines)


# ------------------------------------------------------------------ access-log lines
def test_exact_counts_and_disconnect(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.capture_access_log() as cap:
        c = t.bind_as("svc-sync")
        d = t.indexed_search(c, 7)
        cmp_ = t.compare(c, 3)
        t.unbind(c)
    assert d.count == 7 and d.results == {0: 7}
    ids = conn_ids(cap.lines, 'BIND dn="uid=svc-sync,ou=services')
    assert len(ids) == 1
    own = lines_of(cap.lines, ids.pop())
    assert sum(" SRCH " in ln for ln in own) == 7
    assert sum(" CMP " in ln for ln in own) == 3 == cmp_.count
    assert sum(" RESULT " in ln for ln in own) == 1 + 7 + 3      # BIND + SRCH + CMP
    assert sum(" UNBIND" in ln for ln in own) == 1
    assert any(" Disconnect - Cleanly Closed Connection - U1" in ln for ln in own)


def test_unindexed_searches_log_notes_A_and_U(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.capture_access_log() as cap:
        c = t.bind_as("svc-sync")
        full = t.unindexed_search(c, 3)
        part = t.unindexed_search(c, 2, partial=True)
        t.unbind(c)
    assert full.results == {0: 3} and part.results == {0: 2}
    results = [ln for ln in cap.lines if " RESULT " in ln and " tag=101 " in ln]
    assert sum('notes=A details="Fully Unindexed Filter"' in ln for ln in results) == 3
    assert sum('notes=U details="Partially Unindexed Filter"' in ln for ln in results) == 2


def test_paged_search_logs_notes_P_and_pr_idx(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.capture_access_log() as cap:
        c = t.bind_as("svc-sync")
        d = t.paged_search(c, page_size=100)
        t.unbind(c)
    assert d.extra["pages"] >= 5 and d.extra["entries"] >= 500
    paged = [ln for ln in cap.lines if " RESULT " in ln and "notes=" in ln and "P" in
             ln.split("notes=", 1)[1].split(" ", 1)[0]]
    assert len(paged) == d.count
    assert all(" pr_idx=" in ln and " pr_cookie=" in ln for ln in paged)


def test_sort_vlv_add_mod_modrdn_delete(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.capture_access_log() as cap:
        c = t.bind_as("svc-sync")
        assert t.sorted_search(c, 1).results == {0: 1}
        assert t.vlv_search(c, 2).results == {0: 2}
        added = t.add(c, 2)
        ren = t.modrdn(c, added.extra["dns"][0])
        assert t.modify(c, 1, dns=[ren.extra["dn"]]).results == {0: 1}
        assert t.delete(c, [ren.extra["dn"], added.extra["dns"][1]]).results == {0: 2}
        t.unbind(c)
    assert added.results == {0: 2} and ren.results == {0: 1}
    text = "\n".join(cap.lines)
    assert text.count(" ADD dn=") == 2 and text.count(" DEL dn=") == 2
    assert text.count(" MODRDN dn=") == 1 and text.count(" MOD dn=") == 1
    assert re.search(r" VLV \d+:\d+:", text), "VLV request line missing"
    assert " SORT -sn givenName" in text and " SORT uid" in text


def test_failed_bind_logs_err49(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.capture_access_log() as cap:
        d = t.failed_bind(2)
    assert d.results == {49: 2}
    fails = [ln for ln in cap.lines if " RESULT err=49 tag=97 " in ln]
    assert len(fails) == 2


def test_abandon_and_anonymous(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.capture_access_log() as cap:
        a = t.abandon(n=2)
        s = t.anonymous_search(2)
    assert a.count == 2 and s.results == {0: 2}
    assert sum(" ABANDON targetop=" in ln for ln in cap.lines) == 2
    assert any('BIND dn="" method=128' in ln for ln in cap.lines)


def test_log_levels_772_and_statlog(dirsrv):
    t = Traffic(dirsrv)
    with dirsrv.log_levels(access=772, statlog=1):
        assert dirsrv.get_config("nsslapd-accesslog-level")["nsslapd-accesslog-level"] == ["772"]
        with dirsrv.capture_access_log() as cap:
            c = t.bind_as("svc-sync")
            t.indexed_search(c, 2)
            t.unbind(c)
    text = "\n".join(cap.lines)
    assert ' ENTRY dn="uid=user' in text
    assert " (Internal) op=" in text
    assert " STAT read index: " in text
    cfg = dirsrv.get_config("nsslapd-accesslog-level", "nsslapd-statlog-level")
    assert cfg == {"nsslapd-accesslog-level": ["256"], "nsslapd-statlog-level": ["0"]}


# ------------------------------------------------------------------ cn=monitor
def test_monitor_dn_reads_connection_but_ordinary_users_cannot(dirsrv):
    aci = dirsrv.grant_monitor_read()
    assert 'targetattr = "connection"' in aci and dirsrv.monitor_dn in aci
    t = Traffic(dirsrv)
    with t.long_lived_pool("svc-portal", 3):
        mon = t.bind_as("svc-monitor")
        vals = monitor(mon, "connection", "currentconnections").get("connection", [])
        portal = [v for v in vals if ":uid=svc-portal,ou=services,dc=example,dc=com:" in v]
        assert len(portal) == 3, vals
        assert all(v.rsplit(":ip=", 1)[1] == "127.0.0.1" for v in portal)
        t.unbind(mon)
        for who in ("user0001", "svc-sync", None):
            c = t.bind_as(who)
            attrs = monitor(c, "connection", "currentconnections")
            assert not attrs.get("connection"), who
            assert int(attrs["currentconnections"][0]) >= 4
            t.unbind(c)


def test_pipelined_burst_hits_maxthreadsperconn(dirsrv):
    t = Traffic(dirsrv)
    mon = t.bind_as("svc-monitor")
    before = int(monitor(mon, "maxthreadsperconnhits")["maxthreadsperconnhits"][0])
    d = t.pipelined_burst("svc-sync", n=120)
    after = int(monitor(mon, "maxthreadsperconnhits")["maxthreadsperconnhits"][0])
    t.unbind(mon)
    assert d.results == {0: 120}
    assert after > before


def test_mixed_workload_summary(dirsrv):
    t = Traffic(dirsrv, seed=7)
    with dirsrv.capture_access_log() as cap:
        s = t.mixed_workload(seconds=6, seed=7, think=0.3)
    assert s["threads_alive"] == 0
    assert s["ops"]["SRCH"] > 20 and s["ops"]["BIND"] > 5
    assert dirsrv.service_accounts["svc-sync"][0] in s["by_bind_dn"]
    logged = sum(" SRCH base=" in ln and "dirsrvbeat-flush-" not in ln for ln in cap.lines)
    # every search the workload sent is in the log (abandoned ones included)
    assert logged == s["ops"]["SRCH"], (logged, s)


# ------------------------------------------------------------------ lifecycle
@pytest.mark.slow
def test_rotation_renames_the_active_file(dirsrv):
    before = set(dirsrv.rotated_access_logs())
    r = dirsrv.rotate_access_log()
    assert r.rotated not in before and r.rotated.exists()
    assert re.fullmatch(r"access\.\d{8}-\d{6}", r.rotated.name)
    assert r.rotated.stat().st_size >= 1024 * 1024
    head = r.active.read_text(errors="replace").splitlines()[:2]
    assert head[0].startswith("\t389-Directory/") and head[1].startswith("\tlocalhost:")
    cfg = dirsrv.get_config("nsslapd-accesslog-maxlogsize")
    assert cfg["nsslapd-accesslog-maxlogsize"] == ["2048"]


@pytest.mark.slow
def test_restart_keeps_the_monitor_aci(dirsrv):
    dirsrv.restart()
    t = Traffic(dirsrv)
    mon = t.bind_as("svc-monitor")
    vals = monitor(mon, "connection")["connection"]
    assert any(":uid=svc-monitor,ou=services,dc=example,dc=com:" in v for v in vals)
    t.unbind(mon)
    assert dirsrv.is_running()


def test_flush_barrier_raises_nothing_and_returns_size(dirsrv):
    size = dirsrv.wait_for_log_flush()
    assert size == dirsrv.access_log_size() > 0
    tail = dirsrv.access_log_lines(max(0, size - 4096))
    assert any("dirsrvbeat-flush-" in ln for ln in tail)
    assert any(" Disconnect " in ln for ln in tail[-3:])
