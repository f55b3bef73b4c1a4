"""The Kibana saved objects, built in Python: data views (index patterns), visualisations, a saved
search and the two dashboards. `kibana/7/` in the repository is an export of `build()`.

Format: Kibana 7.x saved-object ndjson with `migrationVersion` set to the newest migration of each
type that Kibana 7.4.0 already knows (index-pattern 6.5.0, visualization 7.3.1, dashboard 7.3.0,
search 7.4.0), no `coreMigrationVersion`. Kibana imports an object of an older version by running
its own migrations, so the one file imports into every Kibana from 7.4 to 8.x (the documented rule:
same version, a newer minor of the same major, or the next major). Kibana 9 only imports 8.x
exports: see `SUPPORTED`.

Visualisations are aggregation-based (`visualization` type, `visState` with date_histogram, terms,
filters, percentiles, sum, avg, min, max), never Lens or TSVB: every Kibana of that range renders
them, and `dirsrvbeat.kibana.query` can translate each one into the Elasticsearch request Kibana
sends, which the tests run against the real Elasticsearch matrix. Queries are Lucene syntax
(`query_string`) for the same reason.

The objects only use fields that the generated index templates define with an aggregatable type
(`validate.check_fields`); with another index prefix the data-view ids and titles follow it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import fielddefs
from ..es import templates

# ------------------------------------------------------------------------------------------ versions
FORMAT = "7"  # the folder of kibana/ (Beats style: one folder per saved-object format)
MIGRATION_VERSIONS: dict[str, str] = {
    "index-pattern": "6.5.0",
    "visualization": "7.3.1",
    "dashboard": "7.3.0",
    "search": "7.4.0",
}
PANEL_VERSION = "7.3.0"  # panelsJSON "version": the dashboard panel format of 7.3
MIN_KIBANA = (7, 4, 0)   # the newest migration version above
MAX_KIBANA_MAJOR = 8     # 9.x imports only 8.x exports
SUPPORTED = "Kibana 7.4 → 8.x"

DATASET_TITLES = {"access": "operations", "connection": "connections", "monitor": "cn=monitor"}
TIME_FIELD = "@timestamp"
ACCESS_DASHBOARD = "access"    # object id: <prefix>-access
MONITOR_DASHBOARD = "monitor"  # object id: <prefix>-monitor

Obj = dict[str, Any]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


# ------------------------------------------------------------------------------------------ data views
KIBANA_TYPES = {"keyword": "string", "text": "string", "constant_keyword": "string", "wildcard": "string",
                "ip": "ip", "date": "date", "date_nanos": "date", "boolean": "boolean"}
NUMBER_TYPES = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float",
                "unsigned_long"}
META_FIELDS = (
    {"name": "_id", "type": "string", "esTypes": ["_id"], "searchable": True, "aggregatable": True,
     "readFromDocValues": False},
    {"name": "_index", "type": "string", "esTypes": ["_index"], "searchable": True, "aggregatable": True,
     "readFromDocValues": False},
    {"name": "_score", "type": "number", "searchable": False, "aggregatable": False, "readFromDocValues": False},
    {"name": "_source", "type": "_source", "esTypes": ["_source"], "searchable": False, "aggregatable": False,
     "readFromDocValues": False},
    {"name": "_type", "type": "string", "esTypes": ["_type"], "searchable": True, "aggregatable": True,
     "readFromDocValues": False},
)


def kibana_type(es_type: str) -> str:
    if es_type in NUMBER_TYPES:
        return "number"
    return KIBANA_TYPES.get(es_type, "string")


def index_pattern_fields(dataset: str) -> list[dict[str, Any]]:
    """The `fields` list of a data view: every field of the dataset's template (Kibana 7.x form)."""
    out: list[dict[str, Any]] = []
    for meta in META_FIELDS:
        out.append({"count": 0, "scripted": False, **meta})
    for f in templates.dataset_fields(dataset):
        if f.type == "object":
            continue
        aggregatable = f.type in fielddefs.AGGREGATABLE_TYPES
        out.append({"count": 0, "name": f.name, "type": kibana_type(f.type), "esTypes": [f.type],
                    "scripted": False, "searchable": True, "aggregatable": aggregatable,
                    "readFromDocValues": aggregatable})
    return out


def index_pattern_id(prefix: str, dataset: str) -> str:
    return f"{prefix}-{dataset}-*"


def dataset_of(title: str, prefix: str = "dirsrvbeat") -> str | None:
    """`<prefix>-access-*` -> `access`."""
    for ds in templates.DATASETS:
        if title == f"{prefix}-{ds}-*":
            return ds
    return None


def index_pattern(prefix: str, dataset: str) -> Obj:
    pattern = f"{prefix}-{dataset}-*"
    return {
        "attributes": {
            "fieldFormatMap": _json(FIELD_FORMATS.get(dataset, {})),
            "fields": _json(index_pattern_fields(dataset)),
            "timeFieldName": TIME_FIELD,
            "title": pattern,
        },
        "id": index_pattern_id(prefix, dataset),
        "migrationVersion": {"index-pattern": MIGRATION_VERSIONS["index-pattern"]},
        "references": [],
        "type": "index-pattern",
    }


# seconds shown with 6 decimals instead of Kibana's default 3 (etime of 0.000245 s is not "0")
_SECONDS = {"id": "number", "params": {"pattern": "0,0.[000000]"}}
FIELD_FORMATS: dict[str, dict[str, Any]] = {
    "access": {f"dirsrv.timing.{k}": _SECONDS for k in ("etime", "wtime", "optime", "wqtime", "writetime")},
    "connection": {"dirsrv.conn.etime_total": _SECONDS},
    "monitor": {},
}


# ------------------------------------------------------------------------------------------ aggs
def count(aid: str = "1", label: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"customLabel": label} if label else {}
    return {"id": aid, "enabled": True, "type": "count", "schema": "metric", "params": params}


def metric(aid: str, kind: str, fld: str, label: str | None = None, schema: str = "metric",
           **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"field": fld, **extra}
    if label:
        params["customLabel"] = label
    return {"id": aid, "enabled": True, "type": kind, "schema": schema, "params": params}


def percentiles(aid: str, fld: str, percents: Iterable[float] = (50, 90, 99), label: str | None = None
                ) -> dict[str, Any]:
    return metric(aid, "percentiles", fld, label, percents=list(percents))


def date_histogram(aid: str, interval: str = "auto", *, scale: bool = False, schema: str = "segment",
                   label: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"field": TIME_FIELD, "useNormalizedEsInterval": True,
                              "scaleMetricValues": scale, "interval": interval, "drop_partials": False,
                              "min_doc_count": 1, "extended_bounds": {}}
    if label:
        params["customLabel"] = label
    return {"id": aid, "enabled": True, "type": "date_histogram", "schema": schema, "params": params}


def terms(aid: str, fld: str, size: int, *, schema: str = "segment", order_by: str = "1", order: str = "desc",
          label: str | None = None, order_agg: dict[str, Any] | None = None, row: bool | None = None,
          other: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {"field": fld, "orderBy": order_by, "order": order, "size": size,
                              "otherBucket": other, "otherBucketLabel": "Other", "missingBucket": False,
                              "missingBucketLabel": "Missing"}
    if order_agg is not None:
        params["orderBy"] = "custom"
        params["orderAgg"] = {"id": f"{aid}-orderAgg", "enabled": True, "type": order_agg["type"],
                              "schema": "orderAgg", "params": dict(order_agg.get("params", {}))}
    if label:
        params["customLabel"] = label
    if row is not None:  # split charts: where the row/column choice lives up to Kibana 7.6
        params["row"] = row
    return {"id": aid, "enabled": True, "type": "terms", "schema": schema, "params": params}


def filters(aid: str, items: Iterable[tuple[str, str]], *, schema: str = "group") -> dict[str, Any]:
    """`filters` bucket agg; items: (label, Lucene query)."""
    return {"id": aid, "enabled": True, "type": "filters", "schema": schema,
            "params": {"filters": [{"input": {"query": q, "language": "lucene"}, "label": label}
                                   for label, q in items]}}


# ------------------------------------------------------------------------------------------ vis params
def _value_axis(title: str, *, mode: str = "normal", axis_id: str = "ValueAxis-1", position: str = "left",
                name: str = "LeftAxis-1") -> dict[str, Any]:
    return {"id": axis_id, "name": name, "type": "value", "position": position, "show": True, "style": {},
            "scale": {"type": "linear", "mode": mode}, "labels": {"show": True, "rotate": 0, "filter": False,
                                                                  "truncate": 100},
            "title": {"text": title}}


def xy_params(kind: str, series: list[tuple[str, str]], *, axis_title: str, stacked: bool = False,
              percentage: bool = False, legend: str = "right", horizontal: bool = False) -> dict[str, Any]:
    """Vislib params for `histogram`, `line`, `area` and `horizontal_bar` (7.x form)."""
    mode = "percentage" if percentage else "normal"
    series_type = "histogram" if kind in ("histogram", "horizontal_bar") else kind
    cat_axis = {"id": "CategoryAxis-1", "type": "category", "position": "left" if horizontal else "bottom",
                "show": True, "style": {}, "scale": {"type": "linear"},
                "labels": {"show": True, "filter": not horizontal, "truncate": 200 if horizontal else 100},
                "title": {}}
    value_axis = _value_axis(axis_title, mode=mode)
    if horizontal:
        value_axis.update(position="bottom", name="BottomAxis-1")
        value_axis["labels"] = {"show": True, "rotate": 75, "filter": True, "truncate": 100}
    return {
        "type": kind,
        "grid": {"categoryLines": False},
        "categoryAxes": [cat_axis],
        "valueAxes": [value_axis],
        "seriesParams": [{"show": True, "type": series_type, "mode": "stacked" if stacked else "normal",
                          "data": {"label": label, "id": sid}, "valueAxis": "ValueAxis-1",
                          "drawLinesBetweenPoints": True, "lineWidth": 2, "showCircles": True,
                          "interpolate": "linear"}
                         for sid, label in series],
        "addTooltip": True, "addLegend": True, "legendPosition": legend, "times": [],
        "addTimeMarker": False, "labels": {"show": False},
        "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
    }


def table_params(per_page: int = 10, sort_column: int | None = None) -> dict[str, Any]:
    return {"perPage": per_page, "showPartialRows": False, "showMetricsAtAllLevels": False,
            "sort": {"columnIndex": sort_column, "direction": "desc" if sort_column is not None else None},
            "showTotal": False, "totalFunc": "sum", "percentageCol": ""}


def pie_params() -> dict[str, Any]:
    return {"type": "pie", "addTooltip": True, "addLegend": True, "legendPosition": "right", "isDonut": True,
            "labels": {"show": False, "values": True, "last_level": True, "truncate": 100}}


# ------------------------------------------------------------------------------------------ objects
@dataclass
class Vis:
    id: str                 # without the prefix
    title: str
    dataset: str            # access | connection | monitor
    type: str               # histogram | line | area | table | pie | horizontal_bar | markdown
    aggs: list[dict[str, Any]]
    params: dict[str, Any]
    query: str = ""         # Lucene
    description: str = ""
    ui_state: dict[str, Any] = field(default_factory=dict)

    def object(self, prefix: str) -> Obj:
        vis_state = {"title": self.title, "type": self.type, "aggs": self.aggs, "params": self.params}
        search: dict[str, Any] = {"query": {"query": self.query, "language": "lucene"}, "filter": []}
        references = []
        if self.aggs:
            search["indexRefName"] = "kibanaSavedObjectMeta.searchSourceJSON.index"
            references.append({"id": index_pattern_id(prefix, self.dataset),
                               "name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern"})
        return {
            "attributes": {
                "description": self.description,
                "kibanaSavedObjectMeta": {"searchSourceJSON": _json(search)},
                "title": self.title,
                "uiStateJSON": _json(self.ui_state),
                "version": 1,
                "visState": _json(vis_state),
            },
            "id": f"{prefix}-{self.id}",
            "migrationVersion": {"visualization": MIGRATION_VERSIONS["visualization"]},
            "references": references,
            "type": "visualization",
        }


@dataclass
class SavedSearch:
    id: str
    title: str
    dataset: str
    columns: list[str]
    sort: list[list[str]]
    query: str
    description: str = ""

    def object(self, prefix: str) -> Obj:
        search = {"query": {"query": self.query, "language": "lucene"}, "filter": [], "highlightAll": True,
                  "version": True, "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"}
        return {
            "attributes": {"columns": self.columns, "description": self.description, "hits": 0,
                           "kibanaSavedObjectMeta": {"searchSourceJSON": _json(search)},
                           "sort": self.sort, "title": self.title, "version": 1},
            "id": f"{prefix}-{self.id}",
            "migrationVersion": {"search": MIGRATION_VERSIONS["search"]},
            "references": [{"id": index_pattern_id(prefix, self.dataset),
                            "name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern"}],
            "type": "search",
        }


@dataclass
class Panel:
    ref: str       # Vis.id or SavedSearch.id
    kind: str      # visualization | search
    x: int
    y: int
    w: int
    h: int


@dataclass
class Dashboard:
    id: str
    title: str
    description: str
    panels: list[Panel]
    time_from: str = "now-24h"

    def object(self, prefix: str) -> Obj:
        panels_json = []
        references = []
        for i, p in enumerate(self.panels):
            index = str(i + 1)
            ref_name = f"panel_{i}"
            panels_json.append({"version": PANEL_VERSION,
                                "gridData": {"x": p.x, "y": p.y, "w": p.w, "h": p.h, "i": index},
                                "panelIndex": index, "embeddableConfig": {}, "panelRefName": ref_name})
            references.append({"id": f"{prefix}-{p.ref}", "name": ref_name, "type": p.kind})
        search = {"query": {"query": "", "language": "lucene"}, "filter": []}
        return {
            "attributes": {
                "description": self.description, "hits": 0,
                "kibanaSavedObjectMeta": {"searchSourceJSON": _json(search)},
                "optionsJSON": _json({"useMargins": True, "hidePanelTitles": False}),
                "panelsJSON": _json(panels_json),
                "refreshInterval": {"pause": True, "value": 0},
                "timeFrom": self.time_from, "timeRestore": True, "timeTo": "now",
                "title": self.title, "version": 1,
            },
            "id": f"{prefix}-{self.id}",
            "migrationVersion": {"dashboard": MIGRATION_VERSIONS["dashboard"]},
            "references": references,
            "type": "dashboard",
        }


# ------------------------------------------------------------------------------------------ content
ETIME = "dirsrv.timing.etime"
WTIME = "dirsrv.timing.wtime"
MON = "dirsrv.monitor"
HIST = f"{MON}.histogram"
UNINDEXED_Q = "_exists_:dirsrv.search.unindexed"


def _access_visualisations() -> list[Vis]:
    return [
        Vis("ops-per-second", "[dirsrv] Operations per second by type", "access", "histogram",
            [count("1", "operations / s"), date_histogram("2", "s", scale=True),
             terms("3", "dirsrv.op.type", 12, schema="group", label="operation")],
            xy_params("histogram", [("1", "operations / s")], axis_title="operations / s", stacked=True),
            query="dirsrv.op.internal:false",
            description="Client operations per second, stacked by type (BIND, SRCH, MOD, ...). "
                        "Scaled to seconds whatever the bucket size."),
        Vis("etime-percentiles", "[dirsrv] etime percentiles (s)", "access", "line",
            [percentiles("1", ETIME, (50, 90, 99), "etime"), date_histogram("2")],
            xy_params("line", [("1", "etime")], axis_title="seconds", legend="bottom"),
            query="dirsrv.op.internal:false AND _exists_:dirsrv.timing.etime",
            description="Operation elapsed time (receipt to result), 50th/90th/99th percentile."),
        Vis("wtime-percentiles", "[dirsrv] wtime percentiles (s)", "access", "line",
            [percentiles("1", WTIME, (50, 90, 99), "wtime"), date_histogram("2")],
            xy_params("line", [("1", "wtime")], axis_title="seconds", legend="bottom"),
            query="dirsrv.op.internal:false AND _exists_:dirsrv.timing.wtime",
            description="Time an operation waited for a worker thread (wtime), 50th/90th/99th percentile."),
        Vis("filter-shapes-by-etime", "[dirsrv] Filter shapes by total etime", "access", "table",
            [metric("1", "sum", ETIME, "total etime (s)"), count("2", "searches"),
             metric("3", "avg", ETIME, "mean etime (s)"), metric("4", "max", ETIME, "max etime (s)"),
             terms("5", "dirsrv.search.filter_shape", 20, schema="bucket", label="filter shape")],
            table_params(10), query="dirsrv.op.type:SRCH",
            description="Generalised search filters (values removed) ranked by the time the server spent "
                        "on them: where an index or a client fix pays most."),
        Vis("filter-shapes-by-count", "[dirsrv] Filter shapes by count", "access", "table",
            [count("1", "searches"), metric("2", "sum", ETIME, "total etime (s)"),
             metric("3", "avg", ETIME, "mean etime (s)"),
             terms("4", "dirsrv.search.filter_shape", 20, schema="bucket", label="filter shape")],
            table_params(10), query="dirsrv.op.type:SRCH",
            description="The most frequent generalised search filters."),
        Vis("unindexed-searches", "[dirsrv] Unindexed searches", "access", "table",
            [count("1", "searches"), metric("2", "sum", ETIME, "total etime (s)"),
             metric("3", "max", ETIME, "max etime (s)"),
             terms("4", "dirsrv.search.unindexed", 2, schema="bucket", label="unindexed"),
             terms("5", "dirsrv.search.filter_shape", 10, schema="bucket", label="filter shape"),
             terms("6", "dirsrv.search.base", 5, schema="bucket", label="base"),
             terms("7", "dirsrv.bind.dn", 5, schema="bucket", label="bind DN"),
             terms("8", "source.address", 5, schema="bucket", label="client")],
            table_params(10), query=UNINDEXED_Q,
            description="Searches with notes=A (full) or notes=U (partial): filter shape, base, who sent "
                        "them and from where. source.address is `local` for LDAPI."),
        Vis("result-codes", "[dirsrv] Result codes", "access", "pie",
            [count("1", "operations"), terms("2", "dirsrv.result.name", 15, schema="segment", label="result")],
            pie_params(), query="_exists_:dirsrv.result.code",
            description="LDAP result codes by name."),
        Vis("wtime-by-bind-dn", "[dirsrv] Who waits for workers: wtime by bind DN", "access", "horizontal_bar",
            [metric("1", "sum", WTIME, "total wtime (s)"),
             terms("2", "dirsrv.bind.dn", 15, schema="segment", label="bind DN")],
            xy_params("horizontal_bar", [("1", "total wtime (s)")], axis_title="total wtime (s)",
                      horizontal=True, legend="bottom"),
            query="_exists_:dirsrv.timing.wtime",
            description="Total time the operations of each bind DN spent waiting for a worker thread."),
        Vis("close-codes", "[dirsrv] Connection close codes", "connection", "table",
            [count("1", "connections"), terms("2", "dirsrv.close.code", 15, schema="bucket", label="code"),
             terms("3", "dirsrv.close.name", 3, schema="bucket", label="meaning")],
            table_params(10), query="_exists_:dirsrv.close.code",
            description="How connections ended: U1 clean unbind, B1 bad BER/closed by client, T1/T2 "
                        "idle/IO-block timeouts, A1 abandoned ..."),
        Vis("top-bind-dns", "[dirsrv] Top bind DNs", "access", "table",
            [count("1", "operations"), metric("2", "sum", ETIME, "total etime (s)"),
             terms("3", "dirsrv.bind.dn", 15, schema="bucket", label="bind DN")],
            table_params(10), query="dirsrv.op.internal:false",
            description="Bind DNs by operations sent (\"\" = anonymous)."),
        Vis("top-clients", "[dirsrv] Top clients", "access", "table",
            [count("1", "operations"), metric("2", "sum", ETIME, "total etime (s)"),
             terms("3", "source.address", 15, schema="bucket", label="client")],
            table_params(10), query="dirsrv.op.internal:false",
            description="Client addresses by operations sent (`local` = LDAPI)."),
    ]


HISTOGRAMS = (
    ("ops_per_connection", "operations per open connection"),
    ("connection_age_seconds", "age of the open connections (s)"),
    ("blocked_ratio", "threads_blocked / ops_initiated per connection"),
)


def _histogram_visualisations() -> list[Vis]:
    out = []
    for name, what in HISTOGRAMS:
        q = f"{MON}.metricset:histogram AND {HIST}.name:{name}"
        out.append(Vis(
            f"histogram-{name.replace('_', '-')}", f"[dirsrv] Workload histogram: {name}", "monitor", "histogram",
            [terms("4", "dirsrv.workload", 6, schema="split", label="workload", order_by="_key", order="asc",
                   row=True),
             metric("1", "avg", f"{HIST}.bucket_count", "connections"), date_histogram("2"),
             terms("3", f"{HIST}.le_label", 20, schema="group", label="le", order="asc",
                   order_agg={"type": "min", "params": {"field": f"{HIST}.bucket_index"}})],
            xy_params("histogram", [("1", "connections")], axis_title="connections", stacked=True),
            query=q, description=f"Open connections per bucket (le = upper bound) of {what}, one chart per "
                                 "workload (the bucketed gauge documents; mean over the scrapes of a bar)."))
        out.append(Vis(
            f"histogram-{name.replace('_', '-')}-low-share",
            f"[dirsrv] Share in the two lowest buckets: {name}", "monitor", "area",
            [terms("4", "dirsrv.workload", 6, schema="split", label="workload", order_by="_key", order="asc",
                   row=True),
             metric("1", "sum", f"{HIST}.bucket_count", "connections"), date_histogram("2"),
             filters("3", [("two lowest buckets", f"{HIST}.bucket_index:[0 TO 1]"),
                           ("higher buckets", f"{HIST}.bucket_index:[2 TO *]")])],
            xy_params("area", [("1", "connections")], axis_title="share of connections", stacked=True,
                      percentage=True),
            query=q, description=f"Share of the open connections in the two lowest buckets of {what}, "
                                 "per workload."))
    return out


def _monitor_visualisations() -> list[Vis]:
    server = f"{MON}.server"
    return [
        Vis("connections-per-workload", "[dirsrv] Open connections per workload", "monitor", "area",
            [metric("1", "avg", f"{MON}.workload.connections", "connections"), date_histogram("2"),
             terms("3", "dirsrv.workload", 10, schema="group", label="workload")],
            xy_params("area", [("1", "connections")], axis_title="open connections", stacked=True),
            query=f"{MON}.metricset:workload",
            description="Open connections by workload class (the CEL classifier rules)."),
        *_histogram_visualisations(),
        Vis("threads", "[dirsrv] Threads and open connections", "monitor", "line",
            [metric("1", "max", f"{server}.threads", "threads"),
             metric("3", "max", f"{server}.connections.current", "open connections"), date_histogram("2")],
            xy_params("line", [("1", "threads"), ("3", "open connections")], axis_title="count"),
            query=f"{MON}.metricset:server",
            description="cn=monitor threads (workers plus listener/housekeeping) and currentconnections."),
        Vis("readwaiters", "[dirsrv] Read waiters and connections at max threads", "monitor", "line",
            [metric("1", "max", f"{server}.readwaiters", "readwaiters"),
             metric("3", "max", f"{server}.connections.at_max_threads", "currentconnectionsatmaxthreads"),
             date_histogram("2")],
            xy_params("line", [("1", "readwaiters"), ("3", "currentconnectionsatmaxthreads")],
                      axis_title="connections"),
            query=f"{MON}.metricset:server",
            description="Connections handed to a thread to read a PDU, and connections using "
                        "nsslapd-maxthreadsperconn threads right now."),
        Vis("maxthreadsperconn-hits", "[dirsrv] maxthreadsperconn hits", "monitor", "histogram",
            [metric("1", "sum", f"{server}.max_threads_per_conn_hits_delta", "maxthreadsperconnhits"),
             date_histogram("2")],
            xy_params("histogram", [("1", "maxthreadsperconnhits")], axis_title="hits per bar"),
            query=f"{MON}.metricset:server",
            description="Times a connection reached nsslapd-maxthreadsperconn (increase of "
                        "maxthreadsperconnhits since the previous scrape, summed per bar)."),
        Vis("operation-rates", "[dirsrv] Operations received and completed", "monitor", "line",
            [metric("1", "sum", f"{server}.ops.initiated_delta", "opsinitiated"),
             metric("3", "sum", f"{server}.ops.completed_delta", "opscompleted"), date_histogram("2")],
            xy_params("line", [("1", "opsinitiated"), ("3", "opscompleted")], axis_title="operations per bar"),
            query=f"{MON}.metricset:server",
            description="Operations received and completed (increase since the previous scrape, summed per "
                        "bar)."),
    ]


def visualisations() -> list[Vis]:
    return _access_visualisations() + _monitor_visualisations()


def saved_searches() -> list[SavedSearch]:
    return [SavedSearch(
        "unindexed-search-list", "[dirsrv] Unindexed searches (operations)", "access",
        ["dirsrv.search.unindexed", "dirsrv.search.filter", "dirsrv.search.base", "dirsrv.bind.dn",
         "source.address", ETIME, "dirsrv.result.nentries"],
        [[ETIME, "desc"]], UNINDEXED_Q,
        description="Every unindexed search, slowest first.")]


def dashboards() -> list[Dashboard]:
    def grid(refs: list[tuple[str, str, int, int]]) -> list[Panel]:
        """Lay panels out left to right in rows of 48 columns: (ref, kind, width, height)."""
        panels, x, y, row_h = [], 0, 0, 0
        for ref, kind, w, h in refs:
            if x + w > 48:
                x, y, row_h = 0, y + row_h, 0
            panels.append(Panel(ref, kind, x, y, w, h))
            x += w
            row_h = max(row_h, h)
        return panels

    v = "visualization"
    access = Dashboard(ACCESS_DASHBOARD, "[dirsrv] Access log", "389 DS operations and connections from the "
                       "access log: load, latency, expensive and unindexed searches, results, worker waits.",
                       grid([("ops-per-second", v, 48, 12),
                             ("etime-percentiles", v, 24, 12), ("wtime-percentiles", v, 24, 12),
                             ("filter-shapes-by-etime", v, 24, 15), ("filter-shapes-by-count", v, 24, 15),
                             ("unindexed-searches", v, 48, 15),
                             ("result-codes", v, 16, 13), ("wtime-by-bind-dn", v, 16, 13), ("close-codes", v, 16, 13),
                             ("top-bind-dns", v, 24, 13), ("top-clients", v, 24, 13),
                             ("unindexed-search-list", "search", 48, 15)]))
    hist = []
    for name, _what in HISTOGRAMS:
        slug = name.replace("_", "-")
        hist += [(f"histogram-{slug}", v, 28, 18), (f"histogram-{slug}-low-share", v, 20, 18)]
    monitor = Dashboard(MONITOR_DASHBOARD, "[dirsrv] cn=monitor workloads", "389 DS cn=monitor: open "
                        "connections per workload, each workload's histograms (bucketed gauges), threads, "
                        "read waiters, maxthreadsperconn and operation rates.",
                        grid([("connections-per-workload", v, 48, 12), *hist,
                              ("threads", v, 24, 12), ("readwaiters", v, 24, 12),
                              ("maxthreadsperconn-hits", v, 24, 12), ("operation-rates", v, 24, 12)]))
    return [access, monitor]


# ------------------------------------------------------------------------------------------ build
def build(prefix: str = "dirsrvbeat") -> list[Obj]:
    """Every saved object, in import order (data views, searches, visualisations, dashboards)."""
    objs: list[Obj] = [index_pattern(prefix, ds) for ds in ("access", "connection", "monitor")]
    objs += [s.object(prefix) for s in saved_searches()]
    objs += [vis.object(prefix) for vis in visualisations()]
    objs += [d.object(prefix) for d in dashboards()]
    return copy.deepcopy(objs)


def to_ndjson(objs: Iterable[Obj]) -> bytes:
    """One object per line, keys sorted (stable diffs), no export summary line."""
    return b"".join(orjson.dumps(o, option=orjson.OPT_SORT_KEYS) + b"\n" for o in objs)


def by_id(objs: Iterable[Obj]) -> dict[tuple[str, str], Obj]:
    return {(o["type"], o["id"]): o for o in objs}
