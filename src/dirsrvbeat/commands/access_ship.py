"""`dirsrvbeat access ship`: incremental, resumable, locked delivery of access-log documents (cron)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson

from ..access.ship import (
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNAVAILABLE,
    DeliveryFailed,
    Locked,
    SendResult,
    Shipper,
)
from ..deadletter import DeadLetter

DEFAULT_STATE_DIR = "/var/lib/dirsrvbeat"


def add_parser(asub: Any) -> None:
    p = asub.add_parser(
        "ship", help="ship new access-log lines to Elasticsearch (or NDJSON), incrementally; cron-safe",
        description="Reads what is new since the last run (rotated and .gz files included), joins and "
                    "enriches it, delivers it, and only then advances the registry. Exit codes: 0 ok, "
                    "1 error, 2 usage, 65 documents rejected (dead-lettered), 69 delivery failed (state "
                    "not advanced; rerun), 75 another run holds the lock.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files/globs/directories (default: from --config)")
    p.add_argument("-c", "--config", help="dirsrvbeat.yml")
    p.add_argument("--state-dir", help=f"registry, lock and dead letters (default {DEFAULT_STATE_DIR})")
    p.add_argument("--output", choices=("elasticsearch", "ndjson"), help="default: elasticsearch")
    p.add_argument("--ndjson-file", help="with --output ndjson: append documents here (default stdout)")
    p.add_argument("--es-url", action="append", help="Elasticsearch URL (repeatable)")
    p.add_argument("--username")
    p.add_argument("--password-file")
    p.add_argument("--api-key-file")
    p.add_argument("--ca-file")
    p.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    p.add_argument("--batch-docs", type=int, help="documents per checkpoint (default 5000)")
    p.add_argument("--no-connections", action="store_true", help="do not ship connection documents")
    p.add_argument("--host-name")
    p.add_argument("--service-name")
    p.set_defaults(func=cmd_ship)


class NdjsonSender:
    """Appends documents to a file and fsyncs before acknowledging (so state never runs ahead)."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def __call__(self, docs: list[dict[str, Any]]) -> SendResult:
        data = b"".join(orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE) for d in docs)
        if self.path in (None, "-"):
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            with open(self.path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        return SendResult(acknowledged=len(docs))


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Merge the config file (if any) with CLI flags; flags win."""
    cfg: dict[str, Any] = {}
    if args.config:
        from ..config import load_config

        cfg = load_config(args.config)
    access = dict(cfg.get("access") or {})
    es = dict(cfg.get("elasticsearch") or {})
    if args.paths:
        access["paths"] = args.paths
    for key in ("state_dir", "host_name", "service_name", "batch_docs"):
        if getattr(args, key) is not None:
            access[key] = getattr(args, key)
    if args.es_url:
        es["hosts"] = args.es_url
    for key in ("username", "password_file", "api_key_file", "ca_file"):
        if getattr(args, key):
            es[key] = getattr(args, key)
    if args.insecure:
        es["verify"] = False
    return {"access": access, "elasticsearch": es, "output": args.output or cfg.get("output") or "elasticsearch"}


def _es_sender(es_cfg: dict[str, Any], state_dir: str) -> Any:
    from ..outputs.elasticsearch import DeliveryError, ElasticsearchOutput

    output = ElasticsearchOutput.from_config(es_cfg, deadletter_path=os.path.join(state_dir, "rejected.ndjson"))

    def send(docs: list[dict[str, Any]]) -> SendResult:
        try:
            result = output.send(docs)
        except DeliveryError as exc:
            raise DeliveryFailed(str(exc)) from exc
        return SendResult(acknowledged=result.acknowledged, rejected=result.rejected)

    return send


def cmd_ship(args: argparse.Namespace) -> int:
    settings = _settings(args)
    access = settings["access"]
    paths = access.get("paths") or []
    if not paths:
        print("dirsrvbeat: no access-log paths (give PATH or access.paths in the config)", file=sys.stderr)
        return 2
    state_dir = access.get("state_dir") or DEFAULT_STATE_DIR
    if settings["output"] == "ndjson":
        send: Any = NdjsonSender(args.ndjson_file)
    else:
        if not settings["elasticsearch"].get("hosts"):
            print("dirsrvbeat: no Elasticsearch host (--es-url or elasticsearch.hosts)", file=sys.stderr)
            return 2
        send = _es_sender(settings["elasticsearch"], state_dir)
    shipper = Shipper(paths, state_dir, send, batch_docs=int(access.get("batch_docs") or 5000),
                      connections=not args.no_connections, host_name=access.get("host_name"),
                      service_name=access.get("service_name"),
                      deadletter=DeadLetter(os.path.join(state_dir, "unparsed.ndjson")),
                      close_grace_seconds=access.get("close_grace_seconds"))
    progress = None
    if sys.stderr.isatty():
        progress = _progress_bar(shipper)
        shipper.progress = progress.update if progress else None
    try:
        summary = shipper.run()
    except Locked as exc:
        print(f"dirsrvbeat: {exc}; exiting", file=sys.stderr)
        return EXIT_LOCKED
    except DeliveryFailed as exc:
        print(f"dirsrvbeat ship: delivery failed, state not advanced past the last acknowledged batch: {exc}",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        if progress:
            progress.close()
    print(f"dirsrvbeat ship: {summary.line()}", file=sys.stderr)
    for err in summary.errors:
        print(f"dirsrvbeat ship: {err}", file=sys.stderr)
    if summary.rejected:
        print(f"dirsrvbeat ship: {summary.rejected} document(s) rejected, kept in "
              f"{os.path.join(state_dir, 'rejected.ndjson')}", file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


class _progress_bar:
    def __init__(self, shipper: Shipper) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self.p = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), transient=True)
        self.task = self.p.add_task("shipping", total=shipper.pending_bytes() or None)
        self.p.start()

    def update(self, done: int) -> None:
        self.p.update(self.task, completed=done)

    def close(self) -> None:
        self.p.stop()
