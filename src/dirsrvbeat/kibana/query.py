"""Run a saved visualisation's aggregations against Elasticsearch, the way Kibana does.

`build_request()` turns a `visualization` object (its `visState` and the Lucene query of its
search source) into the `_search` body Kibana's aggregation-based visualisations send: a time
range filter on the data view's time field plus the query, bucket aggregations nested in the order
of `visState.aggs` (date_histogram, terms with count/metric/_key/custom ordering, filters) and the
metric aggregations (count, sum, avg, min, max, percentiles) at the innermost level (and under a
terms agg that is ordered by them). `tabify()` flattens the answer into rows, one per innermost
bucket, as Kibana's data table does. Used by the integration tests (every visualisation must give
non-empty buckets on the real Elasticsearch matrix) and by tools/render_dashboards.py.

Intervals follow Kibana's rules closely enough for that purpose: `auto` aims at ~50 bars, an
explicit interval is widened to at most 100 bars and, with `scaleMetricValues`, count/sum are
divided back to the requested unit ("per second").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson

BAR_TARGET = 50
MAX_BARS = 100
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000,
            "M": 30 * 86_400_000, "y": 365 * 86_400_000}
NICE_MS = [1000, 5000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 3 * 3_600_000,
           12 * 3_600_000, 86_400_000, 7 * 86_400_000, 30 * 86_400_000, 365 * 86_400_000]
SCALABLE = {"count", "sum"}


@dataclass
class Agg:
    id: str
    type: str
    schema: str
    params: dict[str, Any]
    label: str


@dataclass
class Request:
    index: str
    body: dict[str, Any]
    buckets: list[Agg]
    metrics: list[Agg]
    interval_ms: int | None = None
    scale: float = 1.0            # multiply count/sum by this (scaleMetricValues)
    time_from: str = ""
    time_to: str = ""


@dataclass
class Row:
    keys: list[Any]
    values: dict[str, Any] = field(default_factory=dict)   # metric label -> value
    doc_count: int = 0


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def parse_interval(text: str) -> int | None:
    """`s`, `m`, `1h`, `30s`, `d` -> milliseconds; `auto` -> None."""
    if text in ("auto", "", None):
        return None
    m = re.fullmatch(r"(\d*)(ms|s|m|h|d|w|M|y)", text)
    if not m:
        raise ValueError(f"unsupported date_histogram interval {text!r}")
    return int(m.group(1) or 1) * _UNIT_MS[m.group(2)]


def choose_interval(range_ms: int, requested: str, scale_metrics: bool) -> tuple[int, float]:
    """(bucket size in ms, factor for scaled metrics)."""
    want = parse_interval(requested)
    if want is None:
        target = range_ms / BAR_TARGET
        return next((n for n in NICE_MS if n >= target), NICE_MS[-1]), 1.0
    if range_ms / want <= MAX_BARS:
        return want, 1.0
    target = range_ms / MAX_BARS
    size = next((n for n in NICE_MS if n >= target and n % want == 0), NICE_MS[-1])
    return size, (want / size) if scale_metrics else 1.0


def _label(agg: dict[str, Any]) -> str:
    p = agg.get("params") or {}
    if p.get("customLabel"):
        return str(p["customLabel"])
    if agg["type"] == "count":
        return "Count"
    return f"{agg['type']} of {p.get('field')}"


def _lucene(query: str) -> dict[str, Any]:
    return {"query_string": {"query": query, "analyze_wildcard": True}}


def _metric_dsl(agg: Agg) -> dict[str, Any] | None:
    p = agg.params
    if agg.type == "count":
        return None
    if agg.type == "percentiles":
        return {"percentiles": {"field": p["field"], "percents": p.get("percents", [50]), "keyed": False}}
    if agg.type in ("sum", "avg", "min", "max", "cardinality", "value_count"):
        return {agg.type: {"field": p["field"]}}
    raise ValueError(f"metric agg {agg.type!r} is not supported by the translator")


def build_request(vis_obj: dict[str, Any], index_pattern: dict[str, Any], *, time_from: str, time_to: str,
                  es_version: tuple[int, ...], index: str | None = None) -> Request:
    """The `_search` request Kibana would send for a visualisation (size 0, aggregations only)."""
    attrs = vis_obj["attributes"]
    vis = orjson.loads(attrs["visState"])
    search = orjson.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
    ip_attrs = index_pattern["attributes"]
    time_field = ip_attrs.get("timeFieldName") or "@timestamp"
    aggs = [Agg(a["id"], a["type"], a["schema"], a.get("params") or {}, _label(a))
            for a in vis.get("aggs", []) if a.get("enabled", True)]
    buckets = [a for a in aggs if a.schema not in ("metric", "radius")]
    metrics = [a for a in aggs if a.schema in ("metric", "radius")]
    range_ms = max(1, _ms(time_to) - _ms(time_from))
    filt: list[dict[str, Any]] = [{"range": {time_field: {"gte": time_from, "lte": time_to,
                                                          "format": "strict_date_optional_time"}}}]
    q = (search.get("query") or {})
    if q.get("query"):
        if q.get("language", "lucene") != "lucene":
            raise ValueError(f"only Lucene queries are translated, not {q.get('language')!r}")
        filt.append(_lucene(q["query"]))
    req = Request(index=index or ip_attrs["title"], body={}, buckets=buckets, metrics=metrics,
                  time_from=time_from, time_to=time_to)
    metric_by_id = {m.id: m for m in metrics}

    def leaf_metrics() -> dict[str, Any]:
        out = {}
        for m in metrics:
            dsl = _metric_dsl(m)
            if dsl is not None:
                out[m.id] = dsl
        return out

    inner: dict[str, Any] = leaf_metrics()
    for b in reversed(buckets):
        p = b.params
        sub = dict(inner)
        if b.type == "date_histogram":
            size, scale = choose_interval(range_ms, p.get("interval", "auto"), bool(p.get("scaleMetricValues")))
            req.interval_ms, req.scale = size, scale
            key = "fixed_interval" if tuple(es_version[:2]) >= (7, 2) else "interval"
            dsl: dict[str, Any] = {"date_histogram": {"field": p.get("field", time_field), key: f"{size // 1000}s",
                                                      "time_zone": "UTC", "min_doc_count": p.get("min_doc_count", 1)}}
        elif b.type == "terms":
            order_by = p.get("orderBy", "_count")
            direction = p.get("order", "desc")
            if order_by == "_key":
                order = {"_key": direction}
            elif order_by == "custom":
                oa = p["orderAgg"]
                name = f"{b.id}-orderAgg"
                odsl = _metric_dsl(Agg(name, oa["type"], "orderAgg", oa.get("params") or {}, name))
                if odsl is None:
                    order = {"_count": direction}
                else:
                    sub[name] = odsl
                    order = {name: direction}
            elif order_by in metric_by_id and metric_by_id[order_by].type != "count":
                m = metric_by_id[order_by]
                if m.type == "percentiles":
                    raise ValueError("terms ordered by percentiles is not supported by the translator")
                sub[m.id] = _metric_dsl(m)
                order = {m.id: direction}
            else:
                order = {"_count": direction}
            dsl = {"terms": {"field": p["field"], "size": int(p.get("size", 5)), "order": order}}
        elif b.type == "filters":
            dsl = {"filters": {"filters": {
                (f.get("label") or f["input"].get("query") or "*"): (
                    _lucene(f["input"]["query"]) if f["input"].get("query") else {"match_all": {}})
                for f in p.get("filters", [])}}}
        else:
            raise ValueError(f"bucket agg {b.type!r} is not supported by the translator")
        if sub:
            dsl["aggs"] = sub
        inner = {b.id: dsl}
    req.body = {"size": 0, "query": {"bool": {"filter": filt}}, "aggs": inner}
    if tuple(es_version[:1]) >= (7,):
        req.body["track_total_hits"] = True
    return req


def _metric_values(node: dict[str, Any], metrics: list[Agg], scale: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metrics:
        if m.type == "count":
            v: Any = node.get("doc_count", 0)
            out[m.label] = v * scale if scale != 1.0 else v
        elif m.type == "percentiles":
            values = (node.get(m.id) or {}).get("values") or []
            for item in values:
                pct = item["key"]
                pct_label = f"{int(pct) if float(pct).is_integer() else pct}th percentile of {m.label}"
                out[pct_label] = item.get("value")
        else:
            v = (node.get(m.id) or {}).get("value")
            if v is not None and m.type in SCALABLE and scale != 1.0:
                v = v * scale
            out[m.label] = v
    return out


def tabify(req: Request, response: dict[str, Any]) -> list[Row]:
    """One row per innermost bucket: the bucket keys (outermost first) and the metric values."""
    rows: list[Row] = []

    def walk(node: dict[str, Any], level: int, keys: list[Any]) -> None:
        if level == len(req.buckets):
            rows.append(Row(keys=keys, values=_metric_values(node, req.metrics, req.scale),
                            doc_count=int(node.get("doc_count", 0))))
            return
        b = req.buckets[level]
        raw = (node.get(b.id) or {}).get("buckets", [])
        if isinstance(raw, dict):  # filters: in the order the visualisation defines them, as Kibana shows them
            labels = [f.get("label") or f["input"].get("query") or "*" for f in b.params.get("filters", [])]
            items = [(k, raw[k]) for k in labels if k in raw] + [(k, v) for k, v in raw.items() if k not in labels]
        else:
            items = [(x.get("key"), x) for x in raw]
        for key, bucket in items:
            if b.type == "filters" and not bucket.get("doc_count"):
                continue
            walk(bucket, level + 1, [*keys, key])

    aggs = response.get("aggregations") or {}
    walk({**aggs, "doc_count": _total(response)}, 0, [])
    return rows


def _total(response: dict[str, Any]) -> int:
    total = (response.get("hits") or {}).get("total", 0)
    return int(total.get("value", 0) if isinstance(total, dict) else total)


def run(client: Any, vis_obj: dict[str, Any], index_pattern: dict[str, Any], *, time_from: str, time_to: str,
        index: str | None = None) -> tuple[Request, dict[str, Any], list[Row]]:
    """Send the request with a `dirsrvbeat.es.client.EsClient`; returns (request, raw answer, rows)."""
    version = client.info().version
    req = build_request(vis_obj, index_pattern, time_from=time_from, time_to=time_to, es_version=version,
                        index=index)
    response = client.search(req.index, req.body)
    return req, response, tabify(req, response)


def utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
