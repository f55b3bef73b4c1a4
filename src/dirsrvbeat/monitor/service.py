"""`dirsrvbeat monitor serve`: the scrape loop and its small HTTP server.

  /             endpoints and a summary of the last scrape (HTML)
  /metrics      Prometheus exposition of the last scrape (never touches LDAP)
  /healthz      200 while the scrape loop is alive (JSON: ldap_up, last scrape), 503 when stalled
  /connections  diagnostics: every open connection and the workload it got (JSON; ?format=text for a
                table; ?workload=NAME to filter)

The loop never dies of the directory: a failed scrape gives `up=0` (document and metric), then the
next attempt waits interval, 2 x interval, 4 x interval ... up to `max_backoff`, and returns to
the normal interval after the first success. Documents are shipped from a background thread
(`BackgroundSink`): a slow or unreachable output never delays a scrape; output errors are logged
and counted, never fatal.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .collector import Collector, Scrape
from .documents import DocumentBuilder
from .prom import MonitorMetrics

log = logging.getLogger("dirsrvbeat.monitor.serve")

Sink = Callable[[list[dict[str, Any]]], Any]


class BackgroundSink:
    """Ships documents from a thread, so a slow or unreachable output (the Elasticsearch output
    retries for minutes) never delays the scrapes, /metrics or /healthz. At most `max_batches`
    scrapes wait; when full, the oldest waiting batch is dropped and counted."""

    def __init__(self, sink: Sink, max_batches: int = 20) -> None:
        import collections

        self.sink = sink
        self.max_batches = max_batches
        self._queue: collections.deque[list[dict[str, Any]]] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.sent_batches = 0
        self.sent_documents = 0
        self.dropped_batches = 0
        self.errors = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="monitor-output", daemon=True)
        self._thread.start()

    def __call__(self, docs: list[dict[str, Any]]) -> None:
        with self._cond:
            if len(self._queue) >= self.max_batches:
                self._queue.popleft()
                self.dropped_batches += 1
                log.error("output too slow: dropped the documents of an older scrape (%d dropped so far)",
                          self.dropped_batches)
            self._queue.append(docs)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                docs = self._queue.popleft()
            try:
                self.sink(docs)
                self.sent_batches += 1
                self.sent_documents += len(docs)
            except Exception as exc:  # an output problem must not stop anything
                self.errors += 1
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                log.error("output failed (documents of one scrape dropped): %s", self.last_error)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float = 30.0) -> None:
        """Ship what is waiting (up to `timeout` seconds), then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)


def scrape_summary(scrape: Scrape | None) -> dict[str, Any]:
    if scrape is None:
        return {"scraped": False}
    out: dict[str, Any] = {
        "ok": scrape.ok, "url": scrape.url, "started_at": scrape.started_at, "timestamp": scrape.timestamp,
        "duration_seconds": round(scrape.duration, 4), "attempts": scrape.attempts,
    }
    if not scrape.ok:
        out["error"] = scrape.error
        return out
    out.update({"server_time": scrape.server_time, "version": scrape.version,
                "connections_readable": scrape.connections_readable})
    if scrape.connections_readable:
        out["connections"] = len(scrape.connections)
        out["unparsed_connections"] = len(scrape.unparsed)
        out["classify_errors"] = scrape.classify_errors
        out["workloads"] = {w: s.connections for w, s in scrape.workloads.items()}
    else:
        out["connections_message"] = scrape.connections_message
    if scrape.warnings:
        out["warnings"] = scrape.warnings
    return out


class MonitorService:
    def __init__(self, collector: Collector, builder: DocumentBuilder, sink: Sink | None = None) -> None:
        self.collector = collector
        self.cfg = collector.cfg
        self.builder = builder
        self.sink = sink
        self.last: Scrape | None = None
        self.started = time.time()
        self.heartbeat = time.monotonic()
        self.output_errors = 0
        self.last_output_error: str | None = None
        self.documents_sent = 0
        self.failures_in_a_row = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MonitorMetrics(lambda: self.last, collector))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ loop
    def run_once(self) -> Scrape:
        scrape = self.collector.scrape()
        self.last = scrape
        self.failures_in_a_row = 0 if scrape.ok else self.failures_in_a_row + 1
        if self.sink is not None:
            try:
                docs = self.builder.documents(scrape)
                self.sink(docs)
                self.documents_sent += len(docs)
            except Exception as exc:  # an output problem must not stop the collector
                self.output_errors += 1
                self.last_output_error = f"{exc.__class__.__name__}: {exc}"
                log.error("output failed (documents of this scrape dropped): %s", self.last_output_error)
        return scrape

    def output_summary(self) -> dict[str, Any]:
        sink = self.sink
        if isinstance(sink, BackgroundSink):
            return {"sent_documents": sink.sent_documents, "pending_scrapes": sink.pending(),
                    "dropped_scrapes": sink.dropped_batches, "errors": sink.errors, "last_error": sink.last_error}
        return {"sent_documents": self.documents_sent, "errors": self.output_errors,
                "last_error": self.last_output_error}

    def next_wait(self) -> float:
        interval = self.cfg.interval
        if self.failures_in_a_row == 0:
            return interval
        return min(self.cfg.max_backoff, interval * 2 ** min(self.failures_in_a_row - 1, 20))

    def run(self, stop: threading.Event, max_scrapes: int | None = None) -> None:
        done = 0
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                self.run_once()
            except Exception:  # never die: log and keep the loop going
                self.failures_in_a_row += 1
                log.exception("unexpected error during a scrape (the loop continues)")
            self.heartbeat = time.monotonic()
            done += 1
            if max_scrapes is not None and done >= max_scrapes:
                break
            stop.wait(max(0.0, self.next_wait() - (time.monotonic() - t0)))
        self.collector.close()

    def healthy(self) -> bool:
        budget = self.next_wait() + self.cfg.timeout * (self.cfg.retries + 2) + 30
        return time.monotonic() - self.heartbeat < budget

    # ------------------------------------------------------------------ HTTP
    def make_server(self, host: str, port: int) -> ThreadingHTTPServer:
        service = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "dirsrvbeat-monitor"

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("http %s - " + fmt, self.client_address[0], *args)

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                try:
                    if url.path == "/metrics":
                        self._send(200, generate_latest(service.registry), CONTENT_TYPE_LATEST)
                    elif url.path == "/healthz":
                        ok = service.healthy()
                        body = {"status": "ok" if ok else "stalled",
                                "ldap_up": bool(service.last and service.last.ok),
                                "last_scrape": scrape_summary(service.last),
                                "output": service.output_summary()}
                        self._send(200 if ok else 503, orjson.dumps(body), "application/json")
                    elif url.path == "/connections":
                        self._connections(query)
                    elif url.path == "/":
                        self._send(200, service.index_page().encode(), "text/html; charset=utf-8")
                    else:
                        self._send(404, b"not found: try / /metrics /healthz /connections\n", "text/plain")
                except BrokenPipeError:
                    pass
                except Exception as exc:  # a handler bug must not kill the server thread
                    log.exception("http handler")
                    self._send(500, f"internal error: {exc.__class__.__name__}\n".encode(), "text/plain")

            def _connections(self, query: dict[str, list[str]]) -> None:
                scrape = service.last
                rows = DocumentBuilder.connection_rows(scrape) if scrape is not None and scrape.ok else []
                workload = (query.get("workload") or [None])[0]
                if workload:
                    rows = [r for r in rows if r["workload"] == workload]
                if (query.get("format") or ["json"])[0] == "text":
                    self._send(200, connections_table(scrape, rows).encode(), "text/plain; charset=utf-8")
                    return
                body = {"scrape": scrape_summary(scrape), "connections": rows}
                self._send(200, orjson.dumps(body), "application/json")

        return ThreadingHTTPServer((host, port), Handler)

    def index_page(self) -> str:
        s = scrape_summary(self.last)
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in s.items())
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>dirsrvbeat monitor</title></head>"
            "<body><h1>dirsrvbeat monitor</h1>"
            f"<p>Server: {html.escape(self.cfg.url)} &middot; every {self.cfg.interval:g} s</p><ul>"
            "<li><a href='/metrics'>/metrics</a> Prometheus exposition of the last scrape</li>"
            "<li><a href='/healthz'>/healthz</a> liveness of the scrape loop (JSON)</li>"
            "<li><a href='/connections'>/connections</a> every open connection and its workload (JSON; "
            "<a href='/connections?format=text'>as a table</a>)</li></ul>"
            f"<h2>Last scrape</h2><table>{rows}</table></body></html>")


def connections_table(scrape: Scrape | None, rows: list[dict[str, Any]]) -> str:
    if scrape is None:
        return "no scrape yet\n"
    if not scrape.ok:
        return f"last scrape failed: {scrape.error}\n"
    if not scrape.connections_readable:
        return f"{scrape.connections_message}\n"
    cols = ("conn_id", "workload", "age_seconds", "ops_initiated", "ops_pending", "threads_blocked", "ip",
            "bind_dn")
    table = [cols] + [tuple("" if r[c] is None else str(r[c]) + ("*" if c == "workload" and r["excluded"]
                                                                 else "") for c in cols) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols) - 1)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row[:-1], widths)) + "  " + row[-1] for row in table]
    lines.append(f"({len(rows)} connections at {scrape.server_time}; * = the collector itself, excluded)")
    return "\n".join(lines) + "\n"
