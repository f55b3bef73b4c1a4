"""`dirsrvbeat access report`: logconv's summary, better, from the same parse/join/enrich pipeline."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def add_parser(asub: Any) -> None:
    p = asub.add_parser(
        "report", help="summary report of access logs (logconv, better): text, JSON or HTML",
        description="Read access logs once (rotated and .gz files in order, - for stdin) and print a report: "
                    "operation totals and rates, result codes, latency percentiles, the slowest operations, "
                    "unindexed searches by filter shape with index advice, top bind DNs and clients, worker "
                    "wait, connections and close codes, abandons, failed binds. Memory stays flat: nothing "
                    "is kept per operation.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  dirsrvbeat access report /var/log/dirsrv/slapd-x/access*\n"
               "  dirsrvbeat access report --html report.html --start 2026-12-04T08:00 --end 2026-12-04T09:00 "
               "access\n"
               "  dirsrvbeat access report --json -X 10.0.0.5 -B uid=app,ou=services,dc=example,dc=com access*")
    p.add_argument("paths", nargs="*", default=["-"], metavar="FILE",
                   help="files, globs or directories (rotated files are read oldest first); - = stdin")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the report model as JSON")
    out.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with charts")
    out.add_argument("-o", "--output", default="-", metavar="FILE", help="text/JSON output file (default stdout)")
    out.add_argument("-s", "--top", "--sizeLimit", dest="top", type=int, default=20, metavar="N",
                     help="rows per top-N list (default 20)")
    out.add_argument("--width", type=int, help="text width (default: the terminal's, 200 when piped)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar (it shows on a TTY only)")
    flt = p.add_argument_group("filters (as logconv's -S/-E, -X, -B)")
    flt.add_argument("-S", "--start", metavar="TIME",
                     help="ignore operations before TIME: 2026-12-04T19:53:00[+01:00] (UTC when no offset) "
                          "or logconv's [04/Dec/2026:19:53:00 +0000]")
    flt.add_argument("-E", "--end", metavar="TIME", help="ignore operations after TIME")
    flt.add_argument("-X", "--exclude-ip", action="append", default=[], metavar="IP",
                     help="ignore operations and connections from this client address (repeatable)")
    flt.add_argument("-B", "--bind", action="append", default=[], metavar="DN",
                     help="only operations of this bind DN (repeatable; ANONYMOUS for anonymous, ALL = no filter)")
    adv = p.add_argument_group("analysis")
    adv.add_argument("--workloads", metavar="RULES.yml",
                     help="classify with these workload rules (CEL) and report per workload too")
    adv.add_argument("--instance", help="instance name in the dsconf commands (default: from the log banner)")
    adv.add_argument("--backend", help="backend name or suffix in the dsconf commands (default: guessed from "
                                       "the search bases)")
    adv.add_argument("--key-cap", type=int, default=10_000, metavar="N",
                     help="distinct bind DNs / clients / filter shapes kept before (other) (default 10000)")
    adv.add_argument("--dead-letter", metavar="FILE", help="write unparsed lines here (default: only counted)")
    p.set_defaults(func=cmd_report)


def _options(args: argparse.Namespace) -> Any:
    from ..report import ReportOptions, parse_time

    filters: dict[str, Any] = {}
    start = end = None
    if args.start:
        start = parse_time(args.start)
        filters["start"] = args.start
    if args.end:
        end = parse_time(args.end)
        filters["end"] = args.end
    if start is not None and end is not None and end < start:
        from ..report import ReportError

        raise ReportError("--end is before --start")
    exclude = frozenset(args.exclude_ip)
    if exclude:
        filters["exclude_ip"] = sorted(exclude)
    binds = None
    wanted = [b for b in args.bind if b.upper() != "ALL"]
    if wanted:
        binds = frozenset("" if b.upper() == "ANONYMOUS" else b.strip().lower() for b in wanted)
        filters["bind"] = wanted
    progress = not args.no_progress and not args.json and sys.stderr.isatty()
    return ReportOptions(paths=args.paths, start=start, end=end, exclude_ips=exclude, bind_dns=binds,
                         workloads_file=args.workloads, top_n=max(1, args.top), key_cap=max(10, args.key_cap),
                         instance=args.instance, backend=args.backend, progress=progress,
                         dead_letter=args.dead_letter, filters_text=filters)


def cmd_report(args: argparse.Namespace) -> int:
    from ..deadletter import MalformedLine
    from ..report import ReportError, build_report

    try:
        options = _options(args)
        model = build_report(options)
    except ReportError as exc:
        print(f"dirsrvbeat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MalformedLine as exc:
        print(f"dirsrvbeat: unparsable line: {exc}", file=sys.stderr)
        return EXIT_ERROR
    meta = model["meta"]
    for err in meta.get("errors", []):
        print(f"dirsrvbeat: {err}", file=sys.stderr)
    if args.html:
        from ..report.render_html import render_html

        with open(args.html, "w", encoding="utf-8") as f:
            f.write(render_html(model))
    if args.output == "-":
        _emit(args, model, sys.stdout, sys.stdout.isatty())
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            _emit(args, model, f, False)
    if meta.get("missing_files") and not meta.get("files"):
        return EXIT_ERROR
    return EXIT_OK


def _emit(args: argparse.Namespace, model: dict[str, Any], out: Any, tty: bool) -> None:
    if args.json:
        out.write(orjson.dumps(model, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
        out.write("\n")
        return
    from ..report.render_text import render_text

    width = args.width or (None if tty else int(os.environ.get("COLUMNS", "0")) or None)
    render_text(model, out, tty=tty, width=width)
