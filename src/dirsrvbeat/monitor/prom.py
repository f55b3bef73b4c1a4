"""Prometheus exposition of the last scrape (a prometheus-client custom collector).

The daemon scrapes on its own interval; `/metrics` renders the last result and never touches
LDAP, so a slow directory cannot stall Prometheus.

  dirsrv_up                                      1 when the last scrape read cn=monitor
  dirsrv_workload_<histogram>_bucket{workload,le} real Prometheus histograms of the open connections
  dirsrv_workload_<histogram>_sum / _count        (a snapshot per scrape: use histogram_quantile()
                                                  on the buckets directly, not on rate())
  dirsrv_workload_connections{workload}           ... and the other per-workload sums
  dirsrv_server_*, dirsrv_config_*, dirsrv_snmp_*, dirsrv_database_*, dirsrv_backend_*{backend},
  dirsrv_disk_*{partition}                       the scalars of the Elasticsearch documents
  dirsrv_monitor_*                               the collector itself (scrapes, failures, rule errors)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .collector import Collector, Scrape
from .connection import generalized_time
from .histograms import format_le
from .metrics import BACKEND, CONFIG, DATABASE, LDBM_CONFIG, SERVER, SNMP
from .metrics import Metric as Spec

_BAD = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(*parts: str) -> str:
    return _BAD.sub("_", "_".join(p.replace(".", "_") for p in parts if p))


def _family(name: str, spec: Spec | None, doc: str, labels: list[str] | None = None,
            counter: bool = False) -> Any:
    if counter or (spec is not None and spec.counter):
        base = name[:-len("_total")] if name.endswith("_total") else name
        return CounterMetricFamily(base, doc, labels=labels)
    return GaugeMetricFamily(name, doc, labels=labels)


class MonitorMetrics:
    """Register with `CollectorRegistry().register(MonitorMetrics(get_last, collector))`."""

    def __init__(self, last: Callable[[], Scrape | None], collector: Collector) -> None:
        self._last = last
        self._collector = collector

    def describe(self) -> list[Metric]:
        return []  # dynamic families: no describe-time collection

    def collect(self) -> Iterator[Metric]:
        col = self._collector
        scrape = self._last()
        yield _single(CounterMetricFamily, "dirsrv_monitor_scrapes", "Scrapes attempted.", col.total_scrapes)
        yield _single(CounterMetricFamily, "dirsrv_monitor_scrape_failures",
                      "Scrapes that could not read cn=monitor.", col.failed_scrapes)
        errors = CounterMetricFamily("dirsrv_monitor_rule_errors", "Rule evaluation errors (the rule was "
                                     "skipped for that connection).", labels=["rule", "workload"])
        for rule in col.classifier.rules:
            errors.add_metric([rule.name, rule.workload], rule.errors)
        yield errors
        if scrape is None:
            return
        yield _single(GaugeMetricFamily, "dirsrv_up", "1 when the last scrape read cn=monitor.",
                      1 if scrape.ok else 0)
        yield _single(GaugeMetricFamily, "dirsrv_monitor_scrape_duration_seconds",
                      "Duration of the last scrape.", scrape.duration)
        yield _single(GaugeMetricFamily, "dirsrv_monitor_last_scrape_timestamp_seconds",
                      "When the last scrape started (collector clock).", scrape.started_at)
        if not scrape.ok:
            return
        yield from self._scalars(scrape)
        yield _single(GaugeMetricFamily, "dirsrv_monitor_connections_readable",
                      "1 when the `connection` attribute was readable (0: ACI missing, no workloads).",
                      1 if scrape.connections_readable else 0)
        if scrape.connections_readable:
            yield _single(GaugeMetricFamily, "dirsrv_monitor_unparsed_connections",
                          "connection values that fit no known layout.", len(scrape.unparsed))
            yield from self._workloads(scrape)

    # ------------------------------------------------------------------ scalars
    def _scalars(self, scrape: Scrape) -> Iterator[Metric]:
        server = scrape.sections.get("server", {})
        if scrape.version:
            info = GaugeMetricFamily("dirsrv_server_info", "Server version.", labels=["version"])
            info.add_metric([scrape.version], 1)
            yield info
        for section, prefix, tables in (("server", "dirsrv_server", (SERVER,)),
                                        ("snmp", "dirsrv_snmp", (SNMP,)),
                                        ("database", "dirsrv_database", (DATABASE,))):
            values = scrape.sections.get(section) or {}
            for table in tables:
                for spec in table:
                    if spec.field in values:
                        fam = _family(metric_name(prefix, spec.field), spec, spec.description)
                        fam.add_metric([], values[spec.field])
                        yield fam
        for key, doc in (("ops.pending", "Operations in progress (initiated - completed)."),
                         ("uptime", "Seconds since the server started."),
                         ("thread_pool.busy", "Busy workers (threadpoolworker)."),
                         ("thread_pool.idle", "Idle workers (threadpoolworker)."),
                         ("thread_pool.exited", "Exited workers (threadpoolworker).")):
            if key in server:
                yield _single(GaugeMetricFamily, metric_name("dirsrv_server", key), doc, server[key])
        start = scrape.snapshot.get("starttime") if scrape.snapshot else None
        start_epoch = generalized_time(start) if start else None
        if start_epoch is not None:
            yield _single(GaugeMetricFamily, "dirsrv_server_start_time_seconds",
                          "Server start (epoch seconds).", start_epoch)
        config = scrape.sections.get("config") or {}
        for spec in CONFIG:
            if spec.field in config:
                yield _single(GaugeMetricFamily, metric_name("dirsrv_config", spec.field), spec.description,
                              config[spec.field])
        for spec in LDBM_CONFIG:
            key = f"ldbm.{spec.field}"
            if key in config:
                yield _single(GaugeMetricFamily, metric_name("dirsrv_config_ldbm", spec.field),
                              spec.description, config[key])
        if scrape.backends:
            for spec in BACKEND:
                fam = _family(metric_name("dirsrv_backend", spec.field), spec, spec.description, ["backend"])
                seen = False
                for name, values in scrape.backends.items():
                    if spec.field in values:
                        fam.add_metric([name], values[spec.field])
                        seen = True
                if seen:
                    yield fam
        if scrape.disks:
            for key, doc in (("size", "Partition size (bytes)."), ("used", "Used bytes."),
                             ("available", "Available bytes."), ("used_pct", "Used (%).")):
                fam = GaugeMetricFamily(metric_name("dirsrv_disk", key), doc, labels=["partition"])
                for disk in scrape.disks:
                    if key in disk:
                        fam.add_metric([disk["partition"]], disk[key])
                yield fam

    # ------------------------------------------------------------------ workloads
    def _workloads(self, scrape: Scrape) -> Iterator[Metric]:
        for key, doc in (("connections", "Open connections per workload."),
                         ("ops_initiated", "Operations received, summed over the open connections."),
                         ("ops_completed", "Operations completed, summed over the open connections."),
                         ("ops_pending", "Operations in progress, summed over the open connections."),
                         ("threads_blocked", "maxthreadsperconn blocks, summed over the open connections."),
                         ("max_threads_hits", "maxthreadsperconn hits, summed over the open connections."),
                         ("at_max_threads", "Open connections at maxthreadsperconn now."),
                         ("read_waiting", "Open connections with a PDU being read.")):
            fam = GaugeMetricFamily(metric_name("dirsrv_workload", key), doc, labels=["workload"])
            for workload, stats in scrape.workloads.items():
                fam.add_metric([workload], getattr(stats, key))
            yield fam
        specs = {s.name: s for s in self._collector.specs}
        for name, per_workload in scrape.histograms.items():
            spec = specs.get(name)
            doc = (spec.description if spec and spec.description else f"{name} of the open connections") \
                + " (snapshot of the open connections at the last scrape)"
            fam = HistogramMetricFamily(metric_name("dirsrv_workload", name), doc, labels=["workload"])
            for workload, hist in per_workload.items():
                buckets = [(format_le(le), cum) for le, cum, _ in hist.buckets()]
                fam.add_metric([workload], buckets, sum_value=hist.sum)
            yield fam


def _single(cls: Any, name: str, doc: str, value: float) -> Any:
    fam = cls(name, doc)
    fam.add_metric([], value)
    return fam
