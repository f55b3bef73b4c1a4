"""monitor: configuration: every error names the key; secrets never show; histogram specs."""

from __future__ import annotations

import logging

import pytest

from dirsrvbeat.monitor.config import ConfigError, Secret, build_config, load_config_file, parse_url
from dirsrvbeat.monitor.histograms import HistogramConfigError, parse_histograms


def cfg(**kw):
    kw.setdefault("state_dir", "none")
    return build_config(kw)


@pytest.mark.parametrize(("raw", "message"), [
    ({"timeout": "abc"}, "monitor.timeout: must be int or float, got 'abc'"),
    ({"timeout": 0}, "monitor.timeout: must be a positive number"),
    ({"retries": 99}, "monitor.retries: must be 0..10"),
    ({"starttls": "yes"}, "monitor.starttls: must be bool"),
    ({"colour": "red"}, "monitor.colour: unknown key"),
    ({"url": "http://x"}, "monitor.url: must be an ldap://, ldaps:// or ldapi:// URL"),
    ({"url": "ldap://x:port"}, "monitor.url: bad port"),
    ({"url": "ldaps://x", "starttls": True}, "monitor.starttls: only with an ldap:// URL"),
    ({"ca_file": "/nonexistent/ca.pem"}, "monitor.ca_file: no such file"),
    ({"bind_dn": "uid=a"}, "monitor.bind_dn: is set but there is no password"),
    ({"bind_dn": "uid=a", "password_env": "DIRSRVBEAT_TEST_UNSET_VAR"},
     "monitor.password_env: environment variable DIRSRVBEAT_TEST_UNSET_VAR is not set"),
    ({"bind_dn": "uid=a", "password_file": "/nonexistent/pw"}, "monitor.password_file: cannot read"),
    ({"password_file": "/a", "password_env": "B"}, "give password_file or password_env, not both"),
    ({"sasl_external": True, "bind_dn": "uid=a"}, "monitor.sasl_external: cannot be combined"),
    ({"listen": "nowhere"}, "monitor.listen: must be HOST:PORT"),
    ({"rules": []}, "monitor.rules: the rule list is empty"),
    ({"rules": [{"workload": "x", "rule": "1 +"}]}, "rule monitor.rules[0] (x): CEL does not compile"),
    ({"rules": [{"workload": "x", "rule": "ops_initiated"}]}, "must return a boolean"),
    ({"histograms": [{"name": "x", "value": "bind_dn", "buckets": [1]}]},
     "monitor.histograms[0].value: 'bind_dn' is not a numeric variable"),
    ({"rules_file": "/nonexistent/rules.yml"}, "monitor.rules_file: cannot read"),
])
def test_invalid_config_names_the_key(raw, message):
    with pytest.raises(ConfigError) as err:
        cfg(**raw)
    assert message in str(err.value)


def test_password_from_file_and_env_never_shown(tmp_path, monkeypatch, caplog):
    pw = tmp_path / "pw"
    pw.write_text("s3cr3t-Value\n")
    c = cfg(bind_dn="uid=a", password_file=str(pw))
    assert c.password.reveal() == "s3cr3t-Value"
    monkeypatch.setenv("MY_LDAP_PW", "other-S3cret")
    c2 = cfg(bind_dn="uid=a", password_env="MY_LDAP_PW")
    assert c2.password.reveal() == "other-S3cret"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("x").warning("config %r %s", c, c.password)
    for text in (repr(c), str(c), repr(c2), caplog.text, repr(Secret("x"))):
        assert "s3cr3t" not in text and "other-S3cret" not in text
    assert "***" in repr(c.password)


def test_defaults_and_overrides():
    c = build_config({"url": "ldap://127.0.0.1:13389", "timeout": 3}, {"timeout": 7.5, "url": None})
    assert c.timeout == 7.5 and c.url == "ldap://127.0.0.1:13389"
    assert [r.workload for r in c.compiled_rules] == ["small-long", "unknown", "small-short"]
    assert [h.name for h in c.histogram_specs] == ["ops_per_connection", "connection_age_seconds", "blocked_ratio"]
    assert c.state_dir  # a default directory
    assert cfg().state_dir is None


def test_urls():
    t = parse_url("ldapi://%2Frun%2Fslapd-x.socket")
    assert t.scheme == "ldapi" and t.socket_path == "/run/slapd-x.socket"
    assert parse_url("ldaps://h").port == 636 and parse_url("ldap://h").port == 389
    assert parse_url("ldap://[::1]:1389").host == "::1"


def test_config_file(tmp_path):
    f = tmp_path / "dirsrvbeat.yml"
    f.write_text("monitor:\n  url: ldap://127.0.0.1:13389\n  rules:\n    - {workload: a, rule: 'true'}\n")
    raw = load_config_file(str(f))
    assert raw["url"] == "ldap://127.0.0.1:13389"
    f.write_text("monitor: [1, 2]\n")
    with pytest.raises(ConfigError, match="monitor: must be a mapping"):
        load_config_file(str(f))
    f.write_text("monitor: {a: [}\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(str(f))


@pytest.mark.parametrize(("spec", "message"), [
    ("x", "must be a list"),
    ([{"name": "Bad Name", "value": "ops_initiated", "buckets": [1]}], "name: must match"),
    ([{"name": "a", "buckets": [1]}], "give exactly one of `value`"),
    ([{"name": "a", "value": "ops_initiated", "expr": "1", "buckets": [1]}], "give exactly one"),
    ([{"name": "a", "value": "ops_initiated", "buckets": []}], "buckets: must be a non-empty list"),
    ([{"name": "a", "value": "ops_initiated", "buckets": [5, 1]}], "strictly increasing"),
    ([{"name": "a", "value": "ops_initiated", "buckets": ["x"]}], "must be numbers"),
    ([{"name": "a", "value": "ops_initiated", "buckets": [1]}] * 2, "defined twice"),
    ([{"name": "a", "value": "ops_initiated", "buckets": [1], "le": 2}], "unknown key(s) le"),
])
def test_histogram_spec_errors(spec, message):
    with pytest.raises(HistogramConfigError) as err:
        parse_histograms(spec)
    assert message in str(err.value)


def test_histogram_expr():
    from dirsrvbeat.processors.classify import RuleError

    [h] = parse_histograms([{"name": "pend", "expr": "ops_pending > 0 ? ops_pending : null",
                             "buckets": [1, 2, "+Inf"]}])
    assert h.buckets == (1.0, 2.0) and h.le_labels == ["1.0", "2.0", "+Inf"]
    assert h.observe_value({"ops_pending": 0}) is None and h.observe_value({"ops_pending": 3}) == 3
    with pytest.raises(RuleError, match=r"histograms\[0\].expr \(s\): must return a number"):
        parse_histograms([{"name": "s", "expr": "bind_dn", "buckets": [1]}])
    with pytest.raises(RuleError, match="unknown variable"):
        parse_histograms([{"name": "s", "expr": "nope + 1", "buckets": [1]}])
