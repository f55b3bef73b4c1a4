"""The CLI imports only what the command named on the command line needs (start-up time).

`access parse` of a 100 MB log takes about a second, so a quarter of a second of imports (the
Elasticsearch client, the shipper, the configuration loader, the Python pipeline when the
compiled engine runs) was a quarter of the run. Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from dirsrvbeat.access import fast
from dirsrvbeat.cli import _named, build_parser

NEVER_FOR_PARSE = ("elastic_transport", "yaml", "dirsrvbeat.config", "dirsrvbeat.es",
                   "dirsrvbeat.commands.access_ship", "dirsrvbeat.commands.access_report",
                   "dirsrvbeat.commands.monitor", "dirsrvbeat.commands.setup")
PYTHON_PIPELINE = ("dirsrvbeat.access.pipeline", "dirsrvbeat.processors.enrich", "dirsrvbeat.processors.join")


def _modules_after(argv: list[str]) -> set[str]:
    code = ("import sys\nfrom dirsrvbeat.cli import main\nrc = main(sys.argv[1:])\n"
            "sys.stdout.flush()\nsys.stderr.write('\\n'.join(sorted(sys.modules)))\n")
    p = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return set(p.stderr.split("\n"))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_access_parse_imports_nothing_it_does_not_use(tmp_path, workers):
    log = tmp_path / "access"
    log.write_bytes(b"")
    loaded = _modules_after(["access", "parse", "--workers", workers, "--connections", str(log)])
    assert not loaded & set(NEVER_FOR_PARSE)
    if fast.available():
        assert not loaded & set(PYTHON_PIPELINE)


def test_named():
    assert _named(["access", "parse", "--workers", "2", "x.log"]) == ("access", "parse")
    assert _named(["-vv", "access", "report", "-h"]) == ("access", "report")
    assert _named(["--verbose", "setup", "--dry-run"]) == ("setup", None)
    assert _named(["-h"]) == (None, None)
    assert _named(["--", "access"]) == (None, None)


def _choices(parser, *path: str) -> list[str]:
    for name in path:
        parser = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[name]
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return list(sub.choices)


def test_the_whole_tree_when_no_known_command_is_named():
    for argv in (None, [], ["-h"], ["acces", "parse"], ["--", "access"]):
        parser = build_parser(argv)
        assert _choices(parser) == ["access", "monitor", "setup"]
        assert _choices(parser, "access") == ["parse", "ship", "report"]


def test_only_the_named_command_and_subcommand():
    assert _choices(build_parser(["access", "parse", "f"])) == ["access"]
    assert _choices(build_parser(["access", "parse", "f"]), "access") == ["parse"]
    assert _choices(build_parser(["access", "report", "f"]), "access") == ["parse", "report"]
    assert _choices(build_parser(["access", "-h"]), "access") == ["parse", "ship", "report"]
    assert _choices(build_parser(["-v", "setup", "--dry-run"])) == ["setup"]


@pytest.mark.parametrize("argv", [
    ["access", "parse", "--workers", "2", "--connections", "-o", "out.ndjson", "a.log", "b.log"],
    ["-v", "access", "report", "--json", "-X", "10.0.0.5", "access"],
    ["access", "ship", "--output", "ndjson", "--no-connections", "x"],
    ["monitor", "collect", "--ldif", "a.ldif", "--connections"],
    ["setup", "--dry-run", "--es-version", "8.15", "--json"],
])
def test_same_arguments_as_the_whole_tree(argv):
    assert vars(build_parser(argv).parse_args(argv)) == vars(build_parser().parse_args(argv))
