"""The Kibana saved objects: the committed export is the generator's output, the offline validator finds
nothing in it for every Kibana line we claim (7.4 → 8.x) and does find each kind of fault we plant."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest

from dirsrvbeat import fielddefs
from dirsrvbeat.kibana import __main__ as cli
from dirsrvbeat.kibana import exported_files, fieldsdoc, objects, validate

ROOT = Path(__file__).resolve().parents[2]
EXPORT = ROOT / "kibana" / objects.FORMAT / "dirsrvbeat.ndjson"
TARGETS = ["7.4.0", "7.5.2", "7.10.2", "7.17.29", "8.0.0", "8.19.0"]


def objs() -> list[dict]:
    return objects.build()


def problems(items, **kw) -> list[str]:
    return [str(p) for p in validate.validate(items, **kw)]


def test_committed_export_is_up_to_date():
    files = exported_files()
    assert list(files) == [f"{objects.FORMAT}/dirsrvbeat.ndjson"]
    assert EXPORT.read_bytes() == files[f"{objects.FORMAT}/dirsrvbeat.ndjson"], \
        "kibana/ is stale: run `python -m dirsrvbeat.kibana export kibana`"
    assert sorted(p.relative_to(ROOT / "kibana").as_posix() for p in (ROOT / "kibana").rglob("*.ndjson")) == \
        sorted(files)


@pytest.mark.parametrize("target", TARGETS)
def test_committed_export_validates_for_every_supported_kibana(target):
    assert problems(EXPORT.read_bytes(), target=validate.parse_version(target)) == []


def test_every_line_is_json_and_every_stringified_field_parses():
    lines = EXPORT.read_bytes().splitlines()
    assert len(lines) == len(objs())
    for line in lines:
        o = orjson.loads(line)
        attrs = o["attributes"]
        for key in validate.STRINGIFIED:
            if key in attrs:
                orjson.loads(attrs[key])
        if "kibanaSavedObjectMeta" in attrs:
            orjson.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert "coreMigrationVersion" not in o and "typeMigrationVersion" not in o  # unknown to 7.x


def test_content_covers_the_issue():
    items = objs()
    titles = {o["attributes"]["title"] for o in items}
    assert {"dirsrvbeat-access-*", "dirsrvbeat-connection-*", "dirsrvbeat-monitor-*"} <= titles
    dashboards = [o for o in items if o["type"] == "dashboard"]
    assert [d["id"] for d in dashboards] == ["dirsrvbeat-access", "dirsrvbeat-monitor"]
    vis = {o["id"].removeprefix("dirsrvbeat-"): orjson.loads(o["attributes"]["visState"])
           for o in items if o["type"] == "visualization"}
    agg_types = {a["type"] for v in vis.values() for a in v["aggs"]}
    assert {"date_histogram", "terms", "percentiles", "sum", "avg", "filters", "count", "max"} <= agg_types
    fields = {v_id: {a["params"].get("field") for a in v["aggs"]} for v_id, v in vis.items()}
    assert "dirsrv.op.type" in fields["ops-per-second"]
    assert {"dirsrv.timing.etime"} <= fields["etime-percentiles"] and "dirsrv.timing.wtime" in fields[
        "wtime-percentiles"]
    assert {"dirsrv.search.filter_shape", "dirsrv.search.base", "dirsrv.bind.dn", "source.address",
            "dirsrv.timing.etime"} <= fields["unindexed-searches"]
    assert "dirsrv.close.code" in fields["close-codes"]
    assert "dirsrv.monitor.histogram.le_label" in fields["histogram-ops-per-connection"]
    for name in ("threads", "readwaiters", "connections.at_max_threads", "max_threads_per_conn_hits_delta",
                 "ops.initiated_delta"):
        assert any(f"dirsrv.monitor.server.{name}" in f for f in fields.values()), name
    # every visualisation is on a dashboard, every dashboard panel is in the set
    on_dashboards = {r["id"] for d in dashboards for r in d["references"]}
    assert {o["id"] for o in items if o["type"] in ("visualization", "search")} == on_dashboards


def test_objects_follow_the_index_prefix():
    items = objects.build("acme")
    assert problems(items) == []
    assert {o["id"] for o in items if o["type"] == "index-pattern"} == {"acme-access-*", "acme-connection-*",
                                                                        "acme-monitor-*"}
    assert all(r["id"].startswith("acme-") for o in items for r in o["references"])


def test_data_view_fields_are_the_template_fields():
    items = {o["id"]: o for o in objs()}
    for ds in ("access", "connection", "monitor"):
        listed = {f["name"]: f for f in orjson.loads(items[f"dirsrvbeat-{ds}-*"]["attributes"]["fields"])}
        tfields = validate.template_fields(ds)
        assert {n for n in listed if not n.startswith("_")} == {n for n, t in tfields.items() if t != "object"}
        for name, t in tfields.items():
            if t != "object":
                assert listed[name]["aggregatable"] == (t in fielddefs.AGGREGATABLE_TYPES)


# ------------------------------------------------------------------------------------------ faults
def _vis(items, vid="dirsrvbeat-top-clients"):
    return next(o for o in items if o["id"] == vid)


def _set_vis(o, fn):
    vis = orjson.loads(o["attributes"]["visState"])
    fn(vis)
    o["attributes"]["visState"] = orjson.dumps(vis).decode()


@pytest.mark.parametrize("fault, expect", [
    ("bad_json_line", "not valid JSON"),
    ("stringified", "visState does not parse"),
    ("ref_name", "is not a reference of the object"),
    ("dangling_ref", "which is not in the set"),
    ("panel_ref", "panelRefName"),
    ("newer_version", "is newer than Kibana 7.4.0"),
    ("core_version", "coreMigrationVersion does not exist before Kibana 7.12"),
    ("unknown_field", "is not in the access template"),
    ("text_field", "not aggregatable"),
    ("query_field", "query field 'dirsrv.nope'"),
    ("order_by", "names no metric agg"),
    ("series", "seriesParams names agg"),
    ("grid", "outside the 48-column grid"),
    ("duplicate", "duplicate type/id"),
])
def test_validator_finds_planted_faults(fault, expect):
    items = copy.deepcopy(objs())
    data: bytes | list = items
    if fault == "bad_json_line":
        data = objects.to_ndjson(items) + b"{not json\n"
    elif fault == "stringified":
        _vis(items)["attributes"]["visState"] = '{"title": '
    elif fault == "ref_name":
        _vis(items)["references"][0]["name"] = "something-else"
    elif fault == "dangling_ref":
        _vis(items)["references"][0]["id"] = "no-such-pattern"
    elif fault == "panel_ref":
        next(o for o in items if o["type"] == "dashboard")["references"].pop()
    elif fault == "newer_version":
        _vis(items)["migrationVersion"] = {"visualization": "7.10.0"}
    elif fault == "core_version":
        _vis(items)["coreMigrationVersion"] = "7.10.0"
    elif fault == "unknown_field":
        _set_vis(_vis(items), lambda v: v["aggs"][-1]["params"].update(field="dirsrv.no.such.field"))
    elif fault == "text_field":
        _set_vis(_vis(items), lambda v: v["aggs"][-1]["params"].update(field="error.message"))
        # error.message is text in every template
    elif fault == "query_field":
        o = _vis(items)
        meta = o["attributes"]["kibanaSavedObjectMeta"]
        s = orjson.loads(meta["searchSourceJSON"])
        s["query"]["query"] = "dirsrv.nope:1"
        meta["searchSourceJSON"] = orjson.dumps(s).decode()
    elif fault == "order_by":
        _set_vis(_vis(items), lambda v: v["aggs"][-1]["params"].update(orderBy="42"))
    elif fault == "series":
        _set_vis(_vis(items, "dirsrvbeat-threads"), lambda v: v["params"]["seriesParams"][0]["data"].update(id="9"))
    elif fault == "grid":
        d = next(o for o in items if o["type"] == "dashboard")
        panels = orjson.loads(d["attributes"]["panelsJSON"])
        panels[0]["gridData"]["w"] = 60
        d["attributes"]["panelsJSON"] = orjson.dumps(panels).decode()
    elif fault == "duplicate":
        items.append(copy.deepcopy(_vis(items)))
    found = problems(data)
    assert any(expect in p for p in found), found


def test_lucene_fields():
    assert validate.lucene_fields('_exists_:a.b AND c.d:x AND NOT e:[1 TO 2] AND "f:g" AND h:"i:j"') == \
        {"a.b", "c.d", "e", "h"}


# ------------------------------------------------------------------------------------------ CLI, docs
def test_cli_export_and_validate(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path)]) == 0
    written = tmp_path / objects.FORMAT / "dirsrvbeat.ndjson"
    assert written.read_bytes() == EXPORT.read_bytes()
    assert cli.main(["validate", str(written), "--target", "8.19.0"]) == 0
    assert cli.main(["validate", str(written), "--target", "7.3.0"]) == 1
    assert "newer than Kibana 7.3.0" in capsys.readouterr().out


def test_fields_doc_lists_every_field_once():
    text = fieldsdoc.render()
    for f in fielddefs.load_fields():
        assert text.count(f"| `{f.name}` |") == 1, f.name
    assert "| `dirsrv.search.filter_shape` | keyword | yes |" in text
    assert "| `error.message` | text | no |" in text


def test_committed_fields_doc_is_up_to_date():
    path = ROOT / "docs" / "fields.md"
    if not path.exists():
        pytest.skip("docs/fields.md is not committed yet: python -m dirsrvbeat.kibana fields-doc -o docs/fields.md")
    assert path.read_text(encoding="utf-8") == fieldsdoc.render(), \
        "docs/fields.md is stale: python -m dirsrvbeat.kibana fields-doc -o docs/fields.md"
