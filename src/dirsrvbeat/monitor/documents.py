"""Elasticsearch documents of one scrape (`event.dataset: dirsrv.monitor`, `event.kind: metric`).

`dirsrv.monitor.metricset` says what a document holds:

  scrape            one per scrape, also when the server is down: `dirsrv.monitor.up` 1/0, duration,
                    whether `connection` was readable, rule errors, warnings; `error.message` when down
  server            cn=monitor scalars (`dirsrv.monitor.server.*`) and cn=config tuning values
                    (`dirsrv.monitor.config.*`)
  snmp              cn=snmp,cn=monitor (`dirsrv.monitor.snmp.*`)
  database          the database-wide ldbm monitor (`dirsrv.monitor.database.*`)
  backend           one per backend (`dirsrv.monitor.backend.*`)
  disk              one per partition of cn=disk space,cn=monitor (`dirsrv.monitor.disk.*`)
  workload          one per workload: connections and summed per-connection counters
  histogram         one per (workload, histogram, bucket): the "bucketed gauge" form, charts on any
                    Elasticsearch/Kibana: `le` (+Inf as the largest double; `le_label` "+Inf"),
                    `count` (cumulative), `bucket_count` (this bucket only), `bucket_index`
  histogram_total   one per (workload, histogram): `count`, `sum`
  histogram_native  optional, ES >= 7.6 default distribution: the same histogram as an ES
                    `histogram` field (`dirsrv.monitor.histogram.native.{values,counts}`)

Counters also get `<field>_delta`, the increase since the previous scrape (absent on the first
one; after a server restart it is the count since the restart). `@timestamp` is the server's
`currenttime`; `event.id` is deterministic per (instance, scrape time, metricset, workload,
histogram, bucket), so a repeated run overwrites instead of duplicating.
"""

from __future__ import annotations

import hashlib
import math
from base64 import urlsafe_b64encode
from typing import Any

from .collector import Scrape
from .config import MonitorConfig
from .connection import version_tuple
from .histograms import INF_LE, HistogramSpec, format_le
from .metrics import BACKEND, DATABASE, INTERVAL_RATIOS, SERVER, SNMP, Metric

Doc = dict[str, Any]
DATASET = "dirsrv.monitor"


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class DocumentBuilder:
    def __init__(self, cfg: MonitorConfig, native_histograms: bool | None = None) -> None:
        self.cfg = cfg
        self.native = cfg.native_histograms if native_histograms is None else native_histograms
        self.host_name = cfg.resolved_host_name()
        self.instance = cfg.instance_key()
        self.specs: dict[str, HistogramSpec] = {s.name: s for s in cfg.histogram_specs}

    # ------------------------------------------------------------------ helpers
    def _event_id(self, scrape: Scrape, *parts: Any) -> str:
        stamp = scrape.server_time or scrape.timestamp
        raw = "|".join(str(p) for p in (self.instance, self.host_name, stamp, *parts))
        return urlsafe_b64encode(hashlib.blake2b(raw.encode("utf-8", "surrogatepass"),
                                                 digest_size=15).digest()).decode()

    def _base(self, scrape: Scrape, metricset: str, id_parts: tuple[Any, ...], monitor: dict[str, Any],
              workload: str | None = None) -> Doc:
        service: Doc = {"type": "dirsrv", "address": scrape.url}
        if self.cfg.service_name:
            service["name"] = self.cfg.service_name
        v = version_tuple(scrape.version)
        if v:
            service["version"] = ".".join(str(x) for x in v[:3]) + (f".{v[3]}" if len(v) > 3 and v[3] else "")
        dirsrv: Doc = {"monitor": {"metricset": metricset, **nest(monitor)}}
        if workload is not None:
            dirsrv["workload"] = workload
        return {
            "@timestamp": scrape.timestamp,
            "event": {"dataset": DATASET, "module": "dirsrv", "kind": "metric", "type": ["info"],
                      "action": "monitor", "id": self._event_id(scrape, metricset, *id_parts)},
            "service": service,
            "host": {"name": self.host_name},
            "dirsrv": dirsrv,
        }

    @staticmethod
    def _with_deltas(prefix: str, values: dict[str, Any], table: tuple[Metric, ...], scrape: Scrape,
                     state_prefix: str) -> dict[str, Any]:
        flat = {f"{prefix}.{k}": v for k, v in values.items()}
        deltas = scrape.deltas.counters if scrape.deltas else {}
        for m in table:
            if m.counter:
                d = deltas.get(f"{state_prefix}.{m.field}")
                if d is not None:
                    flat[f"{prefix}.{m.field}_delta"] = d
        return flat

    @staticmethod
    def _interval_ratios(flat: dict[str, Any], prefix: str, kind: str) -> None:
        for hits, tries, out in INTERVAL_RATIOS.get(kind, ()):
            h, t = flat.get(f"{prefix}.{hits}_delta"), flat.get(f"{prefix}.{tries}_delta")
            if h is not None and t:
                flat[f"{prefix}.{out}"] = round(100.0 * h / t, 3)

    def _interval(self, scrape: Scrape, flat: dict[str, Any]) -> dict[str, Any]:
        if scrape.deltas is not None and scrape.deltas.interval is not None:
            flat["interval"] = scrape.deltas.interval
        return flat

    # ------------------------------------------------------------------ documents
    def documents(self, scrape: Scrape) -> list[Doc]:
        docs = [self.scrape_doc(scrape)]
        if not scrape.ok:
            return docs
        docs.append(self.server_doc(scrape))
        if "snmp" in scrape.sections:
            flat = self._interval(scrape, self._with_deltas("snmp", scrape.sections["snmp"], SNMP, scrape,
                                                            "snmp"))
            docs.append(self._base(scrape, "snmp", (), flat))
        if "database" in scrape.sections:
            flat = self._with_deltas("database", scrape.sections["database"], DATABASE, scrape, "database")
            self._interval_ratios(flat, "database", "database")
            docs.append(self._base(scrape, "database", (), self._interval(scrape, flat)))
        for name, values in scrape.backends.items():
            flat = self._with_deltas("backend", values, BACKEND, scrape, f"backend.{name}")
            self._interval_ratios(flat, "backend", "backend")
            flat["backend.name"] = name
            docs.append(self._base(scrape, "backend", (name,), self._interval(scrape, flat)))
        for disk in scrape.disks:
            flat = {f"disk.{k}": v for k, v in disk.items()}
            docs.append(self._base(scrape, "disk", (disk["partition"],), flat))
        if scrape.connections_readable:
            docs.extend(self.workload_docs(scrape))
            docs.extend(self.histogram_docs(scrape))
        return docs

    def scrape_doc(self, scrape: Scrape) -> Doc:
        flat: dict[str, Any] = {"up": 1 if scrape.ok else 0,
                                "scrape.duration": round(scrape.duration, 6),
                                "scrape.attempts": scrape.attempts}
        if scrape.ok:
            flat["scrape.connections_readable"] = bool(scrape.connections_readable)
            if scrape.connections_readable:
                flat["scrape.connections"] = len(scrape.connections)
                flat["scrape.unparsed_connections"] = len(scrape.unparsed)
                flat["scrape.classify_errors"] = scrape.classify_errors
                flat["scrape.self_excluded"] = any(r.excluded for r in scrape.connections)
            if scrape.deltas is not None:
                flat["scrape.first"] = scrape.deltas.first
                flat["scrape.restarted"] = scrape.deltas.restarted
                if scrape.deltas.interval is not None:
                    flat["interval"] = scrape.deltas.interval
            warnings = list(scrape.warnings)
            if scrape.connections_message:
                warnings.insert(0, scrape.connections_message)
            if scrape.unparsed:
                warnings.append(f"{len(scrape.unparsed)} connection value(s) not parsed, first: "
                                f"{scrape.unparsed[0][1]}")
            if warnings:
                flat["scrape.warnings"] = warnings
        doc = self._base(scrape, "scrape", (), flat)
        if not scrape.ok:
            doc["error"] = {"message": scrape.error or "scrape failed"}
            doc["event"]["outcome"] = "failure"
        elif scrape.connections_readable is False:
            doc["error"] = {"message": scrape.connections_message}
            doc["event"]["outcome"] = "success"
        else:
            doc["event"]["outcome"] = "success"
        return doc

    def server_doc(self, scrape: Scrape) -> Doc:
        flat = self._with_deltas("server", scrape.sections.get("server", {}), SERVER, scrape, "server")
        for key, value in scrape.sections.get("config", {}).items():
            flat[f"config.{key}"] = value
        return self._base(scrape, "server", (), self._interval(scrape, flat))

    def workload_docs(self, scrape: Scrape) -> list[Doc]:
        docs = []
        for workload, stats in scrape.workloads.items():
            flat: dict[str, Any] = {f"workload.{k}": v for k, v in vars(stats).items() if v is not None}
            docs.append(self._base(scrape, "workload", (workload,), self._interval(scrape, flat), workload))
        return docs

    def histogram_docs(self, scrape: Scrape) -> list[Doc]:
        docs = []
        for name, per_workload in scrape.histograms.items():
            for workload, hist in per_workload.items():
                for index, (le, cumulative, count) in enumerate(hist.buckets()):
                    label = format_le(le)
                    flat = {"histogram.name": name, "histogram.le": INF_LE if math.isinf(le) else le,
                            "histogram.le_label": label, "histogram.bucket_index": index,
                            "histogram.count": cumulative, "histogram.bucket_count": count}
                    docs.append(self._base(scrape, "histogram", (workload, name, label), flat, workload))
                total = {"histogram.name": name, "histogram.count": hist.count,
                         "histogram.sum": round(hist.sum, 9)}
                docs.append(self._base(scrape, "histogram_total", (workload, name), total, workload))
                if self.native:
                    values, counts = hist.midpoints()
                    native = {"histogram.name": name, "histogram.count": hist.count,
                              "histogram.sum": round(hist.sum, 9),
                              "histogram.native": {"values": values, "counts": counts}}
                    docs.append(self._base(scrape, "histogram_native", (workload, name), native, workload))
        return docs

    # ------------------------------------------------------------------ diagnostics
    @staticmethod
    def connection_rows(scrape: Scrape) -> list[dict[str, Any]]:
        """The diagnostics view: every open connection and the workload it got."""
        rows = []
        for r in scrape.connections:
            c = r.conn
            v = r.variables
            rows.append({
                "conn_id": c.conn_id, "slot": c.slot, "workload": r.workload, "bind_dn": c.bind_dn,
                "ip": c.ip, "opened": c.start, "age_seconds": v["connection_age_seconds"],
                "ops_initiated": c.ops_initiated, "ops_completed": c.ops_completed,
                "ops_pending": v["ops_pending"], "threads_blocked": v["threads_blocked"],
                "max_threads_hits": v["max_threads_hits"], "at_max_threads": v["at_max_threads"],
                "read_waiting": c.read_waiting, "ops_delta": r.ops_delta, "is_self": r.is_self,
                "excluded": r.excluded, "layout": c.layout,
            })
        return rows


def native_histogram_fields() -> list[str]:
    """Fields marked `native_type: histogram` in fields/*.yml (mapped as `histogram` only where the
    server has that type: Elasticsearch >= 7.6, default distribution; elsewhere numeric arrays)."""
    from ..fielddefs import load_fields

    return [f.name for f in load_fields() if dict(f.extra).get("native_type") == "histogram"]


def native_histogram_overlay(properties: dict[str, Any]) -> dict[str, Any]:
    """Turn a mapping's `properties` (as built from fields/*.yml) into the ES >= 7.6 variant: every
    native histogram field becomes `{"type": "histogram"}`. Returns a modified deep copy."""
    import copy

    out = copy.deepcopy(properties)
    for name in native_histogram_fields():
        node = out
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {}).setdefault("properties", {})
        node[parts[-1]] = {"type": "histogram"}
    return out
