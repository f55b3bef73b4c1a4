"""Real Elasticsearch servers (6.8 -> 9.x) for dirsrvbeat's integration tests.

The servers are managed by ``scripts/es/es.sh`` (fetch from Maven Central, start, stop, ...); the
version matrix (exact versions, ports, Java) lives in ONE place, ``scripts/es/versions.env``, which
both es.sh and this module read. This module adds what each server lacks (:data:`LIMITS`) and the
pytest side:

* :class:`EsVersion` -- one matrix row (key, version, port, url, flavor, limitations, works_here)
* :data:`MATRIX` / :func:`by_key` / :func:`selected_versions`
* :func:`start` / :func:`stop` / :func:`acquire` / :func:`release` / :func:`status` -- call es.sh
* :class:`EsServer` -- what the fixture yields: ``.url .version .major .minor .key .limitations``,
  ``.has(feature)``, ``.request()`` (urllib, no client library), ``.transport()`` (elastic_transport),
  ``.delete_indices()``
* :func:`es_fixture_factory` and the ready-made session fixture :func:`es` (alias ``es_fixture``),
  parametrised over the selected versions with ids = keys.

Use from ``tests/conftest.py``::

    from services.es import es  # noqa: F401

    @pytest.mark.integration
    @pytest.mark.elasticsearch
    def test_x(es):
        if not es.has("ilm"):
            pytest.skip(f"ES {es.version}: no ILM")
        status, body = es.request("GET", "/_cluster/health")

Environment:
  DIRSRVBEAT_ES_VERSIONS  comma list of keys (6.8,7.10,7.17,8,9); unset/``all`` = every version that works
                          here; ``none`` = tests using ``es`` skip
  DIRSRVBEAT_ES_KEEP=1    leave servers running after the session (local development); without it, each
                          server the fixture started is stopped when pytest moves to the next version (one ES
                          at a time), unless another live test session holds a lease on it or it was started
                          by hand with ``scripts/es/es.sh start KEY``
  DIRSRVBEAT_ES_WORK      work root passed through to es.sh (default /var/tmp/dirsrvbeat-es)
"""
from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Tuple

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ES_SH = REPO_ROOT / "scripts" / "es" / "es.sh"
VERSIONS_FILE = REPO_ROOT / "scripts" / "es" / "versions.env"

# --------------------------------------------------------------------------- features
# Feature names used by EsVersion.has(); a server "lacks" a feature when it is in its limitations.
GET_ROOT = "get_root"                    # GET / (moved to the rest-root module in 8.9; integ-test-zip lacks it)
ILM = "ilm"                              # _ilm/* (X-Pack basic, default distribution only)
INGEST = "ingest"                        # ingest processors (set, rename, ...): ingest-common module
PAINLESS = "painless"                    # scripts, runtime fields, _update with script
REINDEX = "reindex"                      # _reindex, _update_by_query, _delete_by_query
ANALYSIS_COMMON = "analysis_common"      # whitespace tokenizer, lowercase/asciifolding filters, custom analyzers
COMPOSABLE_TEMPLATES = "composable_templates"  # _index_template / _component_template (7.8+)
TYPELESS = "typeless"                    # mappings without a type name by default (7.0+)
DATA_STREAMS = "data_streams"            # writing into a data stream (7.9+ default distro; 8.x core)
DATA_STREAM_API = "data_stream_api"      # GET/DELETE _data_stream (data-streams module)
DATE_NANOS = "date_nanos"
FLATTENED = "flattened"
HISTOGRAM = "histogram"
WILDCARD = "wildcard"
CONSTANT_KEYWORD = "constant_keyword"
SCALED_FLOAT = "scaled_float"            # mapper-extras module
PRODUCT_HEADER = "product_header"        # X-Elastic-Product response header (7.14+), needed by elasticsearch-py >= 7.14
SQL = "sql"

# Measured on the servers themselves (docs/elasticsearch-matrix.md has the probe record).
_LIMITS: Dict[str, FrozenSet[str]] = {
    # full default distribution, X-Pack basic: has ILM, ingest, painless, SQL; 6.x mapping rules
    "6.8": frozenset({COMPOSABLE_TEMPLATES, TYPELESS, DATA_STREAMS, DATA_STREAM_API, DATE_NANOS, FLATTENED,
                      HISTOGRAM, WILDCARD, CONSTANT_KEYWORD, PRODUCT_HEADER}),
    # codelibs runner = all OSS modules, no X-Pack
    "7.10": frozenset({ILM, DATA_STREAMS, DATA_STREAM_API, FLATTENED, HISTOGRAM, WILDCARD, CONSTANT_KEYWORD,
                       PRODUCT_HEADER, SQL}),
    # integ-test-zip: server + transport-netty4 + x-pack-core/security only
    "7.17": frozenset({ILM, INGEST, PAINLESS, REINDEX, ANALYSIS_COMMON, DATA_STREAMS, DATA_STREAM_API, HISTOGRAM,
                       WILDCARD, CONSTANT_KEYWORD, SCALED_FLOAT, SQL}),
    "8": frozenset({GET_ROOT, ILM, INGEST, PAINLESS, REINDEX, ANALYSIS_COMMON, DATA_STREAM_API, HISTOGRAM,
                    WILDCARD, CONSTANT_KEYWORD, SCALED_FLOAT, SQL}),
    "9": frozenset({GET_ROOT, ILM, INGEST, PAINLESS, REINDEX, ANALYSIS_COMMON, DATA_STREAM_API, HISTOGRAM,
                    WILDCARD, CONSTANT_KEYWORD, SCALED_FLOAT, SQL}),
}
_FLAVOR = {"dist": "default distribution zip", "runner": "codelibs in-process runner (OSS modules)",
           "itz": "integ-test-zip (minimal)"}
# keys known not to work on this kind of machine, with the reason (versions.env column works=no)
_NOT_WORKING_REASONS: Dict[str, str] = {}


class EsError(RuntimeError):
    """es.sh or the server failed; the message carries es.sh's output and log tails."""


@dataclass(frozen=True)
class EsVersion:
    key: str                    # "6.8", "7.10", "7.17", "8", "9"
    version: str                # exact, e.g. "7.10.2"
    route: str                  # dist | runner | itz
    port: int
    java: str                   # accepted Java feature releases, e.g. "17-23", "21-"
    works_here: bool = True
    reason: str = ""            # why not, when works_here is False (or unavailable on this machine)
    limitations: FrozenSet[str] = field(default_factory=frozenset)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def version_tuple(self) -> Tuple[int, ...]:
        return tuple(int(p) for p in self.version.split("."))

    @property
    def flavor(self) -> str:
        return _FLAVOR.get(self.route, self.route)

    def has(self, feature: str) -> bool:
        return feature not in self.limitations

    def lacks(self) -> List[str]:
        return sorted(self.limitations)


def _read_matrix(path: Path = VERSIONS_FILE) -> List[EsVersion]:
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, version, route, port, java, works = line.split()[:6]
        ok = works == "yes"
        rows.append(EsVersion(key=key, version=version, route=route, port=int(port), java=java, works_here=ok,
                              reason="" if ok else _NOT_WORKING_REASONS.get(key, "marked works=no in versions.env"),
                              limitations=_LIMITS.get(key, frozenset())))
    return rows


MATRIX: List[EsVersion] = _read_matrix()


def by_key(key: str) -> EsVersion:
    for v in MATRIX:
        if v.key == key:
            return v
    raise KeyError(f"unknown Elasticsearch key {key!r}; known: {', '.join(v.key for v in MATRIX)}")


def _work_root() -> Path:
    return Path(os.environ.get("DIRSRVBEAT_ES_WORK", "/var/tmp/dirsrvbeat-es"))


def unavailable_here() -> Dict[str, str]:
    """Keys that scripts/es/install-prereqs.sh found unusable on this machine (e.g. no Java 21+), with why."""
    out: Dict[str, str] = {}
    p = _work_root() / "unavailable.env"
    try:
        for line in p.read_text().splitlines():
            if line.strip() and not line.startswith("#") and "\t" in line:
                k, why = line.split("\t", 1)
                out[k.strip()] = why.strip()
    except OSError:
        pass
    return out


def selected_versions(env: str | None = None) -> List[EsVersion]:
    """The versions the tests should run against, from DIRSRVBEAT_ES_VERSIONS.

    unset/"all": every MATRIX entry that works here (and is not marked unavailable by install-prereqs);
    "none": []; "6.8,8": exactly those (even if marked not working: then they are tried and fail loudly).
    """
    raw = os.environ.get("DIRSRVBEAT_ES_VERSIONS", "") if env is None else env
    raw = raw.strip()
    if raw.lower() == "none":
        return []
    if raw in ("", "all"):
        bad = unavailable_here()
        return [v for v in MATRIX if v.works_here and v.key not in bad]
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    return [by_key(k) for k in keys]


def not_selected_known_broken(env: str | None = None) -> List[EsVersion]:
    """Entries that are skipped (with their reason) because they do not work here and were not asked for."""
    raw = (os.environ.get("DIRSRVBEAT_ES_VERSIONS", "") if env is None else env).strip()
    if raw.lower() == "none" or raw not in ("", "all"):
        return []
    bad = unavailable_here()
    out = []
    for v in MATRIX:
        if not v.works_here:
            out.append(v)
        elif v.key in bad:
            out.append(EsVersion(**{**v.__dict__, "works_here": False, "reason": bad[v.key]}))
    return out


# --------------------------------------------------------------------------- es.sh
def run_es(*args: str, timeout: float = 1200, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``scripts/es/es.sh ARGS``; raise :class:`EsError` with its output on failure."""
    proc = subprocess.run(["bash", str(ES_SH), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise EsError(f"es.sh {' '.join(args)} failed (exit {proc.returncode})\n"
                      f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def is_running(key: str) -> bool:
    return run_es("status", key, check=False, timeout=60).returncode == 0


def start(key: str) -> str:
    """Fetch if needed and start ``key`` (stays up until :func:`stop`); returns the URL. No-op if running."""
    return run_es("start", key).stdout.strip().splitlines()[-1]


def stop(key: str) -> None:
    run_es("stop", key, timeout=300)


def acquire(key: str, owner: int | None = None) -> str:
    """Start ``key`` if needed and take a lease for ``owner`` (default: this process); returns the URL."""
    return run_es("acquire", key, str(owner or os.getpid())).stdout.strip().splitlines()[-1]


def release(key: str, owner: int | None = None, keep: bool = False) -> None:
    """Drop the lease; es.sh stops the server if no other session holds one and a lease had started it."""
    run_es("release", key, str(owner or os.getpid()), *(["keep"] if keep else []), timeout=300)


def status(key: str) -> str:
    return run_es("status", key, check=False, timeout=60).stdout.strip()


# --------------------------------------------------------------------------- handle
@dataclass
class EsServer:
    """A running server, as yielded by the ``es`` fixture."""
    spec: EsVersion

    key = property(lambda self: self.spec.key)
    version = property(lambda self: self.spec.version)
    major = property(lambda self: self.spec.major)
    minor = property(lambda self: self.spec.minor)
    url = property(lambda self: self.spec.url)
    port = property(lambda self: self.spec.port)
    limitations = property(lambda self: self.spec.limitations)
    flavor = property(lambda self: self.spec.flavor)

    def has(self, feature: str) -> bool:
        return self.spec.has(feature)

    def request(self, method: str, path: str, body: Any = None, *, params: Dict[str, Any] | None = None,
                ndjson: bool = False, timeout: float = 60) -> Tuple[int, Any]:
        """Plain HTTP (urllib): returns (status, parsed JSON or text). Never raises for HTTP errors."""
        url = self.url + path
        if params:
            url += ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            if ndjson:
                data = "".join(json.dumps(x) + "\n" for x in body).encode()
                headers["Content-Type"] = "application/x-ndjson"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                code, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            code, raw = e.code, e.read()
        text = raw.decode("utf-8", "replace")
        try:
            return code, (json.loads(text) if text else None)
        except ValueError:
            return code, text

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """Like :meth:`request` but asserts a 2xx status; returns the body."""
        code, out = self.request(method, path, body, **kw)
        assert 200 <= code < 300, f"ES {self.version}: {method} {path} -> {code}: {json.dumps(out)[:2000]}"
        return out

    def transport(self, **kw: Any):
        """An ``elastic_transport.Transport`` to this server (no product check, works for 6.8 too)."""
        from elastic_transport import NodeConfig, Transport
        return Transport([NodeConfig("http", "127.0.0.1", self.port)], **kw)

    def delete_indices(self, pattern: str) -> List[str]:
        """Delete the indices matching ``pattern`` by explicit name (8.x refuses wildcard deletes)."""
        code, rows = self.request("GET", f"/_cat/indices/{pattern}", params={"format": "json", "h": "index"})
        names = [r["index"] for r in rows] if code == 200 and isinstance(rows, list) else []
        for name in names:
            self.request("DELETE", f"/{name}")
        return names

    def __repr__(self) -> str:
        return f"<EsServer {self.key} ES {self.version} {self.url}>"


# --------------------------------------------------------------------------- fixtures
def _keep() -> bool:
    return os.environ.get("DIRSRVBEAT_ES_KEEP", "") not in ("", "0", "false", "no")


def _params(keys: Iterable[str] | None) -> Tuple[List[Any], List[str]]:
    if keys is not None:
        chosen = [by_key(k) for k in keys]
        skipped: List[EsVersion] = []
    else:
        chosen = selected_versions()
        skipped = not_selected_known_broken()
    params: List[Any] = [v.key for v in chosen]
    params += [pytest.param(v.key, marks=pytest.mark.skip(reason=f"ES {v.version}: {v.reason}")) for v in skipped]
    if not params:
        why = "DIRSRVBEAT_ES_VERSIONS=none" if os.environ.get("DIRSRVBEAT_ES_VERSIONS", "").strip() else "no version"
        params = [pytest.param("none", marks=pytest.mark.skip(reason=f"Elasticsearch tests off ({why})"))]
    ids = [p if isinstance(p, str) else p.values[0] for p in params]
    return params, ids


def es_fixture_factory(keys: Iterable[str] | None = None, scope: str = "session", name: str | None = None):
    """Build a fixture parametrised over ``keys`` (default: :func:`selected_versions`), ids = keys.

    The fixture starts the server on demand (``es.sh acquire``: a lease for this pytest process) and at
    teardown of that param releases it (``es.sh release``): the server stops unless DIRSRVBEAT_ES_KEEP=1,
    another live session still holds a lease, or it had been started by hand (``es.sh start``). pytest groups
    the tests by session-scoped param and finalises the previous param before setting up the next, so one
    server runs at a time. A server that fails to start fails the tests (es.sh output and log tails in the
    message); it never skips silently.
    """
    params, ids = _params(keys)

    @pytest.fixture(scope=scope, params=params, ids=ids, name=name)
    def _es(request: pytest.FixtureRequest):
        spec = by_key(request.param)
        failure = None
        try:
            acquire(spec.key)
        except (EsError, subprocess.TimeoutExpired) as e:
            failure = str(e)
        if failure is not None:
            pytest.fail(f"Elasticsearch {spec.version} (key {spec.key}, {spec.flavor}) did not start:\n{failure}",
                        pytrace=False)
        try:
            yield EsServer(spec=spec)
        finally:
            release(spec.key, keep=_keep())

    return _es


es = es_fixture_factory(name="es")
es_fixture = es
