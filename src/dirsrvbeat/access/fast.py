"""The compiled access-log engine (`dirsrvbeat_fast`, built from `rust/`), when installed.

`fast_documents_ndjson` does what `AccessPipeline(paths, ...)` + `NdjsonOutput.write` do, with
the same documents in the same order, the same summary and the same dead letters, but parses,
joins, enriches and serialises in Rust. The Python pipeline stays the reference and the fallback:
use this only when `available()` and no Python-only option (strict mode, extra processors,
carry-over state, the shipper) is asked for. See docs/fast-path.md.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterable
from typing import IO, Any

from ..deadletter import DeadLetter
from ..inputs.access_file import expand_paths, open_log

try:  # the optional extension
    import dirsrvbeat_fast as _native
except ImportError:  # pragma: no cover - depends on the build
    _native = None

BLOCK_BYTES = 4 << 20
SUMMARY_KEYS = ("lines", "parsed", "unparsed", "bad_utf8_lines", "header_lines", "blank_lines", "requests",
                "results", "ops_emitted", "results_without_request", "requests_without_result",
                "connections_emitted", "orphan_detail_lines", "server_restarts", "bad_timestamps")


def available() -> bool:
    """True when the compiled engine is importable."""
    return _native is not None


def new_engine(*, connections: bool = False, with_ids: bool = False, host_name: str | None = None,
               service_name: str | None = None, close_grace_seconds: float = 5.0, shard: int = 0,
               nshards: int = 1) -> Any:
    """An engine; with nshards > 1, shard `shard` of a sharded run (see access/parallel.py)."""
    if _native is None:
        raise RuntimeError("dirsrvbeat_fast is not installed (build it with rust/build.sh)")
    return _native.Engine(connections, with_ids, host_name, service_name, close_grace_seconds, shard, nshards)


class _Counters:
    __slots__ = ("bytes", "errors", "files", "lines", "missing_files")

    def __init__(self) -> None:
        self.files = 0
        self.missing_files = 0
        self.bytes = 0
        self.lines = 0
        self.errors: list[str] = []


def _drain_dead(engine: Any, deadletter: DeadLetter | None) -> None:
    dead = engine.take_dead_letters()
    if dead and deadletter is not None:
        for file, line, offset, reason, text in dead:
            deadletter.add(file=file, line=line, offset=offset, reason=reason, text=text)


def _feed_stream(engine: Any, path: str, stream: IO[bytes], write: Any, deadletter: DeadLetter | None,
                 counters: _Counters, block_bytes: int) -> None:
    """Feed one stream in blocks cut after their last newline (the rest waits for the next block)."""
    offset = 0
    lines_before = engine.counts()[0]
    carry = b""
    read = stream.read
    feed = engine.feed
    try:
        while True:
            chunk = read(block_bytes)
            if not chunk:
                break
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # no newline yet: keep reading
                carry = data
                continue
            if cut < len(data):
                block, carry = data[:cut], data[cut:]
            else:
                block, carry = data, b""
            docs = feed(path, block, offset, engine.counts()[0] - lines_before)
            if docs:
                write(docs)
            _drain_dead(engine, deadletter)
            offset += len(block)
        if carry:  # a last line without its newline
            docs = feed(path, carry, offset, engine.counts()[0] - lines_before)
            if docs:
                write(docs)
            _drain_dead(engine, deadletter)
            offset += len(carry)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        counters.errors.append(f"{path}: read error after {counters.lines} lines: {exc}")
        return
    counters.lines += engine.counts()[0] - lines_before
    counters.bytes += offset


def fast_documents_ndjson(paths: Iterable[str], *, connections: bool = False, with_ids: bool = False,
                          host_name: str | None = None, service_name: str | None = None,
                          deadletter: DeadLetter | None = None, out_stream: IO[bytes] | Any,
                          block_bytes: int = BLOCK_BYTES, close_grace_seconds: float = 5.0, shard: int = 0,
                          nshards: int = 1) -> dict[str, Any]:
    """Parse access logs to NDJSON on `out_stream` (anything with `write(bytes)`).

    Returns the summary `AccessPipeline.summary()` returns, plus `documents` (the count of lines
    written, which NdjsonOutput would report as its `documents`). With nshards > 1 it is one
    worker of `access parse --workers` (its documents, counters and dead letters are those of its
    connections; `bytes`, `files` and `server_restarts` are the whole run's).
    """
    engine = new_engine(connections=connections, with_ids=with_ids, host_name=host_name,
                        service_name=service_name, close_grace_seconds=close_grace_seconds, shard=shard,
                        nshards=nshards)
    counters = _Counters()
    out_write = out_stream.write
    for path in expand_paths(paths):
        try:
            stream = open_log(path)
        except OSError as exc:
            counters.missing_files += 1
            counters.errors.append(f"{path}: {exc.strerror or exc}")
            continue
        counters.files += 1
        try:
            _feed_stream(engine, path, stream, out_write, deadletter, counters, block_bytes)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
    docs = engine.finish()
    if docs:
        out_write(docs)
    _drain_dead(engine, deadletter)
    try:
        out_stream.flush()
    except (AttributeError, BrokenPipeError):
        pass
    stats = engine.stats()
    summary: dict[str, Any] = {"files": counters.files, "missing_files": counters.missing_files,
                               "bytes": counters.bytes}
    summary.update({key: stats[key] for key in SUMMARY_KEYS})
    summary["dead_letter"] = deadletter.path if deadletter is not None else None
    summary["errors"] = list(counters.errors)
    summary["documents"] = engine.counts()[1]
    summary["engine"] = "rust"
    return summary
