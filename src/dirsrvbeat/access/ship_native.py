"""The shipper's compiled path: the same exactly-once contract as `Shipper` (ship.py), with the
compiled engine (`dirsrvbeat_fast`) doing parse -> join -> enrich -> `_bulk` framing.

* The engine is fed blocks of whole lines and writes each document already framed (action line +
  source line, see `Engine.set_bulk`), so no document is built or serialised in Python.
* Delivery is decoupled from checkpoints: documents are cut into full `_bulk` chunks (the output's
  chunk_docs / chunk_bytes), one in flight while the next block is parsed; a checkpoint (offsets +
  `Engine.export_state()`, the same JSON state the Python pipeline writes) is taken at a block
  boundary every `batch_docs` documents, and written only once every document made before it was
  acknowledged.
"""

from __future__ import annotations

import gzip
import io
import time
from bisect import bisect_right
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from itertools import accumulate, repeat
from operator import add
from typing import IO, Any

import orjson

from ..inputs.access_file import expand_paths
from . import fast
from .registry import FileState, Registry
from .ship import Shipper, forget_deleted, open_resumed

BLOCK_BYTES = 256 << 10  # small enough that a checkpoint falls near every batch_docs documents


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Chunks:
    """Framed document lines waiting for delivery, cut into full chunks (without a Python loop
    per document: cumulative sizes and bisection)."""

    compact_after = 0  # taken lines kept before the lists are trimmed (once more than half is taken)

    def __init__(self, lines_per_doc: int, chunk_docs: int, chunk_bytes: int) -> None:
        self.per_doc = lines_per_doc
        self.chunk_docs = chunk_docs
        self.chunk_bytes = chunk_bytes
        self.lines: list[bytes] = []
        self.ends: list[int] = []  # ends[k]: bytes (newlines included) up to the end of lines[k]
        self.base = 0  # bytes before lines[0] (dropped lines)
        self.start = 0  # lines before it were taken
        self.docs = 0
        self.bytes = 0

    def add(self, data: bytes) -> int:
        """Queue the engine's output; returns how many documents it held."""
        lines = data.split(b"\n")
        lines.pop()  # after the last newline
        last = self.ends[-1] if self.ends else self.base
        ends = accumulate(map(add, map(len, lines), repeat(1)), initial=last)  # + 1: the newline
        next(ends)  # the initial value
        self.ends.extend(ends)
        self.lines.extend(lines)
        self.bytes += len(data)
        n = len(lines) // self.per_doc
        self.docs += n
        return n

    def full(self) -> bool:
        return self.docs >= self.chunk_docs or (self.docs > 0 and self.bytes >= self.chunk_bytes)

    def take(self) -> tuple[list[bytes], int]:
        """The next chunk: up to chunk_docs documents and, past the first, chunk_bytes bytes."""
        i = self.start
        per_doc = self.per_doc
        if i >= len(self.lines):
            return [], 0
        before = self.ends[i - 1] if i else self.base
        # lines that fit the byte budget, whole documents only, at least one document
        fit = bisect_right(self.ends, before + self.chunk_bytes, lo=i) - i
        n = max(1, min(fit // per_doc, self.chunk_docs, self.docs))
        j = i + n * per_doc
        chunk = self.lines[i:j]
        self.docs -= n
        self.bytes -= self.ends[j - 1] - before
        self.start = j
        if j > self.compact_after and j * 2 > len(self.lines):  # drop what was taken
            self.base = self.ends[j - 1]
            del self.lines[:j]
            del self.ends[:j]
            self.start = 0
        return chunk, n


class NativeRun:
    """One `Shipper.run()` on the compiled engine (see the module docstring)."""

    def __init__(self, shipper: Shipper) -> None:
        self.s = shipper
        self.send = shipper.send
        self.summary = shipper.summary
        self.registry = Registry.load(shipper.registry_path)
        self.engine = fast.new_engine(connections=shipper.connections, with_ids=True,
                                      host_name=shipper.host_name, service_name=shipper.service_name,
                                      **({} if shipper.close_grace_seconds is None
                                         else {"close_grace_seconds": shipper.close_grace_seconds}))
        framing = self.send.framing()  # may raise DeliveryFailed (server unreachable)
        if framing is not None:
            prefix, mode, doc_type = framing
            self.engine.set_bulk(prefix, mode, doc_type)
        self.framed = framing is not None
        chunk_docs, chunk_bytes = self.send.limits()
        self.chunks = _Chunks(2 if self.framed else 1, chunk_docs, chunk_bytes)
        state = self.registry.pipeline
        self.engine.import_state(orjson.dumps(state).decode() if state else None)
        self.produced = 0  # documents made by the engine
        self.dispatched = 0  # documents handed to delivery
        self.since_checkpoint = 0
        self.next_checkpoint = 0.0  # monotonic time before which no batch checkpoint is taken
        self.checkpoints: deque[tuple[int, bytes]] = deque()  # (documents made before it, registry)
        self.inflight: Future[None] | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dirsrvbeat-bulk")
        # registry writes (fsyncs) in order, off the path between two bulk requests
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dirsrvbeat-registry")
        self.writes: deque[Future[None]] = deque()

    # ------------------------------------------------------------------ delivery
    def _settle(self) -> None:
        if self.inflight is not None:
            future, self.inflight = self.inflight, None
            future.result()  # re-raises DeliveryFailed: nothing after it is checkpointed

    def _dispatch(self, lines: list[bytes], ndocs: int) -> None:
        """Deliver one chunk in the background (after the previous one), with the newest
        checkpoint it completes."""
        self.dispatched += ndocs
        snapshot = None
        while self.checkpoints and self.checkpoints[0][0] <= self.dispatched:
            snapshot = self.checkpoints.popleft()[1]
        self._settle()
        self.inflight = self.executor.submit(self._deliver_and_commit, lines, ndocs, snapshot)

    def _deliver_and_commit(self, lines: list[bytes], ndocs: int, snapshot: bytes | None) -> None:
        if ndocs:
            result = self.send.send_framed(lines)  # raises on failure: no checkpoint
            self.summary.documents += ndocs
            self.summary.acknowledged += result.acknowledged
            self.summary.rejected += result.rejected
        if snapshot is not None:  # acknowledged: its checkpoint may be written
            while self.writes and self.writes[0].done():
                self.writes.popleft().result()  # a failed write stops the run
            self.writes.append(self.writer.submit(self._commit, snapshot))

    def _commit(self, snapshot: bytes) -> None:
        Registry.write_snapshot(self.s.registry_path, snapshot)
        self.summary.checkpoints += 1

    def _pump(self) -> None:
        while self.chunks.full():
            self._dispatch(*self.chunks.take())

    def _checkpoint(self) -> None:
        # the engine's JSON goes into the registry as it is (not parsed and serialised again)
        self.registry.pipeline = orjson.Fragment(self.engine.export_state())  # type: ignore[assignment]
        self.checkpoints.append((self.produced, self.registry.snapshot()))
        self.since_checkpoint = 0
        self.next_checkpoint = time.monotonic() + self.s.checkpoint_seconds

    def _add(self, data: bytes) -> None:
        if data:
            n = self.chunks.add(data)
            self.produced += n
            self.since_checkpoint += n
        dead = self.engine.take_dead_letters()
        if dead:
            add = self.s.deadletter.add
            for file, line, offset, reason, text in dead:
                add(file=file, line=line, offset=offset, reason=reason, text=text)

    # ------------------------------------------------------------------ reading
    def run(self) -> None:
        try:
            seen: set[str] = set()
            for path in expand_paths(self.s.patterns):
                self._file(path, seen)
            self._add(self.engine.expire_closed(time.time()))
            forget_deleted(self.registry, seen)
            self._checkpoint()
            while self.chunks.docs:
                self._dispatch(*self.chunks.take())
            if self.checkpoints:  # documents all dispatched: the rest of the checkpoints
                self._dispatch([], 0)
            self._settle()
            while self.writes:
                self.writes.popleft().result()
        finally:
            self.executor.shutdown(wait=True)
            self.writer.shutdown(wait=True)  # acknowledged checkpoints are written even when a later bulk failed
            stats = self.engine.stats()
            self.summary.unparsed = stats["unparsed"]
            self.summary.operations = stats["ops_emitted"]

    def _file(self, path: str, seen: set[str]) -> None:
        opened = open_resumed(path, self.registry, seen, self.summary)
        if opened is None:
            return
        stream, state, live = opened
        try:
            self._read(path, stream, state, live)
            if not live:
                state.finished = True
            self._checkpoint()
            self._pump()
        finally:
            stream.close()

    def _read(self, path: str, stream: IO[bytes] | Any, state: FileState, live: bool) -> None:
        """Feed whole lines in blocks; a last line without newline only when the file is rotated."""
        engine = self.engine
        summary = self.summary
        batch_docs = self.s.batch_docs
        progress = self.s.progress
        if self.framed:
            engine.set_ingested(_now_iso())
        read = stream.read1 if isinstance(stream, (io.BufferedReader, gzip.GzipFile)) else stream.read
        carry = b""
        while True:
            chunk = read(BLOCK_BYTES)
            if not chunk:
                break
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            block, carry = (data[:cut], data[cut:]) if cut < len(data) else (data, b"")
            self._feed(path, block, state)
            if self.since_checkpoint >= batch_docs and time.monotonic() >= self.next_checkpoint:
                self._checkpoint()
                if self.framed:
                    engine.set_ingested(_now_iso())
                if progress is not None:
                    progress(summary.bytes)
            self._pump()
        if carry and not live:
            self._feed(path, carry, state)

    def _feed(self, path: str, block: bytes, state: FileState) -> None:
        before = self.engine.counts()[0]
        self._add(self.engine.feed(path, block, state.offset, state.lineno))
        lines = self.engine.counts()[0] - before
        state.offset += len(block)
        state.lineno += lines
        self.summary.lines += lines
        self.summary.bytes += len(block)
