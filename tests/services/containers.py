"""The `testcontainers` backend: the same `dirsrv` and `es` fixtures as the local backend, from Docker images.

    bash scripts/test.sh --backend testcontainers -m integration      (needs a Docker engine)

* `dirsrv`: the upstream 389 DS image (`docker.io/389ds/dirsrv`, DIRSRVBEAT_TC_DIRSRV_IMAGE), its log
  folder bind-mounted to a host folder so `access_log` is a readable host path, the same sample data
  as scripts/ds (scripts/ds/gen_data.py: 500 users, service accounts, ACIs, idlistscanlimit 200, the
  monitor ACI). The handle is a `services.dirsrv.DirSrv` (same attributes, same LDAP helpers) whose
  server-side actions (restart, rotate, grant-monitor) run through `docker exec`.
* `es`: one container per version of CONTAINER_MATRIX (DIRSRVBEAT_ES_VERSIONS selects keys, as for the
  local backend), the full default distribution with security off; the handle is a
  `services.es.EsServer` (url, version, major, minor, key, has(), request(), ...).
* `kibana_stack(version)`: Elasticsearch + Kibana of one version on a private network (the Kibana import
  test, tests/integration/test_containers_kibana.py).

Without a Docker engine every fixture skips with one reason (`docker_unavailable()`); nothing is pulled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from services import dirsrv as local_dirsrv
from services import es as local_es

REPO_ROOT = Path(__file__).resolve().parents[2]
DIRSRV_IMAGE = os.environ.get("DIRSRVBEAT_TC_DIRSRV_IMAGE", "docker.io/389ds/dirsrv:3.1")
ES_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch:{version}"
KIBANA_IMAGE = "docker.elastic.co/kibana/kibana:{version}"
SUFFIX = "dc=example,dc=com"
DM_PASSWORD = "dirsrvbeat-DM-Pass1"
NUSERS = int(os.environ.get("DIRSRVBEAT_DS_NUSERS", "500"))

# key -> version: the local matrix (scripts/es/versions.env, the one place naming versions) plus 7.5,
# the field's old 7.x and the compose default
CONTAINER_MATRIX: dict[str, str] = dict(sorted({**{v.key: v.version for v in local_es.MATRIX}, "7.5": "7.5.2"}.items(),
                                               key=lambda kv: tuple(int(x) for x in kv[1].split("."))))
# Kibana lines the saved objects are imported into for real (each with the Elasticsearch of its version)
KIBANA_MATRIX: list[str] = [v for k, v in CONTAINER_MATRIX.items() if k in ("7.5", "7.10", "7.17", "8")]


# ------------------------------------------------------------------------------------------ engine
_REASON: str | None = None
_CHECKED = False


def docker_unavailable() -> str | None:
    """None when a Docker engine answers; else the one reason every fixture of this backend skips with."""
    global _REASON, _CHECKED
    if _CHECKED:
        return _REASON
    _CHECKED = True
    try:
        import docker  # the Docker SDK, a dependency of testcontainers
        import testcontainers  # noqa: F401
    except ImportError as exc:
        _REASON = (f"testcontainers backend: {exc.name} is not installed "
                   f"(pip install -e '.[testcontainers]')")
        return _REASON
    try:
        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except Exception as exc:  # DockerException, connection refused, missing socket, permissions
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        _REASON = f"testcontainers backend: no Docker engine at {where} ({type(exc).__name__}: {str(exc)[:160]})"
    return _REASON


def require_docker() -> None:
    reason = docker_unavailable()
    if reason:
        pytest.skip(reason)


def _wait_http(url: str, ok: tuple[int, ...] = (200,), timeout: float = 300.0, auth: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        req = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                if resp.status in ok:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(2)
    raise TimeoutError(f"{url} did not answer {ok} within {timeout:.0f}s (last: {last})")


# ------------------------------------------------------------------------------------------ 389 DS
class ContainerDirSrv(local_dirsrv.DirSrv):
    """A `DirSrv` whose server-side actions go through `docker exec` instead of scripts/ds/ds.sh."""

    container: Any = None

    def _exec(self, *cmd: str, check: bool = True) -> str:
        result = self.container.exec(list(cmd))
        out = result.output.decode("utf-8", "replace") if result.output else ""
        if check and result.exit_code != 0:
            raise local_dirsrv.DirSrvError(f"docker exec {' '.join(cmd)} exited {result.exit_code}:\n{out}")
        return out

    def _ldapmodify(self, ldif: str, *extra: str) -> str:
        path = Path(self.log_dir) / f".in-{time.monotonic_ns()}.ldif"
        path.write_text(ldif)
        try:
            return self._exec("ldapmodify", "-x", "-H", "ldap://localhost:3389", "-D", self.dm_dn, "-w",
                              self.dm_password, *extra, "-f", f"/data/logs/{path.name}", check=False)
        finally:
            path.unlink(missing_ok=True)

    def grant_monitor_read(self, dn: str | None = None) -> str:
        dn = dn or self.monitor_dn
        aci = (f'(targetattr = "connection")(version 3.0; acl "dirsrvbeat: {dn} reads monitor connections"; '
               f'allow (read, search, compare) userdn = "ldap:///{dn}";)')
        self._ldapmodify(f"dn: cn=monitor\nchangetype: modify\nadd: aci\naci: {aci}\n", "-c")
        return aci

    def rotate_access_log(self) -> local_dirsrv.Rotation:
        before = set(self.rotated_access_logs())
        t0 = time.monotonic()
        self.set_config("nsslapd-accesslog-maxlogsize", 1)
        self.set_config("nsslapd-accesslog-logrotationtime", -1)
        c = self.connect("svc-sync")
        pad = 0
        try:
            while not (set(self.rotated_access_logs()) - before) and pad < 20000:
                c.search(self.suffix, "(|" + "".join(f"(uid=rotate-pad-{i:04d})" for i in range(40)) + ")",
                         attributes=["1.1"])
                pad += 1
        finally:
            c.unbind()
            self.set_config("nsslapd-accesslog-maxlogsize", 100)
        new = sorted(set(self.rotated_access_logs()) - before)
        if not new:
            raise local_dirsrv.DirSrvError("the access log did not rotate")
        return local_dirsrv.Rotation(new[-1], Path(self.access_log), pad, time.monotonic() - t0)

    def restart(self) -> None:
        self.container.get_wrapped_container().restart(timeout=60)
        self._wait_ready()

    def stop(self) -> None:
        self.container.get_wrapped_container().stop(timeout=60)

    def start(self) -> None:
        self.container.get_wrapped_container().start()
        self._wait_ready()

    def is_running(self) -> bool:
        self.container.get_wrapped_container().reload()
        return self.container.get_wrapped_container().status == "running"

    def _wait_ready(self, timeout: float = 180) -> None:
        import ldap3
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                c = ldap3.Connection(ldap3.Server(self.host, port=self.port, connect_timeout=3), self.dm_dn,
                                     self.dm_password)
                if c.bind():
                    c.unbind()
                    return
            time.sleep(1)
        raise local_dirsrv.DirSrvError(f"389 DS container did not answer LDAP within {timeout}s:\n"
                                       f"{self.errors_log_tail()}")


def start_dirsrv() -> tuple[ContainerDirSrv, Any, str]:
    from testcontainers.core.container import DockerContainer

    logs = tempfile.mkdtemp(prefix="dirsrvbeat-tc-logs-")
    os.chmod(logs, 0o777)
    container = (DockerContainer(DIRSRV_IMAGE).with_env("DS_DM_PASSWORD", DM_PASSWORD)
                 .with_env("DS_SUFFIX_NAME", SUFFIX).with_exposed_ports(3389, 3636)
                 .with_volume_mapping(logs, "/data/logs", "rw"))
    container.start()
    host = container.get_container_host_ip()
    port, sport = int(container.get_exposed_port(3389)), int(container.get_exposed_port(3636))
    ds = ContainerDirSrv(
        inst="localhost", host=host, port=port, sport=sport, ldap_url=f"ldap://{host}:{port}",
        ldaps_url=f"ldaps://{host}:{sport}", ldapi_url="", ldapi_socket="/data/run/slapd-localhost.socket",
        dm_dn="cn=Directory Manager", dm_password=DM_PASSWORD, ca_cert="", access_log=f"{logs}/access",
        errors_log=f"{logs}/error", log_dir=logs, config_dir="/data/config", suffix=SUFFIX,
        monitor_dn=f"uid=svc-monitor,ou=services,{SUFFIX}",
        service_accounts={n: (f"uid={n},ou=services,{SUFFIX}", f"{n}-Pass1") for n in local_dirsrv.SERVICE_NAMES})
    ds.container = container
    ds._wait_ready()
    ds._exec("dsconf", "localhost", "backend", "create", "--suffix", SUFFIX, "--be-name", "userRoot",
             "--create-suffix", check=False)
    ds._ldapmodify("dn: cn=config,cn=ldbm database,cn=plugins,cn=config\nchangetype: modify\n"
                   "replace: nsslapd-idlistscanlimit\nnsslapd-idlistscanlimit: 200\n")
    data = subprocess.run([sys.executable, str(REPO_ROOT / "scripts/ds/gen_data.py"), SUFFIX, str(NUSERS)],
                          capture_output=True, text=True, check=True).stdout
    ds._ldapmodify(data, "-a", "-c")
    ds.set_config("nsslapd-accesslog-logbuffering", "off")
    ds.grant_monitor_read()
    ds.reset_log_levels()
    return ds, container, logs


@pytest.fixture(scope="session")
def dirsrv() -> Iterator[local_dirsrv.DirSrv]:
    """The 389 DS container (skips with one reason when there is no Docker engine)."""
    require_docker()
    if os.environ.get("DIRSRVBEAT_DS", "").strip().lower() == "none":
        pytest.skip("DIRSRVBEAT_DS=none: no 389 Directory Server for this run")
    try:
        ds, container, logs = start_dirsrv()
    except Exception as exc:
        pytest.fail(f"389 DS container ({DIRSRV_IMAGE}) did not start: {exc}", pytrace=False)
    yield ds
    container.stop()
    shutil.rmtree(logs, ignore_errors=True)


# ------------------------------------------------------------------------------------------ Elasticsearch
def es_container(version: str, network: Any = None, alias: str | None = None) -> Any:
    from testcontainers.core.container import DockerContainer

    c = (DockerContainer(ES_IMAGE.format(version=version)).with_env("discovery.type", "single-node")
         .with_env("xpack.security.enabled", "false").with_env("ES_JAVA_OPTS", "-Xms512m -Xmx512m")
         .with_exposed_ports(9200))
    if int(version.split(".")[0]) >= 8:
        c = c.with_env("xpack.security.http.ssl.enabled", "false")
    if network is not None:
        c = c.with_network(network).with_network_aliases(alias or "elasticsearch")
    return c


def _selected() -> list[str]:
    raw = os.environ.get("DIRSRVBEAT_ES_VERSIONS", "").strip()
    if raw.lower() == "none":
        return []
    if raw in ("", "all"):
        return list(CONTAINER_MATRIX)
    return [k.strip() for k in raw.split(",") if k.strip() in CONTAINER_MATRIX]


_PARAMS = _selected() or [pytest.param("none", marks=pytest.mark.skip(reason="Elasticsearch tests off"))]


@pytest.fixture(scope="session", params=_PARAMS, ids=[p if isinstance(p, str) else "none" for p in _PARAMS])
def es(request: pytest.FixtureRequest) -> Iterator[local_es.EsServer]:
    """Elasticsearch `CONTAINER_MATRIX[key]` in a container, as a `services.es.EsServer`."""
    require_docker()
    key = request.param
    version = CONTAINER_MATRIX[key]
    container = es_container(version)
    try:
        container.start()
        port = int(container.get_exposed_port(9200))
        _wait_http(f"http://{container.get_container_host_ip()}:{port}/_cluster/health?wait_for_status=yellow")
    except Exception as exc:
        with contextlib.suppress(Exception):
            container.stop()
        pytest.fail(f"Elasticsearch {version} container did not start: {exc}", pytrace=False)
    spec = local_es.EsVersion(key=key, version=version, route="docker", port=port, java="",
                              limitations=_limitations(version))
    yield local_es.EsServer(spec=replace(spec), started_here=True)
    container.stop()


def _limitations(version: str) -> frozenset[str]:
    """The default distribution has X-Pack basic; only what the version itself lacks."""
    major, minor = (int(x) for x in version.split(".")[:2])
    out = set()
    if major < 7:
        out |= {local_es.TYPELESS, local_es.DATE_NANOS}
    if (major, minor) < (7, 8):
        out.add(local_es.COMPOSABLE_TEMPLATES)
    if (major, minor) < (7, 9):
        out |= {local_es.DATA_STREAMS, local_es.DATA_STREAM_API, local_es.WILDCARD}
    if (major, minor) < (7, 7):
        out.add(local_es.CONSTANT_KEYWORD)
    if (major, minor) < (7, 6):
        out.add(local_es.HISTOGRAM)
    if (major, minor) < (7, 3):
        out.add(local_es.FLATTENED)
    if (major, minor) < (7, 14):
        out.add(local_es.PRODUCT_HEADER)
    return frozenset(out)


# ------------------------------------------------------------------------------------------ Kibana
@contextlib.contextmanager
def kibana_stack(version: str, timeout: float = 600) -> Iterator[tuple[str, str]]:
    """Elasticsearch + Kibana `version` on a private network; yields (kibana_url, es_url)."""
    require_docker()
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    with Network() as network:
        es_c = es_container(version, network, "elasticsearch")
        kb = (DockerContainer(KIBANA_IMAGE.format(version=version))
              .with_env("ELASTICSEARCH_HOSTS", "http://elasticsearch:9200")
              .with_env("TELEMETRY_ENABLED", "false").with_exposed_ports(5601).with_network(network))
        es_c.start()
        try:
            es_url = f"http://{es_c.get_container_host_ip()}:{int(es_c.get_exposed_port(9200))}"
            _wait_http(f"{es_url}/_cluster/health?wait_for_status=yellow", timeout=timeout)
            kb.start()
            try:
                kb_url = f"http://{kb.get_container_host_ip()}:{int(kb.get_exposed_port(5601))}"
                _wait_kibana(kb_url, timeout)
                yield kb_url, es_url
            finally:
                kb.stop()
        finally:
            es_c.stop()


def _wait_kibana(url: str, timeout: float) -> None:
    """Until /api/status says the overall state is green (7.x) / available (8.x)."""
    import json
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError), \
                urllib.request.urlopen(f"{url}/api/status", timeout=10) as resp:
            body = json.loads(resp.read())
            overall = (body.get("status") or {}).get("overall") or {}
            last = str(overall.get("state") or overall.get("level"))
            if last in ("green", "available"):
                return
        time.sleep(3)
    raise TimeoutError(f"Kibana {url} not ready within {timeout:.0f}s (last state {last!r})")
