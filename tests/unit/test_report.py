"""`dirsrvbeat access report`: bounded structures, index advice, filters, inputs, renderers, CLI."""

from __future__ import annotations

import gzip
import io
import json
import math
import shutil
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirsrvbeat.cli import main
from dirsrvbeat.report import ReportError, ReportOptions, build_report, parse_time
from dirsrvbeat.report.advice import ShapeEvidence, advise, backend_of, filter_leaves, substring_too_short
from dirsrvbeat.report.aggregate import ReportAggregator
from dirsrvbeat.report.render_html import render_html
from dirsrvbeat.report.render_text import fmt_s, render_text
from dirsrvbeat.report.sketch import OTHER, CappedMap, LogHistogram, TopN
from dirsrvbeat.report.timeline import Timeline

LOG = Path(__file__).parent.parent / "data" / "samples" / "access.full.log"
GOLDEN = sorted((Path(__file__).parent.parent / "golden").glob("*/*.log"))


@pytest.fixture(scope="module")
def full():
    return build_report(ReportOptions(paths=[str(LOG)]))


# ---------------------------------------------------------------------------------------- sketches
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-7, max_value=1e5, allow_nan=False), min_size=1, max_size=400),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_histogram_quantile_relative_error(values, q):
    h = LogHistogram(sub=16)
    for v in values:
        h.add(v)
    exact = sorted(values)
    est = h.quantile(q)
    rank = q * (len(exact) - 1)
    lo, hi = exact[math.floor(rank)], exact[math.ceil(rank)]
    # the estimate lies in the bin of a neighbouring order statistic: within one bin width (1/16)
    assert lo * (1 - 1 / 16) - 1e-12 <= est <= hi * (1 + 1 / 16) + 1e-12
    assert h.count == len(values) and h.min == exact[0] and h.max == exact[-1]
    assert h.sum == pytest.approx(sum(values))


def test_histogram_is_bounded_and_mergeable():
    a, b, both = LogHistogram(), LogHistogram(), LogHistogram()
    for i in range(1, 200_000):
        v = (i % 9973) * 1e-6 * (1 + i % 7)
        (a if i % 2 else b).add(v)
        both.add(v)
    a.merge(b)
    assert a.bins == both.bins and a.count == both.count and a.zeros == both.zeros
    assert len(both.bins) < 16 * 40  # ~16 bins per octave actually hit, whatever the count
    assert a.quantiles([0.5, 0.99]) == both.quantiles([0.5, 0.99])


def test_histogram_zeros_and_empty():
    h = LogHistogram()
    assert h.quantile(0.5) is None and h.summary() == {"count": 0}
    for _ in range(3):
        h.add(0.0)
    h.add(2.0)
    assert h.quantile(0.5) == 0.0 and h.max == 2.0


def test_topn_keeps_largest_and_builds_lazily():
    t: TopN[int] = TopN(3)
    built = []
    for v in [5, 1, 9, 3, 7, 9, 2]:
        t.offer(v, lambda v=v: built.append(v) or v)
    assert t.items() == [9, 9, 7]
    assert 1 not in built[3:] and 2 not in built  # small ones never built once full


def test_capped_map_folds_into_other():
    m = CappedMap(3, lambda: [0])
    for k in "abcdefg":
        m.get(k)[0] += 1
    assert len(m) == 4 and m.capped and dict(m.items())[OTHER] == [4]
    assert m.folded_values == 4


def test_timeline_coarsens_and_keeps_totals():
    tl = Timeline(max_buckets=50)
    t0 = 1_800_000_000.0
    for i in range(10_000):  # 10,000 s of one op per second
        tl.op(t0 + i, "SRCH", 0.001, 0.0001, False, False)
    out = tl.points()
    assert len(out["points"]) <= 50
    assert out["bucket_seconds"] >= 200
    assert sum(p["ops"] for p in out["points"]) == 10_000


def test_aggregator_memory_is_bounded():
    """25,000 operations from 25,000 distinct bind DNs, clients and filter shapes: the maps stop
    at key_cap and memory stays flat."""
    agg = ReportAggregator(top_n=5, key_cap=200)

    def doc(i):
        return {"@timestamp": "2026-12-04T19:52:45.430+00:00",
                "event": {"dataset": "dirsrv.access", "start": f"2026-12-04T19:{52 + i // 60000 % 7}:"
                                                               f"{i // 1000 % 60:02d}.{i % 1000:03d}+00:00"},
                "source": {"address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"},
                "dirsrv": {"conn": {"id": i, "transport": "ldap"}, "bind": {"dn": f"uid=u{i},dc=x"},
                           "op": {"id": 1, "type": "SRCH", "status": "complete", "internal": False},
                           "result": {"code": 0, "name": "success", "nentries": 1},
                           "timing": {"etime": 0.001 + (i % 97) / 1e4, "wtime": 1e-5, "optime": 0.001},
                           "search": {"base": f"ou=o{i},dc=x", "filter": f"(a{i}=1)", "filter_shape": f"(a{i}=?)",
                                      "filter_components": [f"a{i}:eq"], "unindexed": "full"}}}

    for i in range(2_000):
        agg.add(doc(i))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(2_000, 25_000):
        agg.add(doc(i))
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 500_000, grown  # ~60 kB measured; keeping the documents would take ~50 MB
    m = agg.finish()
    assert m["bind_dns"]["capped"] and m["bind_dns"]["count"] == 201
    assert m["clients"]["count"] == 201 and m["searches"]["shapes"] == 201
    assert m["totals"]["operations"] == 25_000
    assert sum(r["count"] for r in m["unindexed"]["shapes"]) == 25_000


# ---------------------------------------------------------------------------------------- advice
def _advice(shape, example, full=1, partial=0, bases=("ou=people,dc=example,dc=com",)):
    ev = ShapeEvidence(shape=shape, searches=full + partial, etime_total=1.0, full=full, partial=partial,
                       example_filter=example, bases=list(bases))
    return {(a.attribute.lower(), a.match_type): a for a in advise([ev], instance="slapd-x")}


def test_advice_missing_index_command():
    a = _advice("(employeetype=?)", "(employeeType=intern)")[("employeetype", "eq")]
    assert a.verdict == "missing"
    assert a.commands == ["dsconf slapd-x backend index add --attr employeeType --index-type eq --reindex "
                          "dc=example,dc=com"]


def test_advice_type_missing_and_matching_rule():
    a = _advice("(&(cn=*?*)(uid=?*))", "(&(cn=*alice*)(uid=user00*))", full=0, partial=1)
    assert a[("uid", "sub")].verdict == "type_missing"
    assert a[("uid", "sub")].commands == [
        "dsconf slapd-x backend index set --attr uid --add-type sub dc=example,dc=com",
        "dsconf slapd-x backend index reindex --attr uid --wait dc=example,dc=com"]
    assert ("cn", "sub") not in a  # indexed by default, long enough, not shown to be a cause
    # fully unindexed (notes=A): an AND is ALLIDS only when every part is, so cn=*alice* was over the limit
    assert _advice("(&(cn=*?*)(uid=?*))", "(&(cn=*alice*)(uid=user00*))")[("cn", "sub")].verdict == "scan_limit"
    mr = _advice("(cn:caseexactmatch:=?)", "(cn:caseExactMatch:=Alice Smith)")[("cn", "ext")]
    assert mr.commands[0] == "dsconf slapd-x backend index set --attr cn --add-mr caseExactMatch dc=example,dc=com"


def test_advice_short_substring_and_scan_limit():
    a = _advice("(&(objectclass=?)(|(cn=?*)(sn=?*)))", "(&(objectClass=person)(|(cn=A*)(sn=W*)))")
    assert a[("cn", "sub")].verdict == "short_substring"
    assert a[("objectclass", "eq")].verdict == "scan_limit"
    assert not a[("cn", "sub")].commands and not a[("objectclass", "eq")].commands
    assert substring_too_short("ab*") and not substring_too_short("abc*") and substring_too_short("*\\2a*")


def test_advice_futile_under_or_with_objectclass_star():
    a = _advice("(|(description=*)(objectclass=*))", "(|(description=*)(objectClass=*))")
    assert a[("description", "pres")].verdict == "futile"
    assert a[("objectclass", "pres")].verdict == "objectclass_pres"


def test_advice_negated_and_not_in_backend():
    a = _advice("(&(!(employeetype=?))(objectclass=?)(|(l=?)(l=?)))",
                "(&(objectClass=inetOrgPerson)(!(employeeType=contractor))(|(l=Paris)(l=Berlin)))")
    assert a[("employeetype", "eq")].verdict == "negated"
    assert a[("l", "eq")].verdict == "missing"
    cfg = _advice("(nsslapd-foo=?)", "(nsslapd-foo=1)", bases=("cn=config",))
    assert cfg[("nsslapd-foo", "eq")].verdict == "not_in_backend"


def test_advice_or_needs_every_branch():
    a = _advice("(|(description=?)(title=?))", "(|(description=x)(title=y))")
    assert a[("title", "eq")].verdict == "missing"
    assert any("indexed only once (description=?)" in n for n in a[("title", "eq")].notes)


def test_filter_leaves_and_backend_guess():
    leaves = filter_leaves("(&(objectClass=person)(!(uid=x))(|(cn=a*)(mail=*))(createTimestamp>=2026))")
    assert [(x.attribute, x.kind, x.negated, x.in_or) for x in leaves] == [
        ("objectClass", "eq", False, False), ("uid", "eq", True, False), ("cn", "sub", False, True),
        ("mail", "pres", False, True), ("createTimestamp", "ge", False, False)]
    assert filter_leaves("objectclass=vlvsearch")[0].kind == "eq"
    assert filter_leaves("(&(uid=a)(cn=tru...")  # truncated by the server: best effort, no error
    assert backend_of(["ou=people,dc=example,dc=com"]) == "dc=example,dc=com"
    assert backend_of(["cn=monitor"]) is None


def test_advice_on_the_sample(full):
    adv = {(a["attribute"], a["match_type"]): a for a in full["index_advice"]}
    assert adv[("employeeType", "eq")]["actionable"]
    assert adv[("modifyTimestamp", "ge")]["commands"][0].startswith(
        "dsconf slapd-lab backend index add --attr modifyTimestamp --index-type eq")
    assert adv[("objectClass", "eq")]["verdict"] == "scan_limit"
    assert not adv[("objectClass", "pres")]["actionable"]


# ---------------------------------------------------------------------------------------- the report
def test_report_sections(full):
    for key in ("time_range", "totals", "results", "latency", "slowest", "unindexed", "index_advice", "bind_dns",
                "clients", "worker_wait", "connections", "binds", "failed_binds", "abandons", "timeline", "meta",
                "logconv_equivalent", "internal", "searches"):
        assert key in full, key
    lat = full["latency"]["etime"]
    assert lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert full["slowest"][0]["etime"] == lat["max"]
    assert [r["etime"] for r in full["slowest"]] == sorted((r["etime"] for r in full["slowest"]), reverse=True)
    assert sum(g["count"] for g in full["latency"]["groups"]["etime"]) == lat["count"]
    assert sum(p["ops"] for p in full["timeline"]["points"]) == full["totals"]["operations"]
    assert full["connections"]["peak_concurrent"] == max(p["connections_max"] for p in full["timeline"]["points"])
    shares = full["connections"]["transport"]
    assert sum(v["count"] for v in shares.values()) == full["connections"]["count"] == 1208
    assert full["worker_wait"]["by_bind_dn"][0]["name"] == "uid=svc-mail,ou=services,dc=example,dc=com"


def test_parse_time():
    assert parse_time("2026-12-04T19:53:00") == parse_time("[04/Dec/2026:19:53:00 +0000]")
    assert parse_time("2026-12-04T20:53:00+01:00") == parse_time("04/Dec/2026:19:53:00")
    with pytest.raises(ReportError):
        parse_time("yesterday")


def test_time_window_filter(full):
    start, end = parse_time("2026-12-04T19:53:30"), parse_time("2026-12-04T19:54:00")
    part = build_report(ReportOptions(paths=[str(LOG)], start=start, end=end, filters_text={"start": "x"}))
    assert 0 < part["totals"]["operations"] < full["totals"]["operations"]
    assert part["time_range"]["start"] >= "2026-12-04T19:53:30"
    assert all(start <= p["t"] + part["timeline"]["bucket_seconds"] and p["t"] <= end
               for p in part["timeline"]["points"])
    assert part["meta"]["documents_filtered_out"] > 0


def test_exclude_ip_and_bind_filters():
    local = build_report(ReportOptions(paths=[str(LOG)], exclude_ips=frozenset({"127.0.0.1", "unknown"})))
    assert local["connections"]["count"] == 9 and local["totals"]["operations"] == 53  # the LDAPI connections
    assert local["connections"]["peak_concurrent"] <= 2
    dn = "uid=svc-mail,ou=services,dc=example,dc=com"
    mail = build_report(ReportOptions(paths=[str(LOG)], bind_dns=frozenset({dn})))
    assert {r["name"] for r in mail["bind_dns"]["by_ops"]} == {dn}
    assert mail["totals"]["operations"] == 970
    anon = build_report(ReportOptions(paths=[str(LOG)], bind_dns=frozenset({""})))
    assert {r["name"] for r in anon["bind_dns"]["by_ops"]} == {"(anonymous)"}


def test_rotated_and_gz_input_in_order(tmp_path, full):
    lines = LOG.read_bytes().splitlines(keepends=True)
    cut = 20_000
    (tmp_path / "access.20261204-195244.gz").write_bytes(gzip.compress(b"".join(lines[:cut])))
    (tmp_path / "access").write_bytes(b"".join(lines[cut:]))
    (tmp_path / "access.rotationinfo").write_text("LOGINFO:x\n")
    rep = build_report(ReportOptions(paths=[str(tmp_path)]))
    assert rep["meta"]["files"] == 2 and rep["meta"]["unparsed"] == 0
    for key in ("totals", "results", "unindexed", "logconv_equivalent"):
        assert rep[key] == full[key], key
    assert rep["connections"]["close_codes"] == full["connections"]["close_codes"]


def test_stdin(monkeypatch, capsys):
    class Stdin:
        buffer = io.BytesIO(LOG.read_bytes())

    monkeypatch.setattr("sys.stdin", Stdin)
    assert main(["access", "report", "--json", "-"]) == 0
    model = json.loads(capsys.readouterr().out)
    assert model["totals"]["operations"] == 6978


@pytest.mark.parametrize("log", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_format_version(log):
    """1.3 to 3.x text and 3.x JSON logs: the report counts what the golden documents hold."""
    rep = build_report(ReportOptions(paths=[str(log)]))
    expected = log.with_name(log.name + "-expected.ndjson")
    if not expected.exists():
        pytest.skip("no golden documents")
    docs = [json.loads(line) for line in expected.read_text().splitlines() if line.strip()]
    ops = [d for d in docs if d["event"]["dataset"] == "dirsrv.access" and not d["dirsrv"]["op"]["internal"]]
    conns = [d for d in docs if d["event"]["dataset"] == "dirsrv.connection"]
    assert rep["totals"]["operations"] == len(ops)
    assert rep["connections"]["count"] == len(conns)
    assert rep["latency"]["etime"]["count"] == sum(1 for d in ops if "etime" in d["dirsrv"].get("timing", {}))
    assert rep["unindexed"]["searches"] == sum(1 for d in ops if d["dirsrv"].get("search", {}).get("unindexed"))
    render_text(rep, io.StringIO(), tty=False)
    assert render_html(rep).endswith("</html>")


# ---------------------------------------------------------------------------------------- renderers, CLI
def test_plain_text_when_piped(full):
    out = io.StringIO()
    render_text(full, out, tty=False)
    text = out.getvalue()
    assert all(ch == "µ" or ord(ch) < 128 for ch in text)
    assert "\x1b[" not in text
    for heading in ("== Operations ==", "== Result codes ==", "== Latency (client operations) ==",
                    "== Unindexed searches by filter shape ==", "== Index advice ==", "== Who waits for workers",
                    "== Connections ==", "== Binds ==", "== Abandons =="):
        assert heading in text, heading
    assert "dsconf slapd-lab backend index add --attr employeeType --index-type eq --reindex dc=example,dc=com" in text
    assert not any(line != line.rstrip() for line in text.splitlines())


def test_rich_text_on_a_tty(full):
    out = io.StringIO()
    render_text(full, out, tty=True, width=160)
    assert "\x1b[" in out.getvalue() and "Index advice" in out.getvalue()


def test_fmt_s():
    assert [fmt_s(v) for v in (None, 0, 2.5e-5, 0.0123, 4.98, 12345.0)] == ["-", "0", "25 µs", "12.3 ms", "4.98 s",
                                                                            "12,345 s"]


def test_html_is_self_contained(full):
    page = render_html(full)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    for chart in ("ops", "latency", "histogram", "shapes", "close_codes", "connections"):
        assert f'data-chart="{chart}"' in page, chart
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "@import" not in page and "url(" not in page


def test_cli_text_json_html(tmp_path, capsys):
    html = tmp_path / "r.html"
    assert main(["access", "report", "--html", str(html), "--top", "5", str(LOG)]) == 0
    text = capsys.readouterr().out
    assert "389 DS access log report" in text and "Slowest operations (top 5 by etime)" in text
    assert html.read_text().count('class="chart-svg"') >= 6
    out = tmp_path / "r.json"
    assert main(["access", "report", "--json", "-o", str(out), "-X", "127.0.0.1", str(LOG)]) == 0
    assert json.loads(out.read_text())["meta"]["filters"] == {"exclude_ip": ["127.0.0.1"]}


def test_cli_errors(tmp_path, capsys):
    assert main(["access", "report", "--start", "soon", str(LOG)]) == 2
    assert "unreadable time" in capsys.readouterr().err
    assert main(["access", "report", str(tmp_path / "missing.log")]) == 1


def test_workloads(tmp_path):
    pytest.importorskip("dirsrvbeat.processors.classify", reason="the workload classifier is not in this tree")
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "rules:\n"
        "  - {workload: sync, rule: 'bind_dn_norm == \"uid=svc-sync,ou=services,dc=example,dc=com\"'}\n"
        "  - {workload: admin, rule: 'ldapi || bind_dn_norm == \"cn=directory manager\"'}\n"
        "  - {workload: anonymous, rule: 'anonymous'}\n"
        "  - {workload: apps, rule: 'true'}\n")
    rep = build_report(ReportOptions(paths=[str(LOG)], workloads_file=str(rules)))
    wl = rep["workloads"]
    assert list(wl) == ["sync", "admin", "anonymous", "apps"]
    assert sum(w["totals"]["operations"] for w in wl.values()) == rep["totals"]["operations"]
    assert sum(w["connections"]["count"] for w in wl.values()) == rep["connections"]["count"]
    assert {r["name"] for r in wl["sync"]["bind_dns"]["by_ops"]} == {"uid=svc-sync,ou=services,dc=example,dc=com"}
    assert wl["anonymous"]["unindexed"]["searches"] > 0 and "timeline" not in wl["anonymous"]
    out = io.StringIO()
    render_text(rep, out, tty=False)
    assert "######## Workload: sync ########" in out.getvalue()
    assert "Workload: apps" in render_html(rep)
    bad = tmp_path / "bad.yml"
    bad.write_text("rules:\n  - {workload: x, rule: 'no_such_variable > 1'}\n")
    with pytest.raises(ReportError):
        build_report(ReportOptions(paths=[str(LOG)], workloads_file=str(bad)))


def test_sample_copy_is_unchanged(tmp_path):
    """The report never writes next to its inputs."""
    copy = tmp_path / "access"
    shutil.copy(LOG, copy)
    build_report(ReportOptions(paths=[str(copy)]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["access"]
