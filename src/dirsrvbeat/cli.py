"""The `dirsrvbeat` command line: one entry point, subcommands per job.

  dirsrvbeat access parse|ship|report   access-log pipeline
  dirsrvbeat monitor collect|serve      cn=monitor collector
  dirsrvbeat setup                      index templates (and Kibana objects)

Each job lives in `dirsrvbeat.commands.<job>` with an `add_parser(subparsers)` function.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

COMMAND_MODULES = ("access", "monitor", "setup")

# Exit codes (documented in README.md)
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dirsrvbeat", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"dirsrvbeat {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"dirsrvbeat.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dirsrvbeat.commands.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("dirsrvbeat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
