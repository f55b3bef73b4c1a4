"""Joiner behaviour on hand-written lines in the exact 2.3.1 format."""

from __future__ import annotations

from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.inputs.access_file import Line

TS = "[04/Dec/2026:19:53:{:02d}.{:09d} +0000] "  # lines 10 ms apart


def lines(*texts):
    return [Line("test.log", i * 100, i + 1, TS.format(i // 100 % 60, i % 100 * 10_000_000) + t, False)
            for i, t in enumerate(texts)]


def run(*texts, connections=True):
    p = AccessPipeline(lines=lines(*texts), connections=connections)
    docs = list(p.documents())
    return [d for d in docs if d["event"]["dataset"] == "dirsrv.access"], \
        [d for d in docs if d["event"]["dataset"] == "dirsrv.connection"], p.summary()


RES = "RESULT err={} tag={} nentries=0 wtime=0.000100000 optime=0.000200000 etime=0.000300000"


def test_bind_dn_follows_result_and_failed_bind_resets_to_anonymous():
    ops, conns, _ = run(
        "conn=5 fd=64 slot=64 connection from 10.1.2.3 to 10.0.0.1",
        'conn=5 op=0 BIND dn="uid=svc-a,ou=services,dc=example,dc=com" method=128 version=3',
        'conn=5 op=0 ' + RES.format(0, 97) + ' dn="uid=svc-a,ou=services,dc=example,dc=com"',
        'conn=5 op=1 SRCH base="dc=example,dc=com" scope=2 filter="(uid=x)" attrs=ALL',
        "conn=5 op=1 " + RES.format(0, 101),
        'conn=5 op=2 BIND dn="uid=svc-a,ou=services,dc=example,dc=com" method=128 version=3',
        "conn=5 op=2 " + RES.format(49, 97) + " - Invalid credentials",
        'conn=5 op=3 SRCH base="dc=example,dc=com" scope=2 filter="(uid=y)" attrs=ALL',
        "conn=5 op=3 " + RES.format(0, 101),
        "conn=5 op=4 UNBIND",
        "conn=5 op=4 fd=64 Disconnect - Cleanly Closed Connection - U1",
    )
    by_op = {d["dirsrv"]["op"]["id"]: d for d in ops}
    assert by_op[1]["dirsrv"]["bind"]["dn"] == "uid=svc-a,ou=services,dc=example,dc=com"
    assert by_op[1]["source"]["ip"] == "10.1.2.3"
    assert by_op[2]["event"]["outcome"] == "failure"
    assert by_op[2]["dirsrv"]["result"]["name"] == "invalidCredentials"
    assert by_op[3]["dirsrv"]["bind"]["dn"] == ""
    assert conns[0]["dirsrv"]["close"]["code"] == "U1"
    assert conns[0]["dirsrv"]["conn"]["failed_binds"] == 1
    assert conns[0]["dirsrv"]["conn"]["ops"] == 5


def test_result_after_disconnect_is_joined_within_grace():
    ops, _conns, summary = run(
        "conn=1 fd=64 slot=64 connection from 127.0.0.1 to 127.0.0.1",
        'conn=1 op=0 SRCH base="" scope=0 filter="(objectClass=*)" attrs=ALL',
        "conn=1 op=1 UNBIND",
        "conn=1 op=1 fd=64 Disconnect - Cleanly Closed Connection - U1",
        "conn=1 op=0 " + RES.format(0, 101),
    )
    srch = [d for d in ops if d["dirsrv"]["op"]["type"] == "SRCH"]
    assert len(srch) == 1 and srch[0]["dirsrv"]["op"]["status"] == "complete"
    assert summary["results_without_request"] == 0


def test_restart_detected_and_keys_differ():
    ops, conns, summary = run(
        "conn=1 fd=64 slot=64 connection from 127.0.0.1 to 127.0.0.1",
        'conn=1 op=0 SRCH base="" scope=0 filter="(objectClass=*)" attrs=ALL',
        "conn=2 fd=65 slot=65 connection from 127.0.0.1 to 127.0.0.1",
        # server restarted: conn ids start at 1 again; op 0 of the old conn 1 never got a RESULT
        "conn=1 fd=64 slot=64 connection from 127.0.0.2 to 127.0.0.1",
        'conn=1 op=0 SRCH base="dc=x" scope=0 filter="(objectClass=*)" attrs=ALL',
        "conn=1 op=0 " + RES.format(0, 101),
    )
    assert summary["server_restarts"] == 1
    statuses = sorted(d["dirsrv"]["op"]["status"] for d in ops)
    assert statuses == ["complete", "no_result"]
    done = next(d for d in ops if d["dirsrv"]["op"]["status"] == "complete")
    assert done["source"]["ip"] == "127.0.0.2"
    assert len({d["dirsrv"]["conn"]["key"] for d in conns}) == 3


def test_internal_ops_link_to_client_op_and_do_not_take_its_result():
    ops, _, _ = run(
        "conn=9 fd=64 slot=64 connection from 127.0.0.1 to 127.0.0.1",
        'conn=9 op=0 BIND dn="uid=u,dc=x" method=128 version=3',
        'conn=9 (Internal) op=0(1)(1) SRCH base="uid=u,dc=x" scope=0 '
        'filter="(|(objectclass=*)(objectclass=ldapsubentry))" attrs=ALL',
        "conn=9 (Internal) op=0(1)(1) RESULT err=0 tag=48 nentries=1 "
        "wtime=0.000021051 optime=0.000352564 etime=0.000371632",
        'conn=9 op=0 ' + RES.format(0, 97) + ' dn="uid=u,dc=x"',
    )
    internal = [d for d in ops if d["dirsrv"]["op"]["internal"]]
    client = [d for d in ops if not d["dirsrv"]["op"]["internal"]]
    assert len(internal) == 1 and len(client) == 1
    assert internal[0]["dirsrv"]["op"]["parent_key"] == client[0]["dirsrv"]["op"]["key"]
    assert client[0]["dirsrv"]["result"]["tag"] == 97


def test_starttls_then_tls_line_sets_transport_and_version():
    ops, _, _ = run(
        "conn=3 fd=64 slot=64 connection from 127.0.0.1 to 127.0.0.1",
        'conn=3 op=0 EXT oid="1.3.6.1.4.1.1466.20037" name="start_tls_plugin"',
        "conn=3 op=0 " + RES.format(0, 120),
        "conn=3 TLS1.3 128-bit AES-GCM",
        'conn=3 op=1 SRCH base="" scope=0 filter="(objectClass=*)" attrs=ALL',
        "conn=3 op=1 " + RES.format(0, 101),
    )
    srch = next(d for d in ops if d["dirsrv"]["op"]["type"] == "SRCH")
    assert srch["dirsrv"]["conn"]["transport"] == "starttls"
    assert srch["tls"]["version"] == "1.3"
    ext = next(d for d in ops if d["dirsrv"]["op"]["type"] == "EXT")
    assert ext["dirsrv"]["ext"]["name"] == "start_tls_plugin"


def test_abandon_links_target_and_decodes_ten_digit_etime():
    ops, _, _ = run(
        "conn=11 fd=64 slot=64 connection from 127.0.0.1 to 127.0.0.1",
        'conn=11 op=1 SRCH base="ou=people,dc=example,dc=com" scope=2 filter="(objectClass=inetOrgPerson)" '
        'attrs="uid modifyTimestamp" options=persistent',
        "conn=11 op=2 ABANDON targetop=1 msgid=7 nentries=0 etime=36.0954815936",
        "conn=11 op=3 UNBIND",
        "conn=11 op=3 fd=64 Disconnect - Cleanly Closed Connection - U1",
    )
    abandon = next(d for d in ops if d["dirsrv"]["op"]["type"] == "ABANDON")
    assert abs(abandon["dirsrv"]["abandon"]["target_etime"] - 36.954815936) < 1e-9
    srch = next(d for d in ops if d["dirsrv"]["op"]["type"] == "SRCH")
    assert srch["dirsrv"]["op"]["abandoned"] is True
    assert srch["dirsrv"]["op"]["status"] == "no_result"
    assert srch["dirsrv"]["search"]["persistent"] is True
    assert abandon["dirsrv"]["abandon"]["target_key"] == srch["dirsrv"]["op"]["key"]


def test_request_logged_before_the_bind_result_gets_the_new_identity():
    # 389 DS logs a RESULT after sending it, so the next request can be logged first (RFC 4511
    # forbids sending it before the BindResponse arrived, so it runs as the new identity).
    ops, _, _ = run(
        "conn=7 fd=64 slot=64 connection from 10.9.9.9 to 10.0.0.1",
        'conn=7 op=0 BIND dn="uid=user0042,ou=people,dc=example,dc=com" method=128 version=3',
        'conn=7 op=1 SRCH base="ou=people,dc=example,dc=com" scope=2 filter="(uid=user0042)" attrs="cn"',
        'conn=7 op=0 ' + RES.format(0, 97) + ' dn="uid=user0042,ou=people,dc=example,dc=com"',
        "conn=7 op=1 " + RES.format(0, 101),
        'conn=7 op=2 BIND dn="uid=user0042,ou=people,dc=example,dc=com" method=128 version=3',
        'conn=7 op=3 SRCH base="ou=people,dc=example,dc=com" scope=2 filter="(uid=x)" attrs="cn"',
        "conn=7 op=2 " + RES.format(49, 97) + " - Invalid credentials",
        "conn=7 op=3 " + RES.format(0, 101),
    )
    srch = {d["dirsrv"]["op"]["id"]: d for d in ops if d["dirsrv"]["op"]["type"] == "SRCH"}
    assert srch[1]["dirsrv"]["bind"]["dn"] == "uid=user0042,ou=people,dc=example,dc=com"
    assert srch[3]["dirsrv"]["bind"]["dn"] == ""


def test_bind_result_logged_after_the_whole_connection_still_sets_the_identity():
    # real 2.3.1 ordering: the BIND RESULT came after the SRCH RESULT, the UNBIND and the Disconnect
    ops, conns, _ = run(
        "conn=188 fd=65 slot=65 connection from 127.0.0.1 to 127.0.0.1",
        'conn=188 op=0 BIND dn="uid=user0042,ou=people,dc=example,dc=com" method=128 version=3',
        'conn=188 op=1 SRCH base="ou=people,dc=example,dc=com" scope=2 filter="(uid=user0042)" attrs="cn"',
        "conn=188 op=1 " + RES.format(0, 101),
        "conn=188 op=2 UNBIND",
        "conn=188 op=2 fd=65 Disconnect - Cleanly Closed Connection - U1",
        'conn=188 op=0 ' + RES.format(0, 97) + ' dn="uid=user0042,ou=people,dc=example,dc=com"',
    )
    by_type = {d["dirsrv"]["op"]["type"]: d for d in ops}
    assert set(by_type) == {"BIND", "SRCH", "UNBIND"}
    assert by_type["SRCH"]["dirsrv"]["bind"]["dn"] == "uid=user0042,ou=people,dc=example,dc=com"
    assert by_type["UNBIND"]["dirsrv"]["bind"]["dn"] == "uid=user0042,ou=people,dc=example,dc=com"
    assert conns[0]["dirsrv"]["conn"]["bind_dns"] == ["uid=user0042,ou=people,dc=example,dc=com"]
