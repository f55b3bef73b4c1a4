"""Read the monitor entries over LDAP (ldap3): LDAP, LDAPS, StartTLS or LDAPI.

TLS verifies the server certificate against `ca_file` (or the system store) unless
`tls_verify: false`. Simple bind with the configured DN and password, SASL/EXTERNAL over LDAPI,
or anonymous. Reads, in order: `cn=monitor` (with `connection`), `cn=snmp,cn=monitor`,
`cn=disk space,cn=monitor`, the database-wide and per-backend ldbm monitors, and the tuning
values of `cn=config`. Only `cn=monitor` is required; the others may be hidden by ACIs and then
simply leave their documents out (with a warning on the scrape document).

The reader counts the operations it sends on its connection, so the collector can recognise its
own connection among the `connection` values (same DN, ops_initiated equal to that count, the
search still in progress).
"""

from __future__ import annotations

import logging
import math
import ssl
import time
from typing import Any

from .config import MonitorConfig
from .snapshot import (
    CONFIG_ATTRS,
    CONFIG_DN,
    DATABASE_MONITOR_DN,
    DISK_DN,
    LDBM_CONFIG_ATTRS,
    LDBM_CONFIG_DN,
    MONITOR_DN,
    SNMP_DN,
    Attrs,
    Snapshot,
    backend_name,
)

log = logging.getLogger("dirsrvbeat.monitor.reader")


class ScrapeError(RuntimeError):
    """The server could not be read; the message is meant for humans (never holds the password)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ScrapeTimeout(ScrapeError):
    pass


class LdapReader:
    """Keeps one connection open between reads (`keep_open=True`, the daemon) or opens one per read."""

    def __init__(self, cfg: MonitorConfig, keep_open: bool = False) -> None:
        self.cfg = cfg
        self.keep_open = keep_open
        self._conn: Any = None
        self._ops = 0
        self._authz_dn: str | None = None

    # ------------------------------------------------------------------ connection
    def _server(self) -> Any:
        import ldap3

        cfg = self.cfg
        target = cfg.target
        assert target is not None
        timeout = cfg.timeout
        if target.scheme == "ldapi":
            return ldap3.Server(f"ldapi://{target.socket_path}", get_info=ldap3.NONE, connect_timeout=timeout)
        tls = None
        if target.scheme == "ldaps" or cfg.starttls:
            tls = ldap3.Tls(ca_certs_file=cfg.ca_file,
                            validate=ssl.CERT_REQUIRED if cfg.tls_verify else ssl.CERT_NONE,
                            version=ssl.PROTOCOL_TLS_CLIENT)
        return ldap3.Server(target.host, port=target.port, use_ssl=target.scheme == "ldaps", tls=tls,
                            get_info=ldap3.NONE, connect_timeout=timeout)

    def _connect(self) -> Any:
        import ldap3
        from ldap3.core.exceptions import LDAPException

        cfg = self.cfg
        # ldap3 needs an int receive_timeout (it packs it into a timeval)
        kw: dict[str, Any] = {"receive_timeout": max(1, math.ceil(cfg.timeout)), "raise_exceptions": False,
                              "auto_referrals": False, "read_only": True, "auto_range": False}
        if cfg.sasl_external:
            conn = ldap3.Connection(self._server(), authentication=ldap3.SASL,
                                    sasl_mechanism=ldap3.EXTERNAL, **kw)
        elif cfg.bind_dn:
            conn = ldap3.Connection(self._server(), user=cfg.bind_dn,
                                    password=cfg.password.reveal() if cfg.password else None, **kw)
        else:
            conn = ldap3.Connection(self._server(), authentication=ldap3.ANONYMOUS, **kw)
        self._ops = 0
        self._authz_dn = None
        where = self.cfg.url
        try:
            conn.open()
            if cfg.starttls:
                self._ops += 1
                if not conn.start_tls():
                    raise ScrapeError(f"{where}: StartTLS refused: {_result(conn)}")
            if cfg.bind_dn or cfg.sasl_external:
                self._ops += 1
                if not conn.bind():
                    code = (conn.result or {}).get("result")
                    raise ScrapeError(f"{where}: bind as {cfg.bind_dn or 'SASL/EXTERNAL'} failed: "
                                      f"{_result(conn)}", retryable=code not in (48, 49, 50))
            self._authz_dn = cfg.bind_dn
            if cfg.sasl_external:  # learn the autobind DN, to recognise our own connection
                self._ops += 1
                who = conn.extend.standard.who_am_i() or ""
                self._authz_dn = who[3:] if who.startswith("dn:") else None
        except ScrapeError:
            _close(conn)
            raise
        except LDAPException as exc:
            _close(conn)
            raise ScrapeError(f"{where}: {_describe(exc)}") from None
        except Exception as exc:  # OSError, ssl.SSLError, ldap3 internals: never escape as a crash
            _close(conn)
            raise ScrapeError(f"{where}: {exc.__class__.__name__}: {exc}") from None
        return conn

    def close(self) -> None:
        if self._conn is not None:
            _close(self._conn)
            self._conn = None

    # ------------------------------------------------------------------ reading
    def read(self) -> Snapshot:
        from ldap3.core.exceptions import LDAPException

        started = time.monotonic()
        deadline = started + self.cfg.timeout
        conn = self._conn
        try:
            if conn is None or conn.closed:
                conn = self._connect()
                self._conn = conn
            snap = self._read(conn, deadline)
        except ScrapeError:
            self.close()
            raise
        except LDAPException as exc:
            self.close()
            raise ScrapeError(f"{self.cfg.url}: {_describe(exc)}") from None
        except Exception as exc:  # OSError, ssl.SSLError, ldap3 internals
            self.close()
            raise ScrapeError(f"{self.cfg.url}: {exc.__class__.__name__}: {exc}") from None
        finally:
            if not self.keep_open:
                self.close()
        snap.read_seconds = time.monotonic() - started
        return snap

    def _search(self, conn: Any, dn: str, attrs: list[str], deadline: float, scope: str = "BASE"
                ) -> list[tuple[str, Attrs]]:
        import ldap3

        if time.monotonic() > deadline:
            raise ScrapeTimeout(f"{self.cfg.url}: scrape timeout ({self.cfg.timeout:g} s) reading {dn}")
        self._ops += 1
        ok = conn.search(dn, "(objectClass=*)", getattr(ldap3, scope), attributes=attrs,
                         time_limit=max(1, int(self.cfg.timeout)))
        code = (conn.result or {}).get("result")
        if not ok and code not in (0, 32, 50):  # 32 noSuchObject, 50 insufficientAccessRights
            raise ScrapeError(f"{self.cfg.url}: search {dn}: {_result(conn)}")
        out = []
        for entry in conn.response or ():
            if entry.get("type") != "searchResEntry":
                continue
            raw = entry.get("raw_attributes") or {}
            attrs_out = {k.lower().split(";", 1)[0]: [_text(v) for v in vals] for k, vals in raw.items()}
            out.append((entry.get("dn", ""), {k: v for k, v in attrs_out.items() if v}))
        return out

    def _read(self, conn: Any, deadline: float) -> Snapshot:
        # cn=monitor first: its `connection` values count our operations up to this search
        entries = self._search(conn, MONITOR_DN, ["*"], deadline)
        self_ops = self._ops
        if not entries:
            raise ScrapeError(f"{self.cfg.url}: cn=monitor returned no entry "
                              f"(bound as {self.cfg.bind_dn or 'anonymous'})", retryable=False)
        snap = Snapshot(monitor=entries[0][1], source=self.cfg.url, bind_dn=self._bound_dn(),
                        self_ops=self_ops)
        optional = [(SNMP_DN, ["*"]), (DISK_DN, ["*"]), (DATABASE_MONITOR_DN, ["*"])]
        for monitor_dn in snap.monitor.get("backendmonitordn", []):
            if backend_name(monitor_dn):
                optional.append((monitor_dn, ["*"]))
        optional += [(CONFIG_DN, list(CONFIG_ATTRS)), (LDBM_CONFIG_DN, list(LDBM_CONFIG_ATTRS))]
        for dn, attrs in optional:
            found = self._search(conn, dn, attrs, deadline)
            if found:
                snap.add_entry(dn, found[0][1])
            else:
                snap.warnings.append(f"{dn}: not readable by {self.cfg.bind_dn or 'anonymous'}")
        return snap

    def _bound_dn(self) -> str | None:
        return self._authz_dn


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _result(conn: Any) -> str:
    r = conn.result or {}
    desc = r.get("description") or "error"
    msg = r.get("message") or ""
    return f"{desc} (result {r.get('result')})" + (f": {msg}" if msg else "")


def _describe(exc: Exception) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if exc.__class__.__name__ not in text else text


def _close(conn: Any) -> None:
    try:
        conn.unbind()  # sends UNBIND when bound, closes the socket in every case
    except Exception:
        try:
            conn.socket and conn.socket.close()
        except Exception:
            pass
