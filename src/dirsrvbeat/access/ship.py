"""The cron-safe incremental shipper behind `dirsrvbeat access ship`.

Exactly-once delivery rests on three things:
* checkpoints fall on line boundaries, after every document of the batch was acknowledged:
  the registry then records, atomically, each file's byte offset *and* the pipeline state
  (open connections, pending requests) at that very line;
* a failed delivery raises before the checkpoint, so the next run re-reads from the last one;
* document ids are deterministic, so what a crashed run had already delivered is overwritten.
"""

from __future__ import annotations

import fcntl
import gzip
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from ..deadletter import DeadLetter
from ..inputs.access_file import ROTATED_SUFFIX, expand_paths, iter_lines, open_log
from .pipeline import AccessPipeline
from .registry import FileState, Registry, identify

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_REJECTED = 65  # EX_DATAERR: some documents were rejected by Elasticsearch (dead-lettered)
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: delivery failed after retries; state not advanced
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run holds the lock


class Locked(RuntimeError):
    pass


class DeliveryFailed(RuntimeError):
    pass


@dataclass
class SendResult:
    acknowledged: int
    rejected: int = 0


Sender = Callable[[list[dict[str, Any]]], SendResult]


@dataclass
class ShipSummary:
    files: int = 0
    bytes: int = 0
    lines: int = 0
    documents: int = 0
    operations: int = 0
    acknowledged: int = 0
    rejected: int = 0
    unparsed: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        rate = self.documents / self.seconds if self.seconds > 0 else 0.0
        return (f"files={self.files} bytes={self.bytes} lines={self.lines} ops={self.operations} "
                f"docs={self.documents} acked={self.acknowledged} rejected={self.rejected} "
                f"unparsed={self.unparsed} rate={rate:.0f}/s seconds={self.seconds:.2f}")


class RunLock:
    """An flock on `<state_dir>/ship.lock`; a second holder fails at once."""

    def __init__(self, state_dir: str, name: str = "ship.lock") -> None:
        self.path = os.path.join(state_dir, name)
        self._f: IO[str] | None = None

    def __enter__(self) -> RunLock:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip()
            f.close()
            raise Locked(f"another run holds {self.path}" + (f" (pid {holder})" if holder else "")) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._f is not None:
            fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
            self._f.close()
            self._f = None


class Shipper:
    def __init__(self, patterns: list[str], state_dir: str, send: Sender, *,
                 batch_docs: int = 5000, connections: bool = True, host_name: str | None = None,
                 service_name: str | None = None, deadletter: DeadLetter | None = None,
                 close_grace_seconds: float | None = None,
                 progress: Callable[[int], None] | None = None, extra_processors: list[Any] | None = None,
                 engine: str = "auto", checkpoint_seconds: float = 1.0) -> None:
        if engine not in ("auto", "python", "rust"):
            raise ValueError(f"engine must be auto, python or rust, not {engine!r}")
        self.patterns = patterns
        self.state_dir = state_dir
        self.registry_path = os.path.join(state_dir, "registry.json")
        self.send = send
        self.batch_docs = batch_docs
        self.connections = connections
        self.host_name = host_name
        self.service_name = service_name
        self.deadletter = deadletter or DeadLetter(os.path.join(state_dir, "unparsed.ndjson"))
        self.close_grace_seconds = close_grace_seconds
        self.progress = progress
        self.extra_processors = extra_processors or []
        self.engine = engine
        # compiled engine: a checkpoint every batch_docs documents but at most one per this many
        # seconds (as Filebeat's registry.flush), plus one at the end of each file
        self.checkpoint_seconds = checkpoint_seconds
        self.summary = ShipSummary()

    def uses_native(self) -> bool:
        """The compiled engine ships when it is installed, nothing Python-only (extra processors)
        is asked for and the sender takes framed documents (`send_framed`); `engine="rust"`
        insists (an error when it cannot), `"python"` never uses it."""
        from . import fast

        if self.engine == "python":
            return False
        reasons = []
        if not fast.available():
            reasons.append("dirsrvbeat_fast is not installed (rust/build.sh)")
        if self.extra_processors:
            reasons.append("extra processors (workload rules) run in Python")
        if not hasattr(self.send, "send_framed"):
            reasons.append("the sender takes no framed documents")
        if reasons and self.engine == "rust":
            raise ValueError("cannot ship with the compiled engine: " + "; ".join(reasons))
        return not reasons

    def pending_bytes(self) -> int:
        """Bytes not yet shipped (for a progress bar); approximate for .gz files."""
        registry = Registry.load(self.registry_path)
        total = 0
        for path in expand_paths(self.patterns):
            try:
                _, state = identify(path, registry)
                if not state.finished:
                    total += max(0, os.path.getsize(path) - state.offset)
            except OSError:
                continue
        return total

    def run(self) -> ShipSummary:
        started = time.monotonic()
        with RunLock(self.state_dir):
            try:
                if self.uses_native():
                    from .ship_native import NativeRun

                    NativeRun(self).run()
                else:
                    self._run()
            finally:
                self.summary.seconds = time.monotonic() - started
                self.deadletter.close()
        return self.summary

    def _pipeline(self, registry: Registry) -> AccessPipeline:
        from ..processors.join import Joiner

        joiner = Joiner() if self.close_grace_seconds is None else Joiner(self.close_grace_seconds)
        pipeline = AccessPipeline(connections=self.connections, deadletter=self.deadletter,
                                  host_name=self.host_name, service_name=self.service_name,
                                  with_ids=True, flush_at_end=False, joiner=joiner,
                                  extra_processors=self.extra_processors)
        pipeline.import_state(registry.pipeline)
        return pipeline

    def _run(self) -> None:
        registry = Registry.load(self.registry_path)
        pipeline = self._pipeline(registry)
        summary = self.summary
        batch: list[dict[str, Any]] = []
        seen: set[str] = set()

        # One batch is delivered (in a thread) while the next one is parsed: Elasticsearch indexes on
        # the other core meanwhile. A checkpoint is taken at the line boundary where its batch was cut
        # and written only after that batch was acknowledged; batches are delivered in order.
        inflight: list[Future[None]] = []
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dirsrvbeat-bulk")

        def settle() -> None:
            while inflight:
                inflight.pop(0).result()  # re-raises DeliveryFailed: nothing later is checkpointed

        def checkpoint() -> None:
            registry.pipeline = pipeline.export_state()
            snapshot = registry.snapshot()
            docs = list(batch)
            batch.clear()
            settle()
            inflight.append(executor.submit(self._deliver_and_commit, docs, snapshot))

        try:
            self._read_all(registry, pipeline, batch, seen, checkpoint)
            settle()
        finally:
            executor.shutdown(wait=True)
        summary.unparsed = pipeline.parse.stats.unparsed

    def _deliver_and_commit(self, docs: list[dict[str, Any]], snapshot: bytes) -> None:
        if docs:
            self._deliver(docs)
        Registry.write_snapshot(self.registry_path, snapshot)
        self.summary.checkpoints += 1

    def _read_all(self, registry: Registry, pipeline: AccessPipeline, batch: list[dict[str, Any]],
                  seen: set[str], checkpoint: Callable[[], None]) -> None:
        summary = self.summary

        for path in expand_paths(self.patterns):
            opened = open_resumed(path, registry, seen, summary)
            if opened is None:
                continue
            stream, state, live = opened
            try:
                for line in iter_lines(path, stream, start_offset=state.offset, start_lineno=state.lineno,
                                       keep_partial_last_line=not live):
                    pipeline.feed_line(line, batch)
                    summary.lines += 1
                    summary.bytes += line.end - line.offset
                    state.offset = line.end
                    state.lineno = line.lineno
                    if len(batch) >= self.batch_docs:
                        checkpoint()
                        if self.progress is not None:
                            self.progress(summary.bytes)
                if not live:
                    state.finished = True
                checkpoint()
                if self.progress is not None:
                    self.progress(summary.bytes)
            finally:
                stream.close()
        pipeline.expire_closed(time.time(), batch)
        forget_deleted(registry, seen)
        checkpoint()

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        result = self.send(batch)  # raises on failure: no checkpoint
        self.summary.documents += len(batch)
        self.summary.operations += sum(1 for d in batch if d["event"]["dataset"] == "dirsrv.access")
        self.summary.acknowledged += result.acknowledged
        self.summary.rejected += result.rejected


def open_resumed(path: str, registry: Registry, seen: set[str],
                 summary: ShipSummary) -> tuple[IO[bytes], FileState, bool] | None:
    """Open `path` where the last run left it: (stream positioned at the delivered offset, its
    registry entry, whether it is the live file), or None when it is done or unreadable (the
    error is kept in the summary). A file shorter than its offset was truncated: from the start."""
    try:
        key, state = identify(path, registry)
    except OSError as exc:
        summary.errors.append(f"{path}: {exc.strerror or exc}")
        return None
    seen.add(key)
    if state.finished:
        return None
    live = ROTATED_SUFFIX.search(path) is None
    try:
        stream = open_log(path)
    except OSError as exc:
        summary.errors.append(f"{path}: {exc.strerror or exc}")
        return None
    summary.files += 1
    try:
        if state.offset:
            if not isinstance(stream, gzip.GzipFile) and os.fstat(stream.fileno()).st_size < state.offset:
                log.warning("%s: shorter than the delivered offset (truncated): reading from the start", path)
                state.offset = state.lineno = 0
            stream.seek(state.offset)  # gzip: decompresses up to the offset
    except BaseException:
        stream.close()
        raise
    return stream, state, live


def forget_deleted(registry: Registry, seen: set[str]) -> None:
    """Forget rotated files that were read to the end and have since been deleted."""
    for key in [k for k, s in registry.files.items() if k not in seen and s.finished and not os.path.exists(s.path)]:
        del registry.files[key]
