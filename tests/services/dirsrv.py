"""A real 389 Directory Server for dirsrvbeat's integration tests.

The server is managed by ``scripts/ds/ds.sh`` (install, create, start, ...); this module
is the Python side: a :class:`DirSrv` handle with the URLs, credentials and log paths,
small online-config helpers, and the session-scoped pytest fixture :func:`dirsrv`.

Usage from a test module (``tests/`` is on ``sys.path`` through ``tests/conftest.py``)::

    from services.dirsrv import dirsrv  # noqa: F401  (or re-export it in conftest.py)

    def test_something(dirsrv):
        with dirsrv.capture_access_log() as cap:
            ...                      # drive traffic
        assert any("notes=A" in ln for ln in cap.lines)

Environment:
  DIRSRVBEAT_DS=none           skip every test that uses the fixture (with the reason)
  DIRSRVBEAT_DS_INST/PORT/SPORT/DM_PW/NUSERS   passed through to ds.sh
  DIRSRVBEAT_DS_STOP_AFTER=1   stop the server when the test session ends
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

REPO_ROOT = Path(__file__).resolve().parents[2]
DS_SH = REPO_ROOT / "scripts" / "ds" / "ds.sh"

SERVICE_NAMES = ("svc-sync", "svc-portal", "svc-mail", "svc-backup", "svc-report", "svc-idle",
                 "svc-monitor")
DEFAULT_ACCESS_LOG_LEVEL = 256
DEFAULT_STATLOG_LEVEL = 0


class DirSrvError(RuntimeError):
    """ds.sh or the server failed; the message carries the output and the log tails."""


def _tail(path: Path, n: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
        return "\n".join(data.splitlines()[-n:])
    except OSError as e:
        return f"(cannot read {path}: {e})"


def run_ds(*args: str, timeout: float = 900, check: bool = True,
           env: Dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``scripts/ds/ds.sh ARGS``; raise :class:`DirSrvError` (with output) on failure."""
    proc = subprocess.run(["bash", str(DS_SH), *args], capture_output=True, text=True,
                          timeout=timeout, env=env or os.environ.copy())
    if check and proc.returncode != 0:
        raise DirSrvError(f"ds.sh {' '.join(args)} failed (exit {proc.returncode})\n"
                          f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


def _parse_env(text: str) -> Dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" not in line or line.startswith("export "):
            continue
        k, v = line.split("=", 1)
        out[k] = shlex.split(v)[0] if v else ""
    return out


@dataclass
class LogCapture:
    """Lines appended to the access log between ``start`` and the end of the block."""
    path: Path
    start: int
    end: int = -1
    lines: List[str] = field(default_factory=list)

    def grep(self, *needles: str) -> List[str]:
        """Lines containing every needle."""
        return [ln for ln in self.lines if all(n in ln for n in needles)]


@dataclass
class Rotation:
    rotated: Path          # access.YYYYMMDD-HHMMSS (named after the file's creation time)
    active: Path           # the new, freshly created access file
    padding_ops: int
    seconds: float


@dataclass
class DirSrv:
    """Handle on the running instance.  Attributes come from ``ds.sh env``."""
    inst: str
    host: str
    port: int
    sport: int
    ldap_url: str
    ldaps_url: str
    ldapi_url: str
    ldapi_socket: str
    dm_dn: str
    dm_password: str
    ca_cert: str
    access_log: str
    errors_log: str
    log_dir: str
    config_dir: str
    suffix: str
    monitor_dn: str
    service_accounts: Dict[str, Tuple[str, str]]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_env_text(cls, text: str) -> DirSrv:
        e = _parse_env(text)
        p = "DIRSRVBEAT_DS_"
        suffix = e[p + "SUFFIX"]
        return cls(
            inst=e[p + "INST"], host=e[p + "HOST"], port=int(e[p + "PORT"]),
            sport=int(e[p + "SPORT"]), ldap_url=e[p + "LDAP_URL"], ldaps_url=e[p + "LDAPS_URL"],
            ldapi_url=e[p + "LDAPI_URL"], ldapi_socket=e[p + "LDAPI_SOCKET"],
            dm_dn=e[p + "DM_DN"], dm_password=e[p + "DM_PW"], ca_cert=e[p + "CA_CERT"],
            access_log=e[p + "ACCESS_LOG"], errors_log=e[p + "ERRORS_LOG"],
            log_dir=e[p + "LOG_DIR"], config_dir=e[p + "CONFIG_DIR"], suffix=suffix,
            monitor_dn=e[p + "MONITOR_DN"],
            service_accounts={n: (f"uid={n},ou=services,{suffix}", f"{n}-Pass1")
                              for n in SERVICE_NAMES},
        )

    @classmethod
    def ensure(cls) -> DirSrv:
        """Install/create/start as needed (``ds.sh start``) and return the handle."""
        try:
            run_ds("start")
        except (DirSrvError, subprocess.TimeoutExpired) as e:
            env = _parse_env(run_ds("env", check=False).stdout)
            errors = Path(env.get("DIRSRVBEAT_DS_ERRORS_LOG", "/nonexistent"))
            raise DirSrvError(f"{e}\n--- tail of {errors}\n{_tail(errors)}") from e
        return cls.from_env_text(run_ds("env").stdout)

    # ------------------------------------------------------------ connections (ldap3)
    def user_dn(self, uid: str) -> str:
        return f"uid={uid},ou=people,{self.suffix}"

    def tls(self):
        import ldap3
        return ldap3.Tls(ca_certs_file=self.ca_cert, validate=ssl.CERT_REQUIRED,
                         version=ssl.PROTOCOL_TLS_CLIENT)

    def server(self, transport: str = "ldap"):
        """ldap3 Server for transport ldap | starttls | ldaps | ldapi (TLS verifies the CA)."""
        import ldap3
        if transport in ("ldap", "starttls"):
            return ldap3.Server(self.host, port=self.port, tls=self.tls(), get_info=ldap3.NONE,
                                connect_timeout=5)
        if transport == "ldaps":
            return ldap3.Server(self.host, port=self.sport, use_ssl=True, tls=self.tls(),
                                get_info=ldap3.NONE, connect_timeout=5)
        if transport == "ldapi":
            return ldap3.Server("ldapi://" + self.ldapi_socket, get_info=ldap3.NONE,
                                connect_timeout=5)
        raise ValueError(f"transport must be ldap, starttls, ldaps or ldapi: {transport!r}")

    def connect(self, who: str | None = None, password: str | None = None, *,
                transport: str = "ldap", bind: bool = True, strategy: str | None = None,
                receive_timeout: float | None = 30, raise_exceptions: bool = False):
        """Open (and by default bind) an ldap3 connection.

        ``who`` is a service-account name (``"svc-sync"``), ``"dm"``, a DN, or None
        (anonymous).  ``transport="ldapi"`` binds with SASL/EXTERNAL (autobind as root
        -> cn=Directory Manager).
        """
        import ldap3
        kw = dict(client_strategy=strategy or ldap3.SYNC, raise_exceptions=raise_exceptions,
                  auto_referrals=False)
        if kw["client_strategy"] != ldap3.ASYNC:
            kw["receive_timeout"] = receive_timeout
        if transport == "ldapi":
            conn = ldap3.Connection(self.server("ldapi"), authentication=ldap3.SASL,
                                    sasl_mechanism=ldap3.EXTERNAL, **kw)
        else:
            user, pw = self.credentials(who, password)
            conn = ldap3.Connection(self.server(transport), user=user, password=pw, **kw)
        conn.open()
        if transport == "starttls" and not conn.start_tls():
            raise DirSrvError(f"StartTLS failed: {conn.result!r}")
        if bind:
            conn.bind()
        return conn

    def credentials(self, who: str | None, password: str | None = None
                    ) -> Tuple[str | None, str | None]:
        if who is None:
            return None, password
        if who == "dm":
            return self.dm_dn, self.dm_password
        if who in self.service_accounts:
            dn, pw = self.service_accounts[who]
            return dn, password if password is not None else pw
        if who.startswith("user") and "=" not in who:
            return self.user_dn(who), password if password is not None else f"{who}-Pass1"
        return who, password

    def dm(self):
        """A bound Directory Manager connection (raises on errors)."""
        return self.connect("dm", raise_exceptions=True)

    # ------------------------------------------------------------ online config
    def get_config(self, *attrs: str, dn: str = "cn=config") -> Dict[str, List[str]]:
        import ldap3
        c = self.dm()
        try:
            c.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attrs) or ["*"])
            e = c.response[0]["raw_attributes"]
            return {k: [v.decode() for v in vs] for k, vs in e.items()}
        finally:
            c.unbind()

    def set_config(self, attr: str, value, dn: str = "cn=config") -> None:
        import ldap3
        c = self.dm()
        try:
            c.modify(dn, {attr: [(ldap3.MODIFY_REPLACE, [str(value)])]})
        finally:
            c.unbind()

    def set_access_log_level(self, level: int) -> None:
        """nsslapd-accesslog-level: 256 default, +4 internal ops, +512 ENTRY lines (772)."""
        self.set_config("nsslapd-accesslog-level", int(level))

    def set_statlog_level(self, level: int) -> None:
        """nsslapd-statlog-level: 1 writes STAT index-read lines."""
        self.set_config("nsslapd-statlog-level", int(level))

    @contextlib.contextmanager
    def log_levels(self, access: int = DEFAULT_ACCESS_LOG_LEVEL,
                   statlog: int = DEFAULT_STATLOG_LEVEL) -> Iterator[DirSrv]:
        """Temporarily set access/stat log levels, restoring the defaults afterwards."""
        self.set_access_log_level(access)
        self.set_statlog_level(statlog)
        try:
            yield self
        finally:
            self.set_access_log_level(DEFAULT_ACCESS_LOG_LEVEL)
            self.set_statlog_level(DEFAULT_STATLOG_LEVEL)

    def reset_log_levels(self) -> None:
        self.set_access_log_level(DEFAULT_ACCESS_LOG_LEVEL)
        self.set_statlog_level(DEFAULT_STATLOG_LEVEL)

    def grant_monitor_read(self, dn: str | None = None) -> str:
        """Add (idempotently) the ACI letting ``dn`` read cn=monitor's `connection`;
        returns the ACI text."""
        return run_ds("grant-monitor", dn or self.monitor_dn).stdout.strip()

    # ------------------------------------------------------------ logs
    def access_log_size(self) -> int:
        try:
            return os.path.getsize(self.access_log)
        except FileNotFoundError:
            return 0

    def rotated_access_logs(self) -> List[Path]:
        return sorted(p for p in Path(self.log_dir).glob("access.2*")
                      if not p.name.endswith(".rotationinfo"))

    def rotate_access_log(self) -> Rotation:
        """Force a real rotation (size-based, by the server itself): the active file is
        renamed to ``access.YYYYMMDD-HHMMSS`` and a new ``access`` is started."""
        with self._lock:
            out = run_ds("rotate", timeout=120).stdout.strip().splitlines()[-1]
        d = json.loads(out)
        return Rotation(Path(d["rotated"]), Path(d["active"]), d["padding_ops"], d["seconds"])

    def wait_for_log_flush(self, timeout: float = 10.0, settle: float = 0.1) -> int:
        """Barrier: make sure the access log holds everything the clients have seen.

        RESULT lines are written *after* the result is sent, so a client can be faster
        than the log.  This runs a marker connection (anonymous search for a unique
        filter, then UNBIND), waits for its ``Disconnect`` line, then for the file size to
        stay unchanged for ``settle`` seconds.  Returns the size of the access log.
        The marker adds 5 lines to the log (connection, SRCH, RESULT, UNBIND, Disconnect).
        """
        import ldap3
        marker = f"dirsrvbeat-flush-{uuid.uuid4().hex[:12]}"
        start = self.access_log_size()
        c = self.connect(None, bind=False)
        c.search(self.suffix, f"(uid={marker})", ldap3.BASE, attributes=["1.1"])
        c.unbind()
        deadline = time.monotonic() + timeout
        conn_id = None
        while time.monotonic() < deadline:
            text = self._read_from(start if self.access_log_size() >= start else 0)
            if conn_id is None:
                for ln in text.splitlines():
                    if marker in ln and " SRCH " in ln:
                        conn_id = ln.split(" conn=", 1)[1].split(" ", 1)[0]
                        break
            if conn_id is not None and (f"conn={conn_id} op=") in text and any(
                    (f"conn={conn_id} ") in ln and " Disconnect " in ln for ln in text.splitlines()):
                break
            time.sleep(0.02)
        else:
            raise DirSrvError(f"flush marker {marker} never reached {self.access_log}\n{_tail(Path(self.access_log))}")
        size = self.access_log_size()
        while time.monotonic() < deadline:
            time.sleep(settle)
            new = self.access_log_size()
            if new == size:
                break
            size = new
        return size

    def _read_from(self, offset: int) -> str:
        with open(self.access_log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def access_log_lines(self, since: int = 0) -> List[str]:
        """Complete lines of the active access log from byte offset ``since``."""
        text = self._read_from(since)
        lines = text.split("\n")
        return lines[:-1]          # drop the trailing partial (or empty) piece

    @contextlib.contextmanager
    def capture_access_log(self, flush: bool = True) -> Iterator[LogCapture]:
        """Collect the access-log lines written during the block (flushed at the end).
        Does not follow a rotation that happens inside the block."""
        if flush:
            self.wait_for_log_flush()
        cap = LogCapture(Path(self.access_log), self.access_log_size())
        yield cap
        cap.end = self.wait_for_log_flush() if flush else self.access_log_size()
        cap.lines = self.access_log_lines(cap.start) if cap.end >= cap.start else []

    def errors_log_tail(self, n: int = 30) -> str:
        return _tail(Path(self.errors_log), n)

    # ------------------------------------------------------------ lifecycle
    def restart(self) -> None:
        """Stop (SIGTERM, wait) and start again; waits until LDAP answers."""
        with self._lock:
            run_ds("restart")

    def stop(self) -> None:
        run_ds("stop")

    def start(self) -> None:
        run_ds("start")

    def is_running(self) -> bool:
        return run_ds("status", check=False).returncode == 0


# ---------------------------------------------------------------- pytest glue
_INSTANCE: DirSrv | None = None
_INSTANCE_LOCK = threading.Lock()


def get_dirsrv() -> DirSrv:
    """The process-wide instance (created/started on first use, log levels reset)."""
    global _INSTANCE
    with _INSTANCE_LOCK:
        if _INSTANCE is None:
            ds = DirSrv.ensure()
            ds.reset_log_levels()
            _INSTANCE = ds
        return _INSTANCE


def skip_reason() -> str | None:
    if os.environ.get("DIRSRVBEAT_DS", "").strip().lower() == "none":
        return "DIRSRVBEAT_DS=none: no real 389 Directory Server for this run"
    return None


try:
    import pytest
except ImportError:  # pragma: no cover - usable without pytest
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="session")
    def dirsrv() -> Iterator[DirSrv]:
        """Session-scoped real 389 DS (scripts/ds/ds.sh).  Skips only when
        DIRSRVBEAT_DS=none; any other failure fails the test with the logs' tails."""
        reason = skip_reason()
        if reason:
            pytest.skip(reason)
        try:
            ds = get_dirsrv()
        except (DirSrvError, subprocess.TimeoutExpired, OSError) as e:
            pytest.fail(f"389 DS test instance unavailable (set DIRSRVBEAT_DS=none to skip):\n{e}", pytrace=False)
        yield ds
        if os.environ.get("DIRSRVBEAT_DS_STOP_AFTER") == "1":
            ds.stop()
