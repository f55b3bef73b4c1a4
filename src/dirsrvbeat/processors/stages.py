"""The access-log processors as registered pipeline stages: parse, join, enrich."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..deadletter import DeadLetter, MalformedLine
from ..inputs.access_file import Line
from ..plugins import register
from ..timestamps import TimestampConverter
from .enrich import Enricher
from .join import ConnEvent, Joiner, OpEvent
from .parse import Record, parse_line


@dataclass
class ParseStats:
    lines: int = 0
    parsed: int = 0
    unparsed: int = 0
    header_lines: int = 0
    blank_lines: int = 0
    bad_utf8_lines: int = 0


@register("processor", "parse")
class Parse:
    """Line -> record. Unknown shapes are counted and dead-lettered (or raise in strict mode)."""

    def __init__(self, deadletter: DeadLetter | None = None, strict: bool = False,
                 on_header: Any = None) -> None:
        self.deadletter = deadletter or DeadLetter()
        self.strict = strict
        self.on_header = on_header
        self.stats = ParseStats()

    def reject(self, line: Line, reason: str) -> None:
        self.stats.unparsed += 1
        if self.strict:
            raise MalformedLine(line.path, line.lineno, reason, line.text)
        self.deadletter.add(file=line.path, line=line.lineno, offset=line.offset, reason=reason, text=line.text)

    def parse_one(self, line: Line) -> Record | None:
        """One line -> a record to join, or None (blank, banner, or rejected and dead-lettered)."""
        stats = self.stats
        stats.lines += 1
        text = line.text
        if line.bad_utf8:
            stats.bad_utf8_lines += 1
        try:
            rec = parse_line(text) if text else {"kind": "blank"}
        except (ValueError, IndexError, KeyError, TypeError, OverflowError) as exc:  # never crash on junk
            self.reject(line, f"parser error: {exc.__class__.__name__}")
            return None
        if rec is None:
            self.reject(line, "unknown line shape")
            return None
        kind = rec["kind"]
        if kind == "blank":
            stats.blank_lines += 1
            return None
        if kind == "header":
            stats.header_lines += 1
            if self.on_header is not None:
                self.on_header(rec["text"])
                if rec.get("instance"):  # the JSON header carries both banner facts
                    self.on_header(str(rec["instance"]))
            return None
        if "t" not in rec or "conn" not in rec:
            self.reject(line, "missing timestamp or connection")
            return None
        stats.parsed += 1
        rec["_path"] = line.path
        rec["_off"] = line.offset
        return rec

    def process(self, lines: Iterator[Line]) -> Iterator[Record]:
        parse_one = self.parse_one
        for line in lines:
            rec = parse_one(line)
            if rec is not None:
                yield rec


@register("processor", "join")
class Join:
    """Records -> OpEvent / ConnEvent (see processors.join)."""

    def __init__(self, joiner: Joiner | None = None, flush_at_end: bool = True,
                 close_grace_seconds: float | None = None) -> None:
        if joiner is None:
            joiner = Joiner() if close_grace_seconds is None else Joiner(close_grace_seconds)
        self.joiner = joiner
        self.flush_at_end = flush_at_end

    def process(self, records: Iterator[Record]) -> Iterator[Any]:
        j = self.joiner
        out: list[Any] = []
        for rec in records:
            j.feed(rec, out)
            if out:
                yield from out
                out.clear()
        if self.flush_at_end:
            j.finish(out)
            yield from out


@register("processor", "enrich")
class Enrich:
    """OpEvent / ConnEvent -> documents. Connection documents only when asked for."""

    def __init__(self, enricher: Enricher | None = None, connections: bool = False,
                 timestamps: TimestampConverter | None = None, **enricher_options: Any) -> None:
        self.enricher = enricher or Enricher(timestamps=timestamps, **enricher_options)
        self.connections = connections

    def document(self, ev: Any) -> dict[str, Any] | None:
        if type(ev) is OpEvent:
            anchor = ev.res if ev.res is not None else ev.req
            return self.enricher.op_doc(ev, anchor.get("_path"), anchor.get("_off"))
        if self.connections and type(ev) is ConnEvent:
            return self.enricher.conn_doc(ev)
        return None

    def process(self, events: Iterator[Any]) -> Iterator[dict[str, Any]]:
        op_doc = self.enricher.op_doc
        for ev in events:
            if type(ev) is OpEvent:
                anchor = ev.res if ev.res is not None else ev.req
                yield op_doc(ev, anchor.get("_path"), anchor.get("_off"))
            elif self.connections and type(ev) is ConnEvent:
                yield self.enricher.conn_doc(ev)


def banner_facts(text: str) -> tuple[str | None, str | None]:
    """(`2.3.1`, `slapd-lab`) from `389-Directory/2.3.1 B…` or `host:636 (/etc/dirsrv/slapd-lab)`."""
    if text.startswith("389-Directory/"):
        return text[14:].split(" ", 1)[0], None
    if text.endswith(")") and "(" in text:
        inner = text[text.rfind("(") + 1:-1].rstrip("/")
        return None, inner.rsplit("/", 1)[-1] or None
    return None, None
