"""Offline checks of a saved-object ndjson file: what Kibana itself would refuse at import, and what
would break the dashboards afterwards, without a Kibana.

  structure    every line is one JSON object with type, id, attributes, references[{name, type, id}]
  stringified  every stringified attribute parses (visState, uiStateJSON, panelsJSON, optionsJSON,
               searchSourceJSON, fields, fieldFormatMap)
  references   every `*RefName` resolves to a reference of the object, every reference to an object
               of the set (or a known id), every dashboard panel has its reference
  versions     no migration version newer than the target Kibana (else Kibana refuses the object
               "belongs to a more recent version of Kibana")
  fields       every field a visualisation, a saved search or a data view's format map uses exists
               in the generated index template of the data view's dataset, with an aggregatable
               type where it is aggregated or sorted on

`validate(lines, target=(7, 4, 0))` returns a list of `Problem`s (empty = valid).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .. import fielddefs
from ..es import templates
from . import objects as kobj

STRINGIFIED = ("visState", "uiStateJSON", "panelsJSON", "optionsJSON", "fields", "fieldFormatMap")
KNOWN_TYPES = {"index-pattern", "visualization", "dashboard", "search", "lens", "config", "map", "tag"}
# agg param names whose value is a field name
FIELD_PARAMS = ("field",)
BUCKET_TYPES = {"date_histogram", "terms", "filters", "histogram", "range", "date_range", "significant_terms"}
METRIC_TYPES = {"count", "sum", "avg", "min", "max", "percentiles", "cardinality", "median", "top_hits",
                "percentile_ranks", "std_dev", "value_count"}
_LUCENE_EXISTS = re.compile(r"_exists_:([\w@][\w.@]*)")
_LUCENE_FIELD = re.compile(r"(?<![\w.@:\\])([\w@][\w.@]*):")


@dataclass(frozen=True)
class Problem:
    where: str   # "line 3 visualization dirsrvbeat-ops-per-second"
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def parse_version(text: str) -> tuple[int, ...]:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text or "")
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(x) for x in m.groups())


def parse_lines(data: bytes | str) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """(line number, parsed object) of every non-blank line; problems for lines that are not JSON objects."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    out, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(Problem(f"line {n}", f"not valid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(f"line {n}", "not a JSON object"))
            continue
        out.append((n, obj))
    return out, problems


def lucene_fields(query: str) -> set[str]:
    """Field names a simple Lucene query names (`a.b:x`, `_exists_:a.b`); quoted text is skipped."""
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query or "")
    found = {m.group(1) for m in _LUCENE_EXISTS.finditer(unquoted)}
    found |= {m.group(1) for m in _LUCENE_FIELD.finditer(unquoted)}
    found.discard("_exists_")
    return found


class _Ctx:
    def __init__(self, where: str, problems: list[Problem]) -> None:
        self.where = where
        self.problems = problems

    def add(self, what: str) -> None:
        self.problems.append(Problem(self.where, what))

    def parse(self, value: Any, name: str) -> Any:
        if not isinstance(value, str):
            self.add(f"{name} must be a JSON string, got {type(value).__name__}")
            return None
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            self.add(f"{name} does not parse: {exc}")
            return None


def dataset_of_pattern(title: str) -> str | None:
    """`dirsrvbeat-access-*` -> `access` (the dataset of the template that index pattern uses)."""
    for ds in templates.DATASETS:
        if title.endswith(f"-{ds}-*"):
            return ds
    return None


def template_fields(dataset: str) -> dict[str, str]:
    """{field: Elasticsearch type} of the generated template of a dataset (what the index will map)."""
    return {f.name: f.type for f in templates.dataset_fields(dataset)}


def validate(data: bytes | str | Iterable[Any], *, target: tuple[int, ...] = kobj.MIN_KIBANA,
             check_fields: bool = True, known_ids: Iterable[tuple[str, str]] = (),
             skip_datasets: Iterable[str] = ()) -> list[Problem]:
    """Every problem found in an ndjson export (bytes/str) or a list of objects.

    skip_datasets: datasets whose field check is not done (e.g. while their fields are not defined)."""
    if isinstance(data, (bytes, str)):
        rows, problems = parse_lines(data)
    else:
        rows, problems = list(enumerate(data, 1)), []
    skip = set(skip_datasets)
    ids = {(o.get("type"), o.get("id")) for _, o in rows} | set(known_ids)
    patterns: dict[str, str] = {}  # index-pattern id -> title
    seen: set[tuple[Any, Any]] = set()
    for _n, o in rows:
        if o.get("type") == "index-pattern":
            title = (o.get("attributes") or {}).get("title")
            if isinstance(title, str):
                patterns[str(o.get("id"))] = title
    for n, o in rows:
        where = f"line {n} {o.get('type')} {o.get('id')}"
        ctx = _Ctx(where, problems)
        if "exportedCount" in o and "type" not in o:
            continue  # the export summary line Kibana appends
        for key in ("type", "id", "attributes", "references"):
            if key not in o:
                ctx.add(f"missing {key!r}")
        if not isinstance(o.get("id"), str) or not o.get("id"):
            ctx.add("id must be a non-empty string")
        if o.get("type") not in KNOWN_TYPES:
            ctx.add(f"unknown type {o.get('type')!r}")
        key = (o.get("type"), o.get("id"))
        if key in seen:
            ctx.add("duplicate type/id")
        seen.add(key)
        attrs = o.get("attributes")
        if not isinstance(attrs, dict):
            ctx.add("attributes must be an object")
            continue
        refs = o.get("references")
        if not isinstance(refs, list):
            ctx.add("references must be a list")
            refs = []
        ref_names: dict[str, dict[str, Any]] = {}
        for r in refs:
            if not isinstance(r, dict) or not all(isinstance(r.get(k), str) and r.get(k) for k in
                                                  ("name", "type", "id")):
                ctx.add(f"bad reference {r!r} (needs name, type, id strings)")
                continue
            if r["name"] in ref_names:
                ctx.add(f"reference name {r['name']!r} used twice")
            ref_names[r["name"]] = r
            if (r["type"], r["id"]) not in ids:
                ctx.add(f"reference {r['name']!r} points to {r['type']} {r['id']!r}, which is not in the set")
        _check_versions(ctx, o, target)
        parsed: dict[str, Any] = {}
        for name in STRINGIFIED:
            if name in attrs:
                parsed[name] = ctx.parse(attrs[name], name)
        meta = attrs.get("kibanaSavedObjectMeta")
        search_source = None
        if meta is not None:
            if not isinstance(meta, dict) or "searchSourceJSON" not in meta:
                ctx.add("kibanaSavedObjectMeta must hold searchSourceJSON")
            else:
                search_source = ctx.parse(meta["searchSourceJSON"], "searchSourceJSON")
        used_refs: set[str] = set()
        for ref_name in _ref_names(attrs, parsed, search_source):
            used_refs.add(ref_name)
            if ref_name not in ref_names:
                ctx.add(f"{ref_name!r} is not a reference of the object")
        otype = o.get("type")
        if otype == "dashboard":
            _check_dashboard(ctx, parsed.get("panelsJSON"), ref_names, target)
        index_ref = None
        if isinstance(search_source, dict) and search_source.get("indexRefName"):
            index_ref = ref_names.get(search_source["indexRefName"])
            if index_ref is not None and index_ref["type"] != "index-pattern":
                ctx.add("indexRefName must point to an index-pattern")
        if not check_fields or otype not in ("visualization", "search", "index-pattern"):
            continue
        if otype == "index-pattern":
            title = attrs.get("title", "")
            ds = dataset_of_pattern(title)
            if ds is None:
                ctx.add(f"index pattern {title!r} matches no dataset template")
            elif ds not in skip:
                _check_field_list(ctx, ds, parsed.get("fields"), parsed.get("fieldFormatMap"),
                                  attrs.get("timeFieldName"))
            continue
        ds = dataset_of_pattern(patterns.get(index_ref["id"], "")) if index_ref else None
        if ds is None:
            vis = parsed.get("visState") or {}
            if otype == "search" or vis.get("aggs"):
                ctx.add("no data view of a known dataset (indexRefName)")
            continue
        if ds in skip:
            continue
        tfields = template_fields(ds)
        query = ((search_source or {}).get("query") or {}).get("query", "")
        for fname in lucene_fields(query if isinstance(query, str) else ""):
            if fname not in tfields:
                ctx.add(f"query field {fname!r} is not in the {ds} template")
        if otype == "search":
            for col in attrs.get("columns") or []:
                if col not in tfields:
                    ctx.add(f"column {col!r} is not in the {ds} template")
            for s in attrs.get("sort") or []:
                _need_aggregatable(ctx, tfields, s[0] if isinstance(s, list) else s, ds, "sort")
        else:
            _check_vis(ctx, parsed.get("visState"), tfields, ds)
    return problems


def _ref_names(attrs: dict[str, Any], parsed: dict[str, Any], search_source: Any) -> Iterator[str]:
    """Every `*RefName` / `*_ref_name` value of the object (attributes, visState params, search source)."""
    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for k, v in node.items():
                if (k.endswith("RefName") or k.endswith("_ref_name")) and isinstance(v, str):
                    if k != "panelRefName":  # dashboards: checked per panel
                        yield v
                else:
                    yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)
    yield from walk({k: v for k, v in attrs.items() if k not in STRINGIFIED and k != "kibanaSavedObjectMeta"})
    yield from walk(parsed.get("visState"))
    yield from walk(search_source)


def _check_versions(ctx: _Ctx, o: dict[str, Any], target: tuple[int, ...]) -> None:
    mv = o.get("migrationVersion")
    if mv is not None:
        if not isinstance(mv, dict):
            ctx.add("migrationVersion must be an object")
        else:
            for t, v in mv.items():
                try:
                    if parse_version(v) > tuple(target):
                        ctx.add(f"migrationVersion {t} {v} is newer than Kibana {'.'.join(map(str, target))}")
                except ValueError as exc:
                    ctx.add(f"migrationVersion {t}: {exc}")
    for key in ("coreMigrationVersion", "typeMigrationVersion"):
        if key in o:
            try:
                v = parse_version(o[key])
            except ValueError as exc:
                ctx.add(f"{key}: {exc}")
                continue
            if key == "coreMigrationVersion" and v > tuple(target):
                ctx.add(f"coreMigrationVersion {o[key]} is newer than Kibana {'.'.join(map(str, target))}")
            if key == "coreMigrationVersion" and tuple(target) < (7, 12, 0):
                ctx.add("coreMigrationVersion does not exist before Kibana 7.12")
            if key == "typeMigrationVersion" and tuple(target) < (8, 8, 0):
                ctx.add("typeMigrationVersion does not exist before Kibana 8.8")


def _check_dashboard(ctx: _Ctx, panels: Any, ref_names: dict[str, dict[str, Any]],
                     target: tuple[int, ...]) -> None:
    if not isinstance(panels, list):
        if panels is not None:
            ctx.add("panelsJSON must be a list")
        return
    indexes = set()
    for p in panels:
        if not isinstance(p, dict):
            ctx.add("panel is not an object")
            continue
        grid = p.get("gridData") or {}
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")) or not grid.get("i"):
            ctx.add(f"panel {p.get('panelIndex')}: gridData needs integer x, y, w, h and i")
        elif grid["x"] < 0 or grid["x"] + grid["w"] > 48:
            ctx.add(f"panel {p.get('panelIndex')}: outside the 48-column grid")
        if p.get("panelIndex") in indexes:
            ctx.add(f"panel index {p.get('panelIndex')} used twice")
        indexes.add(p.get("panelIndex"))
        ref = p.get("panelRefName")
        if ref is None:
            ctx.add(f"panel {p.get('panelIndex')}: no panelRefName (7.0+ dashboards reference their panels)")
        elif ref not in ref_names:
            ctx.add(f"panel {p.get('panelIndex')}: panelRefName {ref!r} is not a reference of the dashboard")
        pv = p.get("version")
        if isinstance(pv, str):
            try:
                if parse_version(pv) > tuple(target):
                    ctx.add(f"panel {p.get('panelIndex')}: version {pv} is newer than the target Kibana")
            except ValueError:
                ctx.add(f"panel {p.get('panelIndex')}: bad version {pv!r}")


def _need_aggregatable(ctx: _Ctx, tfields: dict[str, str], fname: Any, ds: str, why: str) -> None:
    if not isinstance(fname, str):
        ctx.add(f"{why}: field name missing")
        return
    es_type = tfields.get(fname)
    if es_type is None:
        ctx.add(f"{why}: field {fname!r} is not in the {ds} template")
    elif es_type not in fielddefs.AGGREGATABLE_TYPES:
        ctx.add(f"{why}: field {fname!r} is {es_type} in the {ds} template, not aggregatable")


def _check_vis(ctx: _Ctx, vis: Any, tfields: dict[str, str], ds: str) -> None:
    if not isinstance(vis, dict):
        return
    for key in ("title", "type", "params"):
        if key not in vis:
            ctx.add(f"visState has no {key!r}")
    aggs = vis.get("aggs") or []
    agg_ids = set()
    for agg in aggs:
        if not isinstance(agg, dict) or not {"id", "type", "schema", "params"} <= set(agg):
            ctx.add(f"agg {agg!r} needs id, type, schema, params")
            continue
        if agg["id"] in agg_ids:
            ctx.add(f"agg id {agg['id']} used twice")
        agg_ids.add(agg["id"])
        kind = agg["type"]
        params = agg["params"] if isinstance(agg["params"], dict) else {}
        if kind not in BUCKET_TYPES | METRIC_TYPES:
            ctx.add(f"agg {agg['id']}: unsupported type {kind!r}")
        if kind != "count" and kind != "filters":
            _need_aggregatable(ctx, tfields, params.get("field"), ds, f"agg {agg['id']} ({kind})")
        if kind == "date_histogram" and tfields.get(params.get("field")) not in ("date", "date_nanos", None):
            ctx.add(f"agg {agg['id']}: date_histogram on a non-date field {params.get('field')!r}")
        if kind == "filters":
            for f in params.get("filters") or []:
                inp = (f or {}).get("input") or {}
                if inp.get("language") != "lucene" and inp.get("query"):
                    ctx.add(f"agg {agg['id']}: filter {f!r} must be lucene (the query tests translate it)")
                for fname in lucene_fields(inp.get("query") or ""):
                    _need_aggregatable(ctx, tfields, fname, ds, f"agg {agg['id']} filter")
        order_agg = params.get("orderAgg")
        if params.get("orderBy") == "custom":
            if not isinstance(order_agg, dict):
                ctx.add(f"agg {agg['id']}: orderBy custom without orderAgg")
            elif order_agg.get("type") != "count":
                _need_aggregatable(ctx, tfields, (order_agg.get("params") or {}).get("field"), ds,
                                   f"agg {agg['id']} orderAgg")
    for agg in aggs:
        if isinstance(agg, dict) and agg.get("type") == "terms":
            ob = (agg.get("params") or {}).get("orderBy")
            if ob not in ("_key", "custom", "_count") and ob not in agg_ids:
                ctx.add(f"agg {agg['id']}: orderBy {ob!r} names no metric agg")
    params = vis.get("params") or {}
    for s in params.get("seriesParams") or []:
        sid = ((s or {}).get("data") or {}).get("id")
        if sid not in agg_ids:
            ctx.add(f"seriesParams names agg {sid!r}, which does not exist")


def _check_field_list(ctx: _Ctx, ds: str, fields: Any, formats: Any, time_field: Any) -> None:
    tfields = template_fields(ds)
    if not isinstance(fields, list):
        ctx.add("fields must be a JSON list")
        return
    names = set()
    for f in fields:
        name = (f or {}).get("name")
        names.add(name)
        if isinstance(name, str) and not name.startswith("_") and name not in tfields:
            ctx.add(f"field {name!r} of the data view is not in the {ds} template")
        elif name in tfields and bool(f.get("aggregatable")) != (tfields[name] in fielddefs.AGGREGATABLE_TYPES):
            ctx.add(f"field {name!r}: aggregatable flag disagrees with the template type {tfields[name]}")
    if time_field not in tfields or tfields.get(time_field) != "date":
        ctx.add(f"timeFieldName {time_field!r} is not a date field of the {ds} template")
    for name in formats or {}:
        if name not in tfields:
            ctx.add(f"fieldFormatMap names {name!r}, which is not in the {ds} template")


def undefined_dataset_fields(objs: Iterable[dict[str, Any]], dataset: str) -> set[str]:
    """Fields the visualisations of a dataset use that its template does not define (for skip messages)."""
    tfields = template_fields(dataset)
    used: set[str] = set()
    for o in objs:
        if o.get("type") != "visualization":
            continue
        refs = {r["name"]: r for r in o.get("references", [])}
        ref = refs.get("kibanaSavedObjectMeta.searchSourceJSON.index")
        if not ref or dataset_of_pattern(ref["id"]) != dataset:
            continue
        vis = orjson.loads(o["attributes"]["visState"])
        for agg in vis.get("aggs", []):
            p = agg.get("params") or {}
            if p.get("field"):
                used.add(p["field"])
            if isinstance(p.get("orderAgg"), dict):
                used.add((p["orderAgg"].get("params") or {}).get("field"))
            for f in p.get("filters") or []:
                used |= lucene_fields(((f or {}).get("input") or {}).get("query") or "")
        search = orjson.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        used |= lucene_fields((search.get("query") or {}).get("query") or "")
    return {f for f in used if f and f not in tfields}
