"""`dirsrvbeat.yml`: the configuration file shared by every command (Beats-like).

    elasticsearch:
      hosts: ["https://es1:9200", "https://es2:9200"]
      username: dirsrvbeat_writer
      password_file: /etc/dirsrvbeat/es.password     # or password_env (default DIRSRVBEAT_ES_PASSWORD)
      # api_key_file / api_key_env (default DIRSRVBEAT_ES_API_KEY): "id:key" or the encoded key
      ca_file: /etc/dirsrvbeat/ca.pem
      verify: true
      timeout: 30s
      http_compress: false
      index_prefix: dirsrvbeat
      index_mode: daily          # daily | rollover
      ilm: {enabled: auto, delete_after_days: 30}
      bulk: {chunk_bytes: 5MiB, chunk_docs: 5000, max_retries: 8, initial_backoff: 1s, max_backoff: 60s}
    access:
      paths: ["/var/log/dirsrv/slapd-*/access*"]
      state_dir: /var/lib/dirsrvbeat
      dead_letter: /var/lib/dirsrvbeat/dead-letter.ndjson
      host_name: ldap1.example.com
      service_name: slapd-ldap1
      close_grace_seconds: 5
    monitor: {...}               # free mapping, validated by the monitor module
    kibana: {url: "http://127.0.0.1:5601", space: default}   # credentials default to elasticsearch's

Every key is validated; errors name the key path (`elasticsearch.bulk.chunk_bytes: expected an
integer or a size like "5MiB", got "5 parsecs"`). Unknown keys are errors. CLI flags override the
file (`overrides`, same nested shape). Relative file paths in the file are relative to the file's
folder. Secrets are read from files or environment variables only (a literal `password:` is refused)
and are kept in `Secret` objects whose repr/str never show the value.

Other modules can declare extra keys or sections with `register_key()` / `register_section()`
before `load_config()` runs (e.g. at import time of their command module).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENV_CONFIG = "DIRSRVBEAT_CONFIG"
ENV_ES_PASSWORD = "DIRSRVBEAT_ES_PASSWORD"
ENV_ES_API_KEY = "DIRSRVBEAT_ES_API_KEY"
ENV_KIBANA_PASSWORD = "DIRSRVBEAT_KIBANA_PASSWORD"
ENV_KIBANA_API_KEY = "DIRSRVBEAT_KIBANA_API_KEY"
MiB = 1 << 20


class ConfigError(ValueError):
    """One or more configuration problems; `errors` lists them, each starting with the key path."""

    def __init__(self, errors: list[str], source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        where = f"{source}: " if source else ""
        if len(errors) == 1:
            super().__init__(f"{where}{errors[0]}")
        else:
            super().__init__(f"{where}{len(errors)} configuration errors:\n  " + "\n  ".join(errors))


class Secret:
    """A password or API key. `reveal()` gives the value; repr/str only say where it came from."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<from {self.source}>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# ------------------------------------------------------------------------------------------ converters
class _Invalid(ValueError):
    pass


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return type(value).__name__
    return str(value)


def c_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _Invalid(f"expected a string, got {_show(value)}")


def c_opt_str(value: Any) -> str | None:
    return None if value is None else c_str(value)


def c_nonempty_str(value: Any) -> str:
    text = c_str(value)
    if not text.strip():
        raise _Invalid("expected a non-empty string")
    return text


def c_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "false", "no", "off"):
        return value.lower() in ("true", "yes", "on")
    raise _Invalid(f"expected true or false, got {_show(value)}")


def c_auto_bool(value: Any) -> bool | None:
    """true, false, or auto (None)."""
    if value is None or (isinstance(value, str) and value.lower() == "auto"):
        return None
    try:
        return c_bool(value)
    except _Invalid:
        raise _Invalid(f"expected true, false or auto, got {_show(value)}") from None


def c_int(value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        else:
            raise _Invalid(f"expected an integer, got {_show(value)}")
    if minimum is not None and value < minimum:
        raise _Invalid(f"expected an integer >= {minimum}, got {value}")
    return value


def c_pos_int(value: Any) -> int:
    return c_int(value, 1)


def c_nonneg_int(value: Any) -> int:
    return c_int(value, 0)


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kKmMgG])(i)?)?[bB]?\s*$")
_SIZE_UNITS = {"k": 1, "m": 2, "g": 3}


def parse_size(value: Any) -> int:
    """Bytes from an integer or a size: `5MiB` (binary), `5MB` (decimal), `512KiB`, `1048576`."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise _Invalid(f"expected a size >= 1 byte, got {value}")
        return value
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            number = float(m.group(1))
            unit = (m.group(2) or "").lower()
            base = 1024 if m.group(3) else 1000
            size = int(number * base ** _SIZE_UNITS[unit]) if unit else int(number)
            if size >= 1:
                return size
    raise _Invalid(f'expected an integer or a size like "5MiB", got {_show(value)}')


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_seconds(value: Any) -> float:
    """Seconds from a number or `500ms`, `30s`, `2m`, `1h`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise _Invalid(f"expected a duration >= 0, got {value}")
        return float(value)
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
            return float(m.group(1)) * factor
    raise _Invalid(f'expected seconds or a duration like "30s", got {_show(value)}')


def c_pos_seconds(value: Any) -> float:
    seconds = parse_seconds(value)
    if seconds <= 0:
        raise _Invalid(f"expected a duration > 0, got {_show(value)}")
    return seconds


def c_str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise _Invalid(f"item {i}: expected a string, got {_show(item)}")
            out.append(item)
        return out
    raise _Invalid(f"expected a string or a list of strings, got {_show(value)}")


def c_hosts(value: Any) -> list[str]:
    hosts = c_str_list(value)
    if not hosts:
        raise _Invalid("expected at least one host")
    for h in hosts:
        scheme = h.split("://", 1)[0] if "://" in h else "http"
        if scheme not in ("http", "https"):
            raise _Invalid(f"host {h.split('@')[-1]!r}: scheme must be http or https")
    return hosts


def c_choice(*choices: str) -> Callable[[Any], str]:
    def conv(value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise _Invalid(f"expected one of {', '.join(choices)}, got {_show(value)}")
    return conv


def c_index_prefix(value: Any) -> str:
    text = c_nonempty_str(value)
    if text != text.lower() or not re.fullmatch(r"[a-z0-9][a-z0-9_.\-]*", text):
        raise _Invalid(f'expected a lower-case index name prefix ([a-z0-9_.-]), got "{text}"')
    return text


def c_mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    raise _Invalid(f"expected a mapping, got {_show(value)}")


PATH_KEYS = {"password_file", "api_key_file", "ca_file", "state_dir", "dead_letter", "paths"}


# ------------------------------------------------------------------------------------------ schema
Schema = dict[str, Any]  # key -> (converter, default) | nested Schema

ES_SCHEMA: Schema = {
    "hosts": (c_hosts, ["http://127.0.0.1:9200"]),
    "username": (c_opt_str, None),
    "password_file": (c_opt_str, None),
    "password_env": (c_opt_str, ENV_ES_PASSWORD),
    "api_key_file": (c_opt_str, None),
    "api_key_env": (c_opt_str, ENV_ES_API_KEY),
    "ca_file": (c_opt_str, None),
    "verify": (c_bool, True),
    "timeout": (c_pos_seconds, 30.0),
    "http_compress": (c_bool, False),
    "index_prefix": (c_index_prefix, "dirsrvbeat"),
    "index_mode": (c_choice("daily", "rollover"), "daily"),
    "ilm": {
        "enabled": (c_auto_bool, None),
        "delete_after_days": (c_pos_int, 30),
        "policy_name": (c_opt_str, None),
        "rollover_max_size": (c_nonempty_str, "50gb"),
        "rollover_max_age": (c_nonempty_str, "1d"),
    },
    "bulk": {
        "chunk_bytes": (parse_size, 5 * MiB),
        "chunk_docs": (c_pos_int, 5000),
        "max_retries": (c_nonneg_int, 8),
        "initial_backoff": (parse_seconds, 1.0),
        "max_backoff": (parse_seconds, 60.0),
    },
}

ACCESS_SCHEMA: Schema = {
    "paths": (c_str_list, []),
    "state_dir": (c_opt_str, None),
    "dead_letter": (c_opt_str, None),
    "host_name": (c_opt_str, None),
    "service_name": (c_opt_str, None),
    "close_grace_seconds": (parse_seconds, 5.0),
    "connections": (c_bool, True),
}

KIBANA_SCHEMA: Schema = {
    "url": (c_opt_str, None),
    "space": (c_opt_str, None),
    "username": (c_opt_str, None),
    "password_file": (c_opt_str, None),
    "password_env": (c_opt_str, ENV_KIBANA_PASSWORD),
    "api_key_file": (c_opt_str, None),
    "api_key_env": (c_opt_str, ENV_KIBANA_API_KEY),
    "ca_file": (c_opt_str, None),
    "verify": (c_bool, True),
    "timeout": (c_pos_seconds, 30.0),
}

SCHEMA: Schema = {
    "elasticsearch": ES_SCHEMA,
    "access": ACCESS_SCHEMA,
    "monitor": (c_mapping, {}),
    "kibana": KIBANA_SCHEMA,
}

_HINTS = {
    "password": "put the password in password_file or in the environment variable named by password_env",
    "api_key": "put the API key in api_key_file or in the environment variable named by api_key_env",
}


def register_section(name: str, converter: Callable[[Any], Any] = c_mapping, default: Any = None) -> None:
    """Declare a top-level section owned by another module (value: converter(raw) or default)."""
    existing = SCHEMA.get(name)
    if existing is not None:
        if isinstance(existing, tuple) and existing[0] is converter:
            return
        raise ValueError(f"configuration section {name!r} is already registered")
    SCHEMA[name] = (converter, {} if default is None and converter is c_mapping else default)


def register_key(section: str, key: str, converter: Callable[[Any], Any], default: Any = None) -> None:
    """Declare an extra key in `elasticsearch`, `access` or `kibana` (read it from `Config.extra`)."""
    schema = SCHEMA.get(section)
    if not isinstance(schema, dict):
        raise ValueError(f"cannot add keys to configuration section {section!r}")
    schema.setdefault(key, (converter, default))


def _validate(raw: Any, schema: Schema, path: str, errors: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        errors.append(f"{path}: expected a mapping, got {_show(raw)}")
        raw = {}
    for key in raw:
        if key not in schema:
            where = f"{path}.{key}" if path else str(key)
            hint = _HINTS.get(str(key))
            known = ", ".join(sorted(schema))
            errors.append(f"{where}: unknown key" + (f" ({hint})" if hint else f" (known: {known})"))
    for key, spec in schema.items():
        where = f"{path}.{key}" if path else key
        value = raw.get(key)
        if isinstance(spec, dict):
            out[key] = _validate(value, spec, where, errors)
            continue
        conv, default = spec
        if key not in raw or value is None:
            out[key] = copy.deepcopy(default)
            continue
        try:
            out[key] = conv(value)
        except _Invalid as exc:
            errors.append(f"{where}: {exc}")
            out[key] = copy.deepcopy(default)
    return out


# ------------------------------------------------------------------------------------------ result
@dataclass
class IlmConfig:
    enabled: bool | None = None  # None = auto: when the server has ILM
    delete_after_days: int = 30
    policy_name: str | None = None
    rollover_max_size: str = "50gb"
    rollover_max_age: str = "1d"


@dataclass
class BulkConfig:
    chunk_bytes: int = 5 * MiB
    chunk_docs: int = 5000
    max_retries: int = 8
    initial_backoff: float = 1.0
    max_backoff: float = 60.0


@dataclass
class ElasticsearchConfig:
    hosts: list[str] = field(default_factory=lambda: ["http://127.0.0.1:9200"])
    username: str | None = None
    password: Secret | None = None
    api_key: Secret | None = None
    password_file: str | None = None
    password_env: str | None = ENV_ES_PASSWORD
    api_key_file: str | None = None
    api_key_env: str | None = ENV_ES_API_KEY
    ca_file: str | None = None
    verify: bool = True
    timeout: float = 30.0
    http_compress: bool = False
    index_prefix: str = "dirsrvbeat"
    index_mode: str = "daily"
    ilm: IlmConfig = field(default_factory=IlmConfig)
    bulk: BulkConfig = field(default_factory=BulkConfig)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AccessConfig:
    paths: list[str] = field(default_factory=list)
    state_dir: str | None = None
    dead_letter: str | None = None
    host_name: str | None = None
    service_name: str | None = None
    close_grace_seconds: float = 5.0
    connections: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class KibanaConfig:
    url: str | None = None
    space: str | None = None
    username: str | None = None
    password: Secret | None = None
    api_key: Secret | None = None
    password_file: str | None = None
    password_env: str | None = ENV_KIBANA_PASSWORD
    api_key_file: str | None = None
    api_key_env: str | None = ENV_KIBANA_API_KEY
    ca_file: str | None = None
    verify: bool = True
    timeout: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    elasticsearch: ElasticsearchConfig = field(default_factory=ElasticsearchConfig)
    access: AccessConfig = field(default_factory=AccessConfig)
    monitor: dict[str, Any] = field(default_factory=dict)
    kibana: KibanaConfig = field(default_factory=KibanaConfig)
    sections: dict[str, Any] = field(default_factory=dict)  # registered extra sections
    source: str | None = None


def _split(data: dict[str, Any], cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    names = set(cls.__dataclass_fields__)
    return ({k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names})


def _read_secret(file_key: str, env_key: str, data: dict[str, Any], section: str, env: Mapping[str, str],
                 errors: list[str]) -> Secret | None:
    path = data.get(file_key)
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            errors.append(f"{section}.{file_key}: cannot read {path}: {exc.strerror or exc}")
            return None
        if not value:
            errors.append(f"{section}.{file_key}: {path} is empty")
            return None
        return Secret(value, f"file {path}")
    var = data.get(env_key)
    if var and env.get(var):
        return Secret(env[var], f"environment variable {var}")
    return None


def _resolve_paths(raw: Any, base: Path) -> Any:
    """Make path-valued keys of the file relative to the file's folder."""
    if not isinstance(raw, Mapping):
        return raw
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in PATH_KEYS and isinstance(value, str) and value not in ("", "-"):
            out[key] = str(base / os.path.expanduser(value))
        elif key in PATH_KEYS and isinstance(value, list):
            out[key] = [str(base / os.path.expanduser(v)) if isinstance(v, str) else v for v in value]
        elif isinstance(value, Mapping) and key != "monitor":
            out[key] = _resolve_paths(value, base)
        else:
            out[key] = value
    return out


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read, validate and resolve the configuration.

    path: the YAML file; None = `$DIRSRVBEAT_CONFIG` if set, else no file (defaults only).
    overrides: nested values from CLI flags (`{"elasticsearch": {"hosts": [...]}}`), applied on top.
    """
    env = os.environ if env is None else env
    if path is None and env.get(ENV_CONFIG):
        path = env[ENV_CONFIG]
    raw: Any = {}
    source = None
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"cannot read the configuration file: {exc.strerror or exc}"], source) from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError([f"invalid YAML: {where}{problem}"], source) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError([f"the file must hold a mapping of sections, got {_show(raw)}"], source)
        raw = _resolve_paths(raw, Path(path).resolve().parent)
    if overrides:
        raw = deep_merge(raw, {k: v for k, v in overrides.items() if v not in (None, {})})
    errors: list[str] = []
    data = _validate(raw, SCHEMA, "", errors)

    es = data["elasticsearch"]
    es_password = _read_secret("password_file", "password_env", es, "elasticsearch", env, errors)
    es_api_key = _read_secret("api_key_file", "api_key_env", es, "elasticsearch", env, errors)
    if es.get("password_file") and not es.get("username"):
        errors.append("elasticsearch.password_file: set elasticsearch.username too")
    if es_password is not None and not es.get("username"):
        es_password = None  # an ambient DIRSRVBEAT_ES_PASSWORD without a user name means nothing
    es_known, es_extra = _split({k: v for k, v in es.items() if k not in ("ilm", "bulk")}, ElasticsearchConfig)
    es_cfg = ElasticsearchConfig(**es_known, ilm=IlmConfig(**es["ilm"]), bulk=BulkConfig(**es["bulk"]),
                                 password=es_password, api_key=es_api_key, extra=es_extra)
    if es_cfg.bulk.max_backoff < es_cfg.bulk.initial_backoff:
        errors.append("elasticsearch.bulk.max_backoff: must be >= initial_backoff")

    ac_known, ac_extra = _split(data["access"], AccessConfig)
    access = AccessConfig(**ac_known, extra=ac_extra)

    kb = data["kibana"]
    kb_password = _read_secret("password_file", "password_env", kb, "kibana", env, errors)
    kb_api_key = _read_secret("api_key_file", "api_key_env", kb, "kibana", env, errors)
    if kb.get("password_file") and not kb.get("username"):
        errors.append("kibana.password_file: set kibana.username too")
    kb_known, kb_extra = _split(kb, KibanaConfig)
    kibana = KibanaConfig(**kb_known, password=kb_password, api_key=kb_api_key, extra=kb_extra)
    if kibana.username is None and kibana.password is None and kibana.api_key is None:
        # Beats behaviour: Kibana uses the Elasticsearch credentials unless given its own
        kibana.username, kibana.password, kibana.api_key = es_cfg.username, es_cfg.password, es_cfg.api_key
    if kibana.password is not None and not kibana.username:
        kibana.password = None

    if errors:
        raise ConfigError(errors, source)
    sections = {k: v for k, v in data.items() if k not in ("elasticsearch", "access", "monitor", "kibana")}
    return Config(elasticsearch=es_cfg, access=access, monitor=data["monitor"], kibana=kibana,
                  sections=sections, source=source)


# ------------------------------------------------------------------------------------------ CLI glue
def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE",
                        help=f"dirsrvbeat.yml (default: ${ENV_CONFIG} if set, else built-in defaults)")


def add_elasticsearch_arguments(parser: argparse.ArgumentParser) -> None:
    """The connection flags every Elasticsearch command accepts (they override the file)."""
    g = parser.add_argument_group("Elasticsearch connection (override the configuration file)")
    g.add_argument("--es-url", action="append", metavar="URL", dest="es_urls",
                   help="Elasticsearch node URL, repeatable (default http://127.0.0.1:9200)")
    g.add_argument("--username", help="user for basic authentication")
    g.add_argument("--password-file", metavar="FILE",
                   help=f"file holding the password (else ${ENV_ES_PASSWORD})")
    g.add_argument("--api-key-file", metavar="FILE",
                   help=f"file holding the API key, id:key or encoded (else ${ENV_ES_API_KEY})")
    g.add_argument("--ca-file", metavar="FILE", help="CA certificate(s) (PEM) to verify the server")
    g.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    g.add_argument("--index-prefix", help="index name prefix (default dirsrvbeat)")
    g.add_argument("--index-mode", choices=("daily", "rollover"), help="daily indices or a rollover alias")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Nested overrides from the flags of `add_elasticsearch_arguments` (unset flags are omitted)."""
    es: dict[str, Any] = {}
    get = lambda name: getattr(args, name, None)  # noqa: E731
    if get("es_urls"):
        es["hosts"] = list(get("es_urls"))
    for flag in ("username", "password_file", "api_key_file", "ca_file", "index_prefix", "index_mode"):
        if get(flag) is not None:
            es[flag] = get(flag)
    if get("insecure"):
        es["verify"] = False
    return {"elasticsearch": es} if es else {}


def client_options(cfg: ElasticsearchConfig) -> dict[str, Any]:
    """Keyword arguments for `dirsrvbeat.es.client.EsClient` from the configuration."""
    return {"hosts": cfg.hosts, "username": cfg.username, "password": cfg.password,
            "api_key": cfg.api_key, "ca_file": cfg.ca_file, "verify": cfg.verify,
            "timeout": cfg.timeout, "http_compress": cfg.http_compress}
