"""Run the access pipeline once over the inputs and aggregate the report (filters, workloads, progress)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .. import __version__
from ..access.pipeline import AccessPipeline
from ..deadletter import DeadLetter
from ..inputs.access_file import GZIP_MAGIC, AccessFileInput, Line
from ..processors.join import Joiner
from ..timestamps import BadTimestamp, TimestampConverter
from .aggregate import ReportAggregator, epoch_iso, iso_epoch

MAX_WORKLOADS = 100


class ReportError(Exception):
    """A problem with the report's options (bad time, unusable workload rules ...)."""


def parse_time(text: str) -> float:
    """`2026-12-04T19:53:00[.123][+01:00|Z]` (no offset = UTC) or logconv's `[04/Dec/2026:19:53:00 +0000]`."""
    raw = text.strip().strip("[]").strip()
    if "/" in raw:
        if " " not in raw:
            raw += " +0000"
        try:
            return TimestampConverter().convert(raw)[0]
        except BadTimestamp as exc:
            raise ReportError(f"unreadable time {text!r}: {exc}") from exc
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError as exc:
        raise ReportError(f"unreadable time {text!r} (use 2026-12-04T19:53:00 or "
                          f"[04/Dec/2026:19:53:00 +0000])") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


@dataclass
class ReportOptions:
    paths: list[str]
    start: float | None = None
    end: float | None = None
    exclude_ips: frozenset[str] = frozenset()
    bind_dns: frozenset[str] | None = None  # lower case; "" = anonymous; None = all
    workloads_file: str | None = None
    top_n: int = 20
    key_cap: int = 10_000
    instance: str | None = None
    backend: str | None = None
    progress: bool = False
    dead_letter: str | None = None
    filters_text: dict[str, Any] = field(default_factory=dict)


class ConcurrencyJoiner(Joiner):
    """The pipeline's joiner, also counting connections open at every `connection from` / close line.

    Exact peak concurrency needs the open and close lines in log order, which the documents
    (emitted at close) no longer carry. Connections whose open line is not in the input are not
    counted (as logconv); a server restart resets the count.
    """

    def __init__(self, accept: Any, on_change: Any) -> None:
        super().__init__()
        self.live: set[int] = set()
        self.peak = 0
        self.peak_at: str | None = None
        self._accept = accept
        self._on_change = on_change

    def feed(self, rec: dict[str, Any], out: list[Any]) -> None:
        kind = rec["kind"]
        if kind == "open":
            conn = rec["conn"]
            if conn <= self.last_open_conn:
                self.live.clear()  # server restart: the joiner flushes every connection
            super().feed(rec, out)
            epoch = self._epoch(rec["t"])
            if self._accept(rec, epoch):
                self.live.add(conn)
                n = len(self.live)
                if n > self.peak:
                    self.peak = n
                    self.peak_at = epoch_iso(epoch)
                self._on_change(epoch, n)
        elif kind == "close":
            super().feed(rec, out)
            conn = rec["conn"]
            if conn in self.live:
                self.live.discard(conn)
                self._on_change(self._epoch(rec["t"]), len(self.live))
        else:
            super().feed(rec, out)


class Progress:
    """Progress on stderr (a TTY only): bytes of plain files, lines for .gz and stdin."""

    def __init__(self, paths: list[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        total = 0
        sized = True
        for p in paths:
            if p == "-":
                sized = False
                continue
            try:
                with open(p, "rb") as f:
                    if f.read(2) == GZIP_MAGIC:
                        sized = False
                total += os.path.getsize(p)
            except OSError:
                pass
        self.sized = sized
        columns: list[Any] = [TextColumn("[bold]report[/] {task.description}")]
        if sized:
            columns += [BarColumn(), DownloadColumn()]
        else:
            columns += [TextColumn("{task.fields[lines]:,} lines")]
        columns.append(TimeElapsedColumn())
        self.bar = RichProgress(*columns, console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task("", total=total if sized else None, lines=0)
        self.done_files = 0

    def wrap(self, lines: Iterable[Line]) -> Iterator[Line]:
        bar, task = self.bar, self.task
        path = None
        base = 0
        last_end = 0
        n = 0
        with bar:
            for line in lines:
                if line.path != path:
                    if path is not None:
                        base += last_end
                    path = line.path
                    bar.update(task, description=os.path.basename(path) if path != "-" else "stdin")
                last_end = line.end
                n += 1
                if not n % 4096:
                    bar.update(task, completed=base + last_end, lines=n)
                yield line


class _Filters:
    def __init__(self, options: ReportOptions) -> None:
        self.start = options.start
        self.end = options.end
        self.exclude = options.exclude_ips
        self.binds = options.bind_dns
        self.active = bool(self.start is not None or self.end is not None or self.exclude or self.binds is not None)

    def in_window(self, t: float | None) -> bool:
        if t is None:
            return self.start is None and self.end is None
        if self.start is not None and t < self.start:
            return False
        return not (self.end is not None and t > self.end)

    def accept_open(self, rec: dict[str, Any], epoch: float | None) -> bool:
        if self.exclude and rec.get("src") in self.exclude:
            return False
        return self.in_window(epoch)

    def accept(self, doc: dict[str, Any]) -> bool:
        event = doc["event"]
        if self.start is not None or self.end is not None:
            t = iso_epoch(event.get("start") or event.get("end") or doc.get("@timestamp"))
            if not self.in_window(t):
                return False
        if self.exclude:
            source = doc.get("source")
            if source and (source.get("address") in self.exclude or source.get("ip") in self.exclude):
                return False
        if self.binds is not None:
            d = doc["dirsrv"]
            if event["dataset"] == "dirsrv.connection":
                dns = [dn.lower() for dn in d["conn"].get("bind_dns") or ()]
                if not any(dn in self.binds for dn in dns) and not ("" in self.binds and not dns):
                    return False
            elif (d["bind"].get("dn") or "").lower() not in self.binds:
                return False
        return True


def _classifier(path: str) -> Any:
    try:
        from ..processors.classify import Classify
    except ImportError as exc:  # the classifier (and its CEL library) is optional
        raise ReportError(f"--workloads needs the workload classifier (dirsrvbeat.processors.classify): {exc}") \
            from exc
    try:
        return Classify(rules_file=path)
    except (OSError, ValueError) as exc:
        raise ReportError(f"--workloads {path}: {exc}") from exc


def build_report(options: ReportOptions) -> dict[str, Any]:
    """Read the inputs once and return the report model (see aggregate.ReportAggregator.finish)."""
    started = time.monotonic()
    filters = _Filters(options)
    overall = ReportAggregator(top_n=options.top_n, key_cap=options.key_cap)
    timeline = overall.timeline

    def on_change(epoch: float | None, n: int) -> None:
        if timeline is not None and epoch is not None and filters.in_window(epoch):
            timeline.concurrency(epoch, n)

    joiner = ConcurrencyJoiner(filters.accept_open, on_change)
    source = AccessFileInput(options.paths)
    lines: Iterable[Line] = source.read()
    if options.progress:
        lines = Progress(source.paths).wrap(lines)
    deadletter = DeadLetter(options.dead_letter)
    pipeline = AccessPipeline(lines=lines, connections=True, joiner=joiner, deadletter=deadletter)
    docs: Iterable[dict[str, Any]] = pipeline.documents()
    classify = _classifier(options.workloads_file) if options.workloads_file else None
    if classify is not None:
        docs = classify.process(iter(docs))
    per_workload: dict[str, ReportAggregator] = {}
    accepted = 0
    rejected = 0
    try:
        for doc in docs:
            if filters.active and not filters.accept(doc):
                rejected += 1
                continue
            accepted += 1
            overall.add(doc)
            if classify is not None:
                name = doc["dirsrv"].get("workload") or "unclassified"
                agg = per_workload.get(name)
                if agg is None:
                    if len(per_workload) >= MAX_WORKLOADS:
                        name = "(other)"
                        agg = per_workload.get(name)
                    if agg is None:
                        agg = per_workload[name] = ReportAggregator(
                            top_n=options.top_n, key_cap=options.key_cap, timeline=False)
                agg.add(doc)
    finally:
        deadletter.close()
    overall.set_concurrency(joiner.peak, joiner.peak_at)
    service = pipeline.enricher.service
    instance = options.instance or service.get("name")
    model = overall.finish(instance=instance, backend=options.backend)
    if classify is not None:
        order = list(classify.classifier.workloads)
        names = sorted(per_workload, key=lambda w: (order.index(w) if w in order else len(order), w))
        model["workloads"] = {w: per_workload[w].finish(instance=instance, backend=options.backend)
                              for w in names}
    parse = pipeline.parse.stats
    join = joiner.stats
    read = source.stats
    model["meta"] = {
        "generator": f"dirsrvbeat {__version__} access report",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "inputs": list(source.paths), "files": read.files, "missing_files": read.missing_files,
        "bytes": read.bytes, "lines": parse.lines, "parsed": parse.parsed, "unparsed": parse.unparsed,
        "server": {"version": service.get("version"), "instance": service.get("name")},
        "server_restarts": join.server_restarts, "documents": accepted + rejected,
        "documents_filtered_out": rejected, "filters": options.filters_text,
        "workload_rules": options.workloads_file, "errors": list(source.errors),
        "seconds": round(time.monotonic() - started, 3),
    }
    if options.dead_letter:
        model["meta"]["dead_letter"] = options.dead_letter
    if filters.binds is not None:
        model["connections"]["peak_concurrent_note"] = "counted before the bind DN filter (a new connection " \
                                                       "has no bind DN yet)"
    return model
