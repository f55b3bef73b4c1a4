"""`dirsrvbeat access ship`: incremental, resumable, locked delivery of access-log documents (cron)."""

from __future__ import annotations

import argparse
import os
import stat
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
    from ..config import add_config_argument, add_elasticsearch_arguments

    p = asub.add_parser(
        "ship", help="ship new access-log lines to Elasticsearch (or NDJSON), incrementally; cron-safe",
        description="Reads what is new since the last run (rotated and .gz files included), joins and "
                    "enriches it, delivers it, and only then advances the registry. Exit codes: 0 ok, "
                    "1 error, 2 usage or configuration, 65 documents rejected (dead-lettered), 69 delivery "
                    "failed (state not advanced; rerun), 75 another run holds the lock.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files/globs/directories (default: access.paths)")
    add_config_argument(p)
    p.add_argument("--state-dir", help=f"registry, lock and dead letters (default {DEFAULT_STATE_DIR})")
    p.add_argument("--output", choices=("elasticsearch", "ndjson"), default="elasticsearch")
    p.add_argument("--ndjson-file", help="with --output ndjson: append documents here (default stdout)")
    p.add_argument("--batch-docs", type=int, help="documents per checkpoint (default 5000)")
    p.add_argument("--no-connections", action="store_true", help="do not ship connection documents")
    p.add_argument("--engine", choices=("auto", "python", "rust"), default="auto",
                   help="auto (default): the compiled engine when installed and no workload rules are "
                        "given; python: the reference pipeline; rust: the compiled engine or an error")
    p.add_argument("--host-name")
    p.add_argument("--service-name")
    p.add_argument("--workloads", metavar="RULES.yml", help="CEL workload rules: adds dirsrv.workload "
                   "(config: access.workloads)")
    add_elasticsearch_arguments(p)
    p.set_defaults(func=cmd_ship)


class NdjsonSender:
    """Appends documents to a file and fsyncs before acknowledging (so state never runs ahead)."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def __call__(self, docs: list[dict[str, Any]]) -> SendResult:
        return self._write(b"".join(orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE) for d in docs), len(docs))

    def _write(self, data: bytes, count: int) -> SendResult:
        if self.path in (None, "-"):
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            with open(self.path, "ab") as f:
                f.write(data)
                f.flush()
                if stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # /dev/null, pipes: nothing to sync
                    os.fsync(f.fileno())
        return SendResult(acknowledged=count)

    # the compiled engine's path: documents arrive serialised, one line each
    def framing(self) -> None:
        return None

    def limits(self) -> tuple[int, int]:
        return 5000, 4 << 20

    def send_framed(self, lines: list[bytes]) -> SendResult:
        return self._write(b"\n".join(lines) + b"\n" if lines else b"", len(lines))


def _config(args: argparse.Namespace) -> Any:
    """The configuration file (if any) with the CLI flags on top."""
    from ..config import c_opt_str, load_config, overrides_from_args, register_key

    register_key("access", "workloads", c_opt_str)  # rules file for the classify processor

    overrides = overrides_from_args(args)
    access: dict[str, Any] = {}
    if args.paths:
        access["paths"] = args.paths
    for key in ("state_dir", "host_name", "service_name", "workloads"):
        if getattr(args, key) is not None:
            access[key] = getattr(args, key)
    if args.no_connections:
        access["connections"] = False
    if access:
        overrides["access"] = access
    return load_config(getattr(args, "config", None), overrides=overrides)


class EsSender:
    """Delivers to Elasticsearch through ElasticsearchOutput; a failure is DeliveryFailed."""

    def __init__(self, es_cfg: Any, state_dir: str) -> None:
        from ..outputs.elasticsearch import DeliveryError, ElasticsearchOutput

        self.output = ElasticsearchOutput(config=es_cfg, dead_letter=os.path.join(state_dir, "rejected.ndjson"))
        self._delivery_error = DeliveryError

    def _call(self, fn: Any, arg: Any) -> Any:
        try:
            return fn(arg)
        except self._delivery_error as exc:
            raise DeliveryFailed(str(exc)) from exc

    def __call__(self, docs: list[dict[str, Any]]) -> SendResult:
        result = self._call(self.output.send, docs)
        return SendResult(acknowledged=result.acknowledged, rejected=len(result.rejected))

    # the compiled engine's path: documents arrive framed for _bulk
    def framing(self) -> tuple[str, str, str | None]:
        return self._call(lambda _: self.output.framing(), None)  # type: ignore[no-any-return]

    def limits(self) -> tuple[int, int]:
        return self.output.chunk_docs, self.output.chunk_bytes

    def send_framed(self, lines: list[bytes]) -> SendResult:
        result = self._call(self.output.send_framed, lines)
        return SendResult(acknowledged=result.acknowledged, rejected=len(result.rejected))

    def close(self) -> None:
        self.output.close()


def cmd_ship(args: argparse.Namespace) -> int:
    from ..config import ConfigError

    try:
        cfg = _config(args)
    except ConfigError as exc:
        print(f"dirsrvbeat: {exc}", file=sys.stderr)
        return 2
    access = cfg.access
    paths = access.paths
    if not paths:
        print("dirsrvbeat: no access-log paths (give PATH or access.paths in the config)", file=sys.stderr)
        return 2
    state_dir = access.state_dir or DEFAULT_STATE_DIR
    processors = []
    if access.extra.get("workloads"):
        from ..processors.classify import Classify, RuleError

        try:
            processors.append(Classify(rules_file=access.extra["workloads"]))
        except (RuleError, OSError) as exc:
            print(f"dirsrvbeat: {access.extra['workloads']}: {exc}", file=sys.stderr)
            return 2
    if args.output == "ndjson":
        send: Any = NdjsonSender(args.ndjson_file)
    else:
        send = EsSender(cfg.elasticsearch, state_dir)
    shipper = Shipper(paths, state_dir, send, batch_docs=args.batch_docs or 5000,
                      connections=access.connections, host_name=access.host_name,
                      service_name=access.service_name,
                      deadletter=DeadLetter(access.dead_letter or os.path.join(state_dir, "unparsed.ndjson")),
                      close_grace_seconds=access.close_grace_seconds, extra_processors=processors,
                      engine=args.engine)
    try:
        shipper.uses_native()
    except ValueError as exc:
        print(f"dirsrvbeat: {exc}", file=sys.stderr)
        return 2
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
        if hasattr(send, "close"):
            send.close()
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
