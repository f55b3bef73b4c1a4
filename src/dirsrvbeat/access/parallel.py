"""`access parse --workers N`: the pipeline sharded by connection across processes.

Every worker reads the whole input and fully processes only the lines of its shard (connection
id mod N, read exactly as the parser reads it; lines without a connection id, such as banners
and junk, belong to shard 0). From the other shards' lines it takes only what `Joiner` shares
across connections, so that its documents are exactly those one process makes for its
connections:

* `connection from` lines: a connection id that goes backwards is a server restart, which
  flushes everything (every shard sees it at the same line);
* close lines: `Joiner.closing` is one queue in line order whose front decides what expires,
  so every shard keeps the whole queue (other shards' entries are placeholders);
* every line that is a record moves the close-grace clock (expiry);
* banner lines (text or JSON header): the server's version and instance.

Bad stamps are counted only by the line's own shard. When the compiled engine is installed
each worker runs it in sharded mode (`dirsrvbeat_fast.Engine(..., shard=i, nshards=N)`, the
same rules in Rust); otherwise (or with --strict or extra processors) the Python pipeline runs
in each worker. Workers write their NDJSON in chunks of at least 1 MiB under one lock; the
main process only supervises, so there is no queue to deadlock on. A failing or killed worker,
or Ctrl-C, stops all workers promptly. Stdin cannot be read twice, so `-` is refused.
"""

from __future__ import annotations

import contextlib
import gzip
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
import traceback
from typing import Any

import orjson

from ..deadletter import DeadLetter, MalformedLine
from ..inputs.access_file import Line, expand_paths, open_log
from ..timestamps import BadTimestamp

# The Python pipeline (parser, joiner, enricher: tens of ms to import) is imported by the Python
# shards only, not when the workers run the compiled engine.

CHUNK_BYTES = 1 << 20
SUM_KEYS = ("lines", "parsed", "unparsed", "bad_utf8_lines", "header_lines", "blank_lines", "requests",
            "results", "ops_emitted", "results_without_request", "requests_without_result",
            "connections_emitted", "orphan_detail_lines", "bad_timestamps", "documents")
# the same in every worker (every worker reads every file and sees every restart): shard 0's
SHARED_KEYS = ("files", "missing_files", "bytes", "server_restarts", "errors")
POLL_SECONDS = 0.1


class WorkerError(RuntimeError):
    """A worker failed or died; the others were stopped."""


class _LockedStream:
    """Whole writes to a file descriptor under a lock shared by the workers."""

    def __init__(self, fd: int, lock: Any) -> None:
        self.fd = fd
        self.lock = lock

    def write(self, data: bytes) -> int:
        with self.lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        return len(data)

    def flush(self) -> None:
        pass


class _Chunked:
    """Collects writes and passes them on in chunks of at least CHUNK_BYTES (and at flush)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= CHUNK_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.parts:
            self.stream.write(self.parts[0] if len(self.parts) == 1 else b"".join(self.parts))
            self.parts.clear()
            self.size = 0


# ------------------------------------------------------------------------------ line routing

def _text_route(raw: bytes) -> tuple[int, int, bool]:
    """(connection id or -1, index of the stamp's `] `, operation line?) of a text line.

    As parse_text reads it: the first `] ` after the `[`, then `conn=`, then a token of 1-18
    ASCII digits (optionally followed by `(Internal) `) or `Internal…` (connection 0). An
    operation line has `op=N VERB` and its verb is not `fd=` (that is a close)."""
    close = raw.find(b"] ", 1)
    if close < 0 or not raw.startswith(b"conn=", close + 2):
        return -1, -1, False
    start = close + 7
    sp = raw.find(b" ", start)
    if sp < 0:
        return -1, -1, False
    tok = raw[start:sp]
    rest = sp + 1
    if tok.isdigit() and len(tok) <= 18:  # bytes.isdigit(): ASCII only
        conn = int(tok)
        if raw.startswith(b"(Internal) ", rest):
            rest += 11
    elif tok.startswith(b"Internal"):
        conn = 0
    else:
        return -1, -1, False
    if not raw.startswith(b"op=", rest):
        return conn, close, False
    sp = raw.find(b" ", rest + 3)
    if sp < 0:
        return -1, -1, False  # no record: any shard will do
    return conn, close, not raw.startswith(b"fd=", sp + 1)


def _decode(raw: bytes) -> tuple[str, bool]:
    """As iter_lines: UTF-8 (replacement when it is not), without the line end."""
    try:
        text = raw.decode("utf-8")
        bad = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        bad = True
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    return text, bad


class _PythonShard:
    """One shard of the Python pipeline (the rules of the module docstring)."""

    def __init__(self, index: int, workers: int, options: dict[str, Any], dead: DeadLetter) -> None:
        from ..processors.parse import parse_line
        from .pipeline import AccessPipeline

        self.index = index
        self.workers = workers
        self.parse_line = parse_line
        self.pipeline = AccessPipeline(deadletter=dead, **options)
        self.joiner = self.pipeline.joiner
        self.events: list[Any] = []

    def record(self, text: str) -> dict[str, Any] | None:
        """The record Parse would hand to the joiner (None: blank, banner, junk)."""
        try:
            rec = self.parse_line(text)
        except (ValueError, IndexError, KeyError, TypeError):
            return None
        if rec is None or rec["kind"] in ("blank", "header") or "t" not in rec or "conn" not in rec:
            return None
        return rec

    def owner(self, raw: bytes, text: str | None) -> tuple[int, int, bool]:
        """(shard, stamp end, operation line?) of a line."""
        if raw[:1] == b"{":  # JSON: only the parser knows the connection (int(), "Internal" ...)
            rec = self.record(text if text is not None else _decode(raw)[0])
            if rec is None or not isinstance(rec.get("conn"), int):
                return 0, -1, False
            return rec["conn"] % self.workers, -1, False
        if raw[:1] != b"[":
            return 0, -1, False
        conn, close, op_line = _text_route(raw)
        return (conn % self.workers if conn >= 0 else 0), close, op_line

    def foreign(self, raw: bytes, close: int, op_line: bool) -> None:
        joiner = self.joiner
        if op_line:  # an operation of another shard: only the clock, and only if it is a record
            closing = joiner.closing
            if not closing:
                return
            stamp = raw[1:close].decode("utf-8", "replace")
            try:
                if closing[0][0] >= joiner.ts.second_epoch(stamp) + 1:
                    return
                epoch = joiner.ts.convert(stamp)[0]
            except BadTimestamp:
                return
            if closing[0][0] < epoch and self.record(_decode(raw)[0]) is not None:
                joiner.expire_closed(epoch, self.events)
            return
        if close < 0 and raw[:1] not in (b"{", b"\t", b"3"):  # junk, blank: nothing for this shard
            return
        try:  # a connection's line, a JSON event or a banner (every shard needs the server facts)
            rec = self.parse_line(_decode(raw)[0])
        except (ValueError, IndexError, KeyError, TypeError):
            return
        if rec is None or rec["kind"] == "blank":
            return
        if rec["kind"] == "header":
            self.banner(rec)
            return
        if "t" not in rec or "conn" not in rec:
            return
        t = rec["t"]
        if joiner.closing:
            self.tick(t)
        if rec["kind"] == "open":
            joiner.observe_open(rec["conn"], self.events)
        elif rec["kind"] == "close":  # another shard's close: a placeholder in the one queue
            try:
                epoch = joiner.ts.convert(t)[0] or 0.0
            except BadTimestamp:
                epoch = 0.0
            joiner.closing.append((epoch + joiner.grace, None, None))

    def tick(self, t: str) -> None:
        """Joiner._expire without counting bad stamps (the line's own shard counts them)."""
        joiner = self.joiner
        try:
            if joiner.closing[0][0] >= joiner.ts.second_epoch(t) + 1:
                return
            epoch = joiner.ts.convert(t)[0]
        except BadTimestamp:
            return
        joiner.expire_closed(epoch, self.events)

    def banner(self, rec: dict[str, Any]) -> None:
        self.pipeline.header(rec["text"])
        if rec.get("instance"):
            self.pipeline.header(str(rec["instance"]))

    def run(self, files: list[str], out: Any) -> dict[str, Any]:
        pipeline = self.pipeline
        feed = pipeline.feed_line
        events = self.events
        docs: list[dict[str, Any]] = []
        dumps = orjson.dumps
        option = orjson.OPT_APPEND_NEWLINE
        documents = 0
        files_read = missing = total_bytes = 0
        errors: list[str] = []
        for path in files:
            try:
                stream = open_log(path)
            except OSError as exc:
                missing += 1
                errors.append(f"{path}: {exc.strerror or exc}")
                continue
            files_read += 1
            offset = 0
            lineno = 0
            try:
                for raw in stream:
                    lineno += 1
                    length = len(raw)
                    shard, close, op_line = self.owner(raw, None)
                    if shard == self.index:
                        text, bad = _decode(raw)
                        feed(Line(path, offset, lineno, text, bad, offset + length), docs)
                    else:
                        self.foreign(raw, close, op_line)
                        if events:  # restart or expiry: same stages as feed_line
                            pipeline._emit(events, docs)
                            events.clear()
                    if docs:
                        for doc in docs:
                            out.write(dumps(doc, option=option))
                        documents += len(docs)
                        docs.clear()
                    offset += length
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                errors.append(f"{path}: read error after {lineno} lines: {exc}")
            finally:
                stream.close()
            total_bytes += offset
        pipeline.flush(docs)
        for doc in docs:
            out.write(dumps(doc, option=option))
        documents += len(docs)
        summary = pipeline.summary()
        summary.update(files=files_read, missing_files=missing, bytes=total_bytes, errors=errors,
                       documents=documents, engine="python")
        return summary


# ------------------------------------------------------------------------------ workers

def _worker(index: int, workers: int, files: list[str], options: dict[str, Any], engine: str, out_fd: int,
            dl_path: str | None, lock: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    dead = None
    try:
        to_stderr = dl_path in (None, "-")
        dead = DeadLetter(stream=_LockedStream(2, lock) if to_stderr else None,  # type: ignore[arg-type]
                          path=None if to_stderr else f"{dl_path}.w{index}")
        if engine == "rust":  # the engine reads the files and writes (>= 1 MiB, under the lock) itself
            from . import fast

            summary = fast.fast_documents_ndjson(
                files, connections=options.get("connections", False), with_ids=options.get("with_ids", False),
                host_name=options.get("host_name"), service_name=options.get("service_name"),
                deadletter=dead, out_fd=out_fd, out_lock=lock, min_write=CHUNK_BYTES, shard=index,
                nshards=workers)
        else:
            out = _Chunked(_LockedStream(out_fd, lock))
            summary = _PythonShard(index, workers, options, dead).run(files, out)
            out.flush()
        dead.close()
        summary["dead_letter_part"] = dead.path
        results.put((index, summary, None))
    except MalformedLine as exc:  # --strict: the parent raises it again
        results.put((index, None, ("malformed", exc.path, exc.lineno, exc.reason, str(exc.args[0]))))
    except BaseException:  # report, never hang the parent
        results.put((index, None, ("error", traceback.format_exc())))
    finally:
        if dead is not None:
            dead.close()


def choose_engine(engine: str, options: dict[str, Any]) -> str:
    """"rust" or "python" for the workers (`auto`: the compiled engine when it can do the job)."""
    from . import fast

    python_only = bool(options.get("strict")) or bool(options.get("extra_processors"))
    if engine == "python" or (engine == "auto" and (python_only or not fast.available())):
        return "python"
    if not fast.available():
        raise RuntimeError("dirsrvbeat_fast is not installed (rust/build.sh)")
    if python_only:
        raise ValueError("--strict and extra processors need the Python engine")
    return "rust"


def run_parallel(paths: list[str], workers: int, out_fd: int, *, deadletter_path: str | None,
                 engine: str = "auto", **options: Any) -> dict[str, Any]:
    """Run `workers` shard processes writing to `out_fd`; the summary of one process (summed)."""
    files = expand_paths(paths)
    if "-" in files:
        raise ValueError("--workers needs files: stdin cannot be read by several processes")
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    engine = choose_engine(engine, options)
    ctx = mp.get_context("fork")
    lock = ctx.Lock()
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, name=f"dirsrvbeat-shard-{i}",
                         args=(i, workers, files, options, engine, out_fd, deadletter_path, lock, results),
                         daemon=True) for i in range(workers)]
    summaries: dict[int, dict[str, Any]] = {}
    ok = False
    try:
        for p in procs:
            p.start()
        while len(summaries) < workers:
            try:
                index, summary, error = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                for i, p in enumerate(procs):
                    if i not in summaries and not p.is_alive() and p.exitcode != 0:
                        raise WorkerError(f"worker {i} died (exit code {p.exitcode})") from None
                continue
            if error is not None:
                if error[0] == "malformed":
                    _, path, lineno, reason, message = error
                    exc = MalformedLine(path, lineno, reason, "")
                    exc.args = (message,)
                    raise exc
                raise WorkerError(f"worker {index} failed:\n{error[1]}")
            summaries[index] = summary
        ok = True
    finally:
        _stop(procs, graceful=ok)
        if not ok and deadletter_path not in (None, "-"):
            for i in range(workers):
                with contextlib.suppress(OSError):
                    os.unlink(f"{deadletter_path}.w{i}")
    total: dict[str, Any] = {key: sum(s.get(key, 0) for s in summaries.values()) for key in SUM_KEYS}
    for key in SHARED_KEYS:
        total[key] = summaries[0][key]
    total["workers"] = workers
    total["engine"] = engine
    total["dead_letter"] = deadletter_path
    if deadletter_path not in (None, "-"):
        with open(deadletter_path, "ab") as dst:
            for i in range(workers):
                part = summaries[i].get("dead_letter_part")
                if part and os.path.exists(part):
                    with open(part, "rb") as src:
                        while chunk := src.read(CHUNK_BYTES):
                            dst.write(chunk)
                    os.unlink(part)
    return total


def _stop(procs: list[Any], graceful: bool) -> None:
    """Join the workers; after a failure or Ctrl-C, terminate them first (then kill stragglers)."""
    if not graceful:
        for p in procs:
            if p.is_alive():
                p.terminate()
    deadline = time.monotonic() + (10.0 if graceful else 2.0)
    for p in procs:
        if p.pid is None:
            continue
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(timeout=1.0)


if __name__ == "__main__":  # pragma: no cover - manual check
    print(orjson.dumps(run_parallel(sys.argv[2:], int(sys.argv[1]), 1, deadletter_path="-")).decode(),
          file=sys.stderr)
