"""The cn=monitor `connection` value parser: every recorded layout, DNs and addresses with colons."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirsrvbeat.monitor.connection import (
    LAYOUT_12,
    LAYOUT_132,
    LAYOUT_1372,
    ConnectionFormatError,
    generalized_time,
    generalized_time_iso,
    layout_for_version,
    parse_connection,
    parse_connections,
    parse_threadpoolworker,
    version_tuple,
)

SAMPLES = Path(__file__).parent.parent / "data" / "monitor" / "samples"

# (value, expected fields) for every release line of conntable.c connection_table_as_entry()
CASES = [
    # 2.3.1, real (samples/monitor/t50-cn=monitor.ldif)
    ("10:20261204195300Z:95:95:-:uid=svc-sync,ou=services,dc=example,dc=com:0:0:0:10:ip=127.0.0.1",
     dict(layout=LAYOUT_1372, slot=10, ops_initiated=95, ops_completed=95, read_waiting=False,
          bind_dn="uid=svc-sync,ou=services,dc=example,dc=com", at_max_threads=False, max_threads_hits=0,
          threads_blocked=0, conn_id=10, ip="127.0.0.1")),
    # 2.3.1 LDAPI after the slot ring wrapped (slot != conn id), observed format section 7.1
    ("15646:20261204202609Z:2:1:-:cn=Directory Manager:0:0:0:35565:ip=local",
     dict(layout=LAYOUT_1372, slot=15646, conn_id=35565, ip="local", ops_initiated=2, ops_completed=1,
          bind_dn="cn=Directory Manager")),
    # RHDS 12 documentation example: atmax/hits/blocked non-zero
    ("69:20200604081953Z:6086:6086:-:cn=proxy,ou=special_users,dc=example,dc=test:0:11:27:7448846:ip=192.0.2.1",
     dict(layout=LAYOUT_1372, max_threads_hits=11, threads_blocked=27, conn_id=7448846, ip="192.0.2.1",
          bind_dn="cn=proxy,ou=special_users,dc=example,dc=test")),
    # the blog's 1.3.9.1 value
    ("66:20230630035838Z:35340:35340:-:uid=service1,ou=svc,dc=example,dc=com:0:1:0:90093:ip=10.1.2.3",
     dict(layout=LAYOUT_1372, ops_initiated=35340, max_threads_hits=1, conn_id=90093, ip="10.1.2.3")),
    # read waiter flag, at max threads now
    ("16:20261204200344Z:361:356:r:uid=svc-portal,ou=services,dc=example,dc=com:1:3:12:16:ip=127.0.0.1",
     dict(read_waiting=True, at_max_threads=True, max_threads_hits=3, threads_blocked=12, ops_pending=5)),
    # IPv6 addresses contain colons
    ("7:20261204200344Z:3:3:-:NULLDN:0:0:0:7:ip=2001:db8::17",
     dict(ip="2001:db8::17", bind_dn="NULLDN", anonymous=True, conn_id=7)),
    ("8:20261204200344Z:3:3:-:uid=a,dc=x:0:0:0:8:ip=::1", dict(ip="::1", bind_dn="uid=a,dc=x")),
    # IPv4-mapped IPv6 is reported as the IPv4 address
    ("9:20261204200344Z:3:3:-:uid=a,dc=x:0:0:0:9:ip=::ffff:10.0.0.5", dict(ip="10.0.0.5")),
    # DNs contain colons (and even `:ip=`)
    ("11:20261204200344Z:4:4:-:cn=host:389,ou=ldap:servers,dc=x:0:0:0:11:ip=127.0.0.1",
     dict(bind_dn="cn=host:389,ou=ldap:servers,dc=x", conn_id=11, ip="127.0.0.1")),
    ("12:20261204200344Z:4:4:-:cn=a:ip=b\\2C c,dc=x:0:2:5:12:ip=2001:db8::1",
     dict(bind_dn="cn=a:ip=b\\2C c,dc=x", max_threads_hits=2, threads_blocked=5, ip="2001:db8::1")),
    ("13:20261204200344Z:4:4:-:cn=x\\3A0\\3A0\\3A0,dc=y:0:0:0:13:ip=local",
     dict(bind_dn="cn=x\\3A0\\3A0\\3A0,dc=y", ldapi=True)),
    # LDAPI socket path as address
    ("14:20261204200344Z:1:1:-:cn=Directory Manager:0:0:0:14:ip=/run/slapd-x.socket",
     dict(ip="/run/slapd-x.socket", ldapi=True)),
    # 1.3.2.0 - 1.3.7.1: no conn id, no ip
    ("64:20140310120000Z:12:11:-:uid=app,dc=example,dc=com:0:2:7",
     dict(layout=LAYOUT_132, slot=64, bind_dn="uid=app,dc=example,dc=com", max_threads_hits=2, threads_blocked=7,
          conn_id=None, ip=None)),
    ("65:20140310120000Z:12:11:-:cn=a:b,dc=c:1:0:0", dict(layout=LAYOUT_132, bind_dn="cn=a:b,dc=c",
                                                          at_max_threads=True)),
    # 1.2.11 - 1.3.1: FLAG empty or `r`, DN last, no max-thread fields
    ("64:20120101000000Z:5:5::cn=directory manager", dict(layout=LAYOUT_12, bind_dn="cn=directory manager",
                                                          read_waiting=False, threads_blocked=None,
                                                          at_max_threads=None)),
    ("66:20120101000000Z:5:4:r:uid=x:y,dc=z", dict(layout=LAYOUT_12, bind_dn="uid=x:y,dc=z", read_waiting=True)),
    ("67:20120101000000Z:1:1::NULLDN", dict(layout=LAYOUT_12, anonymous=True)),
]


@pytest.mark.parametrize(("value", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_recorded_layouts(value, expected):
    c = parse_connection(value)
    for key, want in expected.items():
        assert getattr(c, key) == want, (key, value)
    assert c.raw == value


def test_ambiguous_r_flag_uses_the_version():
    value = "66:20120101000000Z:5:4:r:uid=x,dc=z:0:1:2"  # a 1.2 DN ending in :0:1:2, or a 1.3.2 value?
    assert parse_connection(value).layout == LAYOUT_132          # numeric tail: 1.3.2 layout
    assert parse_connection(value, LAYOUT_12).bind_dn == "uid=x,dc=z:0:1:2"
    assert parse_connection(value, layout_for_version("389-Directory/1.3.1.22 B2014")).layout == LAYOUT_12
    assert parse_connection(value, layout_for_version("389-Directory/1.3.6.1 B2017")).threads_blocked == 2


def test_version_layouts():
    assert version_tuple("389-Directory/1.3.9.1 B2019.305.1445") == (1, 3, 9, 1)
    assert version_tuple("389-Directory/2.3.1 B2025.016.1616") == (2, 3, 1, 0)
    assert layout_for_version("389-Directory/1.2.11.15 B2013") == LAYOUT_12
    assert layout_for_version("389-Directory/1.3.7.1 B2017") == LAYOUT_132
    assert layout_for_version("389-Directory/1.3.7.2 B2017") == LAYOUT_1372
    assert layout_for_version("389-Directory/3.2.1 B2026") == LAYOUT_1372
    assert layout_for_version(None) is None


def test_age_from_the_server_clock():
    c = parse_connection("10:20261204195300Z:95:95:-:uid=a:0:0:0:10:ip=127.0.0.1")
    now = generalized_time("20261204195400Z")
    assert c.age(now) == 60
    assert c.age(now - 3600) == 0  # never negative
    assert c.age(None) is None


def test_monotonic_clock_bug_dates_are_unusable_not_fatal():
    # 2.0.2-2.0.3 (Issue 4384 without 4658) printed a monotonic clock: dates near 1970
    c = parse_connection("10:19700101001512Z:3:3:-:uid=a:0:0:0:10:ip=127.0.0.1")
    assert not c.start_valid
    assert c.age(generalized_time("20261204195400Z")) is None


def test_generalized_time():
    assert generalized_time("20261204195300Z") == 1796413980
    assert generalized_time("20261204195300.123Z") == 1796413980
    assert generalized_time("2026120419530Z") is None
    assert generalized_time("20261304195300Z") is None
    assert generalized_time_iso("20261204195300Z") == "2026-12-04T19:53:00.000+00:00"


BAD = [
    "", "garbage", "10:20261204195300Z:95:95:-", "x:20261204195300Z:1:1:-:uid=a:0:0:0:1:ip=1.2.3.4",
    "10:2026:1:1:-:uid=a:0:0:0:1:ip=1.2.3.4", "10:20261204195300Z:1:1:?:uid=a:0:0:0:1:ip=1.2.3.4",
    "10:20261204195300Z:1:1:-:uid=a:0:0:x:1:ip=1.2.3.4", "10:20261204195300Z:1:1:-:uid=a:ip=1.2.3.4",
    "10:20261204195300Z:1:1:-:uid=a:0:zz",
]


@pytest.mark.parametrize("value", BAD)
def test_bad_values_raise_a_format_error(value):
    with pytest.raises(ConnectionFormatError):
        parse_connection(value)


def test_parse_connections_keeps_going():
    good, bad = parse_connections(["garbage", CASES[0][0], "1:2:3"], "389-Directory/2.3.1 B1")
    assert [c.conn_id for c in good] == [10]
    assert [v for v, _ in bad] == ["garbage", "1:2:3"]


def test_every_real_value_of_the_samples_parses():
    values = set()
    for path in SAMPLES.glob("*.ldif"):
        for line in path.read_text().splitlines():
            if line.startswith("connection: "):
                values.add(line[len("connection: "):])
    assert len(values) > 300
    for value in values:
        c = parse_connection(value, LAYOUT_1372)
        assert c.layout == LAYOUT_1372
        assert c.conn_id is not None and c.start_valid
        # cross-check against a naive regex for the DN-without-colons real data
        m = re.match(r"^(\d+):(\d{14}Z):(\d+):(\d+):([-r]):(.*):(\d+):(\d+):(\d+):(\d+):ip=(.*)$", value)
        assert m is not None
        assert (c.slot, c.bind_dn, c.conn_id, c.ip) == (int(m[1]), m[6], int(m[10]), m[11])


_dn_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:=,\\ -", min_size=1, max_size=40)
_ip = st.one_of(st.ip_addresses().map(str), st.just("local"), st.just("/run/slapd.socket"))


@settings(max_examples=300, deadline=None)
@given(slot=st.integers(0, 10**6), init=st.integers(0, 2**40), done=st.integers(0, 2**40),
       flag=st.sampled_from(["-", "r"]), dn=_dn_part, atmax=st.integers(0, 1), hits=st.integers(0, 2**32),
       blocked=st.integers(0, 2**32), connid=st.integers(0, 2**63), ip=_ip)
def test_round_trip_any_dn_and_address(slot, init, done, flag, dn, atmax, hits, blocked, connid, ip):
    value = f"{slot}:20261204195300Z:{init}:{done}:{flag}:{dn}:{atmax}:{hits}:{blocked}:{connid}:ip={ip}"
    c = parse_connection(value)
    expected_ip = ip[7:] if ip.startswith("::ffff:") and ip.count(".") == 3 else ip
    assert (c.slot, c.ops_initiated, c.ops_completed, c.read_waiting, c.bind_dn, c.at_max_threads,
            c.max_threads_hits, c.threads_blocked, c.conn_id, c.ip) == \
        (slot, init, done, flag == "r", dn, bool(atmax), hits, blocked, connid, expected_ip)


@settings(max_examples=200, deadline=None)
@given(dn=_dn_part, flag=st.sampled_from(["-", "r"]), nums=st.tuples(*[st.integers(0, 9999)] * 3))
def test_round_trip_132_layout(dn, flag, nums):
    value = f"5:20140310120000Z:9:9:{flag}:{dn}:{nums[0]}:{nums[1]}:{nums[2]}"
    c = parse_connection(value, LAYOUT_132)
    assert (c.bind_dn, c.max_threads_hits, c.threads_blocked) == (dn, nums[1], nums[2])


def test_threadpoolworker():
    assert parse_threadpoolworker("worker=3 state=busy op=SRCH duration_ns=1200") == {
        "worker": "3", "state": "busy", "op": "SRCH", "duration_ns": "1200"}
