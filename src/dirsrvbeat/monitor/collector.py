"""One scrape: read (with retries) -> parse `connection` -> classify -> histograms -> deltas.

`Collector.scrape()` never raises for a server that is down, slow or refusing: it returns a
`Scrape` with `ok=False` and the reason, from which the documents and metrics say `up=0`.
`Collector.process(snapshot)` is the part after the read; the LDIF replay and the tests use it
directly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from ..processors.classify import Classifier, monitor_variables, normalise_dn
from .config import MonitorConfig
from .connection import (
    ANONYMOUS_DN,
    MonitorConnection,
    generalized_time,
    generalized_time_iso,
    parse_connections,
    parse_threadpoolworker,
)
from .histograms import Histogram, HistogramSpec
from .metrics import BACKEND, CONFIG, DATABASE, LDBM_CONFIG, SERVER, SNMP, extract, number
from .reader import LdapReader, ScrapeError
from .snapshot import Snapshot
from .state import Deltas, MonitorState, StateStore, compute_deltas

log = logging.getLogger("dirsrvbeat.monitor")

ACI_HINT = ('only Directory Manager, or a DN given an ACI, can read it: `dirsrvbeat monitor aci "{dn}"` prints '
            'the LDIF to apply as Directory Manager (on cn=monitor: (targetattr = "connection")(version 3.0; '
            'acl "dirsrvbeat monitor: connection"; allow (read, search, compare) userdn = "ldap:///{dn}";))')


@dataclass
class ConnRecord:
    conn: MonitorConnection
    variables: dict[str, Any]
    workload: str
    is_self: bool = False
    excluded: bool = False
    ops_delta: int | None = None


@dataclass
class WorkloadStats:
    connections: int = 0
    ops_initiated: int = 0
    ops_completed: int = 0
    ops_pending: int = 0
    threads_blocked: int = 0
    max_threads_hits: int = 0
    at_max_threads: int = 0
    read_waiting: int = 0
    ops_initiated_delta: int | None = None


@dataclass
class Scrape:
    ok: bool
    url: str
    started_at: float                       # collector clock (epoch seconds)
    duration: float = 0.0
    error: str | None = None
    snapshot: Snapshot | None = None
    server_epoch: int | None = None
    server_time: str | None = None          # currenttime as GeneralizedTime
    timestamp: str = ""                     # @timestamp: the server's currenttime (collector clock if down)
    version: str | None = None
    connections_readable: bool | None = None
    connections_message: str | None = None
    connections: list[ConnRecord] = field(default_factory=list)
    unparsed: list[tuple[str, str]] = field(default_factory=list)
    histograms: dict[str, dict[str, Histogram]] = field(default_factory=dict)
    workloads: dict[str, WorkloadStats] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    disks: list[dict[str, Any]] = field(default_factory=list)
    deltas: Deltas | None = None
    classify_errors: int = 0
    warnings: list[str] = field(default_factory=list)
    attempts: int = 1


def _iso(epoch: float) -> str:
    t = time.gmtime(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(epoch % 1 * 1000):03d}+00:00"


class Collector:
    def __init__(self, cfg: MonitorConfig, reader: Any = None, state: StateStore | None = None,
                 keep_open: bool = False) -> None:
        self.cfg = cfg
        self.reader = reader if reader is not None else LdapReader(cfg, keep_open=keep_open)
        self.state = state if state is not None else StateStore(cfg.state_dir, cfg.instance_key())
        self.classifier = Classifier(cfg.compiled_rules, default_workload=cfg.default_workload)
        self.specs: list[HistogramSpec] = list(cfg.histogram_specs)
        self.total_scrapes = 0
        self.failed_scrapes = 0
        self._warned_acl = False
        self._self_key: str | None = None

    # ------------------------------------------------------------------ reading
    def scrape(self) -> Scrape:
        started_at = time.time()
        t0 = time.monotonic()
        attempts = 0
        cfg = self.cfg

        def read() -> Snapshot:
            nonlocal attempts
            attempts += 1
            return self.reader.read()

        retrying = Retrying(
            stop=stop_after_attempt(cfg.retries + 1) | stop_after_delay(cfg.timeout * (cfg.retries + 1)),
            wait=wait_exponential(multiplier=0.25, min=0.25, max=min(5.0, cfg.timeout)),
            retry=retry_if_exception(lambda e: isinstance(e, ScrapeError) and e.retryable),
            reraise=True)
        self.total_scrapes += 1
        try:
            snap = retrying(read)
        except Exception as exc:  # ScrapeError, RetryError, or a bug: up=0, never a crash
            self.failed_scrapes += 1
            message = str(exc) if isinstance(exc, (ScrapeError, RetryError)) else \
                f"internal error while reading: {exc.__class__.__name__}: {exc}"
            log.warning("scrape of %s failed after %d attempt(s): %s", cfg.url, attempts, message)
            return Scrape(ok=False, url=cfg.url, started_at=started_at, duration=time.monotonic() - t0,
                          error=message, timestamp=_iso(started_at), attempts=attempts)
        scrape = self.process(snap, started_at=started_at)
        scrape.duration = time.monotonic() - t0
        scrape.attempts = attempts
        return scrape

    def close(self) -> None:
        close = getattr(self.reader, "close", None)
        if close:
            close()

    # ------------------------------------------------------------------ processing
    def process(self, snap: Snapshot, started_at: float | None = None, save_state: bool = True) -> Scrape:
        started_at = time.time() if started_at is None else started_at
        cfg = self.cfg
        server_time = snap.get("currenttime")
        server_epoch = generalized_time(server_time) if server_time else None
        scrape = Scrape(ok=True, url=snap.source or cfg.url, started_at=started_at, snapshot=snap,
                        server_epoch=server_epoch, server_time=server_time,
                        timestamp=(generalized_time_iso(server_time) if server_epoch else None)
                        or _iso(started_at), version=snap.version, warnings=list(snap.warnings))
        if server_epoch is None:
            scrape.warnings.append("cn=monitor has no usable currenttime; connection ages unknown, "
                                   "@timestamp is the collector's clock")
        self._scalars(snap, scrape, server_epoch)
        self._connections(snap, scrape, server_epoch)
        self._deltas(snap, scrape, server_epoch, save_state)
        return scrape

    def _scalars(self, snap: Snapshot, scrape: Scrape, server_epoch: int | None) -> None:
        server = extract(SERVER, snap.monitor)
        if "ops.initiated" in server and "ops.completed" in server:
            server["ops.pending"] = max(0, server["ops.initiated"] - server["ops.completed"])
        start = snap.get("starttime")
        start_epoch = generalized_time(start) if start else None
        if start_epoch is not None:
            server["start_time"] = generalized_time_iso(start)
            if server_epoch is not None:
                server["uptime"] = max(0, server_epoch - start_epoch)
        if snap.version:
            server["version"] = snap.version
        workers = snap.monitor.get("threadpoolworker")
        if workers:
            states: dict[str, int] = {"busy": 0, "idle": 0, "exited": 0}
            for value in workers:
                state = parse_threadpoolworker(value).get("state", "unknown")
                states[state] = states.get(state, 0) + 1
            for state in ("busy", "idle", "exited"):
                server[f"thread_pool.{state}"] = states[state]
        scrape.sections["server"] = server
        config = extract(CONFIG, snap.config)
        config.update({f"ldbm.{k}": v for k, v in extract(LDBM_CONFIG, snap.ldbm_config).items()})
        if config:
            scrape.sections["config"] = config
        if snap.snmp:
            scrape.sections["snmp"] = extract(SNMP, snap.snmp)
        if snap.database:
            scrape.sections["database"] = extract(DATABASE, snap.database)
        for name, attrs in sorted(snap.backends.items()):
            scrape.backends[name] = extract(BACKEND, attrs)
        for value in (snap.disk or {}).get("dsdisk", []):
            disk = _parse_dsdisk(value)
            if disk:
                scrape.disks.append(disk)

    def _connections(self, snap: Snapshot, scrape: Scrape, server_epoch: int | None) -> None:
        cfg = self.cfg
        values = snap.connection_values
        # Our own connection is always open while cn=monitor is read, so no `connection` value at
        # all means the attribute was hidden from us - never "zero connections".
        if not values:
            scrape.connections_readable = False
            who = snap.bind_dn or "anonymous"
            scrape.connections_message = (
                f"cn=monitor `connection` is not readable by {who}: per-connection workloads and "
                f"histograms are NOT reported (this is not zero connections); "
                + ACI_HINT.format(dn=snap.bind_dn or "<collector DN>"))
            if not self._warned_acl:
                self._warned_acl = True
                log.warning("%s", scrape.connections_message)
            return
        scrape.connections_readable = True
        conns, bad = parse_connections(values, snap.version)
        scrape.unparsed = bad
        for _value, reason in bad[:3]:
            log.warning("unparsed cn=monitor connection value: %s", reason)
        self_idx = self._find_self(conns, snap)
        classify = self.classifier.classify
        errors_before = self.classifier.stats.errors
        workloads = {w: WorkloadStats() for w in self.classifier.workloads}
        hists = {spec.name: {w: Histogram(spec.buckets) for w in workloads} for spec in self.specs}
        records = []
        for i, conn in enumerate(conns):
            is_self = i == self_idx
            variables = monitor_variables(conn, server_epoch, is_self)
            workload = classify(variables)
            excluded = is_self and cfg.exclude_self
            records.append(ConnRecord(conn, variables, workload, is_self, excluded))
            if excluded:
                continue
            stats = workloads.get(workload)
            if stats is None:
                stats = workloads[workload] = WorkloadStats()
                for spec in self.specs:
                    hists[spec.name][workload] = Histogram(spec.buckets)
            stats.connections += 1
            stats.ops_initiated += conn.ops_initiated
            stats.ops_completed += conn.ops_completed
            stats.ops_pending += variables["ops_pending"]
            stats.threads_blocked += variables["threads_blocked"]
            stats.max_threads_hits += variables["max_threads_hits"]
            stats.at_max_threads += variables["at_max_threads"]
            stats.read_waiting += conn.read_waiting
            for spec in self.specs:
                try:
                    value = spec.observe_value(variables)
                except Exception as exc:  # a histogram expr failing for one connection
                    self.classifier.stats.errors += 1
                    log.debug("histogram %s: %s", spec.name, exc)
                    continue
                if value is not None:
                    hists[spec.name][workload].observe(value)
        scrape.connections = records
        scrape.workloads = workloads
        scrape.histograms = hists
        scrape.classify_errors = self.classifier.stats.errors - errors_before

    def _find_self(self, conns: list[MonitorConnection], snap: Snapshot) -> int | None:
        """Index of the collector's own connection, None when unsure.

        Same DN, an operation still pending (the cn=monitor search) and ops_initiated at least the
        operations the reader sent (LDAPS connections count one more on 2.3.1, hence a tolerance
        of 2); the newest such connection wins. Once found, a kept-open connection is followed by
        its (open time, conn id)."""
        if snap.self_ops is None:
            return None
        dn = normalise_dn(snap.bind_dn) if snap.bind_dn else normalise_dn(ANONYMOUS_DN)
        best = None
        for i, c in enumerate(conns):
            if c.ops_pending < 1 or normalise_dn(c.bind_dn) != dn:
                continue
            if self._self_key is not None and c.key() == self._self_key:
                return i
            if snap.self_ops <= c.ops_initiated <= snap.self_ops + 2 and (
                    best is None or (c.conn_id or 0) > (conns[best].conn_id or 0)):
                best = i
        self._self_key = conns[best].key() if best is not None else None
        return best

    def _deltas(self, snap: Snapshot, scrape: Scrape, server_epoch: int | None, save: bool) -> None:
        counters: dict[str, float] = {}
        for section, table in (("server", SERVER), ("snmp", SNMP), ("database", DATABASE)):
            values = scrape.sections.get(section) or {}
            for m in table:
                if m.counter and m.field in values:
                    counters[f"{section}.{m.field}"] = values[m.field]
        for name, values in scrape.backends.items():
            for m in BACKEND:
                if m.counter and m.field in values:
                    counters[f"backend.{name}.{m.field}"] = values[m.field]
        conn_ops = {r.conn.key(): r.conn.ops_initiated for r in scrape.connections if not r.excluded}
        current = MonitorState(starttime=snap.get("starttime"), currenttime=server_epoch,
                               counters=counters, connections=conn_ops)
        with self.state.locked():
            previous = self.state.load()
            deltas = compute_deltas(previous, current)
            if save:
                self.state.save(current)
        scrape.deltas = deltas
        if deltas.first or not scrape.connections_readable:
            return
        for record in scrape.connections:
            if not record.excluded:
                record.ops_delta = deltas.connections.get(record.conn.key())
        for stats in scrape.workloads.values():
            stats.ops_initiated_delta = 0
        for record in scrape.connections:
            if record.excluded or record.ops_delta is None:
                continue
            stats = scrape.workloads[record.workload]
            stats.ops_initiated_delta = (stats.ops_initiated_delta or 0) + record.ops_delta


def _parse_dsdisk(value: str) -> dict[str, Any] | None:
    """`partition="/" size="270553174016" used="186690174976" available="83862999040" use%="69"`."""
    import shlex

    try:
        parts = dict(p.split("=", 1) for p in shlex.split(value) if "=" in p)
    except ValueError:
        return None
    if "partition" not in parts:
        return None
    out: dict[str, Any] = {"partition": parts["partition"]}
    for key, name in (("size", "size"), ("used", "used"), ("available", "available")):
        v = number(parts.get(key))
        if v is not None:
            out[name] = v
    pct = number(parts.get("use%"), "double")
    if pct is not None:
        out["used_pct"] = pct
    return out
