"""CEL workload rules: start-up validation (name + CEL error), first match wins, run-time errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dirsrvbeat.monitor.connection import generalized_time, parse_connection
from dirsrvbeat.plugins import create
from dirsrvbeat.processors.classify import (
    DEFAULT_WORKLOAD,
    VARIABLES,
    Classifier,
    Classify,
    RuleError,
    RuleSpec,
    access_variables,
    compile_rule,
    compile_rules,
    load_rules_file,
    monitor_variables,
    normalise_dn,
)

BLOG_RULES = [
    {"workload": "large-long", "rule": 'bind_dn in ["uid=svc-sync,ou=services,dc=example,dc=com"]'},
    {"workload": "small-long", "rule": "connection_age_seconds > 120"},
    {"workload": "unknown", "rule": 'bind_dn == "NULLDN"'},
    {"workload": "small-short", "rule": True},  # YAML `rule: true`
]
NOW = generalized_time("20261204195400Z")
ACCESS_LOG = Path(__file__).parent.parent / "data" / "samples" / "access.full.log"


def variables(value: str, is_self: bool = False) -> dict:
    return monitor_variables(parse_connection(value), NOW, is_self)


def test_blog_rules_first_match_wins():
    c = Classifier(compile_rules(BLOG_RULES))
    old_sync = variables("10:20261204190000Z:95:95:-:uid=svc-sync,ou=services,dc=example,dc=com:0:0:0:10:ip=127.0.0.1")
    young_sync = variables("11:20261204195359Z:2:2:-:uid=svc-sync,ou=services,dc=example,dc=com:0:0:0:11:ip=127.0.0.1")
    old_anon = variables("12:20261204190000Z:9:9:-:NULLDN:0:0:0:12:ip=127.0.0.1")
    young_anon = variables("13:20261204195359Z:1:1:-:NULLDN:0:0:0:13:ip=127.0.0.1")
    young_app = variables("14:20261204195359Z:1:1:-:uid=app,dc=x:0:0:0:14:ip=127.0.0.1")
    assert c.classify(old_sync) == "large-long"
    assert c.classify(young_sync) == "large-long"
    assert c.classify(old_anon) == "small-long"      # age rule before the NULLDN rule
    assert c.classify(young_anon) == "unknown"
    assert c.classify(young_app) == "small-short"
    assert c.workloads == ["large-long", "small-long", "unknown", "small-short"]  # catch-all: no default


def test_default_workload_when_nothing_matches():
    c = Classifier(compile_rules([{"workload": "anon", "rule": "anonymous"}]))
    assert c.classify(variables("1:20261204195359Z:1:1:-:uid=a:0:0:0:1:ip=1.2.3.4")) == DEFAULT_WORKLOAD
    assert c.workloads == ["anon", DEFAULT_WORKLOAD]


def test_every_variable_exists_with_its_type():
    v = variables("16:20261204195300Z:361:356:r:uid=svc,dc=x:1:3:12:16:ip=2001:db8::1", is_self=True)
    assert set(v) == set(VARIABLES)
    for name, (typ, _) in VARIABLES.items():
        assert isinstance(v[name], typ), name
    assert v["connection_age_seconds"] == 60
    assert v["ops_pending"] == 5 and v["threads_blocked"] == 12 and v["at_max_threads"] and v["read_waiting"]
    assert v["blocked_ratio"] == pytest.approx(12 / 361)
    assert v["is_self"] and not v["tls_known"] and v["source"] == "monitor"
    ldapi = variables("15646:20261204202609Z:2:1:-:cn=Directory Manager:0:0:0:35565:ip=local")
    assert ldapi["ldapi"] and ldapi["bind_dn_norm"] == "cn=directory manager"


@pytest.mark.parametrize(("rule", "message"), [
    ("connection_age_seconds >", "CEL does not compile"),
    ("bind_dn == 'x' &&", "CEL does not compile"),
    ("ops_initiated", "must return a boolean, returned int"),
    ('"a"', "must return a boolean, returned str"),
    ("bind_dn > 3", "CEL error on a sample connection: No such overload"),
    ("connection_age > 120", "unknown variable(s) connection_age"),
    ('bind_dn == "x" && nope(1)', "unknown function(s) nope"),
    ("ops_initiated / 0 > 1", "fails on every sample connection"),
])
def test_bad_rules_fail_start_up_with_name_and_cel_error(rule, message):
    with pytest.raises(RuleError) as err:
        compile_rules([{"workload": "ok", "rule": "true"}, {"workload": "bad", "rule": rule, "name": "my-rule"}])
    assert "rule my-rule:" in str(err.value)
    assert message in str(err.value)


def test_rule_names_default_to_position_and_workload():
    with pytest.raises(RuleError, match=r"rule monitor\.rules\[1\] \(small-long\): CEL does not compile"):
        compile_rules([{"workload": "a", "rule": "true"}, {"workload": "small-long", "rule": "1 +"}],
                      where="monitor.rules")


@pytest.mark.parametrize(("spec", "message"), [
    ("just a string", "must be a mapping"),
    ({"workload": "", "rule": "true"}, "workload: must be a non-empty string"),
    ({"workload": "w"}, "rule: must be a CEL expression"),
    ({"workload": "w", "rule": "true", "colour": "red"}, "unknown key(s) colour"),
])
def test_rule_shape_errors(spec, message):
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_rules([spec])


def test_value_dependent_errors_pass_start_up_and_are_counted_and_logged_once(caplog):
    rules = compile_rules([
        {"workload": "ratio", "rule": "ops_completed / threads_blocked > 10", "name": "ratio"},
        {"workload": "rest", "rule": "true"},
    ])
    c = Classifier(rules)
    blocked = variables("1:20261204195300Z:500:500:-:uid=a:0:1:4:1:ip=1.2.3.4")
    unblocked = [variables(f"{i}:20261204195300Z:{i}:{i}:-:uid=a{i}:0:0:0:{i}:ip=1.2.3.4") for i in range(2, 12)]
    with caplog.at_level(logging.WARNING, logger="dirsrvbeat.classify"):
        assert c.classify(blocked) == "ratio"
        got = [c.classify(v) for v in unblocked]
    assert got == ["rest"] * 10                # the erroring rule is skipped, the others still apply
    assert c.rule_errors() == {"ratio": 10, "rules[1] (rest)": 0}
    assert c.stats.errors == 10
    warnings = [r for r in caplog.records if "ratio" in r.getMessage()]
    assert len(warnings) == 1 and "ZeroDivisionError" in warnings[0].getMessage()


def test_extension_functions_and_macros():
    rules = compile_rules([
        {"workload": "svc", "rule": 'bind_dn.lowerAscii().startsWith("uid=svc-")'},
        {"workload": "v6", "rule": 'ip.contains(":")'},
        {"workload": "multi", "rule": "[ops_pending, threads_blocked].exists(x, x > 3)"},
        {"workload": "math", "rule": "math.abs(connection_age_seconds) > 100000"},
        {"workload": "rest", "rule": "true"},
    ])
    assert [r.needs_ext for r in rules] == [True, False, False, True, False]
    c = Classifier(rules)
    assert c.classify(variables("1:20261204195300Z:1:1:-:UID=SVC-X,dc=x:0:0:0:1:ip=1.2.3.4")) == "svc"
    assert c.classify(variables("2:20261204195300Z:1:1:-:uid=a:0:0:0:2:ip=::1")) == "v6"
    assert c.classify(variables("3:20261204195300Z:9:1:-:uid=a:0:0:0:3:ip=1.2.3.4")) == "multi"
    assert c.classify(variables("4:20261101195300Z:1:1:-:uid=a:0:0:0:4:ip=1.2.3.4")) == "math"
    assert c.stats.errors == 0


def test_memo_only_for_few_valued_variables():
    dn_only = Classifier(compile_rules([{"workload": "anon", "rule": "anonymous"}, {"workload": "x", "rule": "true"}]))
    v = variables("13:20261204195359Z:1:1:-:NULLDN:0:0:0:13:ip=127.0.0.1")
    assert [dn_only.classify(v) for _ in range(5)] == ["anon"] * 5
    assert dn_only.stats.evaluated == 1 and dn_only.stats.cache_hits == 4
    aged = Classifier(compile_rules(BLOG_RULES))  # reads the age: every connection is evaluated
    assert [aged.classify(v) for _ in range(3)] == ["unknown"] * 3
    assert aged.stats.evaluated == 3 and aged.stats.cache_hits == 0


def test_normalise_dn():
    assert normalise_dn(" UID=A , OU=B,dc = c ") == "uid=a,ou=b,dc=c"


def test_rules_file_forms(tmp_path):
    a = tmp_path / "a.yml"
    a.write_text("- {workload: x, rule: 'true'}\n")
    b = tmp_path / "b.yml"
    b.write_text("monitor:\n  rules:\n    - {workload: y, rule: 'anonymous'}\n")
    c = tmp_path / "c.yml"
    c.write_text("classifiers:\n  - {workload: z, rule: 'true'}\n")  # the blog's key
    assert [r["workload"] for f in (a, b, c) for r in load_rules_file(str(f))] == ["x", "y", "z"]
    bad = tmp_path / "bad.yml"
    bad.write_text("hello: 1\n")
    with pytest.raises(RuleError, match="no rule list"):
        load_rules_file(str(bad))


def test_compile_rule_direct():
    r = compile_rule(RuleSpec("w", "ops_pending > 0 && !is_self", "n"))
    assert r.variables == frozenset({"ops_pending", "is_self"})


# ------------------------------------------------------------------ the access-log processor
def test_access_variables_from_real_documents():
    from dirsrvbeat.access.pipeline import AccessPipeline

    docs = list(AccessPipeline([str(ACCESS_LOG)], connections=True).documents())
    ops = [d for d in docs if d["event"]["dataset"] == "dirsrv.access"]
    conns = [d for d in docs if d["event"]["dataset"] == "dirsrv.connection"]
    v = access_variables(ops[0])  # LDAPI BIND of Directory Manager
    assert set(v) == set(VARIABLES)
    for name, (typ, _) in VARIABLES.items():
        assert isinstance(v[name], typ), name
    assert v["ldapi"] and v["ip"] == "local" and v["source"] == "access" and v["tls_known"]
    assert v["bind_dn"] == "cn=Directory Manager" and v["ops_initiated"] == 1
    anon = [access_variables(d) for d in ops if not d["dirsrv"]["bind"].get("dn")]
    assert anon and all(a["bind_dn"] == "NULLDN" and a["anonymous"] for a in anon)
    assert any(access_variables(d)["tls"] for d in ops if d.get("tls"))
    ages = [access_variables(d)["connection_age_seconds"] for d in ops]
    assert min(ages) >= 0 and max(ages) > 0
    cv = access_variables(conns[1])
    assert cv["ops_initiated"] == conns[1]["dirsrv"]["conn"]["ops"]


def test_classify_processor_in_the_access_pipeline():
    from dirsrvbeat.access.pipeline import AccessPipeline

    proc = create("processor", "classify", rules=[
        {"workload": "admin", "rule": 'bind_dn_norm == "cn=directory manager"'},
        {"workload": "sync", "rule": 'bind_dn.startsWith("uid=svc-sync,")'},
        {"workload": "anon", "rule": "anonymous"},
        {"workload": "other", "rule": "true"},
    ])
    assert isinstance(proc, Classify)
    docs = list(AccessPipeline([str(ACCESS_LOG)], connections=True, extra_processors=[proc]).documents())
    workloads = {d["dirsrv"]["workload"] for d in docs}
    assert workloads == {"admin", "sync", "anon", "other"}
    for d in docs:
        dn = d["dirsrv"]["bind"].get("dn") or ""
        if dn.lower() == "cn=directory manager":
            assert d["dirsrv"]["workload"] == "admin"
        elif not dn:
            assert d["dirsrv"]["workload"] == "anon"
    assert proc.classifier.stats.errors == 0


def test_classify_processor_needs_rules():
    with pytest.raises(RuleError):
        Classify()
    docs = [{"event": {"dataset": "other"}, "dirsrv": {}}, "not a dict"]
    assert list(Classify(rules=[{"workload": "x", "rule": "true"}]).process(iter(docs))) == docs
