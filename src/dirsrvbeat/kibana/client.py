"""A small Kibana HTTP client: version, saved-objects import, bulk get (standard library only).

Every request carries `kbn-xsrf` (Kibana refuses API writes without it) and, when given, basic or
API-key authorisation; a space other than `default` prefixes the path with `/s/<space>`. Secrets
never appear in messages or `repr`.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from .. import __version__

USER_AGENT = f"dirsrvbeat/{__version__}"


class KibanaError(Exception):
    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _reveal(secret: Any) -> str | None:
    if secret is None:
        return None
    reveal = getattr(secret, "reveal", None)
    return str(reveal() if callable(reveal) else secret)


def parse_version(text: str) -> tuple[int, int, int]:
    parts = (text or "").split("-", 1)[0].split(".")
    try:
        nums = [int(p) for p in parts[:3]]
    except ValueError:
        raise KibanaError(f"unparsable Kibana version {text!r}") from None
    while len(nums) < 3:
        nums.append(0)
    return nums[0], nums[1], nums[2]


@dataclass
class Response:
    status: int
    body: Any


class KibanaClient:
    def __init__(self, url: str, *, username: str | None = None, password: Any = None, api_key: Any = None,
                 ca_file: str | None = None, verify: bool = True, timeout: float = 30.0) -> None:
        text = url.strip()
        if "://" not in text:
            text = "http://" + text
        parts = urllib.parse.urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"bad Kibana URL {url!r} (want http(s)://host:port[/base-path])")
        if parts.username is not None and username is None and api_key is None:
            username, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.timeout = timeout
        self.headers = {"kbn-xsrf": "dirsrvbeat", "user-agent": USER_AGENT, "accept": "application/json"}
        key = _reveal(api_key)
        if key:
            if ":" in key:
                key = base64.b64encode(key.encode()).decode()
            self.headers["authorization"] = f"ApiKey {key}"
            self.auth = "api_key"
        elif username:
            token = base64.b64encode(f"{username}:{_reveal(password) or ''}".encode()).decode()
            self.headers["authorization"] = f"Basic {token}"
            self.auth = "basic"
        else:
            self.auth = "none"
        self.context: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self.context = ssl.create_default_context(cafile=ca_file) if verify else ssl._create_unverified_context()

    def __repr__(self) -> str:
        return f"KibanaClient({self.base!r}, auth={self.auth!r})"

    def path(self, api: str, space: str | None = None) -> str:
        if space and space != "default":
            return f"{self.base}/s/{urllib.parse.quote(space, safe='')}{api}"
        return self.base + api

    def request(self, method: str, url: str, *, body: bytes | None = None, content_type: str | None = None,
                allow: tuple[int, ...] = ()) -> Response:
        headers = dict(self.headers)
        if content_type:
            headers["content-type"] = content_type
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KibanaError(f"{method} {url}: cannot connect to Kibana: {reason}") from None
        text = raw.decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        if status >= 400 and status not in allow:
            what = parsed.get("message") if isinstance(parsed, dict) else str(parsed)[:300]
            if status in (401, 403):
                what = f"authentication/authorization failed ({what})"
            raise KibanaError(f"{method} {url}: HTTP {status} {what}", status=status, body=parsed)
        return Response(status, parsed)

    # ------------------------------------------------------------------ API
    def version(self) -> str:
        """`GET /api/status` -> version.number (e.g. 8.19.2)."""
        body = self.request("GET", self.base + "/api/status").body
        number = ((body or {}).get("version") or {}).get("number") if isinstance(body, dict) else None
        if not number:
            raise KibanaError(f"{self.base}/api/status has no version.number - is this Kibana?")
        return str(number)

    def import_objects(self, ndjson: bytes, *, space: str | None = None, overwrite: bool = True,
                       filename: str = "dirsrvbeat.ndjson") -> dict[str, Any]:
        """`POST [/s/<space>]/api/saved_objects/_import?overwrite=true` with the ndjson as multipart `file`."""
        boundary = f"dirsrvbeat-{uuid.uuid4().hex}"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                f"Content-Type: application/ndjson\r\n\r\n").encode() + ndjson + f"\r\n--{boundary}--\r\n".encode()
        query = "?overwrite=true" if overwrite else ""
        resp = self.request("POST", self.path("/api/saved_objects/_import", space) + query, body=body,
                            content_type=f"multipart/form-data; boundary={boundary}")
        if not isinstance(resp.body, dict):
            raise KibanaError(f"unexpected import answer: {resp.body!r}"[:500])
        return resp.body

    def bulk_get(self, items: list[tuple[str, str]], *, space: str | None = None) -> list[dict[str, Any]]:
        body = json.dumps([{"type": t, "id": i} for t, i in items]).encode()
        resp = self.request("POST", self.path("/api/saved_objects/_bulk_get", space), body=body,
                            content_type="application/json")
        return list((resp.body or {}).get("saved_objects", []))
