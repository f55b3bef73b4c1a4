"""Test harness: markers, the service backend option, and the real-service fixtures.

Backends (`--backend` or DIRSRVBEAT_BACKEND):
  local           389 DS and Elasticsearch started by scripts/ds and scripts/es on 127.0.0.1 (default)
  testcontainers  Docker images (skips with a reason where no Docker engine exists)

Fixtures: `dirsrv` (tests/services/dirsrv.py), `es` (tests/services/es.py, parametrised over the
Elasticsearch version matrix; DIRSRVBEAT_ES_VERSIONS=6.8,7.10,... selects, `none` skips).
Unmarked tests are unit tests: no server, seconds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", default=os.environ.get("DIRSRVBEAT_BACKEND", "local"),
                     choices=("local", "testcontainers"), help="how real services are provided")


def pytest_configure(config: pytest.Config) -> None:
    os.environ["DIRSRVBEAT_BACKEND"] = config.getoption("--backend")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.unit)


def _backend() -> str:
    """The backend, decided when this module loads (fixtures are chosen at import time)."""
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return os.environ.get("DIRSRVBEAT_BACKEND", "local")


if _backend() == "testcontainers":
    from services.containers import dirsrv, es
else:
    from services.dirsrv import dirsrv
    from services.es import es

__all__ = ["dirsrv", "es"]  # the fixtures of the chosen backend
