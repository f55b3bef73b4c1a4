"""The `dirsrvbeat` command line: one entry point, subcommands per job.

  dirsrvbeat access parse|ship|report   access-log pipeline
  dirsrvbeat monitor collect|serve      cn=monitor collector
  dirsrvbeat setup                      index templates (and Kibana objects)

Each job lives in `dirsrvbeat.commands.<job>` with an `add_parser(subparsers)` function.
Only the modules of the command named on the command line are imported (start-up time: a
command module imports its heavy dependencies inside its command functions, never at the top).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

COMMAND_MODULES = ("access", "monitor", "setup")
# commands whose add_parser(sub, subcommand=...) registers only the named subcommand's parser
# (the others live in modules of their own, worth not importing)
SUBCOMMAND_AWARE = ("access",)

# Exit codes (documented in README.md)
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _named(argv: list[str]) -> tuple[str | None, str | None]:
    """(command, subcommand) as named on the command line, None where it cannot be told.

    Before the command and between it and its subcommand there are only flags without values
    (-v, --verbose, --version, -h), so the first two words not starting with "-" are the names.
    """
    names: list[str | None] = []
    for arg in argv:
        if arg == "--" or len(names) == 2:
            break
        if not arg.startswith("-"):
            names.append(arg)
    names += [None, None]
    return names[0], names[1]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the arguments, only what parsing them needs (the usage and
    error messages are the same: a wrong or missing command name still gets every command)."""
    command, subcommand = _named(argv) if argv is not None else (None, None)
    if command not in COMMAND_MODULES:
        command = subcommand = None
    parser = argparse.ArgumentParser(prog="dirsrvbeat", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"dirsrvbeat {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        if command is not None and name != command:
            continue
        try:
            module = importlib.import_module(f"dirsrvbeat.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dirsrvbeat.commands.{name}":
                continue
            raise
        if name in SUBCOMMAND_AWARE:
            module.add_parser(sub, subcommand=subcommand)
        else:
            module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    import logging

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
