"""The compiled access-log engine (`dirsrvbeat_fast`, built from `rust/`), when installed.

`fast_documents_ndjson` does what `AccessPipeline(paths, ...)` + `NdjsonOutput.write` do, with
the same documents in the same order, the same summary and the same dead letters, but parses,
joins, enriches and serialises in Rust. The Python pipeline stays the reference and the fallback:
use this only when `available()` and no Python-only option (strict mode, extra processors,
carry-over state, the shipper) is asked for. See docs/fast-path.md.
"""

from __future__ import annotations

import gzip
import io
import os
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
MIN_WRITE = 1 << 20  # documents are written in chunks of at least this much
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


def _pump_file(engine: Any, path: str, fd: int, out_fd: int, lock: Any, deadletter: DeadLetter | None,
               counters: _Counters, block_bytes: int, min_write: int) -> None:
    """Feed a plain file through `Engine.pump`: Rust reads it and writes the documents to out_fd."""
    lines_before = engine.counts()[0]
    engine.begin_file(path)
    os.lseek(fd, 0, os.SEEK_SET)  # open_log peeked at the magic bytes through its buffer
    eof = False
    while not eof:
        eof, nbytes, error = engine.pump(fd, block_bytes, out_fd, lock, min_write, False)
        _drain_dead(engine, deadletter)
    if error is not None:
        counters.errors.append(f"{path}: read error after {counters.lines} lines: {error}")
        return
    counters.lines += engine.counts()[0] - lines_before
    counters.bytes += nbytes


class _FdWriter:
    """Writes to a file descriptor (under a lock shared by several processes, when given), in
    chunks of at least `min_write` bytes; `flush` writes the rest."""

    def __init__(self, fd: int, lock: Any, min_write: int) -> None:
        self.fd = fd
        self.lock = lock
        self.min_write = min_write
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= self.min_write:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if not self.parts:
            return
        data = memoryview(self.parts[0] if len(self.parts) == 1 else b"".join(self.parts))
        self.parts.clear()
        self.size = 0
        if self.lock is not None:
            self.lock.acquire()
        try:
            while data:
                data = data[os.write(self.fd, data):]
        finally:
            if self.lock is not None:
                self.lock.release()


def _plain_fd(stream: Any) -> int | None:
    """The descriptor of a plain (not gzip, not stdin) file the engine can read itself."""
    if isinstance(stream, io.BufferedReader) and stream is not sys.stdin.buffer:
        try:
            return stream.fileno()
        except (OSError, ValueError):
            return None
    return None


def _out_fd(out_stream: Any) -> int | None:
    """The descriptor under a binary output stream (flushed), or None (BytesIO, sockets ...)."""
    try:
        fd = out_stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    out_stream.flush()
    return fd if isinstance(fd, int) else None


def fast_documents_ndjson(paths: Iterable[str], *, connections: bool = False, with_ids: bool = False,
                          host_name: str | None = None, service_name: str | None = None,
                          deadletter: DeadLetter | None = None, out_stream: IO[bytes] | Any = None,
                          block_bytes: int = BLOCK_BYTES, close_grace_seconds: float = 5.0, shard: int = 0,
                          nshards: int = 1, out_fd: int | None = None, out_lock: Any = None,
                          min_write: int = MIN_WRITE) -> dict[str, Any]:
    """Parse access logs to NDJSON on `out_stream` (anything with `write(bytes)`), or on `out_fd`.

    Returns the summary `AccessPipeline.summary()` returns, plus `documents` (the count of lines
    written, which NdjsonOutput would report as its `documents`). With nshards > 1 it is one
    worker of `access parse --workers` (its documents, counters and dead letters are those of its
    connections; `bytes`, `files` and `server_restarts` are the whole run's); `out_lock` (acquire
    and release) is then held around each write of at least `min_write` bytes to `out_fd`.

    When the output is a file descriptor (or a stream that has one) and an input a plain file,
    the engine reads the file and writes the documents itself (`Engine.pump`): no copies through
    Python. Otherwise blocks are read here and fed.
    """
    engine = new_engine(connections=connections, with_ids=with_ids, host_name=host_name,
                        service_name=service_name, close_grace_seconds=close_grace_seconds, shard=shard,
                        nshards=nshards)
    counters = _Counters()
    if out_fd is None and out_stream is not None:
        out_fd = _out_fd(out_stream)
    fd_writer = _FdWriter(out_fd, out_lock, min_write) if out_fd is not None else None
    out_write = fd_writer.write if fd_writer is not None else out_stream.write
    for path in expand_paths(paths):
        try:
            stream = open_log(path)
        except OSError as exc:
            counters.missing_files += 1
            counters.errors.append(f"{path}: {exc.strerror or exc}")
            continue
        counters.files += 1
        try:
            in_fd = _plain_fd(stream) if fd_writer is not None else None
            if in_fd is not None:
                fd_writer.flush()  # type: ignore[union-attr]  # keep the documents in order
                _pump_file(engine, path, in_fd, out_fd, out_lock, deadletter, counters,  # type: ignore[arg-type]
                           block_bytes, min_write)
            else:
                _feed_stream(engine, path, stream, out_write, deadletter, counters, block_bytes)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
    docs = engine.finish()
    if docs:
        out_write(docs)
    _drain_dead(engine, deadletter)
    if fd_writer is not None:
        fd_writer.flush()
    elif out_stream is not None:
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
