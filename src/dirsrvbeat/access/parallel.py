"""`access parse --workers N`: the pipeline sharded by connection across processes.

Every worker reads the whole input (cheaply: bytes lines, conn id extracted without decoding)
and fully processes only the lines of its shard (conn id mod N). It still looks at the other
shards' lines for two global facts, so that its documents are exactly those one process makes:
`connection from` ids (server restarts) and timestamps (close-grace expiry). Workers write
their NDJSON in large chunks under one lock; the main process only supervises, so there is no
queue to deadlock on. Ctrl-C or a failing worker stops all workers. Stdin cannot be read twice,
so `-` falls back to one process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import traceback
from typing import Any

import orjson

from ..deadletter import DeadLetter
from ..inputs.access_file import Line, expand_paths, open_log
from .pipeline import AccessPipeline

CHUNK_BYTES = 1 << 20
SUM_KEYS = ("lines", "parsed", "unparsed", "bad_utf8_lines", "header_lines", "blank_lines", "requests",
            "results", "ops_emitted", "results_without_request", "requests_without_result",
            "connections_emitted", "orphan_detail_lines", "bad_timestamps")


class _LockedStream:
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


def _conn_of(raw: bytes) -> int:
    """Connection id of a raw line, or -1 (banner, junk: shard 0 handles those)."""
    i = raw.find(b"] conn=")
    if i < 0:
        if raw[:1] == b"{":
            j = raw.find(b'"conn_id":')
            if j >= 0:
                k = j + 10
                e = k
                while e < len(raw) and raw[e:e + 1].isdigit():
                    e += 1
                return int(raw[k:e]) if e > k else 0
        return -1
    j = raw.find(b" ", i + 7)
    tok = raw[i + 7:j] if j > 0 else raw[i + 7:].rstrip()
    return int(tok) if tok.isdigit() else 0


def _worker(index: int, workers: int, paths: list[str], options: dict[str, Any], out_fd: int,
            dl_path: str | None, lock: Any, results: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides
    try:
        out = _LockedStream(out_fd, lock)
        dead = DeadLetter(stream=_LockedStream(2, lock) if dl_path in (None, "-") else None,  # type: ignore[arg-type]
                          path=None if dl_path in (None, "-") else f"{dl_path}.w{index}")
        pipeline = AccessPipeline(deadletter=dead, **options)
        joiner = pipeline.joiner
        feed = pipeline.feed_line
        events: list[Any] = []
        docs: list[dict[str, Any]] = []
        buf: list[bytes] = []
        size = 0
        dumps = orjson.dumps
        total_bytes = 0

        def drain() -> None:
            nonlocal size
            if events:  # from other shards' lines (restart, clock): same stages as feed_line
                pipeline._emit(events, docs)
                events.clear()
            if docs:
                for doc in docs:
                    data = dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
                    buf.append(data)
                    size += len(data)
                docs.clear()
            if size >= CHUNK_BYTES:
                out.write(b"".join(buf))
                buf.clear()
                size = 0

        for path in paths:
            stream = open_log(path)
            try:
                offset = 0
                for lineno, raw in enumerate(stream, start=1):
                    length = len(raw)
                    conn = _conn_of(raw)
                    if conn % workers == index if conn >= 0 else index == 0:
                        try:
                            text = raw.decode("utf-8")
                            bad = False
                        except UnicodeDecodeError:
                            text = raw.decode("utf-8", "replace")
                            bad = True
                        if text.endswith("\n"):
                            text = text[:-2] if text.endswith("\r\n") else text[:-1]
                        feed(Line(path, offset, lineno, text, bad, offset + length), docs)
                    elif conn < 0:
                        if raw[:1] == b"\t":  # the banner: every shard needs the server's version/instance
                            pipeline.header(raw.decode("utf-8", "replace").strip())
                    else:
                        if b" connection from " in raw:
                            joiner.observe_open(conn, events)
                        if joiner.closing:
                            close = raw.find(b"]")
                            if raw[:1] == b"[" and close > 0:
                                joiner.tick(raw[1:close].decode("ascii", "replace"), events)
                    if events or docs:
                        drain()
                    offset += length
                total_bytes += offset
            finally:
                stream.close()
        pipeline.flush(docs)
        drain()
        if buf:
            out.write(b"".join(buf))
        dead.close()
        summary = pipeline.summary()
        summary["bytes"] = total_bytes
        summary["dead_letter_part"] = dead.path
        results.put((index, summary, None))
    except BaseException:  # report, never hang the parent
        results.put((index, None, traceback.format_exc()))




def run_parallel(paths: list[str], workers: int, out_fd: int, *, deadletter_path: str | None,
                 **options: Any) -> dict[str, Any]:
    files = expand_paths(paths)
    if "-" in files:
        raise ValueError("--workers needs files: stdin cannot be read by several processes")
    ctx = mp.get_context("fork")
    lock = ctx.Lock()
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(i, workers, files, options, out_fd, deadletter_path, lock, results),
                         daemon=True) for i in range(workers)]
    for p in procs:
        p.start()
    summaries: dict[int, dict[str, Any]] = {}
    try:
        while len(summaries) < workers:
            index, summary, error = results.get()
            if error is not None:
                raise RuntimeError(f"worker {index} failed:\n{error}")
            summaries[index] = summary
    except BaseException:
        for p in procs:
            if p.is_alive():
                p.terminate()
        raise
    finally:
        for p in procs:
            p.join(timeout=10)
    total: dict[str, Any] = {key: sum(s.get(key, 0) for s in summaries.values()) for key in SUM_KEYS}
    total["files"] = len(files)
    total["missing_files"] = 0
    total["bytes"] = summaries[0]["bytes"]
    total["server_restarts"] = summaries[0]["server_restarts"]
    total["workers"] = workers
    total["errors"] = []
    total["dead_letter"] = deadletter_path
    if deadletter_path not in (None, "-"):
        with open(deadletter_path, "ab") as dst:
            for s in summaries.values():
                part = s.get("dead_letter_part")
                if part and os.path.exists(part):
                    with open(part, "rb") as src:
                        dst.write(src.read())
                    os.unlink(part)
    return total


if __name__ == "__main__":  # pragma: no cover - manual check
    print(orjson.dumps(run_parallel(sys.argv[2:], int(sys.argv[1]), 1, deadletter_path="-")).decode(),
          file=sys.stderr)
