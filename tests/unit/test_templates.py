"""Index templates: one generator, every server variant, committed files equal generated ones."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dirsrvbeat import fielddefs
from dirsrvbeat.es import templates
from dirsrvbeat.es.indices import IndexNamer, dataset_suffix, utc_day
from dirsrvbeat.es.templates import TemplateOptions, plan, plan_for_server, variant_for

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "index_templates"
# Types every target (6.x default/OSS, runner, integ-test-zip) knows.
PORTABLE_TYPES = {"keyword", "text", "long", "integer", "short", "byte", "double", "float", "date", "boolean",
                  "ip", "object", "nested", "geo_point", "scaled_float"}


def _walk(props: dict, prefix: str = ""):
    for name, spec in props.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            yield path, spec.get("type", "object")
            yield from _walk(spec["properties"], path + ".")
        else:
            yield path, spec["type"]


def _flat(props: dict) -> dict[str, str]:
    return dict(_walk(props))


def test_committed_files_equal_generated():
    generated = templates.exported_files()
    committed = {p.relative_to(COMMITTED).as_posix(): p.read_bytes()
                 for p in COMMITTED.rglob("*") if p.is_file() and p.suffix == ".json"}
    missing = sorted(set(generated) - set(committed))
    extra = sorted(set(committed) - set(generated))
    changed = sorted(k for k in generated if k in committed and generated[k] != committed[k])
    assert not (missing or extra or changed), (
        "index_templates/ is out of date with fields/*.yml: run "
        "`dirsrvbeat setup --export-templates index_templates` and commit "
        f"(missing={missing}, extra={extra}, changed={changed})")


def test_export_writes_the_same_files(tmp_path):
    templates.export(tmp_path)
    (tmp_path / "es6" / "_template" / "stale.json").write_text("{}")
    templates.export(tmp_path)  # removes files the generator no longer makes
    files = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*.json")}
    assert files == templates.exported_files()


@pytest.mark.parametrize(("version", "variant"), [
    ((6, 0), "es6"), ((6, 8, 23), "es6"), ((7, 0, 0), "es7-legacy"), ((7, 7, 1), "es7-legacy"),
    ((7, 8, 0), "es7.8+"), ((7, 10, 2), "es7.8+"), ((7, 17, 29), "es7.8+"), ((8, 19, 21), "es7.8+"),
    ((9, 5, 3), "es7.8+"),
])
def test_variant_for(version, variant):
    assert variant_for(version) == variant


def test_variant_for_too_old():
    with pytest.raises(ValueError, match="not supported"):
        variant_for((5, 6, 16))


def test_es6_is_typed_and_7_legacy_typeless():
    es6 = {r.name: r for r in plan("es6") if r.kind == "legacy_template"}
    es7 = {r.name: r for r in plan("es7-legacy") if r.kind == "legacy_template"}
    assert set(es6) == set(es7) == {"dirsrvbeat-access", "dirsrvbeat-connection", "dirsrvbeat-monitor"}
    for name in es6:
        assert list(es6[name].body["mappings"]) == ["_doc"]
        assert es6[name].body["mappings"]["_doc"] == es7[name].body["mappings"]
        assert "properties" in es7[name].body["mappings"]
        assert es6[name].path == f"/_template/{name}"  # no include_type_name parameter


def test_composable_variant_shape():
    res = plan("es7.8+")
    comps = {r.name: r.body for r in res if r.kind == "component_template"}
    idx = {r.name: r.body for r in res if r.kind == "index_template"}
    assert set(comps) == {"dirsrvbeat-settings", "dirsrvbeat-mappings", "dirsrvbeat-access-mappings",
                          "dirsrvbeat-connection-mappings", "dirsrvbeat-monitor-mappings"}
    assert set(idx) == {"dirsrvbeat-access", "dirsrvbeat-connection", "dirsrvbeat-monitor"}
    for name, body in idx.items():
        ds = name.split("-", 1)[1]
        assert body["index_patterns"] == [f"dirsrvbeat-{ds}-*"]
        assert body["priority"] > 100  # above the built-in logs/metrics/synthetics templates
        assert body["composed_of"] == ["dirsrvbeat-settings", "dirsrvbeat-mappings", f"dirsrvbeat-{ds}-mappings"]
        assert all(c in comps for c in body["composed_of"])
    # components come before the index templates that use them
    kinds = [r.kind for r in res]
    assert kinds.index("index_template") > max(i for i, k in enumerate(kinds) if k == "component_template")


def test_patterns_do_not_touch_builtin_templates():
    for variant in templates.VARIANTS:
        for r in plan(variant):
            for pattern in r.body.get("index_patterns", []):
                assert not pattern.startswith(("logs-", "metrics-", "synthetics-", "traces-", ".")), pattern
                assert pattern.count("*") == 1 and pattern.endswith("-*")


def _legacy_mapping(ds: str) -> dict:
    body = next(r.body for r in plan("es7-legacy") if r.name == f"dirsrvbeat-{ds}")
    return body["mappings"]


def _composable_mapping(ds: str) -> dict:
    res = {r.name: r.body for r in plan("es7.8+")}
    props: dict = {}
    for comp in res[f"dirsrvbeat-{ds}"]["composed_of"]:
        m = res[comp]["template"].get("mappings", {})
        props.update(_flat(m.get("properties", {})))
    return props


@pytest.mark.parametrize("ds", ["access", "connection", "monitor"])
def test_every_field_of_a_dataset_is_mapped_with_its_type(ds):
    expected = {f.name: f.type for f in templates.dataset_fields(ds)}
    legacy = _flat(_legacy_mapping(ds)["properties"])
    composable = _composable_mapping(ds)
    for name, ftype in expected.items():
        assert legacy[name] == ftype, name
        assert composable[name] == ftype, name
    assert set(legacy) == set(composable)


def test_dataset_restrictions():
    access = _flat(_legacy_mapping("access")["properties"])
    connection = _flat(_legacy_mapping("connection")["properties"])
    assert "dirsrv.close.code" not in access and connection["dirsrv.close.code"] == "keyword"
    assert access["dirsrv.op.type"] == "keyword" and connection["dirsrv.conn.ops"] == "long"
    # ECS fields are everywhere
    for m in (access, connection, _flat(_legacy_mapping("monitor")["properties"])):
        assert m["@timestamp"] == "date" and m["event.dataset"] == "keyword"


def test_known_field_types():
    m = _flat(_legacy_mapping("access")["properties"])
    assert m["source.ip"] == "ip"
    assert m["@timestamp"] == "date"
    assert m["dirsrv.conn.id"] == "long"
    assert m["dirsrv.timing.etime"] == "double"
    assert m["dirsrv.op.internal"] == "boolean"
    assert m["dirsrv.bind.dn"] == "keyword"


def test_only_portable_types():
    for f in fielddefs.load_fields():
        assert f.type in PORTABLE_TYPES, f"{f.name}: {f.type} is not available on every server (6.8 / OSS)"


def test_keywords_have_ignore_above():
    for ds in templates.DATASETS:
        def check(props):
            for spec in props.values():
                if spec.get("type") == "keyword":
                    assert spec["ignore_above"] >= 256
                if "properties" in spec:
                    check(spec["properties"])
        check(_legacy_mapping(ds)["properties"])


def test_dynamic_strings_are_keywords_and_settings():
    m = _legacy_mapping("access")
    (tmpl,) = m["dynamic_templates"]
    spec = next(iter(tmpl.values()))
    assert spec["match_mapping_type"] == "string" and spec["mapping"]["type"] == "keyword"
    assert m["date_detection"] is False
    settings = next(r.body for r in plan("es6") if r.name == "dirsrvbeat-access")["settings"]
    assert settings["index.number_of_shards"] == 1
    assert settings["index.codec"] == "best_compression"
    assert settings["index.refresh_interval"]
    assert settings["index.lifecycle.name"] == "dirsrvbeat"


def test_no_ilm_drops_policy_and_settings():
    for version in ((6, 8, 23), (7, 5, 0), (8, 19, 0)):
        variant, res = plan_for_server(version, False)
        assert not any(r.kind == "ilm_policy" for r in res)
        text = b"".join(orjson.dumps(r.body) for r in res)
        assert b"lifecycle" not in text, variant


def test_ilm_policy_daily_and_rollover():
    daily = templates.ilm_policy(TemplateOptions(delete_after_days=7))
    assert daily["policy"]["phases"]["delete"] == {"min_age": "7d", "actions": {"delete": {}}}
    assert daily["policy"]["phases"]["hot"]["actions"] == {}
    roll = templates.ilm_policy(TemplateOptions(index_mode="rollover"))
    assert roll["policy"]["phases"]["hot"]["actions"]["rollover"] == {"max_size": "50gb", "max_age": "1d"}


def test_rollover_mode_bootstraps_write_aliases():
    opts = TemplateOptions(index_mode="rollover")
    for variant in templates.VARIANTS:
        res = plan(variant, opts)
        writes = [r for r in res if r.kind == "write_index"]
        assert [r.name for r in writes] == [f"dirsrvbeat-{ds}-000001" for ds in ("access", "connection", "monitor")]
        assert writes[0].body == {"aliases": {"dirsrvbeat-access": {"is_write_index": True}}}
        assert writes[0].path == "/dirsrvbeat-access-000001"
        text = orjson.dumps([r.body for r in res])
        assert b'"index.lifecycle.rollover_alias":"dirsrvbeat-access"' in text


def test_prefix_changes_every_name():
    opts = TemplateOptions(prefix="ldap-prod")
    for variant in templates.VARIANTS:
        for r in plan(variant, opts):
            assert r.name.startswith("ldap-prod"), r.name
    with pytest.raises(ValueError):
        TemplateOptions(prefix="Bad Prefix")


def test_version_is_a_content_hash():
    a = next(r for r in plan("es7.8+") if r.name == "dirsrvbeat-settings")
    b = next(r for r in plan("es7.8+", TemplateOptions(refresh_interval="30s")) if r.name == "dirsrvbeat-settings")
    assert isinstance(a.body["version"], int) and 0 < a.body["version"] < 2**31
    assert a.body["version"] != b.body["version"]
    again = next(r for r in plan("es7.8+") if r.name == "dirsrvbeat-settings")
    assert again.body == a.body


# ---------------------------------------------------------------------------------------- index names
@pytest.mark.parametrize(("ts", "day"), [
    ("2026-12-04T19:52:45.430+00:00", "2026.12.04"),
    ("2026-12-04T19:52:45.430Z", "2026.12.04"),
    ("2026-12-04T23:30:00.000-02:00", "2026.12.05"),
    ("2026-12-05T00:30:00.000+01:00", "2026.12.04"),
    ("2026-12-04", "2026.12.04"),
    ("2026-12-04T19:52:45", "2026.12.04"),
    (1796413965000, "2026.12.04"),
    ("yesterday", None), (None, None), ("2026-13-45T00:00:00+01:00", None),
])
def test_utc_day(ts, day):
    assert utc_day(ts) == day


def test_index_namer():
    namer = IndexNamer("dirsrvbeat")
    doc = {"@timestamp": "2026-12-04T23:30:00.000-02:00", "event": {"dataset": "dirsrv.access"}}
    assert namer(doc) == "dirsrvbeat-access-2026.12.05"
    assert namer({"@timestamp": "2026-12-04T10:00:00.000+00:00", "event": {"dataset": "dirsrv.connection"}}) \
        == "dirsrvbeat-connection-2026.12.04"
    assert namer({"event": {"dataset": "dirsrv.monitor"}}) == "dirsrvbeat-monitor-undated"
    assert IndexNamer("x", "rollover")(doc) == "x-access"
    assert dataset_suffix("dirsrv.Some-Thing") == "some_thing"
    assert dataset_suffix(None) == "other"
    with pytest.raises(ValueError):
        IndexNamer("x", "weekly")


def test_index_names_match_template_patterns():
    import fnmatch

    namer = IndexNamer("dirsrvbeat")
    patterns = {ds: TemplateOptions().pattern(ds) for ds in templates.DATASETS}
    for ds, dataset in templates.DATASETS.items():
        name = namer({"@timestamp": "2026-12-04T00:00:00Z", "event": {"dataset": dataset}})
        matching = [d for d, p in patterns.items() if fnmatch.fnmatch(name, p)]
        assert matching == [ds]
