"""The `monitor:` section of dirsrvbeat.yml, validated once at start-up.

    monitor:
      url: ldaps://ldap1.example.com:636
      bind_dn: uid=svc-monitor,ou=services,dc=example,dc=com
      password_file: /etc/dirsrvbeat/monitor.pw     # or password_env: DIRSRVBEAT_MONITOR_PW
      ca_file: /etc/dirsrvbeat/ca.crt
      timeout: 10
      rules: [...]                                   # or rules_file: workloads.yml
      histograms: [...]
      state_dir: /var/lib/dirsrvbeat

Every error names the key (`monitor.timeout: must be a positive number, got 'x'`). The password
is read once and kept in a `Secret`, whose repr/str never show it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from ..processors.classify import DEFAULT_WORKLOAD, CompiledRule, RuleError, compile_rules, load_rules_file
from .histograms import HistogramConfigError, HistogramSpec, parse_histograms
from .state import default_state_dir

DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"workload": "small-long", "rule": "connection_age_seconds > 120"},
    {"workload": "unknown", "rule": 'bind_dn == "NULLDN"'},
    {"workload": "small-short", "rule": "true"},
)
DEFAULT_LISTEN = "127.0.0.1:9396"


class ConfigError(ValueError):
    pass


class Secret:
    """A password that never shows up in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass
class LdapTarget:
    url: str
    scheme: str        # ldap | ldaps | ldapi
    host: str | None   # None for ldapi
    port: int | None
    socket_path: str | None


def parse_url(url: str, key: str = "monitor.url") -> LdapTarget:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps", "ldapi"):
        raise ConfigError(f"{key}: must be an ldap://, ldaps:// or ldapi:// URL, got {url!r}")
    if scheme == "ldapi":
        path = unquote(parts.netloc or parts.path)
        if not path.startswith("/"):
            raise ConfigError(f"{key}: ldapi:// needs the %2F-escaped socket path, got {url!r}")
        return LdapTarget(url, scheme, None, None, path)
    if not parts.hostname:
        raise ConfigError(f"{key}: no host in {url!r}")
    try:
        port = parts.port or (636 if scheme == "ldaps" else 389)
    except ValueError:
        raise ConfigError(f"{key}: bad port in {url!r}") from None
    return LdapTarget(url, scheme, parts.hostname, port, None)


@dataclass
class MonitorConfig:
    url: str = "ldap://127.0.0.1:389"
    bind_dn: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    starttls: bool = False
    tls_verify: bool = True
    sasl_external: bool = False
    timeout: float = 10.0
    retries: int = 2
    interval: float = 30.0
    max_backoff: float = 300.0
    state_dir: str | None = None
    service_name: str | None = None
    host_name: str | None = None
    exclude_self: bool = True
    default_workload: str = DEFAULT_WORKLOAD
    rules: list[Any] | None = None
    rules_file: str | None = None
    histograms: list[Any] | None = None
    native_histograms: bool = False
    listen: str = DEFAULT_LISTEN
    output: dict[str, Any] = field(default_factory=lambda: {"type": "ndjson", "path": "-"})
    # resolved at validation
    password: Secret | None = field(default=None, repr=False)
    target: LdapTarget | None = field(default=None, repr=False)
    compiled_rules: list[CompiledRule] = field(default_factory=list, repr=False)
    histogram_specs: list[HistogramSpec] = field(default_factory=list, repr=False)

    def instance_key(self) -> str:
        return self.service_name or self.url

    def resolved_host_name(self) -> str:
        if self.host_name:
            return self.host_name
        target = self.target or parse_url(self.url)
        if target.host in (None, "127.0.0.1", "::1", "localhost"):
            return socket.gethostname()
        return target.host  # type: ignore[return-value]


_RESOLVED = {"password", "target", "compiled_rules", "histogram_specs"}
KEYS = [f.name for f in fields(MonitorConfig) if f.name not in _RESOLVED]
_TYPES: dict[str, tuple[type, ...]] = {
    "url": (str,), "bind_dn": (str,), "password_file": (str,), "password_env": (str,), "ca_file": (str,),
    "starttls": (bool,), "tls_verify": (bool,), "sasl_external": (bool,), "timeout": (int, float),
    "retries": (int,), "interval": (int, float), "max_backoff": (int, float), "state_dir": (str,),
    "service_name": (str,), "host_name": (str,), "exclude_self": (bool,), "default_workload": (str,),
    "rules": (list,), "rules_file": (str,), "histograms": (list,), "native_histograms": (bool,),
    "listen": (str,), "output": (dict,),
}


def load_config_file(path: str | None) -> dict[str, Any]:
    """The raw `monitor:` mapping of a YAML config file ({} without a file)."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: the top level must be a mapping")
    section = data.get("monitor", {})
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: monitor: must be a mapping")
    return dict(section)


def build_config(raw: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                 *, need_password: bool = True, compile_all: bool = True) -> MonitorConfig:
    """Validate `raw` (+ CLI `overrides`, None values ignored) into a MonitorConfig."""
    merged = dict(raw)
    for key, value in (overrides or {}).items():
        if value is not None:
            merged[key] = value
    unknown = sorted(set(merged) - set(KEYS))
    if unknown:
        raise ConfigError(f"monitor.{unknown[0]}: unknown key (known: {', '.join(KEYS)})")
    for key, value in merged.items():
        types = _TYPES[key]
        if value is None:
            continue
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            want = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"monitor.{key}: must be {want}, got {value!r}")
    cfg = MonitorConfig(**{k: v for k, v in merged.items() if v is not None})
    for key in ("timeout", "interval", "max_backoff"):
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"monitor.{key}: must be a positive number, got {getattr(cfg, key)!r}")
    if cfg.retries < 0 or cfg.retries > 10:
        raise ConfigError(f"monitor.retries: must be 0..10, got {cfg.retries!r}")
    cfg.target = parse_url(cfg.url)
    if cfg.starttls and cfg.target.scheme != "ldap":
        raise ConfigError(f"monitor.starttls: only with an ldap:// URL (url is {cfg.url})")
    if need_password and cfg.ca_file and not os.path.isfile(cfg.ca_file):  # only when it will connect
        raise ConfigError(f"monitor.ca_file: no such file {cfg.ca_file!r}")
    if cfg.sasl_external and cfg.bind_dn:
        raise ConfigError("monitor.sasl_external: cannot be combined with monitor.bind_dn")
    if cfg.password_file and cfg.password_env:
        raise ConfigError("monitor.password_file: give password_file or password_env, not both")
    if need_password:
        cfg.password = _read_password(cfg)
    if cfg.state_dir is None:
        cfg.state_dir = default_state_dir()
    elif cfg.state_dir in ("", "none", "-"):
        cfg.state_dir = None
    if _parse_listen(cfg.listen) is None:
        raise ConfigError(f"monitor.listen: must be HOST:PORT, got {cfg.listen!r}")
    if not isinstance(cfg.output.get("type", "ndjson"), str):
        raise ConfigError("monitor.output.type: must be ndjson or elasticsearch")
    if compile_all:
        if cfg.rules is not None and cfg.rules_file:
            raise ConfigError("monitor.rules: give rules or rules_file, not both")
        try:
            if cfg.rules_file:
                specs = load_rules_file(cfg.rules_file)
                where = cfg.rules_file
            else:
                specs = list(cfg.rules) if cfg.rules is not None else list(DEFAULT_RULES)
                where = "monitor.rules"
            cfg.compiled_rules = compile_rules(specs, where=where)
            cfg.histogram_specs = parse_histograms(cfg.histograms, where="monitor.histograms")
        except OSError as exc:
            raise ConfigError(f"monitor.rules_file: cannot read {cfg.rules_file!r}: {exc.strerror}") from None
        except (RuleError, HistogramConfigError) as exc:
            raise ConfigError(str(exc)) from None
        if not cfg.compiled_rules:
            raise ConfigError("monitor.rules: the rule list is empty")
    return cfg


def _read_password(cfg: MonitorConfig) -> Secret | None:
    if cfg.password_file:
        try:
            with open(cfg.password_file, encoding="utf-8") as f:
                value = f.read().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"monitor.password_file: cannot read {cfg.password_file!r}: "
                              f"{exc.strerror}") from None
        if not value:
            raise ConfigError(f"monitor.password_file: {cfg.password_file!r} is empty")
        return Secret(value)
    if cfg.password_env:
        value = os.environ.get(cfg.password_env)
        if not value:
            raise ConfigError(f"monitor.password_env: environment variable {cfg.password_env} is not set")
        return Secret(value)
    if cfg.bind_dn:
        raise ConfigError("monitor.bind_dn: is set but there is no password "
                          "(monitor.password_file or monitor.password_env)")
    return None


def _parse_listen(listen: str) -> tuple[str, int] | None:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) < 65536):
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def listen_address(cfg: MonitorConfig) -> tuple[str, int]:
    addr = _parse_listen(cfg.listen)
    assert addr is not None
    return addr
