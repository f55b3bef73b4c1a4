"""One version-neutral Elasticsearch client for 6.8 → 9.x, built on `elastic_transport`.

Why not elasticsearch-py: the 8.x/9.x clients refuse servers older than 7.14 (product check on the
`X-Elastic-Product` header) and force `Accept: application/vnd.elasticsearch+json; compatible-with=N`,
which 6.x/7.x answer with 406 and 8.x refuses for N=9; the 7.x client (product check 7.14+) cannot
talk to 9.x. `elastic_transport` is the transport underneath elasticsearch-py 8/9: node pool,
failover, TLS, gzip, connection reuse, but no product check and no version headers. We send plain
`application/json` / `application/x-ndjson`, which every version from 6.0 to 9.x accepts, and call
the dozen endpoints we need by path. See docs/elasticsearch.md.

Secrets (password, API key) go into an `Authorization` header only; they never appear in `repr`,
log lines or exception text (elastic_transport's own debug log hides `Authorization` too).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import elastic_transport

from .. import __version__

log = logging.getLogger("dirsrvbeat.es")

JSON = "application/json"
NDJSON = "application/x-ndjson"
USER_AGENT = f"dirsrvbeat/{__version__} (elastic-transport)"


# --------------------------------------------------------------------------------------- errors
class EsError(Exception):
    """Base class. `status` is the HTTP status (None for transport failures); `error_type` and
    `reason` come from the Elasticsearch error body. The message never holds credentials."""

    def __init__(self, message: str, *, status: int | None = None, method: str | None = None,
                 path: str | None = None, error_type: str | None = None, reason: str | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.error_type = error_type
        self.reason = reason
        self.body = body


class EsConnectionError(EsError):
    """No HTTP answer: refused, reset, DNS, TLS handshake or timeout (every node tried)."""

    def __init__(self, message: str, *, timeout: bool = False, tls: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.timeout = timeout
        self.tls = tls


class EsServerError(EsError):
    """HTTP 5xx."""


class EsTooManyRequests(EsError):
    """HTTP 429 (es_rejected_execution_exception, circuit breakers)."""


class EsAuthError(EsError):
    """HTTP 401/403: wrong credentials or missing privileges."""


class EsNotFound(EsError):
    """HTTP 404."""


class EsRequestError(EsError):
    """Any other HTTP 4xx (400 bad request, 405, 406, 409, 413 ...)."""


class UnsupportedServer(EsError):
    """The server is not an Elasticsearch we support (OpenSearch, < 6.0, unparsable version)."""


def _error_class(status: int) -> type[EsError]:
    if status in (401, 403):
        return EsAuthError
    if status == 404:
        return EsNotFound
    if status == 429:
        return EsTooManyRequests
    if status >= 500:
        return EsServerError
    return EsRequestError


def error_summary(body: Any) -> tuple[str | None, str | None]:
    """(type, reason) of an Elasticsearch error body (object or plain string forms)."""
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, str):
            return None, err
        if isinstance(err, Mapping):
            etype = err.get("type")
            reason = err.get("reason")
            caused = err.get("caused_by")
            if isinstance(caused, Mapping) and caused.get("reason") and caused.get("reason") != reason:
                reason = f"{reason} (caused by {caused.get('type')}: {caused.get('reason')})"
            if reason is None and isinstance(err.get("root_cause"), list) and err["root_cause"]:
                rc = err["root_cause"][0]
                if isinstance(rc, Mapping):
                    etype, reason = etype or rc.get("type"), rc.get("reason")
            return (str(etype) if etype is not None else None), (str(reason) if reason is not None else None)
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return None, text.strip()[:500] or None
    return None, None


# --------------------------------------------------------------------------------------- server info
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ServerInfo:
    """What `GET /` (or `GET /_nodes/_local`) says about the server."""

    number: str
    distribution: str = "elasticsearch"
    build_flavor: str | None = None
    cluster_name: str | None = None
    tagline: str | None = None
    source: str = "GET /"

    @property
    def version(self) -> tuple[int, int, int]:
        m = _VERSION_RE.match(self.number)
        if not m:
            raise UnsupportedServer(f"unparsable server version {self.number!r}")
        return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)

    @property
    def major(self) -> int:
        return self.version[0]

    @property
    def minor(self) -> int:
        return self.version[1]

    @property
    def is_opensearch(self) -> bool:
        return self.distribution.lower() == "opensearch"

    def at_least(self, major: int, minor: int = 0) -> bool:
        return self.version[:2] >= (major, minor)

    def __str__(self) -> str:
        flavor = f", {self.build_flavor}" if self.build_flavor else ""
        return f"{self.distribution} {self.number}{flavor}"


@dataclass
class EsResponse:
    status: int
    body: Any
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------- hosts
def parse_host(url: str) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """`http://h:9200/prefix` → NodeConfig fields (+ credentials found in the URL, removed)."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme in Elasticsearch URL {parts.scheme!r} (use http or https)")
    if not parts.hostname:
        raise ValueError("Elasticsearch URL without a host name")
    creds = None
    if parts.username is not None:
        creds = (unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname
    try:
        port = parts.port or 9200
    except ValueError as exc:
        raise ValueError(f"bad port in Elasticsearch URL for host {host!r}") from exc
    return {"scheme": parts.scheme, "host": host, "port": port,
            "path_prefix": parts.path.rstrip("/")}, creds


def redact_url(url: str) -> str:
    """The URL without user:password@ (for messages)."""
    text = url if "://" in url else "http://" + url
    parts = urlsplit(text)
    if parts.username is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def _reveal(secret: Any) -> str | None:
    if secret is None:
        return None
    reveal = getattr(secret, "reveal", None)
    return str(reveal() if callable(reveal) else secret)


def api_key_header(api_key: str) -> str:
    """`id:key` is base64-encoded; an already encoded key is sent as is."""
    key = api_key.strip()
    if ":" in key:
        key = base64.b64encode(key.encode("utf-8")).decode("ascii")
    return f"ApiKey {key}"


# --------------------------------------------------------------------------------------- client
class _ProbeAwarePool(elastic_transport.NodePool):
    """Does not mark a node dead while probing endpoints that may legitimately answer 405/400
    (`GET /` on integ-test-zip >= 8.9, `GET /_ilm/status` without X-Pack)."""

    probing = threading.local()

    def mark_dead(self, node: Any, _now: float | None = None) -> None:
        if getattr(self.probing, "on", False):
            return
        super().mark_dead(node, _now)


class _NdjsonBytes(elastic_transport.NdjsonSerializer):
    """NDJSON that sends a ready body (bytes ending in a newline) as it is: the stock serializer
    copies every `_bulk` body twice."""

    def dumps(self, data: Any) -> bytes:
        if isinstance(data, bytes) and data.endswith(b"\n"):
            return data
        return super().dumps(data)  # type: ignore[no-any-return]


class EsClient:
    """Thin Elasticsearch client: a node list, auth, TLS, timeouts, and the endpoints dirsrvbeat uses.

    Transport-level retries only fail over between nodes on connection errors; 429/5xx come back as
    exceptions so callers (the bulk output) decide about backoff.
    """

    def __init__(self, hosts: Sequence[str] | str = ("http://127.0.0.1:9200",), *,
                 username: str | None = None, password: Any = None, api_key: Any = None,
                 ca_file: str | None = None, verify: bool = True, timeout: float = 30.0,
                 http_compress: bool = False, connections_per_node: int = 10,
                 node_retries: int | None = None, headers: Mapping[str, str] | None = None) -> None:
        if isinstance(hosts, str):
            hosts = [hosts]
        if not hosts:
            raise ValueError("no Elasticsearch host given")
        configs: list[dict[str, Any]] = []
        url_creds = None
        for url in hosts:
            cfg, creds = parse_host(url)
            configs.append(cfg)
            url_creds = url_creds or creds
        if url_creds and username is None and password is None and api_key is None:
            username, password = url_creds
            log.warning("credentials in the Elasticsearch URL: prefer username + password_file")
        self.hosts = [f"{c['scheme']}://{c['host']}:{c['port']}{c['path_prefix']}" for c in configs]
        self.timeout = timeout
        self.verify = verify
        self.ca_file = ca_file
        self.http_compress = http_compress
        base_headers: dict[str, str] = {"user-agent": USER_AGENT}
        if headers:
            base_headers.update(headers)
        pw = _reveal(password)
        key = _reveal(api_key)
        if key:
            base_headers["authorization"] = api_key_header(key)
            self.auth = "api_key"
        elif username is not None:
            token = base64.b64encode(f"{username}:{pw or ''}".encode()).decode("ascii")
            base_headers["authorization"] = f"Basic {token}"
            self.auth = "basic"
        else:
            self.auth = "none"
        self.username = username
        if not verify and any(c["scheme"] == "https" for c in configs):
            log.warning("TLS certificate verification is disabled for %s", ", ".join(self.hosts))
        node_configs = [
            elastic_transport.NodeConfig(
                c["scheme"], c["host"], c["port"], path_prefix=c["path_prefix"],
                headers=base_headers, connections_per_node=connections_per_node,
                request_timeout=timeout, http_compress=http_compress,
                verify_certs=verify, ca_certs=ca_file, ssl_show_warn=False)
            for c in configs
        ]
        serializers = {JSON: elastic_transport.OrjsonSerializer(), NDJSON: _NdjsonBytes(),
                       "text/*": elastic_transport.TextSerializer()}
        self._transport = elastic_transport.Transport(
            node_configs, serializers=serializers, default_mimetype=JSON,
            max_retries=len(node_configs) - 1 if node_retries is None else node_retries,
            retry_on_status=(), retry_on_timeout=False, meta_header=False,
            randomize_nodes_in_pool=False, node_pool_class=_ProbeAwarePool)
        self._info: ServerInfo | None = None
        self._ilm: bool | None = None
        self._lock = threading.Lock()
        self.last_warnings: list[str] = []

    def __repr__(self) -> str:
        return f"EsClient(hosts={self.hosts!r}, auth={self.auth!r}, verify={self.verify!r})"

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> EsClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------------------- core request
    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None, ndjson: bool = False, timeout: float | None = None,
                allow: Iterable[int] = (), probe: bool = False) -> EsResponse:
        """One HTTP request. Raises an `EsError` subclass for statuses >= 400 not in `allow`.
        probe=True: an error answer does not count against the node's health."""
        target = path if path.startswith("/") else "/" + path
        if params:
            query = {k: ("true" if v is True else "false" if v is False else v)
                     for k, v in params.items() if v is not None}
            if query:
                target += "?" + urlencode(query, safe=",*")
        headers = {"accept": JSON}
        if body is not None:
            headers["content-type"] = NDJSON if ndjson else JSON
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["request_timeout"] = timeout
        if probe:
            _ProbeAwarePool.probing.on = True
        try:
            resp = self._transport.perform_request(method, target, body=body, headers=headers, **kwargs)
        except elastic_transport.ConnectionTimeout:
            raise EsConnectionError(
                f"{method} {path}: timed out after {timeout or self.timeout}s ({', '.join(self.hosts)})",
                timeout=True, method=method, path=path) from None
        except elastic_transport.TlsError as exc:
            raise EsConnectionError(f"{method} {path}: TLS error talking to {', '.join(self.hosts)}: "
                                    f"{_short(exc)}", tls=True, method=method, path=path) from None
        except elastic_transport.ConnectionError as exc:
            raise EsConnectionError(f"{method} {path}: cannot connect to {', '.join(self.hosts)}: "
                                    f"{_short(exc)}", method=method, path=path) from None
        except elastic_transport.SerializationError as exc:
            raise EsError(f"{method} {path}: unreadable response ({_short(exc)}) - is this Elasticsearch?",
                          method=method, path=path) from None
        except elastic_transport.TransportError as exc:
            raise EsConnectionError(f"{method} {path}: transport error: {_short(exc)}",
                                    method=method, path=path) from None
        finally:
            if probe:
                _ProbeAwarePool.probing.on = False
        status = resp.meta.status
        warnings = resp.meta.headers.get("warning")
        warning_list = [warnings] if warnings else []
        if warning_list:
            self.last_warnings = warning_list
            log.debug("%s %s: server warning: %s", method, path, warnings)
        if status >= 400 and status not in allow:
            etype, reason = error_summary(resp.body)
            cls = _error_class(status)
            what = f"{etype}: {reason}" if etype else (reason or "")
            if cls is EsAuthError:
                what = f"authentication/authorization failed ({what or 'no detail'})"
            raise cls(f"{method} {path}: HTTP {status} {what}".rstrip(), status=status, method=method,
                      path=path, error_type=etype, reason=reason, body=resp.body)
        return EsResponse(status, resp.body, warning_list)

    # ------------------------------------------------------------------------------- server facts
    def info(self, refresh: bool = False) -> ServerInfo:
        """Version detection: `GET /`, else `GET /_nodes/_local` (integ-test-zip ≥ 8.9 has no `GET /`)."""
        if self._info is not None and not refresh:
            return self._info
        try:
            body = self.request("GET", "/", probe=True).body
        except (EsNotFound, EsRequestError) as exc:
            log.debug("GET / unavailable (%s), asking /_nodes/_local", exc)
            body = None
        if isinstance(body, Mapping) and isinstance(body.get("version"), Mapping):
            v = body["version"]
            info = ServerInfo(number=str(v.get("number", "")),
                              distribution=str(v.get("distribution") or "elasticsearch"),
                              build_flavor=v.get("build_flavor"), cluster_name=body.get("cluster_name"),
                              tagline=body.get("tagline"), source="GET /")
        else:
            nodes = self.request("GET", "/_nodes/_local",
                                 params={"filter_path": "cluster_name,nodes.*.version,nodes.*.build_flavor"}
                                 ).body
            node = next(iter((nodes.get("nodes") or {}).values()), None) if isinstance(nodes, Mapping) else None
            if not node or "version" not in node:
                raise UnsupportedServer("cannot find the server version (neither GET / nor GET /_nodes/_local)")
            info = ServerInfo(number=str(node["version"]), build_flavor=node.get("build_flavor"),
                              cluster_name=nodes.get("cluster_name"), source="GET /_nodes/_local")
        _ = info.version  # raises UnsupportedServer when unparsable
        self._info = info
        return info

    def check_supported(self) -> ServerInfo:
        info = self.info()
        if info.is_opensearch:
            raise UnsupportedServer(f"{info} is OpenSearch; dirsrvbeat supports Elasticsearch 6.8 → 9.x")
        if info.major < 6:
            raise UnsupportedServer(f"Elasticsearch {info.number} is too old (need 6.x or newer)")
        return info

    def has_ilm(self, refresh: bool = False) -> bool:
        """True when the server answers `GET /_ilm/status` (X-Pack basic; not OSS/runner/integ-test-zip)."""
        if self._ilm is not None and not refresh:
            return self._ilm
        try:
            body = self.request("GET", "/_ilm/status", probe=True).body
            self._ilm = isinstance(body, Mapping) and "operation_mode" in body
        except (EsNotFound, EsRequestError, EsServerError) as exc:
            log.debug("no ILM: %s", exc)
            self._ilm = False
        return self._ilm

    # ------------------------------------------------------------------------------- templates / ILM
    def put_legacy_template(self, name: str, body: Mapping[str, Any],
                            include_type_name: bool | None = None) -> Any:
        params = {"include_type_name": include_type_name} if include_type_name is not None else None
        return self.request("PUT", f"/_template/{_q(name)}", params=params, body=body).body

    def get_legacy_template(self, name: str) -> dict[str, Any] | None:
        try:
            body = self.request("GET", f"/_template/{_q(name)}").body
        except EsNotFound:
            return None
        return body.get(name) if isinstance(body, Mapping) else None

    def delete_legacy_template(self, name: str) -> bool:
        return self.request("DELETE", f"/_template/{_q(name)}", allow=(404,)).status < 300

    def put_component_template(self, name: str, body: Mapping[str, Any]) -> Any:
        return self.request("PUT", f"/_component_template/{_q(name)}", body=body).body

    def get_component_template(self, name: str) -> dict[str, Any] | None:
        try:
            body = self.request("GET", f"/_component_template/{_q(name)}").body
        except EsNotFound:
            return None
        for item in body.get("component_templates", []):
            if item.get("name") == name:
                return item.get("component_template")
        return None

    def put_index_template(self, name: str, body: Mapping[str, Any]) -> Any:
        return self.request("PUT", f"/_index_template/{_q(name)}", body=body).body

    def get_index_template(self, name: str) -> dict[str, Any] | None:
        try:
            body = self.request("GET", f"/_index_template/{_q(name)}").body
        except EsNotFound:
            return None
        for item in body.get("index_templates", []):
            if item.get("name") == name:
                return item.get("index_template")
        return None

    def put_ilm_policy(self, name: str, body: Mapping[str, Any]) -> Any:
        return self.request("PUT", f"/_ilm/policy/{_q(name)}", body=body).body

    def get_ilm_policy(self, name: str) -> dict[str, Any] | None:
        try:
            body = self.request("GET", f"/_ilm/policy/{_q(name)}").body
        except EsNotFound:
            return None
        entry = body.get(name) if isinstance(body, Mapping) else None
        return entry.get("policy") if isinstance(entry, Mapping) else None

    # ------------------------------------------------------------------------------- documents
    def bulk(self, body: bytes, *, timeout: float | None = None, refresh: str | bool | None = None,
             filter_path: str | None = None) -> Any:
        """`POST /_bulk` with an already serialised NDJSON body (bytes, ending in a newline);
        `filter_path` trims the answer (the server serialises and we parse less)."""
        params: dict[str, Any] | None = {}
        if refresh is not None:
            params["refresh"] = refresh
        if filter_path is not None:
            params["filter_path"] = filter_path
        params = params or None
        return self.request("POST", "/_bulk", params=params, body=body, ndjson=True, timeout=timeout).body

    def refresh(self, index: str) -> Any:
        return self.request("POST", f"/{_q(index)}/_refresh",
                            params={"ignore_unavailable": True, "allow_no_indices": True}).body

    def count(self, index: str, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": query} if query is not None else None
        resp = self.request("POST" if body else "GET", f"/{_q(index)}/_count",
                            params={"ignore_unavailable": True, "allow_no_indices": True}, body=body)
        return int(resp.body["count"])

    def search(self, index: str, body: Mapping[str, Any] | None = None, **params: Any) -> Any:
        return self.request("POST", f"/{_q(index)}/_search", params=params or None, body=body or {}).body

    def get(self, index: str, doc_id: str, doc_type: str | None = None) -> dict[str, Any] | None:
        """The stored document (`_source` and metadata), None when absent."""
        if doc_type is None:
            doc_type = "_doc"
        try:
            return self.request("GET", f"/{_q(index)}/{doc_type}/{_q(doc_id)}").body
        except EsNotFound:
            return None

    def create_index(self, index: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.request("PUT", f"/{_q(index)}", body=body or {}).body

    def index_exists(self, index: str) -> bool:
        return self.request("HEAD", f"/{_q(index)}", allow=(404,)).status == 200

    def alias_exists(self, alias: str) -> bool:
        return self.request("GET", f"/_alias/{_q(alias)}", allow=(404,)).status == 200

    def list_indices(self, pattern: str) -> list[str]:
        body = self.request("GET", f"/_cat/indices/{_q(pattern)}",
                            params={"format": "json", "h": "index"},
                            allow=(404,)).body
        return sorted(row["index"] for row in body) if isinstance(body, list) else []

    def delete_index(self, index: str | Sequence[str]) -> bool:
        """Delete indices by exact name (8.x refuses wildcards by default); missing ones are ignored."""
        names = [index] if isinstance(index, str) else list(index)
        if not names:
            return False
        resp = self.request("DELETE", f"/{','.join(_q(n) for n in names)}",
                            params={"ignore_unavailable": True}, allow=(404,))
        return resp.status < 300

    def get_mapping(self, index: str) -> Any:
        return self.request("GET", f"/{_q(index)}/_mapping").body

    def health(self, **params: Any) -> Any:
        return self.request("GET", "/_cluster/health", params=params or None).body


def _q(part: str) -> str:
    return quote(part, safe=",*")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"

