"""parse_line on one line of every shape of every 389 DS release line, plus the nasty cases.

Each case is (line, expected): `expected` lists the record keys that matter, `kv` compared as a
subset. Lines are built from the format strings in `389ds-access-log-and-monitor.md` (A.3-A.8) or
copied from the real 2.3.1 log (`389ds-2.3.1-observed-format.md`).
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from dirsrvbeat.inputs.access_file import iter_lines
from dirsrvbeat.processors.filter_shape import filter_info
from dirsrvbeat.processors.parse import parse_line
from dirsrvbeat.timestamps import parse_seconds

TS = "[04/Dec/2026:19:53:00.675805620 +0000] "
OLD = "[28/Mar/2002:13:14:22 -0800] "


def _json(**kv: Any) -> str:
    base = {"local_time": "2025-02-10T13:41:53.166697090 -0500", "key": "1739212909-1", "conn_id": 1}
    base.update(kv)
    return orjson.dumps(base).decode().replace("/", "\\/")  # json-c escapes '/'


CASES: list[tuple[str, str, dict[str, Any]]] = [
    # ------------------------------------------------------------------ 1.2 / 1.3
    ("1.3 open, second-resolution stamp", OLD + "conn=1 fd=64 slot=64 connection from 10.1.2.10 to 10.1.2.5",
     {"kind": "open", "t": "28/Mar/2002:13:14:22 -0800", "conn": 1, "fd": 64, "slot": 64, "ssl": False,
      "src": "10.1.2.10", "dst": "10.1.2.5"}),
    ("1.3 LDAPS open", OLD + "conn=2 fd=65 slot=65 SSL connection from 10.1.3.22 to 10.1.2.5",
     {"kind": "open", "ssl": True, "src": "10.1.3.22"}),
    ("1.3 'SSL' word is no protocol version", OLD + "conn=2 SSL 256-bit AES",
     {"kind": "tls", "protocol": None, "bits": 256, "cipher": "AES"}),
    ("1.3 SSL client bound as", OLD + "conn=2 SSL client bound as uid=jdoe,ou=people,dc=example,dc=com",
     {"kind": "tls", "protocol": None, "client_dn": "uid=jdoe,ou=people,dc=example,dc=com"}),
    ("1.3 BIND RESULT integer etime + dn",
     OLD + 'conn=1 op=0 RESULT err=0 tag=97 nentries=0 etime=0 dn="cn=directory manager"',
     {"kind": "result", "conn": 1, "op": 0,
      "kv": {"err": "0", "tag": "97", "nentries": "0", "etime": "0", "dn": "cn=directory manager"}}),
    ("1.3 SASL bind in progress", OLD + "conn=5 op=0 RESULT err=14 tag=97 nentries=0 etime=0, SASL bind in progress",
     {"kind": "result", "sasl_in_progress": True, "text": "SASL bind in progress", "kv": {"err": "14", "etime": "0"}}),
    ("1.3 notes without details", OLD + "conn=2 op=1 RESULT err=0 tag=101 nentries=1 etime=0 notes=U",
     {"kind": "result", "kv": {"notes": "U"}}),
    ("1.3 paged, pr_idx only", OLD + "conn=5 op=3 RESULT err=0 tag=101 nentries=100 etime=0 notes=P pr_idx=0",
     {"kind": "result", "kv": {"notes": "P", "pr_idx": "0"}}),
    ("1.3 csn", OLD + "conn=4 op=1 RESULT err=0 tag=107 nentries=0 etime=0 csn=52d6c1d9000000010000",
     {"kind": "result", "kv": {"csn": "52d6c1d9000000010000"}}),
    ("1.3 conn=Internal op=-1 SRCH",
     OLD + 'conn=Internal op=-1 SRCH base="dc=example,dc=com" scope=2 filter="(member=uid=b,dc=x)" attrs="member"',
     {"kind": "req", "type": "SRCH", "conn": 0, "op": -1, "internal": True, "base": "dc=example,dc=com",
      "filter": "(member=uid=b,dc=x)", "attrs": "member"}),
    ("1.3 conn=Internal op=-1 RESULT", OLD + "conn=Internal op=-1 RESULT err=0 tag=48 nentries=1 etime=0",
     {"kind": "result", "conn": 0, "op": -1, "internal": True, "kv": {"tag": "48"}}),
    ("1.3 closed - B1", OLD + "conn=2 op=-1 fd=65 closed - B1",
     {"kind": "close", "conn": 2, "op": -1, "fd": 65, "code": "B1", "close_text": "closed - B1"}),
    ("1.3 closed error 104", OLD + "conn=3 op=-1 fd=66 closed error 104 (Connection reset by peer) - B1",
     {"kind": "close", "code": "B1", "close_text": "closed error 104 (Connection reset by peer) - B1"}),
    ("1.3.4 etime %f (level 131072)", OLD + "conn=7 op=1 RESULT err=0 tag=101 nentries=1 etime=0.000861",
     {"kind": "result", "kv": {"etime": "0.000861"}}),
    ("1.3.7 10-digit etime", TS + "conn=4413 op=1 RESULT err=0 tag=101 nentries=5234 etime=2.0345600000 notes=A",
     {"kind": "result", "kv": {"etime": "2.0345600000", "notes": "A"}}),
    ("1.3.7 ABANDON found", TS + "conn=4413 op=3 ABANDON targetop=2 msgid=4 nentries=12 etime=0.0001340891",
     {"kind": "req", "type": "ABANDON", "targetop": "2", "msgid": "4", "nentries": "12", "etime": "0.0001340891"}),
    ("1.3.7 LDAPI open", TS + "conn=4411 fd=102 slot=102 connection from local to /var/run/slapd-x.socket",
     {"kind": "open", "src": "local", "dst": "/var/run/slapd-x.socket"}),
    ("1.3.7 AUTOBIND", TS + 'conn=4411 AUTOBIND dn="cn=Directory Manager"',
     {"kind": "autobind", "dn": "cn=Directory Manager"}),
    # ------------------------------------------------------------------ 1.4
    ("1.4 conn=Internal(0) op=0(0)(1)",
     TS + 'conn=Internal(0) op=0(0)(1) MOD dn="cn=uniqueid generator,cn=config"',
     {"kind": "req", "type": "MOD", "conn": 0, "op": 0, "internal": True, "internal_id": 0, "nesting": 1,
      "dn": "cn=uniqueid generator,cn=config"}),
    ("1.4 conn=N (Internal) op=N(N)(N)",
     TS + "conn=12 (Internal) op=3(1)(2) RESULT err=0 tag=48 nentries=0 wtime=0.1 optime=0.2 etime=0.3",
     {"kind": "result", "conn": 12, "op": 3, "internal": True, "internal_id": 1, "nesting": 2}),
    ("1.4 closed error - U1", TS + "conn=5023 op=1 fd=90 closed error - U1", {"kind": "close", "code": "U1"}),
    ("1.4 closed Idle timeout", TS + "conn=5025 op=-1 fd=92 closed Idle timeout (nsslapd-idletimeout) - T1",
     {"kind": "close", "code": "T1"}),
    ("1.4 closed IO timeout", TS + "conn=5021 op=-1 fd=88 closed IO timeout (nsslapd-ioblocktimeout) - T2",
     {"kind": "close", "code": "T2"}),
    ("1.4 notes with details",
     TS + 'conn=12 op=2 RESULT err=0 tag=101 nentries=3 etime=0.0355402111 notes=U '
          'details="Partially Unindexed Filter"',
     {"kind": "result", "kv": {"notes": "U", "details": "Partially Unindexed Filter", "etime": "0.0355402111"}}),
    ("1.4 notes=F and result text",
     TS + 'conn=1 op=7 RESULT err=0 tag=101 nentries=0 wtime=0.1 optime=0.2 etime=0.3 notes=F '
          'details="Filter Element Missing From Schema" - Invalid attribute in filter - results may not be complete.',
     {"kind": "result", "kv": {"notes": "F", "details": "Filter Element Missing From Schema"},
      "text": "Invalid attribute in filter - results may not be complete."}),
    ("1.4 TLS client certificate",
     TS + "conn=5021 TLS1.2 128-bit AES-GCM; client CN=app,OU=Apps,O=Example Corp; "
          "issuer CN=Example CA 2,O=Example Corp",
     {"kind": "tls", "protocol": "TLS1.2", "bits": 128, "cipher": "AES-GCM",
      "client_subject": "CN=app,OU=Apps,O=Example Corp", "client_issuer": "CN=Example CA 2,O=Example Corp"}),
    ("1.4 TLS client bound as", TS + "conn=5021 TLS1.2 client bound as uid=app,ou=services,dc=example,dc=com",
     {"kind": "tls", "protocol": "TLS1.2", "client_dn": "uid=app,ou=services,dc=example,dc=com"}),
    ("1.4 TLS failed to map", TS + "conn=5023 TLS1.2 failed to map client certificate to LDAP DN (no entry)",
     {"kind": "tls", "message": "failed to map client certificate to LDAP DN (no entry)"}),
    ("1.4 rejected client certificate (NSPR error)",
     TS + "conn=5026 Netscape Portable Runtime error -8172 (Peer's certificate issuer has been marked as not "
          "trusted by the user.); unauthenticated client CN=rogue; issuer CN=Rogue CA",
     {"kind": "tls", "protocol": None}),
    # ------------------------------------------------------------------ 2.x (2.3.1 lines are real)
    ("2.x Disconnect U1", TS + "conn=1 op=2 fd=64 Disconnect - Cleanly Closed Connection - U1",
     {"kind": "close", "op": 2, "fd": 64, "code": "U1"}),
    ("2.x Disconnect errno + reason", TS + "conn=23 op=-1 fd=70 Disconnect - Connection timed out - "
                                           "Idle Timeout (nsslapd-idletimeout) - T1",
     {"kind": "close", "code": "T1"}),
    ("2.x Disconnect without code",
     TS + "conn=67 op=-1 fd=73 Disconnect - Connection reset by peer - TCP connection reset by peer.",
     {"kind": "close", "code": None}),
    ("2.x HAProxy", TS + "conn=301 fd=64 HAProxy new_address_from=203.0.113.45 to new_address_dest=10.0.0.5",
     {"kind": "haproxy", "fd": 64, "src": "203.0.113.45", "dst": "10.0.0.5"}),
    ("2.x EXT_INFO", TS + 'conn=301 op=1 EXT_INFO name="passwd_modify_plugin" bind_dn="uid=k,dc=x" '
                          'target_dn="uid=k,dc=x" msg="success" rc=0',
     {"kind": "ext_info", "name": "passwd_modify_plugin", "bind_dn": "uid=k,dc=x", "target_dn": "uid=k,dc=x",
      "msg": "success", "rc": "0"}),
    ("2.x notes U,N,B", TS + 'conn=7711 op=6 RESULT err=0 tag=101 nentries=17 wtime=0.1 optime=0.2 etime=0.3 '
                             'notes=U,N,B details="Partially Unindexed Filter,Not synchronous operation,'
                             'Blocked because too many operations"',
     {"kind": "result", "kv": {"notes": "U,N,B"}}),
    ("2.x notes=M on a BIND", TS + 'conn=301 op=0 RESULT err=0 tag=97 nentries=0 wtime=0.1 optime=0.2 etime=0.3 '
                                   'notes=M details="Multi-factor Authentication" dn="uid=k,dc=x"',
     {"kind": "result", "kv": {"notes": "M", "dn": "uid=k,dc=x"}}),
    ("2.x SASL in progress", TS + "conn=302 op=0 RESULT err=14 tag=97 nentries=0 wtime=0.1 optime=0.2 "
                                  "etime=0.3, SASL bind in progress",
     {"kind": "result", "sasl_in_progress": True, "kv": {"etime": "0.3"}}),
    ("2.x paged pr_idx + pr_cookie (real)",
     TS + 'conn=10 op=2 RESULT err=0 tag=101 nentries=200 wtime=0.000223847 optime=0.009324577 etime=0.009545640 '
          'notes=U,P details="Partially Unindexed Filter,Paged Search" pr_idx=0 pr_cookie=0',
     {"kind": "result", "kv": {"notes": "U,P", "pr_idx": "0", "pr_cookie": "0"}}),
    ("2.x VLV by offset (real)", TS + "conn=20 op=5 VLV 0:9:357:0 358:1002 (0)",
     {"kind": "vlv", "request": "0:9:357:0", "response": "358:1002", "vlv_result": 0}),
    ("2.x VLV by value (real)", TS + "conn=12050 op=62 VLV 2:7:user0456 456:1000 (0)",
     {"kind": "vlv", "request": "2:7:user0456", "response": "456:1000", "vlv_result": 0}),
    ("2.x SORT ALLIDS (real)", TS + "conn=20 op=3 SORT -sn givenName (*)",
     {"kind": "sort", "spec": "-sn givenName", "candidates": "*"}),
    ("2.x SORT by VLV index, trailing space (real)", TS + "conn=12050 op=62 SORT uid ",
     {"kind": "sort", "spec": "uid"}),
    ("2.x ABANDON NOTFOUND (real)", TS + "conn=41 op=2 ABANDON targetop=NOTFOUND msgid=130",
     {"kind": "req", "type": "ABANDON", "targetop": "NOTFOUND", "msgid": "130"}),
    ("2.x ABANDON Simple Paged Results", TS + "conn=303 op=3 ABANDON targetop=Simple Paged Results msgid=3",
     {"kind": "req", "type": "ABANDON", "targetop": "Simple Paged Results", "msgid": "3"}),
    ("2.x ABANDON SUPPRESSED-BY-PLUGIN", TS + "conn=7711 op=8 ABANDON targetop=SUPPRESSED-BY-PLUGIN msgid=8",
     {"kind": "req", "type": "ABANDON", "targetop": "SUPPRESSED-BY-PLUGIN"}),
    ("2.x UNPROCESSED need new password", TS + "conn=7712 op=1 UNPROCESSED OPERATION - need new password",
     {"kind": "unprocessed", "op": 1, "error": "need new password"}),
    ("2.x UNPROCESSED Insufficient SSF",
     TS + "conn=7713 op=1 UNPROCESSED OPERATION - Insufficient SSF (local_ssf=0 sasl_ssf=0 ssl_ssf=0)",
     {"kind": "unprocessed", "error": "Insufficient SSF (local_ssf=0 sasl_ssf=0 ssl_ssf=0)"}),
    ("2.x UNPROCESSED anonymous", TS + "conn=7710 op=0 UNPROCESSED OPERATION - Anonymous access not allowed",
     {"kind": "unprocessed", "error": "Anonymous access not allowed"}),
    ("2.x SRCH invalid dn (real)", TS + 'conn=111 op=1 SRCH dn="not a dn" authzid="(null)", invalid dn',
     {"kind": "req", "type": "SRCH", "base": "not a dn", "error": "invalid dn"}),
    ("2.x SRCH bad controls (real)", TS + 'conn=131 op=1 SRCH base="ou=people,dc=example,dc=com" scope=2 '
                                          'filter="(uid=user0004)", failed to decode LDAP controls',
     {"kind": "req", "type": "SRCH", "filter": "(uid=user0004)", "error": "failed to decode LDAP controls"}),
    ("2.x BIND, invalid dn", TS + 'conn=7711 op=0 BIND dn="cn=bad,,dc=example,dc=com" method=128 version=3, invalid dn',
     {"kind": "req", "type": "BIND", "dn": "cn=bad,,dc=example,dc=com", "method": "128", "version": "3",
      "error": "invalid dn"}),
    ("2.x MOD, invalid dn", TS + 'conn=7711 op=2 MOD dn="uid=x,,ou=people,dc=example,dc=com", invalid dn',
     {"kind": "req", "type": "MOD", "dn": "uid=x,,ou=people,dc=example,dc=com", "error": "invalid dn"}),
    ("2.x MODRDN invalid new RDN", TS + 'conn=7711 op=3 MODRDN invalid new RDN ("cn=")',
     {"kind": "req", "type": "MODRDN", "error": 'invalid new RDN ("cn=")'}),
    ("2.x UNBIND decoding error", TS + "conn=7711 op=10 UNBIND, decoding error: UnBindRequest not null",
     {"kind": "req", "type": "UNBIND", "error": "decoding error: UnBindRequest not null"}),
    ("2.x SRCH persistent (real)", TS + 'conn=11 op=1 SRCH base="ou=people,dc=example,dc=com" scope=2 '
                                        'filter="(objectClass=inetOrgPerson)" attrs="uid modifyTimestamp" '
                                        'options=persistent',
     {"kind": "req", "persistent": True, "attrs": "uid modifyTimestamp"}),
    ("2.x SRCH proxied (real)", TS + 'conn=14 op=16 SRCH base="ou=people,dc=example,dc=com" scope=2 '
                                     'filter="(uid=user0193)" attrs="cn mail" '
                                     'authzid="uid=user0193,ou=people,dc=example,dc=com"',
     {"kind": "req", "attrs": "cn mail", "authzid": "uid=user0193,ou=people,dc=example,dc=com"}),
    ("2.x SRCH attrs=ALL (real)",
     TS + 'conn=111 op=2 SRCH base="cn=x,,dc=y" scope=0 filter="(objectClass=*)" attrs=ALL',
     {"kind": "req", "base": "cn=x,,dc=y", "scope": 0, "attrs": None}),
    ("2.x MODRDN (real)", TS + 'conn=10 op=9 MODRDN dn="uid=sync697848,ou=people,dc=example,dc=com" '
                               'newrdn="uid=sync697848-r" newsuperior="(null)"',
     {"kind": "req", "type": "MODRDN", "newrdn": "uid=sync697848-r", "newsuperior": "(null)"}),
    ("2.x CMP (real)", TS + 'conn=12 op=3 CMP dn="cn=team23,ou=groups,dc=example,dc=com" attr="member"',
     {"kind": "req", "type": "CMP", "dn": "cn=team23,ou=groups,dc=example,dc=com", "attr": "member"}),
    ("2.x EXT unknown OID (real)", TS + 'conn=257 op=0 EXT oid="1.3.6.1.4.1.99999.1.2.3"',
     {"kind": "req", "type": "EXT", "oid": "1.3.6.1.4.1.99999.1.2.3"}),
    ("2.x ENTRY (real)", TS + 'conn=939 op=1 ENTRY dn="uid=user0001,ou=people,dc=example,dc=com"',
     {"kind": "entry", "dn": "uid=user0001,ou=people,dc=example,dc=com"}),
    ("2.x REFERRAL", TS + "conn=939 op=1 REFERRAL", {"kind": "referral", "op": 1}),
    ("2.x STAT key (real)", TS + "conn=941 op=1 STAT read index: attribute=objectclass key(eq)=referral --> count 0",
     {"kind": "stat", "attribute": "objectclass", "key_type": "eq", "key": "referral", "count": 0}),
    ("2.x STAT duration (real)", TS + "conn=941 op=1 STAT read index: duration 0.000007200",
     {"kind": "stat", "duration": "0.000007200"}),
    ("2.x internal ENTRY (real)",
     TS + 'conn=939 (Internal) op=0(1)(1) ENTRY dn="uid=svc-sync,ou=services,dc=example,dc=com"',
     {"kind": "entry", "internal": True, "internal_id": 1}),
    ("2.x banner", "\t389-Directory/2.3.1 B2025.016.1616",
     {"kind": "header", "text": "389-Directory/2.3.1 B2025.016.1616"}),
    ("2.x empty line", "", {"kind": "blank"}),
    # ------------------------------------------------------------------ 3.x text
    ("3.2 fgot + pool", TS + 'conn=1 op=1 RESULT err=0 tag=101 nentries=1 wqtime=0.000011003 wtime=0.000038870 '
                             'optime=0.001680001 writetime=0.000402119 etime=0.001718223 wbusy=3/16 wqdepth=1',
     {"kind": "result", "kv": {"wqtime": "0.000011003", "wtime": "0.000038870", "optime": "0.001680001",
                               "writetime": "0.000402119", "etime": "0.001718223", "wbusy": "3/16", "wqdepth": "1"}}),
    ("3.1 sid on a BIND", TS + 'conn=1 op=0 RESULT err=0 tag=97 nentries=0 wtime=0.1 optime=0.2 etime=0.3 '
                               'sid="portal-7f3a" dn="uid=portal,dc=x"',
     {"kind": "result", "kv": {"sid": "portal-7f3a", "dn": "uid=portal,dc=x"}}),
    ("3.1 paged: sid before notes", TS + 'conn=1 op=2 RESULT err=0 tag=101 nentries=2 wtime=0.1 optime=0.2 etime=0.3 '
                                         'sid="portal-7f3a" notes=P details="Paged Search" pr_idx=0 pr_cookie=0',
     {"kind": "result", "kv": {"sid": "portal-7f3a", "notes": "P", "pr_idx": "0", "pr_cookie": "0"}}),
    ("3.1 sid after the result text", TS + 'conn=1 op=3 RESULT err=0 tag=101 nentries=0 wtime=0.1 optime=0.2 etime=0.3 '
                                           'notes=F details="Filter Element Missing From Schema" - Invalid attribute '
                                           'in filter - results may not be complete. sid="portal-7f3a"',
     {"kind": "result", "kv": {"sid": "portal-7f3a", "notes": "F"},
      "text": "Invalid attribute in filter - results may not be complete."}),
    ("3.1 SASL in progress with sid", TS + 'conn=9 op=0 RESULT err=14 tag=97 nentries=0 wtime=0.1 optime=0.2 etime=0.3 '
                                           'sid="x1", SASL bind in progress',
     {"kind": "result", "sasl_in_progress": True, "kv": {"sid": "x1"}}),
    ("3.1 ABANDON with sid",
     TS + 'conn=1 op=5 ABANDON targetop=4 msgid=6 nentries=120 etime=0.0012498011 sid="portal-7f3a"',
     {"kind": "req", "type": "ABANDON", "targetop": "4", "etime": "0.0012498011", "sid": "portal-7f3a"}),
    ("3.x STAT key with its own duration",
     TS + "conn=3 op=2 STAT read index: attribute=cn key(sub)=ob_ --> count 310 (duration 0.000311004)",
     {"kind": "stat", "attribute": "cn", "key": "ob_", "count": 310, "key_duration": "0.000311004"}),
    # ------------------------------------------------------------------ 3.x JSON (A.8)
    ("json header", '{"header":{"version":"389-Directory\\/3.1.1 B2025.045.1200",'
                    '"instance":"ldap1:636 (\\/etc\\/dirsrv\\/slapd-ldap1)"}}',
     {"kind": "header", "text": "389-Directory/3.1.1 B2025.045.1200",
      "instance": "ldap1:636 (/etc/dirsrv/slapd-ldap1)"}),
    ("json CONNECTION", _json(operation="CONNECTION", fd=64, slot=64, tls=True, client_ip="::1", server_ip="::1"),
     {"kind": "open", "conn": 1, "ssl": True, "src": "::1", "json_key": "1739212909-1"}),
    ("json DISCONNECT", _json(operation="DISCONNECT", op_id=3, fd=64, close_error="Operation canceled",
                              close_reason="Connection aborted - A1"),
     {"kind": "close", "code": "A1", "op": 3, "close_text": "Operation canceled - Connection aborted - A1"}),
    ("json AUTOBIND", _json(operation="AUTOBIND", bind_dn="cn=dm"), {"kind": "autobind", "dn": "cn=dm"}),
    ("json TLS_INFO", _json(operation="TLS_INFO", tls_version="TLS1.3", cipher="AES-GCM", keysize=256),
     {"kind": "tls", "protocol": "TLS1.3", "bits": 256, "cipher": "AES-GCM"}),
    ("json TLS_CLIENT_INFO", _json(operation="TLS_CLIENT_INFO", tls_version="TLS1.3", client_dn="uid=a,dc=x",
                                   subject="CN=a", issuer="CN=CA"),
     {"kind": "tls", "client_dn": "uid=a,dc=x", "client_subject": "CN=a", "client_issuer": "CN=CA"}),
    ("json HAPROXY", _json(operation="HAPROXY", fd=66, haproxy_ip="198.51.100.23", haproxy_destip="10.0.3.5"),
     {"kind": "haproxy", "src": "198.51.100.23", "dst": "10.0.3.5"}),
    ("json BIND", _json(operation="BIND", op_id=0, bind_dn="cn=Directory Manager", version=3, method="128"),
     {"kind": "req", "type": "BIND", "op": 0, "dn": "cn=Directory Manager", "method": "128", "version": "3"}),
    ("json RESULT bind_dn + msg", _json(operation="RESULT", op_id=0, msg=" - Invalid credentials", tag=97, err=49,
                                        nentries=0, wtime="0.1", optime="0.2", etime="0.3"),
     {"kind": "result", "text": "Invalid credentials", "kv": {"err": "49", "tag": "97", "etime": "0.3"}}),
    ("json RESULT notes array", _json(operation="RESULT", op_id=1, tag=101, err=0, nentries=5, wtime="0.1",
                                      optime="0.2", etime="0.3", pr_idx=0, pr_cookie=-1,
                                      notes=[{"note": "U", "description": "Partially Unindexed Filter",
                                              "base_dn": "dc=x", "filter": "(uid=t*)", "scope": 2},
                                             {"note": "P", "description": "Paged Search"}]),
     {"kind": "result", "kv": {"notes": "U,P", "details": "Partially Unindexed Filter,Paged Search",
                               "pr_idx": "0", "pr_cookie": "-1"}}),
    ("json RESULT SASL in progress", _json(operation="RESULT", op_id=0, msg="SASL bind in progress", tag=97, err=14,
                                           nentries=0, etime="0.1"),
     {"kind": "result", "sasl_in_progress": True}),
    ("json SEARCH", _json(operation="SEARCH", op_id=28, base_dn="dc=x", scope=2, filter="(uid=scarter)",
                          attrs=["cn", "sn"], psearch=True),
     {"kind": "req", "type": "SRCH", "base": "dc=x", "scope": 2, "filter": "(uid=scarter)", "attrs": "cn sn",
      "persistent": True}),
    ("json internal SEARCH", _json(operation="SEARCH", op_id=0, internal_op=True, op_internal_id=1,
                                   op_internal_nested_count=1, base_dn="cn=dm", scope=0, filter="(objectclass=*)"),
     {"kind": "req", "internal": True, "internal_id": 1, "nesting": 1, "attrs": None}),
    ("json ABANDON", _json(operation="ABANDON", op_id=3, etime="0.0000091731", nentries=0, msgid=3, target_op="2"),
     {"kind": "req", "type": "ABANDON", "targetop": "2", "msgid": "3", "etime": "0.0000091731"}),
    ("json STAT",
     _json(operation="STAT", op_id=70, stat_attr="cn", stat_key="sub", stat_key_value="er_", stat_count=24),
     {"kind": "stat", "attribute": "cn", "key_type": "sub", "key": "er_", "count": 24}),
    ("json STAT summary", _json(operation="STAT", op_id=70, stat_etime="0.000030363"),
     {"kind": "stat", "duration": "0.000030363"}),
    ("json SORT", _json(operation="SORT", op_id=2, sort_attrs="SORT cn "), {"kind": "sort", "spec": "cn"}),
    ("json VLV", _json(operation="VLV", op_id=2,
                       vlv_request={"request_before_count": 1, "request_after_count": 3, "request_index": 3500,
                                    "request_content_count": 0, "request_value_len": 0, "request_sort": "SORT cn "},
                       vlv_response={"response_target_position": 3501, "response_content_count": 5001,
                                     "response_result": 0}),
     {"kind": "vlv", "request": "1:3:3500:0", "response": "3501:5001", "vlv_result": 0}),
    ("json error event (operation replaced by the verb)",
     _json(operation="SRCH", op_id=5, msg="invalid dn", target_dn="not a dn"),
     {"kind": "req", "type": "SRCH", "op": 5, "base": "not a dn", "error": "invalid dn"}),
    ("json ERROR ssf", _json(operation="ERROR", op_id=1, msg="Insufficient SSF", local_ssf=0, sasl_ssf=0, ssl_ssf=0),
     {"kind": "unprocessed", "error": "Insufficient SSF (local_ssf=0 sasl_ssf=0 ssl_ssf=0)"}),
    ("json EXTENDED_OP_INFO", _json(operation="EXTENDED_OP_INFO", op_id=5, name="passwd_modify_plugin",
                                    target_dn="uid=a,dc=x", bind_dn="uid=a,dc=x", msg="success", err=0),
     {"kind": "ext_info", "name": "passwd_modify_plugin", "rc": "0"}),
    ("json MODRDN", _json(operation="MODRDN", op_id=24, target_dn="uid=u3,dc=x", newrdn="cn=u3", newsup="ou=p,dc=x",
                          deleteoldrdn=True),
     {"kind": "req", "type": "MODRDN", "dn": "uid=u3,dc=x", "newrdn": "cn=u3", "newsuperior": "ou=p,dc=x"}),
    # ------------------------------------------------------------------ nasty cases
    ("DN with : and escaped quotes", TS + 'conn=2 op=2 MODRDN dn="cn=Robert \\"Bob\\" Smith,ou=people,dc=x" '
                                          'newrdn="cn=Robert \\"Bobby\\" Smith" newsuperior="(null)"',
     {"kind": "req", "dn": 'cn=Robert \\"Bob\\" Smith,ou=people,dc=x', "newrdn": 'cn=Robert \\"Bobby\\" Smith',
      "newsuperior": "(null)"}),
    ("escaped quote then key=value inside a DN", TS + 'conn=2 op=3 MOD dn="cn=say \\"hi\\" to=all,dc=x"',
     {"kind": "req", "dn": 'cn=say \\"hi\\" to=all,dc=x'}),
    ("DN with a colon", TS + 'conn=2 op=1 ADD dn="cn=host:389,ou=services,dc=example,dc=net"',
     {"kind": "req", "type": "ADD", "dn": "cn=host:389,ou=services,dc=example,dc=net"}),
    ("filter with a quote", TS + 'conn=1 op=1 SRCH base="dc=x" scope=2 filter="(cn=Robert "Bob" Smith)" attrs="cn"',
     {"kind": "req", "filter": '(cn=Robert "Bob" Smith)', "attrs": "cn"}),
    ("filter with attrs= inside a value",
     TS + 'conn=1 op=2 SRCH base="dc=x" scope=2 filter="(description=quote: "see" attrs=ALL)" attrs="cn description"',
     {"kind": "req", "filter": '(description=quote: "see" attrs=ALL)', "attrs": "cn description"}),
    ("IPv6 loopback", TS + "conn=2 fd=65 slot=65 SSL connection from ::1 to ::1",
     {"kind": "open", "src": "::1", "dst": "::1", "ssl": True}),
    ("IPv6 with %iface scope", TS + "conn=3 fd=64 slot=64 connection from fe80::a00:27ff:fe4e:66a1%ens3 "
                                    "to fe80::a00:27ff:fe01:2%ens3",
     {"kind": "open", "src": "fe80::a00:27ff:fe4e:66a1%ens3", "dst": "fe80::a00:27ff:fe01:2%ens3"}),
    ("line cut inside ' attrs='", TS + 'conn=11 op=1 SRCH base="dc=x" scope=2 filter="(uid=x)" attr',
     {"kind": "req", "filter": "(uid=x)", "truncated": True}),
    ("ADD cut inside its DN", TS + 'conn=2 op=1 ADD dn="cn=' + "x" * 40 + "...",
     {"kind": "req", "type": "ADD", "dn": "cn=" + "x" * 40 + "...", "truncated": True}),
    ("garbage timestamp", "[31/Foo/2026:99:99:99.1 +0000] conn=10 op=3 UNBIND", None),
    ("unknown verb", TS + "conn=10 op=2 FROB target=everything", None),
    ("errors-log line", "[04/Dec/2026:19:53:00.687211004 +0000] - ERR - ldbm_back_search - Unindexed search", None),
    ("json array", "[1,2,3]", None),
    ("json without local_time", '{"operation":"RESULT","conn_id":7,"op_id":1}', None),
    ("json cut", '{"local_time":"2025-01-01T00:00:00.1 +0000","operation":"RES', None),
]


def _check(rec: dict[str, Any] | None, expected: dict[str, Any] | None) -> None:
    if expected is None:
        assert rec is None
        return
    assert rec is not None
    for key, value in expected.items():
        if key == "kv":
            for k, v in value.items():
                assert rec["kv"].get(k) == v, (k, rec["kv"])
        else:
            assert key in rec, (key, rec)
            assert rec[key] == value, (key, rec[key], value)


@pytest.mark.parametrize(("line", "expected"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES])
def test_shape(line, expected):
    _check(parse_line(line), expected)


@pytest.mark.parametrize(("line", "expected"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES])
def test_shape_with_crlf(line, expected):
    """A line handed over with its CRLF (or LF) parses exactly as without it."""
    assert parse_line(line + "\r\n") == parse_line(line)
    assert parse_line(line + "\n") == parse_line(line)


def test_every_release_line_is_in_the_table():
    prefixes = {c[0].split(" ", 1)[0] for c in CASES}
    for release in ("1.3", "1.3.4", "1.3.7", "1.4", "2.x", "3.1", "3.2", "3.x", "json"):
        assert release in prefixes


def test_ten_digit_etimes_are_nanoseconds():
    assert parse_seconds("36.0954815936") == pytest.approx(36.954815936, abs=1e-12)
    assert parse_seconds("0.0000726500") == pytest.approx(0.0007265, abs=1e-15)
    assert parse_seconds("2.0345600000") == pytest.approx(2.3456, abs=1e-12)
    assert parse_seconds("0.002783947") == pytest.approx(0.002783947, abs=1e-15)
    assert parse_seconds("4") == 4.0
    assert parse_seconds("0.000861") == pytest.approx(0.000861, abs=1e-15)


def _cut_line() -> str:
    base = ",".join(f"ou=Region {i:02d}" for i in range(12, 0, -1)) + ",dc=example,dc=net"
    flt = ("(|" + "".join(f"(memberOf=cn=team{i:03d},ou=groups,dc=example,dc=net)" for i in range(40)))[:512] + "..."
    authz = "uid=delegate," + ",".join(f"ou=Delegation Unit {i:02d}" for i in range(60, 0, -1))
    line = f'{TS}conn=3 op=1 SRCH base="{base}" scope=2 filter="{flt}" attrs="cn sn mail" authzid="{authz}"'
    return line[:2047 - 3] + "..."  # vslapd_log_access(): cut, last three characters replaced by `...`


def test_line_cut_at_2048_bytes():
    line = _cut_line()
    assert len((line + "\n").encode()) == 2048
    rec = parse_line(line)
    assert rec is not None and rec["kind"] == "req" and rec["type"] == "SRCH"
    assert rec["truncated"] is True
    assert rec["base"].startswith("ou=Region 12,") and rec["scope"] == 2
    assert rec["attrs"] == "cn sn mail"
    assert rec["filter"].endswith("...")
    assert rec["authzid"].endswith("...")
    info = filter_info(rec["filter"])
    assert info.valid is False and info.shape.endswith("...")
    assert info.components == (("memberof", "eq"),)


def test_non_utf8_bytes_are_replaced_and_flagged():
    raw = (TS.encode() + b'conn=10 op=1 SRCH base="dc=x" scope=2 filter="(sn=M\xfcller)" attrs="cn"\r\n'
           + TS.encode() + b'conn=11 op=0 BIND dn="uid=caf\xc3\xa9,dc=x" method=128 version=3\n')
    lines = list(iter_lines("access", io.BytesIO(raw)))
    assert [ln.bad_utf8 for ln in lines] == [True, False]
    rec = parse_line(lines[0].text)
    assert rec["filter"] == "(sn=M\ufffdller)" and rec["attrs"] == "cn"
    assert parse_line(lines[1].text)["dn"] == "uid=caf\u00e9,dc=x"


def test_binary_junk_is_no_record():
    junk = b"\x00\x00\x00\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xed\xbd\x07`\x1cI\x96%&/m\xca{\x7fJ\n"
    (line,) = iter_lines("access", io.BytesIO(junk))
    assert line.bad_utf8 and parse_line(line.text) is None
