"""Build the access-log pipeline from its registered stages and run it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

from ..deadletter import DeadLetter
from ..inputs.access_file import AccessFileInput, Line
from ..processors.enrich import Enricher
from ..processors.join import Joiner
from ..processors.stages import Enrich, Join, Parse, banner_facts
from ..timestamps import TimestampConverter


class AccessPipeline:
    """input -> parse -> join -> enrich; iterate `documents()` and read `summary()` afterwards."""

    def __init__(self, paths: Iterable[str] | None = None, *, lines: Iterable[Line] | None = None,
                 connections: bool = False, strict: bool = False, deadletter: DeadLetter | None = None,
                 host_name: str | None = None, service_name: str | None = None, with_ids: bool = False,
                 joiner: Joiner | None = None, flush_at_end: bool = True,
                 keep_partial_last_line: bool = True, extra_processors: Iterable[Any] = ()) -> None:
        timestamps = TimestampConverter()
        self.input = AccessFileInput(paths or [], keep_partial_last_line=keep_partial_last_line)
        self._lines = lines
        self.deadletter = deadletter or DeadLetter()
        self.enricher = Enricher(service_name=service_name, host_name=host_name, with_ids=with_ids,
                                 timestamps=timestamps)
        self.parse = Parse(self.deadletter, strict=strict, on_header=self.header)
        self.join = Join(joiner or Joiner(timestamps=timestamps), flush_at_end=flush_at_end)
        self.enrich = Enrich(self.enricher, connections=connections)
        self.extra = list(extra_processors)
        self._events: list[Any] = []

    def header(self, text: str) -> None:
        """Server facts from a banner line."""
        version, instance = banner_facts(text)
        self.enricher.set_server(version=version, instance=instance)

    def documents(self) -> Iterator[dict[str, Any]]:
        lines = self._lines if self._lines is not None else self.input.read()
        stream: Iterator[Any] = self.enrich.process(self.join.process(self.parse.process(iter(lines))))
        for proc in self.extra:
            stream = proc.process(stream)
        return stream

    def feed_line(self, line: Line, docs: list[dict[str, Any]]) -> None:
        """Push one line through parse -> join -> enrich, appending the documents it completes.

        The shipper uses this instead of `documents()` so that a checkpoint always falls on a
        line boundary with every document of that line in hand.
        """
        rec = self.parse.parse_one(line)
        if rec is None:
            return
        events = self._events
        self.join.joiner.feed(rec, events)
        if events:
            start = len(docs)
            document = self.enrich.document
            for ev in events:
                doc = document(ev)
                if doc is not None:
                    docs.append(doc)
            events.clear()
            if self.extra and len(docs) > start:
                docs[start:] = self._process_extra(docs[start:])

    def expire_closed(self, epoch: float, docs: list[dict[str, Any]]) -> None:
        """Emit connections closed longer ago than the grace period (end of a shipping run)."""
        events: list[Any] = []
        self.join.joiner.expire_closed(epoch, events)
        self._emit(events, docs)

    def _process_extra(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        stream: Iterator[Any] = iter(docs)
        for proc in self.extra:
            stream = proc.process(stream)
        return list(stream)

    def _emit(self, events: list[Any], docs: list[dict[str, Any]]) -> None:
        new = [d for d in (self.enrich.document(ev) for ev in events) if d is not None]
        docs.extend(self._process_extra(new) if self.extra else new)

    def flush(self, docs: list[dict[str, Any]]) -> None:
        """End of input without carry-over: emit everything still open."""
        events: list[Any] = []
        self.join.joiner.finish(events)
        self._emit(events, docs)

    def export_state(self) -> dict[str, Any]:
        """What the next incremental run needs: open connections, pending ops, server facts."""
        return {"join": self.join.joiner.export_state(), "service": dict(self.enricher.service)}

    def import_state(self, state: dict[str, Any] | None) -> None:
        if not state:
            return
        self.join.joiner.import_state(state.get("join") or {})
        service = state.get("service") or {}
        self.enricher.set_server(version=service.get("version"), instance=service.get("name"))

    @property
    def joiner(self) -> Joiner:
        return self.join.joiner

    def summary(self) -> dict[str, Any]:
        read = self.input.stats
        parse = self.parse.stats
        join = self.join.joiner.stats
        return {
            "files": read.files, "missing_files": read.missing_files, "bytes": read.bytes,
            "lines": parse.lines, "parsed": parse.parsed, "unparsed": parse.unparsed,
            "bad_utf8_lines": parse.bad_utf8_lines, "header_lines": parse.header_lines,
            "blank_lines": parse.blank_lines, **asdict(join),
            "dead_letter": self.deadletter.path, "errors": list(self.input.errors),
        }
