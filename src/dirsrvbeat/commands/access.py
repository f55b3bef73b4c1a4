"""`dirsrvbeat access parse|ship|report`.

Start-up matters here (a 100 MB log parses in about a second): this module imports nothing heavy
at the top, and `ship` and `report` (modules of their own) are imported only when asked for.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

OPTIONAL_SUBCOMMANDS = ("ship", "report")  # dirsrvbeat.commands.access_<name>, when installed


def add_parser(sub: Any, subcommand: str | None = None) -> None:
    """The `access` parser; with `subcommand` (the one named on the command line), only the
    optional subcommand modules that parsing it needs are imported."""
    access = sub.add_parser("access", help="389 DS access logs: parse, ship, report")
    asub = access.add_subparsers(dest="access_command", metavar="SUBCOMMAND")
    asub.required = True

    p = asub.add_parser("parse", help="parse access logs to NDJSON (no server needed)",
                        description="Parse 389 DS access logs (text 1.3 → 3.x, JSON 3.x, .gz, rotated) "
                                    "into one enriched JSON document per operation.")
    p.add_argument("paths", nargs="*", default=["-"], metavar="FILE",
                   help="files, globs or directories (rotated files are read oldest first); - = stdin")
    p.add_argument("-o", "--output", default="-", help="output NDJSON file (default: stdout)")
    p.add_argument("--connections", action="store_true", help="also emit one document per connection")
    p.add_argument("--stats", action="store_true", help="print run statistics as JSON to stderr")
    p.add_argument("--strict", action="store_true", help="fail on the first line of unknown shape")
    p.add_argument("--dead-letter", default="-", metavar="FILE",
                   help="where unparsed lines go, one JSON object each (default: stderr)")
    p.add_argument("--host-name", help="host.name to put on every document")
    p.add_argument("--service-name", help="service.name (instance); default: from the log banner")
    p.add_argument("--ids", action="store_true", help="add a deterministic event.id to every document")
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (sharded by connection; output order differs, content equal)")
    p.add_argument("--workloads", metavar="RULES.yml",
                   help="CEL workload rules (as for the monitor collector): adds dirsrv.workload")
    p.add_argument("--engine", choices=("auto", "python", "rust"), default="auto",
                   help="auto: the compiled engine when installed (same documents), else Python")
    p.set_defaults(func=cmd_parse)

    for optional in OPTIONAL_SUBCOMMANDS:
        if subcommand in ("parse", *OPTIONAL_SUBCOMMANDS) and optional != subcommand:
            continue
        name = f"dirsrvbeat.commands.access_{optional}"
        try:
            module = __import__(name, fromlist=["add_parser"])
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a broken import inside the module must not hide the command
                raise
            continue
        module.add_parser(asub)


def _use_fast(args: argparse.Namespace) -> bool:
    """The compiled engine (rust/) gives the same documents; Python stays the reference/fallback."""
    if args.strict or args.engine == "python" or args.workloads:
        return False
    from ..access import fast

    if args.engine == "rust" and not fast.available():
        raise SystemExit("dirsrvbeat: --engine rust: dirsrvbeat_fast is not installed (rust/build.sh)")
    return fast.available()


def cmd_parse(args: argparse.Namespace) -> int:
    import orjson

    from ..deadletter import DeadLetter, MalformedLine
    from ..outputs.ndjson import NdjsonOutput

    deadletter = DeadLetter(args.dead_letter)
    out = NdjsonOutput(args.output)
    started = time.monotonic()
    options: dict[str, Any] = dict(connections=args.connections, strict=args.strict, deadletter=deadletter,
                                   host_name=args.host_name, service_name=args.service_name, with_ids=args.ids)
    if args.workloads:
        from ..processors.classify import Classify, RuleError

        try:
            options["extra_processors"] = [Classify(rules_file=args.workloads)]
        except (RuleError, OSError) as exc:
            print(f"dirsrvbeat: {args.workloads}: {exc}", file=sys.stderr)
            return 2
    try:
        if args.workers > 1 and "-" not in args.paths:
            from ..access.parallel import WorkerError, run_parallel

            options.pop("deadletter")
            out.stream.flush()
            try:
                summary = run_parallel(args.paths, args.workers, out.stream.fileno(),
                                       deadletter_path=args.dead_letter,
                                       engine="python" if args.strict or args.workloads else args.engine,
                                       **options)
            except WorkerError as exc:
                print(f"dirsrvbeat: {exc}", file=sys.stderr)
                return 1
            out.stats.documents = summary.pop("documents", 0)
        elif _use_fast(args):
            from ..access import fast

            summary = fast.fast_documents_ndjson(
                args.paths, connections=args.connections, with_ids=args.ids, host_name=args.host_name,
                service_name=args.service_name, deadletter=deadletter, out_stream=out.stream)
            out.stats.documents = summary.pop("documents")
        else:
            from ..access.pipeline import AccessPipeline

            pipeline = AccessPipeline(args.paths, **options)
            out.write(pipeline.documents())
            summary = pipeline.summary()
    except MalformedLine as exc:
        print(f"dirsrvbeat: unparsable line: {exc}", file=sys.stderr)
        return 3
    finally:
        out.close()
        deadletter.close()
    elapsed = time.monotonic() - started
    summary["documents"] = out.stats.documents
    summary["seconds"] = round(elapsed, 3)
    summary["mb_per_second"] = round(summary["bytes"] / 1e6 / elapsed, 2) if elapsed > 0 else None
    for err in summary.get("errors", []):
        print(f"dirsrvbeat: {err}", file=sys.stderr)
    if args.stats:
        sys.stderr.write(orjson.dumps(summary).decode() + "\n")
    elif summary["unparsed"]:
        print(f"dirsrvbeat: {summary['unparsed']} unparsed line(s) kept in "
              f"{'stderr' if args.dead_letter == '-' else args.dead_letter}", file=sys.stderr)
    if summary.get("missing_files") and not summary["files"]:
        return 1
    return 0
