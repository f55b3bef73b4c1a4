"""Turn joined operations and connections into ECS-shaped documents.

Field names are defined once in `fields/*.yml`; a test checks that every key written here is
defined there (and so exists in every generated index template).
"""

from __future__ import annotations

import hashlib
import ipaddress
from base64 import urlsafe_b64encode
from functools import lru_cache
from typing import Any

from ..codes import (
    CLOSE_CODES,
    KNOWN_EXTENDED_OPS,
    NON_FAILURE_RESULT_CODES,
    NOTE_NAMES,
    OP_TYPE_ACTIONS,
    RESULT_TAG_NAMES,
    SCOPE_NAMES,
    result_name,
)
from ..timestamps import BadTimestamp, TimestampConverter, parse_seconds
from .filter_shape import filter_info
from .join import RESULT_ONLY, TAG_TO_OP_TYPE, ConnEvent, OpEvent

Doc = dict[str, Any]

# event.duration in nanoseconds: orjson writes integers of 64 bits (signed or not) at most.
_LONG_MIN = -(2.0**63)
_ULONG_END = 2.0**64

TIMING_KEYS = ("wqtime", "wtime", "optime", "writetime", "etime")
EVENT_TYPES = {
    "BIND": ["start"], "UNBIND": ["end"], "ADD": ["creation"], "DEL": ["deletion"], "MOD": ["change"],
    "MODRDN": ["change"], "SRCH": ["access"], "CMP": ["access"], "EXT": ["protocol"], "ABANDON": ["end"],
}


@lru_cache(maxsize=4096)
def _ip_of(value: str) -> str | None:
    """The IP of a logged peer (an IPv6 `%iface` scope dropped), None for LDAPI `local` or a path."""
    host = value.split("%", 1)[0]
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return None


def _endpoint(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    ip = _ip_of(value)
    return {"address": value, "ip": ip} if ip is not None else {"address": value}


def _tls_version(protocol: str | None) -> tuple[str | None, str | None]:
    """`TLS1.3` -> ("1.3", "tls"); `SSL3` -> ("3", "ssl")."""
    if not protocol:
        return None, None
    p = protocol.upper()
    for prefix in ("TLS", "SSL"):
        if p.startswith(prefix):
            return p[len(prefix):].lstrip("V") or None, prefix.lower()
    return protocol, None


def _num(value: Any) -> int | None:
    """A logged number that fits a long, or None (junk such as `--5`, `²` or 25 digits)."""
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if -(2**63) <= n < 2**63 else None


def _split_attrs(attrs: str | None) -> list[str] | None:
    if attrs is None:
        return None
    return [a for a in attrs.split(" ") if a]


class Enricher:
    """Builds documents; `identity` fragments are cached per connection identity object."""

    def __init__(self, service_name: str | None = None, host_name: str | None = None,
                 with_ids: bool = False, timestamps: TimestampConverter | None = None) -> None:
        self.ts = timestamps or TimestampConverter()
        self.service: dict[str, Any] = {"type": "dirsrv"}
        if service_name:
            self.service["name"] = service_name
        self.host = {"name": host_name} if host_name else None
        self.with_ids = with_ids
        self.bad_timestamps = 0

    def set_server(self, version: str | None = None, instance: str | None = None) -> None:
        """Facts from a file banner (`389-Directory/2.3.1 B…`, `host:636 (/etc/dirsrv/slapd-x)`)."""
        if version:
            self.service["version"] = version
        if instance and "name" not in self.service:
            self.service["name"] = instance

    # ---------------------------------------------------------------- connection parts
    def _identity_parts(self, ident: dict[str, Any]) -> Doc:
        cached = ident.get("_parts")  # built once per identity, freed with it
        if cached is not None:
            return cached
        parts: Doc = {}
        src = _endpoint(ident.get("src"))
        if src:
            parts["source"] = src
        dst = _endpoint(ident.get("dst"))
        if dst:
            parts["destination"] = dst
        version, proto = _tls_version(ident.get("tls_protocol"))
        if version or ident.get("tls_cipher"):
            tls: Doc = {"established": True}
            if version:
                tls["version"] = version
            if proto:
                tls["version_protocol"] = proto
            if ident.get("tls_cipher"):
                tls["cipher"] = ident["tls_cipher"]
            if ident.get("tls_client_subject"):
                tls["client"] = {"subject": ident["tls_client_subject"]}
            parts["tls"] = tls
        conn: Doc = {"id": ident["conn_id"], "key": ident["key"], "transport": ident["transport"]}
        if ident.get("tls_bits"):
            conn["tls_key_bits"] = ident["tls_bits"]
        if ident.get("haproxy_src"):
            conn["proxy_address"] = ident["haproxy_src"]
        parts["conn"] = conn
        bind: Doc = {"dn": ident["bind_dn"]} if ident["bind_dn"] is not None else {}
        if ident.get("bind_method"):
            bind["method"] = ident["bind_method"]
        if ident.get("bind_mech"):
            bind["mech"] = ident["bind_mech"]
        parts["bind"] = bind
        ident["_parts"] = parts
        return parts

    def _time(self, raw: str | None) -> tuple[float | None, str | None]:
        if raw is None:
            return None, None
        try:
            return self.ts.convert(raw)
        except BadTimestamp:
            self.bad_timestamps += 1
            return None, None

    def _iso(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        try:
            return self.ts.iso(raw)
        except BadTimestamp:
            self.bad_timestamps += 1
            return None

    # ---------------------------------------------------------------- operations
    def op_doc(self, ev: OpEvent, file_path: str | None = None, offset: int | None = None) -> Doc:
        req, res, ident = ev.req, ev.res, ev.ident
        parts = self._identity_parts(ident)
        dirsrv: Doc = {"conn": parts["conn"], "bind": parts["bind"]}
        doc: Doc = {}
        anchor = req if req is not None else res
        assert anchor is not None
        start_iso = self._iso(req["t"] if req is not None else None)
        end_iso = self._iso(res["t"] if res is not None else None)
        doc["@timestamp"] = start_iso or end_iso
        if req is not None:
            op_type = req["type"]
        else:
            tag = res["kv"].get("tag") if res is not None else None
            op_type = TAG_TO_OP_TYPE.get(_num(tag), "UNKNOWN")  # type: ignore[arg-type]
        internal = bool(anchor.get("internal"))
        op: Doc = {"id": anchor.get("op"), "type": op_type, "status": ev.status, "internal": internal}
        op_key = f"{ident['key']}-{anchor.get('op')}"
        if internal:
            iid = anchor.get("internal_id")
            op["internal_id"] = iid
            op["nesting"] = anchor.get("nesting")
            if ident["conn_id"] != 0:  # `conn=Internal`: no client operation triggered it
                op["parent_key"] = op_key
            if iid is None:  # 1.3 `conn=Internal op=-1`: only the time tells them apart
                op_key = f"{op_key}-i@{anchor['t']}"
            else:
                op_key = f"{op_key}-i{iid}" + (f"-d{anchor['nesting']}" if anchor.get("nesting") else "")
        op["key"] = op_key
        dirsrv["op"] = op
        event: Doc = {"dataset": "dirsrv.access", "module": "dirsrv", "kind": "event",
                      "category": ["network"], "action": OP_TYPE_ACTIONS.get(op_type, op_type.lower()),
                      "type": EVENT_TYPES.get(op_type, ["info"])}
        if start_iso:
            event["start"] = start_iso
        if end_iso:
            event["end"] = end_iso
        outcome = "unknown"
        if res is not None:
            outcome = self._result(res, dirsrv, event)
            if outcome == "failure" and op_type == "BIND" and req is not None:
                dirsrv["bind"] = dict(dirsrv["bind"])
        event["outcome"] = outcome
        doc["event"] = event
        if req is not None:
            self._request(op_type, req, res, dirsrv)
        details = ev.details
        if details:
            self._details(details, dirsrv)
        self._common(doc, parts)
        if file_path is not None:
            doc["log"] = {"file": {"path": file_path}, "offset": offset}
        doc["dirsrv"] = dirsrv
        if self.with_ids:
            doc["event"]["id"] = self.doc_id(op_key, req, res)
        return doc

    def doc_id(self, key: str, req: Any, res: Any) -> str:
        raw = "|".join((self.service.get("name") or "", self.host["name"] if self.host else "", key,
                        req["t"] if req is not None else "", res["t"] if res is not None else ""))
        return urlsafe_b64encode(hashlib.blake2b(raw.encode("utf-8", "surrogatepass"),
                                                 digest_size=15).digest()).decode()

    def _result(self, res: Any, dirsrv: Doc, event: Doc) -> str:
        kv = res["kv"]
        result: Doc = {}
        outcome = "unknown"
        err = kv.get("err")
        code = _num(err)
        if code is not None:
            result["code"] = code
            result["name"] = result_name(code)
            outcome = "success" if code in NON_FAILURE_RESULT_CODES else "failure"
        tag = kv.get("tag")
        tag_n = _num(tag)
        if tag_n is not None:
            result["tag"] = tag_n
            result["tag_name"] = RESULT_TAG_NAMES.get(tag_n, str(tag_n))
        nentries = kv.get("nentries")
        nentries_n = _num(nentries)
        if nentries_n is not None:
            result["nentries"] = nentries_n
        if res.get("text"):
            result["message"] = res["text"]
        if "csn" in kv:
            result["csn"] = kv["csn"]
        if "sid" in kv:
            dirsrv["sid"] = kv["sid"]
        if "dn" in kv:
            result["bound_dn"] = kv["dn"]
        dirsrv["result"] = result
        timing: Doc = {}
        for key in TIMING_KEYS:
            value = kv.get(key)
            if value is not None:
                try:
                    timing[key] = parse_seconds(value)
                except ValueError:
                    pass
        if timing:
            dirsrv["timing"] = timing
            etime = timing.get("etime")
            if etime is not None:
                nanos = etime * 1e9
                if _LONG_MIN <= nanos < _ULONG_END:  # else left out: orjson writes 64 bits at most
                    event["duration"] = int(nanos)
        if "wbusy" in kv:
            busy, _, wmax = kv["wbusy"].partition("/")
            pool: Doc = {}
            for name, value in (("busy", busy), ("max", wmax), ("queue_depth", kv.get("wqdepth"))):
                number = _num(value)
                if number is not None:
                    pool[name] = number
            dirsrv["pool"] = pool
        notes = kv.get("notes")
        if notes:
            letters = [n for n in notes.split(",") if n]
            dirsrv["notes"] = letters
            dirsrv["note_names"] = [NOTE_NAMES.get(n, n) for n in letters]
            if "A" in letters:
                dirsrv.setdefault("search", {})["unindexed"] = "full"
            elif "U" in letters:
                dirsrv.setdefault("search", {})["unindexed"] = "partial"
            if "P" in letters:
                dirsrv.setdefault("search", {})["paged"] = True
        if "pr_idx" in kv:
            paged = dirsrv.setdefault("search", {}).setdefault("paged_results", {})
            for key, name in (("pr_idx", "index"), ("pr_cookie", "cookie")):
                number = _num(kv.get(key))
                if number is not None:
                    paged[name] = number
        return outcome

    def _request(self, op_type: str, req: Any, res: Any, dirsrv: Doc) -> None:
        if req.get("authzid"):
            dirsrv["authzid"] = req["authzid"]
        if req.get("error"):
            dirsrv["request_error"] = req["error"]
        if op_type == "SRCH":
            search = dirsrv.setdefault("search", {})
            search["base"] = req.get("base", "")
            scope = req.get("scope")
            if scope is not None:
                search["scope"] = scope
                search["scope_name"] = SCOPE_NAMES.get(scope, str(scope))
            flt = req.get("filter")
            if flt is not None:
                search["filter"] = flt
                info = filter_info(flt)
                search["filter_shape"] = info.shape
                search["filter_attributes"] = list(dict.fromkeys(a for a, _ in info.components))
                search["filter_components"] = [f"{a}:{k}" for a, k in info.components]
                if not info.valid:
                    search["filter_valid"] = False
            if "attrs" in req:  # absent from the error forms of the request line
                attrs = _split_attrs(req["attrs"])
                if attrs is None:
                    search["attrs_all"] = True
                else:
                    search["attrs"] = attrs
            if req.get("persistent"):
                search["persistent"] = True
            if req.get("truncated"):
                search["truncated"] = True
        elif op_type == "BIND":
            bind = dict(dirsrv["bind"])
            bind["requested_dn"] = req.get("dn", "")
            method = req.get("method")
            if method:
                bind["method"] = "sasl" if method == "sasl" else ("simple" if req.get("dn") else "anonymous")
            if req.get("mech"):
                bind["mech"] = req["mech"]
            if req.get("version"):
                bind["version"] = req["version"]
            ok = res is not None and res["kv"].get("err") == "0"
            if ok and "dn" in res["kv"]:
                bind["dn"] = res["kv"]["dn"]
            else:
                bind["dn"] = req.get("dn", "")
            dirsrv["bind"] = bind
        elif op_type in ("ADD", "MOD", "DEL", "MODRDN", "CMP"):
            if "dn" in req:
                dirsrv["target"] = {"dn": req["dn"]}
            if op_type == "MODRDN":
                modrdn: Doc = {}
                if "newrdn" in req:
                    modrdn["newrdn"] = req["newrdn"]
                sup = req.get("newsuperior")
                if sup and sup != "(null)":
                    modrdn["newsuperior"] = sup
                if modrdn:
                    dirsrv["modrdn"] = modrdn
            elif op_type == "CMP":
                dirsrv["compare"] = {"attribute": req.get("attr", "")}
        elif op_type == "EXT":
            oid = req.get("oid", "")
            ext: Doc = {"oid": oid}
            name = req.get("name") or KNOWN_EXTENDED_OPS.get(oid)
            if name:
                ext["name"] = name
            dirsrv["ext"] = ext
        elif op_type == "ABANDON":
            abandon: Doc = {"target_op": req.get("targetop")}
            target = req.get("targetop") or ""
            abandon["target_found"] = target.isdigit()
            for name in ("msgid", "nentries"):
                number = _num(req.get(name))
                if number is not None:
                    abandon[name] = number
            if req.get("etime"):
                try:
                    abandon["target_etime"] = parse_seconds(req["etime"])
                except ValueError:
                    pass
            dirsrv["abandon"] = abandon
        if req.get("sid"):
            dirsrv["sid"] = req["sid"]

    def _details(self, details: dict[str, Any], dirsrv: Doc) -> None:
        if details.get("abandoned"):
            dirsrv["op"]["abandoned"] = True
        if "target_key" in details:
            dirsrv.setdefault("abandon", {})["target_key"] = details["target_key"]
        if "entries" in details or "sort" in details or "vlv" in details or "referrals" in details:
            search = dirsrv.setdefault("search", {})
            if "entries" in details:
                search["entry_lines"] = details["entries"]
                search["entry_dns"] = details["entry_dns"]
            if "referrals" in details:
                search["referrals"] = details["referrals"]
            if "sort" in details:
                search["sort"] = {"keys": details["sort"]}
                if "sort_candidates" in details:
                    search["sort"]["candidates"] = details["sort_candidates"]
            if "vlv" in details:
                search["vlv"] = details["vlv"]
        if "index_reads" in details or "stat_duration" in details:
            stat: Doc = {}
            reads = details.get("index_reads")
            if reads:
                stat["index_reads"] = reads
                stat["index_read_count"] = len(reads)
            if "stat_duration" in details:
                stat["duration"] = details["stat_duration"]
            dirsrv["stat"] = stat
        if "ext_info" in details:
            dirsrv.setdefault("ext", {})["info"] = details["ext_info"]
        if "unprocessed" in details:
            dirsrv["request_error"] = details["unprocessed"]

    def _common(self, doc: Doc, parts: Doc) -> None:
        """The connection's peer and TLS facts, and the server's, shared by every document."""
        for key in ("source", "destination", "tls"):
            if key in parts:
                doc[key] = parts[key]
        doc["service"] = self.service
        if self.host:
            doc["host"] = self.host

    # ---------------------------------------------------------------- connections
    def conn_doc(self, ev: ConnEvent) -> Doc:
        c = ev.conn
        parts = self._identity_parts(c.identity())
        start_epoch, start_iso = self._time(c.opened or c.first_seen)
        close = c.close
        end_epoch, end_iso = self._time(close["t"] if close else c.last_seen)
        event: Doc = {"dataset": "dirsrv.connection", "module": "dirsrv", "kind": "event",
                      "category": ["network"], "type": ["connection"], "action": "connection"}
        if start_iso:
            event["start"] = start_iso
        if end_iso:
            event["end"] = end_iso
        if start_epoch is not None and end_epoch is not None and c.opened is not None:
            nanos = (end_epoch - start_epoch) * 1e9
            if nanos < _ULONG_END:  # else (584+ years: a junk year) left out: orjson writes 64 bits at most
                event["duration"] = int(nanos) if nanos > 0 else 0
        conn: Doc = dict(parts["conn"])
        conn.update({"status": ev.status, "ops": c.ops, "ops_by_type": dict(c.ops_by_type),
                     "etime_total": round(c.etime_total, 9), "unindexed_searches": c.unindexed,
                     "failed_binds": c.failed_binds, "bind_dns": list(c.bind_dns),
                     "open_line_seen": c.opened is not None})
        if c.fd is not None:
            conn["fd"] = c.fd
        if c.autobind_dn is not None:
            conn["autobind_dn"] = c.autobind_dn
        dirsrv: Doc = {"conn": conn, "bind": parts["bind"]}
        if close is not None:
            code = close.get("code")
            closing: Doc = {"text": close.get("close_text", "")}
            if code:
                closing["code"] = code
                entry = CLOSE_CODES.get(code)
                closing["name"] = entry[0] if entry else code
                closing["meaning"] = entry[1] if entry else "unknown close code"
            op = close.get("op")
            if op is not None:
                closing["op"] = op
            dirsrv["close"] = closing
            event["outcome"] = "success" if code == "U1" else "failure"
        else:
            event["outcome"] = "unknown"
        doc: Doc = {"@timestamp": start_iso or end_iso, "event": event}
        self._common(doc, parts)
        doc["dirsrv"] = dirsrv
        if self.with_ids:
            event["id"] = self.doc_id(f"conn-{c.key}", None, None)
        return doc


def is_result_only(ev: OpEvent) -> bool:
    return ev.status == RESULT_ONLY
