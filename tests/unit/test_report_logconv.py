"""`dirsrvbeat access report` against logconv.pl 8.2's report on the real 389 DS 2.3.1 sample log.

tests/data/logconv/ holds logconv's real output (`record.sh` re-records it), so this needs no logconv.
Every total is either equal, or differs by an amount this test derives from the log itself with
plain substring counts (independent of dirsrvbeat's parser), with the logconv.pl code that causes it.
The logconv line numbers refer to /usr/bin/logconv of Debian's 389-ds-base 2.3.1+dfsg1-1+deb12u1.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from dirsrvbeat.processors.filter_shape import filter_info
from dirsrvbeat.report import ReportOptions, build_report

DATA = Path(__file__).parent.parent / "data"
LOG = DATA / "samples" / "access.full.log"
LOGCONV_V = DATA / "logconv" / "access.full.logconv-V.txt"
LOGCONV_PLAIN = DATA / "logconv" / "access.full.logconv.txt"
CLOSE_CODES = ("A1", "B1", "B2", "B3", "B4", "T1", "T2", "T3", "R1", "P1", "P2", "U1")


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def report():
    return build_report(ReportOptions(paths=[str(LOG)], top_n=1000))  # whole lists


def _numbers(text: str) -> dict[str, str]:
    """`Name:   value` lines of logconv's summary (the first occurrence of each name)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"^\s*-?\s*([A-Z][A-Za-z0-9 ()/'-]*?):\s+([0-9][0-9.]*)", text, re.M):
        out.setdefault(m.group(1).strip(), m.group(2))
    return out


@pytest.fixture(scope="module")
def logconv():
    text = LOGCONV_V.read_text()
    nums = _numbers(text.split("----- Connection Latency Details")[0])
    nums["Number of Unique Bind DN's"] = re.search(r"Number of Unique Bind DN's: (\d+)", text).group(1)
    errors = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"^err=(\d+)\s+(\d+)", text, re.M)}
    codes_text = text.split("----- Total Connection Codes -----")[1].split("-----")[0]
    codes = {m.group(1): int(m.group(2)) for m in re.finditer(r"^([A-Z]\d)\s+(\d+)", codes_text, re.M)}
    unindexed = []
    for block in re.split(r"\n  Unindexed Search #\d+ \(notes=A\)\n", text)[1:]:
        fields = dict(re.findall(r"^  -  ([A-Za-z /]+?):\s+(.*)$", block.split("\n\n")[0], re.M))
        unindexed.append(fields)
    clients_text = text.split("----- Top 20 Clients -----")[1].split("----- Top 20 Bind")[0]
    clients = {m.group(1): int(m.group(2))
               for m in re.finditer(r"Client: (\S+)\n\s+(\d+) - Connections", clients_text)}
    ext_text = text.split("----- Extended Operations -----")[1].split("-----")[0]
    ext = {m.group(2): int(m.group(1)) for m in re.finditer(r"^(\d+)\s+([0-9.]+)", ext_text, re.M)}
    failed_text = text.split("----- Top 20 Failed Logins ------")[1].split("From the IP")[0]
    failed = {m.group(2): int(m.group(1)) for m in re.finditer(r"^(\d+)\s+(\S+)\s*$", failed_text, re.M)}
    return {"text": text, "n": nums, "errors": errors, "codes": codes, "unindexed": unindexed,
            "clients": clients, "ext": ext, "failed": failed}


@pytest.fixture(scope="module")
def log_lines():
    return LOG.read_text().splitlines()


@pytest.fixture(scope="module")
def evidence(log_lines):
    """Counts taken from the raw log with substring tests only."""
    ev: Counter[str] = Counter()
    internal_codes: Counter[int] = Counter()
    for line in log_lines:
        internal = " (Internal) op=" in line
        if internal and " RESULT err=" not in line:
            kind = line.split(") ", 2)[-1].split(" ", 1)[0]  # the verb after op=N(i)(d)
            ev[f"internal {kind}"] += 1
        if internal and " RESULT err=" in line:
            internal_codes[int(re.search(r"err=(\d+)", line).group(1))] += 1
            if re.search(r" notes=[A-Z,]*U", line):
                ev["internal notes=U"] += 1
            if re.search(r" notes=[A-Z,]*A", line):
                ev["internal notes=A"] += 1
        if " RESULT err=" in line:
            ev["RESULT lines"] += 1
        if " AUTOBIND dn=" in line:
            ev["AUTOBIND lines"] += 1
        if re.search(r" op=\d+ VLV ", line):
            ev["VLV lines"] += 1
        if 'authzid="(null)", invalid dn' in line:
            ev["authzid null"] += 1
        if "Disconnect - Connection reset by peer" in line:
            ev["reset by peer"] += 1
        if re.search(r" conn=1 fd=", line):
            ev["conn=1 open lines"] += 1
        if line.startswith("["):
            ev["stamped lines"] += 1
    ev["before first stamp"] = next(i for i, line in enumerate(log_lines) if line.startswith("["))
    return ev, internal_codes


def _lc(logconv, name: str) -> int:
    return int(logconv["n"][name])


# ---------------------------------------------------------------------------------------- equal
def test_same_time_range(report, logconv):
    assert report["time_range"]["start"] == "2026-12-04T19:52:45.430Z"  # logconv: 19:52:45.430415268
    assert report["time_range"]["end"] == "2026-12-04T19:55:56.171Z"  # logconv: 19:55:56.171728493
    assert "19:52:45.430415268" in logconv["text"] and "19:55:56.171728493" in logconv["text"]


@pytest.mark.parametrize("name, ours", [
    ("Total Connections", lambda r: r["connections"]["count"]),
    ("LDAP Connections", lambda r: r["connections"]["transport"]["ldap"]["count"]
     + r["connections"]["transport"]["starttls"]["count"]),  # logconv: plain LDAP port, with or without StartTLS
    ("LDAPI Connections", lambda r: r["connections"]["transport"]["ldapi"]["count"]),
    ("LDAPS Connections", lambda r: r["connections"]["transport"]["ldaps"]["count"]),
    ("StartTLS Extended Ops", lambda r: next(x["count"] for x in r["extended_ops"]
                                             if x["oid"] == "1.3.6.1.4.1.1466.20037")),
    ("Adds", lambda r: _type(r, "ADD")),
    ("Deletes", lambda r: _type(r, "DEL")),
    ("Mod RDNs", lambda r: _type(r, "MODRDN")),
    ("Compares", lambda r: _type(r, "CMP")),
    ("Extended Operations", lambda r: _type(r, "EXT")),
    ("Abandoned Requests", lambda r: r["abandons"]["count"]),
    ("Unbinds", lambda r: r["binds"]["unbinds"]),
    ("Unindexed Searches", lambda r: r["unindexed"]["full"]),
    ("Paged Searches", lambda r: r["other"]["paged_searches"]),
    ("Persistent Searches", lambda r: r["other"]["persistent_searches"]),
    ("VLV Operations", lambda r: r["other"]["vlv_searches"]),
    ("SORT Operations", lambda r: r["other"]["sort_searches"]),
    ("Invalid Attribute Filters", lambda r: r["other"]["invalid_filter_attribute_searches"]),
    ("LDAP v3 Binds", lambda r: r["binds"]["versions"]["3"]),
    ("SASL Binds", lambda r: r["binds"]["methods"]["sasl"]),
    ("Anonymous Binds", lambda r: r["binds"]["anonymous"]),
    ("Smart Referrals Received", lambda r: r["other"]["referral_lines"]),
    ("FDs Taken", lambda r: r["connections"]["count"]),  # one fd per `connection from`
])
def test_same_totals(report, logconv, name, ours):
    assert ours(report) == _lc(logconv, name), name


def _type(report, typ: str) -> int:
    return next((r["count"] for r in report["totals"]["by_type"] if r["type"] == typ), 0)


def test_same_sasl_mechanisms(report, logconv):
    for mech in ("PLAIN", "EXTERNAL", "X-NOSUCH-MECH"):
        assert report["binds"]["sasl_mechanisms"][mech] == _lc(logconv, mech)


def test_same_close_codes(report, logconv):
    ours = {r["code"]: r["count"] for r in report["connections"]["close_codes"] if r["code"]}
    assert ours == logconv["codes"]


def test_same_clients_by_connections(report, logconv):
    ours = {r["name"]: r["connections"] for r in report["clients"]["by_connections"]}
    assert ours == logconv["clients"]  # 127.0.0.1 1198, local (LDAPI) 9, unknown 1


def test_same_extended_operations(report, logconv):
    ours = {r["oid"]: r["count"] for r in report["extended_ops"]}
    assert ours == logconv["ext"]


def test_same_tls_connections(report, logconv):
    assert "TLS1.3 128-bit AES-GCM (94 connections)" in logconv["text"]
    assert report["connections"]["tls_versions"] == {"TLS1.3": 94}


def test_unindexed_searches_grouped_by_shape_match_logconvs_list(report, logconv):
    """logconv -V lists every notes=A search; grouped by our filter shape they give our table."""
    theirs = Counter(filter_info(u["Search Filter"]).shape for u in logconv["unindexed"])
    ours = {r["shape"]: r["full"] for r in report["unindexed"]["shapes"] if r["full"]}
    assert len(logconv["unindexed"]) == 472
    assert dict(theirs) == ours
    bases = Counter((filter_info(u["Search Filter"]).shape, u["Search Base"]) for u in logconv["unindexed"])
    for r in report["unindexed"]["shapes"]:
        if r["full"] and not r["partial"]:  # bases of notes=A searches only
            for b in r["bases"]:
                assert bases[(r["shape"], b["base"].lower())] == b["count"], (r["shape"], b)


def test_failed_logins(report, logconv, log_lines):
    """logconv lists the top failed logins (err=49 only) by requested DN; the report counts every
    failed bind (err=49, 7, 53 here) by DN, SASL binds without a DN by mechanism. Both checked
    against the raw BIND/RESULT line pairs."""
    requested: dict[tuple[str, str], str] = {}
    err49: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for line in log_lines:
        m = re.search(r' conn=(\d+) op=(\d+) BIND dn="([^"]*)"', line)
        if m:
            requested[(m.group(1), m.group(2))] = m.group(3).lower()
        m = re.search(r" conn=(\d+) op=(\d+) RESULT err=(\d+) tag=97 ", line)
        if m and m.group(3) not in ("0", "14"):
            dn = requested[(m.group(1), m.group(2))]
            failed[dn] += 1
            if m.group(3) == "49":
                err49[dn] += 1
    for dn, n in logconv["failed"].items():
        assert err49[dn] == n, dn
    ours = Counter()
    for r in report["failed_binds"]["by_dn"]:
        ours["" if r["dn"].startswith("(SASL") else r["dn"].lower()] += r["count"]
    assert ours == failed
    by_code = {r["code"]: r["count"] for r in report["failed_binds"]["by_code"]}
    assert by_code == {49: 142, 7: 5, 53: 3} and by_code[49] == logconv["errors"][49]


# ---------------------------------------------------------------------------------------- differences
def test_searches_and_mods_include_internal_operations(report, logconv, evidence):
    """logconv.pl `if (m/ SRCH/){$srchCount++` and `m/ MOD dn=/` (line ~2101) match the
    `conn=N (Internal) op=...` lines of access-log level 4 too; the report counts client operations
    and shows internal ones apart."""
    ev, _ = evidence
    assert _lc(logconv, "Searches") == _type(report, "SRCH") + ev["internal SRCH"] == 3209 + 307
    assert _lc(logconv, "Modifications") == _type(report, "MOD") + ev["internal MOD"] == 60 + 56
    assert report["internal"]["by_type"] == {"MOD": ev["internal MOD"], "SRCH": ev["internal SRCH"]}


def test_binds_count_autobind_twice(report, logconv, evidence):
    """logconv counts each LDAPI `AUTOBIND dn=` line as a bind ($autobindCount++; $bindCount++),
    and then the SASL/EXTERNAL BIND that follows it on the same connection again."""
    ev, _ = evidence
    assert _lc(logconv, "Binds") == _type(report, "BIND") + ev["AUTOBIND lines"] == 1069 + 9
    assert report["binds"]["autobinds"] == ev["AUTOBIND lines"]
    assert report["binds"]["sasl_mechanisms"]["EXTERNAL"] == ev["AUTOBIND lines"]


def test_total_operations(report, logconv, evidence):
    """logconv's Total Operations (line 691) adds internal ops, AUTOBINDs, and $vlvCount: every
    `VLV` sub-line of a search is counted as one more operation."""
    ev, _ = evidence
    client = sum(_type(report, t) for t in ("SRCH", "MOD", "ADD", "DEL", "MODRDN", "CMP", "BIND", "EXT", "ABANDON"))
    internal = ev["internal SRCH"] + ev["internal MOD"]
    assert _lc(logconv, "Total Operations") == client + internal + ev["AUTOBIND lines"] + ev["VLV lines"]
    assert report["logconv_equivalent"]["total_operations"] == _lc(logconv, "Total Operations")


def test_total_results(report, logconv, evidence):
    """logconv counts RESULT lines (internal ones too) plus one `$allResults++` per ABANDON,
    which gets no RESULT line."""
    ev, _ = evidence
    assert report["totals"]["results"] + sum(evidence[1].values()) == ev["RESULT lines"]
    assert _lc(logconv, "Total Results") == ev["RESULT lines"] + report["abandons"]["count"] == 6233 + 29


def test_result_codes_include_internal_results(report, logconv, evidence):
    """logconv's error table counts every `err=N` line, so internal RESULTs too (err=0 5632 is
    5272 client + 360 internal; err=32 14 is 11 + 3)."""
    _, internal_codes = evidence
    ours = {r["code"]: r["count"] for r in report["results"]}
    assert set(ours) | set(internal_codes) == set(logconv["errors"])
    for code, n in logconv["errors"].items():
        assert ours.get(code, 0) + internal_codes.get(code, 0) == n, code
    assert report["internal"]["results"] == {c: n for c, n in sorted(internal_codes.items())}


def test_unindexed_components_include_internal(report, logconv, evidence):
    """notes=U: logconv 77 = 74 client searches + 3 internal ones (`m/ notes=[A-Z,]*U/` on any line)."""
    ev, _ = evidence
    assert _lc(logconv, "Unindexed Components") == report["unindexed"]["partial"] + ev["internal notes=U"] == 74 + 3
    assert ev["internal notes=A"] == 0


def test_internal_operations_count_entry_lines(report, logconv, evidence):
    """logconv line 2766: `/ conn= *([0-9]+) \\(Internal\\) op=/ && !/ RESULT err=/` also matches the
    internal `ENTRY dn=` lines (access-log level 512): 646 = 363 operations + 283 ENTRY lines."""
    ev, _ = evidence
    assert _lc(logconv, "Internal Operations") == report["internal"]["operations"] + ev["internal ENTRY"]
    assert report["internal"]["operations"] == 363 and ev["internal ENTRY"] == 283
    assert _lc(logconv, "Entry Operations") == report["other"]["entry_lines"] + ev["internal ENTRY"]


def test_proxied_auth_counts_invalid_dn_lines(report, logconv, evidence):
    """logconv counts every line with ` authzid=`; 5 are `SRCH dn="not a dn" authzid="(null)", invalid dn`:
    no proxied authorisation at all (authzid is "(null)")."""
    ev, _ = evidence
    assert _lc(logconv, "Proxied Auth Operations") == report["other"]["proxied_auth_operations"] + ev["authzid null"]
    assert ev["authzid null"] == 5


def test_restarts_count_the_first_start(report, logconv, evidence):
    """logconv calls handleRestart() on every `conn=1 fd=` line, the server's first start (line 4 of
    the log) included; the server restarted once (line 73)."""
    ev, _ = evidence
    assert _lc(logconv, "Restarts") == ev["conn=1 open lines"] == 2
    assert report["meta"]["server_restarts"] == 1
    assert report["logconv_equivalent"]["restarts"] == 2


def test_connection_resets_have_no_close_code(report, logconv, evidence):
    """22 closes are `Disconnect - Connection reset by peer - TCP connection reset by peer.` (no code).
    logconv only knows the 1.4 wording `closed error 131`/`-5961`, so it reports 0 resets and leaves
    them out of the connection codes; the report lists them without a code."""
    ev, _ = evidence
    assert _lc(logconv, "Connections Reset By Peer") == 0
    resets = [r for r in report["connections"]["close_codes"] if r["code"] is None]
    assert resets == [{"code": None, "name": "TCP connection reset by peer", "meaning": resets[0]["meaning"],
                       "count": ev["reset by peer"]}]
    assert sum(r["count"] for r in report["connections"]["close_codes"]) == report["connections"]["count"]


def test_peak_concurrent_connections(report, logconv, log_lines):
    """logconv's `Peak Concurrent Connections: 1115` (1117 without -V: it varies with the flags)
    is wrong: handleConnClose (line 2252) runs only for lines matching `m/ fd=/ && m/closed/`, i.e.
    the B1 text `uncleanly closed connection`, so the 2.x `Disconnect` lines of U1/T1/... never
    decrement it (FDs Returned: 93 of 1208). The report counts `connection from` and
    `Disconnect` lines, resetting at the restart: recomputed here from the raw lines."""
    assert _lc(logconv, "Peak Concurrent Connections") == 1115
    assert _lc(logconv, "FDs Returned") == 93
    assert "Peak Concurrent Connections:   1117" in LOGCONV_PLAIN.read_text()
    b1 = sum(1 for line in log_lines if " fd=" in line and "closed" in line)
    assert b1 == 91 == report["logconv_equivalent"]["close_codes"]["B1"]  # + 2 closed at the restart (-V only)
    live: set[str] = set()
    peak = 0
    last = 0
    for line in log_lines:
        m = re.search(r" conn=(\d+) fd=\d+ slot=\d+ (?:SSL )?connection from", line)
        if m:
            conn = int(m.group(1))
            if conn <= last:
                live.clear()
            last = conn
            live.add(m.group(1))
            peak = max(peak, len(live))
        m = re.search(r" conn=(\d+) op=-?\d+ fd=\d+ (?:Disconnect|closed)", line)
        if m:
            live.discard(m.group(1))
    assert report["connections"]["peak_concurrent"] == peak == 17


def test_directory_manager_binds(report, logconv, log_lines):
    """logconv compares the BIND DN with `$rootDN` case-sensitively (`$binddn eq $rootDN`): the log
    writes `cn=Directory Manager`, the default -d is `cn=directory manager`, so it reports 0."""
    assert _lc(logconv, "Directory Manager Binds") == 0
    dm = sum(1 for line in log_lines if re.search(r' op=\d+ BIND dn="cn=directory manager"', line, re.I))
    assert report["binds"]["directory_manager"] == dm == 50


def test_max_ber_size_depends_on_flags(report, logconv):
    """`$maxBerSizeCount++` sits inside the block run only with -V or report flags (line ~2487):
    6 with -V, 0 without. Both are B2 closes."""
    assert _lc(logconv, "Max BER Size Exceeded") == 6
    assert "Max BER Size Exceeded:         0" in LOGCONV_PLAIN.read_text()
    assert {r["code"]: r["count"] for r in report["connections"]["close_codes"] if r["code"]}["B2"] == 6


def test_averages(report, logconv, log_lines):
    """logconv averages every `etime=` on any line: client and internal RESULTs and the ABANDON lines,
    whose etime is the abandoned operation's, in the 10-digit nanosecond format it reads as a decimal
    (`etime=36.0954815936` is 36.954815936 s). The report averages client operations' RESULTs."""
    values = {"etime": [], "wtime": [], "optime": []}
    client = {"etime": [], "wtime": [], "optime": []}
    for line in log_lines:
        for key in values:
            m = re.search(rf" {key}=([0-9.]+)", line)
            if m:
                values[key].append(float(m.group(1)))
                if " RESULT err=" in line and " (Internal) " not in line:
                    client[key].append(float(m.group(1)))
    for key, label in (("etime", "Average etime (elapsed time)"), ("wtime", "Average wtime (wait time)"),
                       ("optime", "Average optime (op time)")):
        assert float(logconv["n"][label]) == pytest.approx(sum(values[key]) / len(values[key]), abs=2e-9)
        ours = report["latency"][key]
        assert ours["count"] == len(client[key])
        assert ours["avg"] == pytest.approx(sum(client[key]) / len(client[key]), rel=1e-9)


def test_unique_bind_dns(report, logconv):
    """logconv: 447 unique bind DNs (lower-cased, "Anonymous Binds" one of them); the report keys
    operations by bind DN the same way, anonymous included."""
    assert _lc(logconv, "Number of Unique Bind DN's") == report["bind_dns"]["count"] == 447


def test_total_log_lines(report, logconv, evidence):
    """logconv joins lines not starting with `[` to the previous one and counts the lines before the
    first timestamp plus that first line once more, then subtracts 1 when printing and 1 per progress
    message (one, at 25,000 lines). The report counts physical lines."""
    ev, _ = evidence
    assert report["meta"]["lines"] == LOG.read_text().count("\n") == 39486
    assert _lc(logconv, "Total Log Lines Analysed") == ev["stamped lines"] + ev["before first stamp"] + 1 - 1 - 1
