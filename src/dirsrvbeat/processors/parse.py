"""Parse one 389 DS access-log line (text 1.2 → 3.x, or 3.x JSON) into a flat record.

A record is a plain dict; `kind` says what the line was:

  open, close, tls, autobind, haproxy           connection events (no op)
  req                                           a request (BIND, SRCH, ... ABANDON, UNBIND)
  result                                        a RESULT line
  entry, referral, stat, sort, vlv, ext_info    lines folded into their operation
  unprocessed                                   `UNPROCESSED OPERATION - ...`
  header, blank                                 file banner / empty lines (skipped)

`parse_line` returns None for a line of no known shape; callers count and dead-letter it.
The hot path avoids regular expressions: 389 DS writes fixed `key=value` grammars.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ..codes import JSON_OPERATION_TO_OP_TYPE

Record = dict[str, Any]

# SLAPI_COMPONENT_NAME_NSPR, the prefix of NSPR error texts in TLS lines
NSPR_ERROR = "Netscape Portable Runtime error "

REQUEST_VERBS = frozenset({"BIND", "SRCH", "MOD", "ADD", "DEL", "MODRDN", "CMP", "EXT", "ABANDON", "UNBIND"})


_MONTHS = frozenset(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))


_good_seconds: dict[str, bool] = {}


def _stamp_ok(t: str) -> bool:
    """`DD/Mon/YYYY:HH:MM:SS[.fraction] +hhmm`: a line whose stamp is not one is not a log line."""
    second = t[:20]
    ok = _good_seconds.get(second)
    if ok is None:  # thousands of lines share a second: check its calendar part once
        ok = (len(second) == 20 and second[2] == "/" and second[6] == "/" and second[11] == ":"
              and second[14] == ":" and second[17] == ":" and second[3:6] in _MONTHS
              and (second[:2] + second[7:11] + second[12:14] + second[15:17] + second[18:20]).isdigit())
        if len(_good_seconds) > 4096:
            _good_seconds.clear()
        _good_seconds[second] = ok
    if not ok:
        return False
    rest = t[20:]
    if rest[:1] == ".":
        sp = rest.find(" ")
        if not (rest[1:sp] if sp >= 0 else rest[1:]).isdigit():
            return False
        rest = rest[sp:] if sp >= 0 else ""
    return rest == "" or (len(rest) == 6 and rest[0] == " " and rest[1] in "+-" and rest[2:].isdigit())


INT64_MAX = 2**63 - 1
UINT64_END = 2**64

# Keys of a record the line's own `key=value` pairs must never overwrite.
RESERVED_KEYS = frozenset({"t", "conn", "op", "kind", "type", "internal", "internal_id", "nesting",
                           "json_key", "_path", "_off", "kv", "text"})


def _int(value: str) -> int | None:
    """An integer that fits Elasticsearch's long, or None."""
    try:
        n = int(value)
    except ValueError:
        return None
    return n if -INT64_MAX - 1 <= n <= INT64_MAX else None


def _int_beyond_str_limit(value: Any) -> bool:
    """Did int() refuse a well-formed number only for its 4300+ digits (beyond 64 bits anyway)?"""
    if type(value) is not str or len(value) <= 4300:
        return False
    try:
        int(re.sub(r"\d+", "1", value))  # the same syntax, one digit a run
    except ValueError:
        return False
    return True


def _merge(rec: Record, kv: dict[str, str]) -> None:
    for key, value in kv.items():
        if key not in RESERVED_KEYS:
            rec[key] = value


def _end_of_quoted(s: str, start: int) -> int:
    """Index of the quote closing a value opened just before `start`.

    389 DS does not escape `"` inside values, so the closing quote is the first one followed by
    the end of the line, `, ` (an error message), or ` key=`. A quote after an odd number of
    backslashes is a DN's own RFC 4514 escape (`cn=John \"JJ\" Smith`) and never closes.
    """
    pos = start
    n = len(s)
    while True:
        q = s.find('"', pos)
        if q < 0:
            return -1
        nxt = q + 1
        k = q - 1
        while k >= start and s[k] == "\\":
            k -= 1
        if (q - 1 - k) % 2:  # escaped quote
            pos = nxt
            continue
        if nxt >= n or s[nxt] == ",":
            return q
        if s[nxt] == " ":
            if s.startswith(" - ", nxt):
                return q
            eq = s.find("=", nxt + 1)
            sp = s.find(" ", nxt + 1)
            if eq > 0 and (sp < 0 or eq < sp) and s[nxt + 1:eq].replace("_", "").replace("-", "").isalnum():
                return q
        pos = nxt


def parse_kv(s: str) -> tuple[dict[str, str], str]:
    """`a=1 b="x y" c=3, message` or `... - text` -> ({a:1, b:'x y', c:3}, 'message').

    Returns the key/values and the trailing free text (after `, ` or ` - `), if any.
    """
    out: dict[str, str] = {}
    pos = 0
    n = len(s)
    while pos < n:
        if s[pos] == " ":
            pos += 1
            continue
        if s.startswith("- ", pos):
            return out, s[pos + 2:]
        if s[pos] == ",":
            return out, s[pos + 1:].lstrip()
        eq = s.find("=", pos)
        sp = s.find(" ", pos)
        if eq < 0 or (0 <= sp < eq):
            # a bare word: free text from here on
            return out, s[pos:]
        key = s[pos:eq]
        vstart = eq + 1
        if vstart < n and s[vstart] == '"':
            end = _end_of_quoted(s, vstart + 1)
            if end < 0:  # cut line: keep what is there
                out[key] = s[vstart + 1:]
                out["_truncated"] = "1"
                return out, ""
            out[key] = s[vstart + 1:end]
            pos = end + 1
        else:
            end = vstart
            while end < n and s[end] != " " and not (s[end] == "," and (end + 1 == n or s[end + 1] == " ")):
                end += 1
            out[key] = s[vstart:end]
            pos = end
    return out, ""


def _parse_search(body: str, rec: Record) -> None:
    """`base="…" scope=N filter="…" attrs=ALL|"…"[ options=persistent][ authzid="…"]` (filter may hold `"`)."""
    if body.startswith("dn="):  # error form: SRCH dn="not a dn" authzid="(null)", invalid dn
        kv, text = parse_kv(body)
        if kv.pop("_truncated", None):
            rec["truncated"] = True
        rec["base"] = kv.get("dn", "")
        if "authzid" in kv and kv["authzid"] != "(null)":
            rec["authzid"] = kv["authzid"]
        rec["error"] = text
        return
    b = body.find('" scope=')
    if not body.startswith('base="') or b < 0:
        kv, text = parse_kv(body)
        if kv.pop("_truncated", None):
            rec["truncated"] = True
        _merge(rec, kv)
        if text:
            rec["error"] = text
        return
    rec["base"] = body[6:b]
    rest = body[b + 8:]
    sp = rest.find(" ")
    scope = _int(rest[:sp] if sp >= 0 else rest)
    rec["scope"] = scope
    rest = rest[sp + 1:] if sp >= 0 else ""
    if not rest.startswith('filter="'):
        return
    rest = rest[8:]
    a = rest.rfind('" attrs=')
    if a < 0:
        # error form `filter="(uid=x)", failed to decode LDAP controls`, or a line cut at 2048 bytes
        c = rest.rfind('", ')
        if c >= 0:
            rec["filter"] = rest[:c]
            rec["error"] = rest[c + 3:]
        else:
            q = rest.rfind('"')
            if q >= 0 and len(rest) > q + 1 and ' attrs='.startswith(rest[q + 1:]):
                rest = rest[:q + 1]  # cut inside the ` attrs=` that follows the filter
            rec["filter"] = rest[:-1] if rest.endswith('"') else rest
            rec["truncated"] = True
        return
    rec["filter"] = rest[:a]
    tail = rest[a + 8:]
    if tail.startswith('"'):
        end = _end_of_quoted(tail, 1)
        if end < 0:
            rec["attrs"] = tail[1:]
            rec["truncated"] = True
            return
        rec["attrs"] = tail[1:end]
        tail = tail[end + 1:]
    else:
        sp = tail.find(" ")
        rec["attrs"] = None if (tail[:sp] if sp >= 0 else tail) == "ALL" else tail[:sp]
        tail = tail[sp:] if sp >= 0 else ""
    if tail:
        kv, text = parse_kv(tail)
        if kv.get("options") == "persistent":
            rec["persistent"] = True
        if "authzid" in kv:
            rec["authzid"] = kv["authzid"]
        if kv.get("_truncated"):  # the line was cut at 2048 bytes inside authzid
            rec["truncated"] = True
        if text:
            rec["error"] = text


def _parse_request(verb: str, body: str, rec: Record) -> None:
    if verb == "SRCH":
        _parse_search(body, rec)
        return
    if verb == "UNBIND":
        if body:
            rec["error"] = body.lstrip(", ")
        return
    if verb == "ABANDON":
        # targetop=N|NOTFOUND|Simple Paged Results|SUPPRESSED-BY-PLUGIN msgid=N [nentries=N etime=S.F] [sid="…"]
        if body.startswith("targetop="):
            m = body.find(" msgid=")
            target = body[9:m] if m >= 0 else body[9:]
            rec["targetop"] = target
            if m >= 0:
                kv, _ = parse_kv(body[m + 1:])
                _merge(rec, kv)
        return
    kv, text = parse_kv(body)
    if kv.pop("_truncated", None):  # the line was cut at 2048 bytes inside a quoted value
        rec["truncated"] = True
    _merge(rec, kv)
    if text:
        rec["error"] = text


def _parse_close(conn: int, op: int | None, body: str, rec: Record) -> Record:
    """`fd=64 Disconnect - Cleanly Closed Connection - U1` / `fd=64 closed error 104 (…) - B1` / `closed - U1`."""
    rec["kind"] = "close"
    sp = body.find(" ")
    rec["fd"] = _int(body[3:sp]) if sp > 3 else None
    text = body[sp + 1:]
    rec["close_text"] = text
    last = text.rfind(" - ")
    code = text[last + 3:].strip() if last >= 0 else ""
    if len(code) == 2 and code[0].isupper() and code[1].isdigit():
        rec["code"] = code
    else:
        rec["code"] = None
    return rec


def parse_text(line: str) -> Record | None:
    """Parse a text access-log line (without its newline)."""
    if not line or line[0] != "[":
        if not line.strip():
            return {"kind": "blank"}
        if line[0] == "\t" or line.startswith("389-Directory/"):
            return {"kind": "header", "text": line.strip()}
        return None
    close = line.find("] ", 1)
    if close < 0:
        return None
    rest = line[close + 2:]
    if not rest.startswith("conn=") or not _stamp_ok(line[1:close]):
        return None
    rec: Record = {"t": line[1:close]}
    sp = rest.find(" ", 5)
    if sp < 0:
        return None
    conn_tok = rest[5:sp]
    rest = rest[sp + 1:]
    internal = False
    if conn_tok.isascii() and conn_tok.isdigit() and len(conn_tok) <= 18:
        conn = int(conn_tok)
        if rest.startswith("(Internal) "):  # 1.4+: internal op spawned by client connection `conn`
            internal = True
            rest = rest[11:]
    elif conn_tok.startswith("Internal"):  # 1.3 `conn=Internal`, 1.4+ `conn=Internal(0)`
        internal = True
        conn = 0
    else:
        return None
    rec["conn"] = conn
    if rest.startswith("op="):
        sp = rest.find(" ", 3)
        if sp < 0:
            return None
        op_tok = rest[3:sp]
        body = rest[sp + 1:]
        if "(" in op_tok:  # op=<parent>(<internal id>)(<depth>)
            parts = op_tok.replace(")", "").split("(")
            op = _int(parts[0])
            rec["internal_id"] = _int(parts[1]) if len(parts) > 1 else None
            rec["nesting"] = _int(parts[2]) if len(parts) > 2 else None
            internal = True
        else:
            op = _int(op_tok)
            if op is None:
                return None
        rec["op"] = op
        if internal:
            rec["internal"] = True
        sp = body.find(" ")
        verb = body if sp < 0 else body[:sp]
        tail = "" if sp < 0 else body[sp + 1:]
        if verb == "RESULT":
            return _parse_result(tail, rec)
        if verb in REQUEST_VERBS:
            rec["kind"] = "req"
            rec["type"] = verb
            _parse_request(verb, tail, rec)
            return rec
        if verb.startswith("UNBIND,"):
            rec["kind"] = "req"
            rec["type"] = "UNBIND"
            rec["error"] = body[8:]
            return rec
        if verb.startswith("fd="):
            return _parse_close(conn, op, body, rec)
        if verb == "ENTRY":
            rec["kind"] = "entry"
            kv, _ = parse_kv(tail)
            rec["dn"] = kv.get("dn", "")
            return rec
        if verb == "REFERRAL":
            rec["kind"] = "referral"
            return rec
        if verb == "STAT":
            return _parse_stat(tail, rec)
        if verb == "SORT":
            rec["kind"] = "sort"
            spec = tail.rstrip()
            if spec.endswith(")") and " (" in spec:
                p = spec.rfind(" (")
                rec["candidates"] = spec[p + 2:-1]
                spec = spec[:p]
            rec["spec"] = spec
            return rec
        if verb == "VLV":
            rec["kind"] = "vlv"
            parts = tail.split(" ")
            rec["request"] = parts[0]
            if len(parts) > 1:
                rec["response"] = parts[1]
            if len(parts) > 2:
                rec["vlv_result"] = _int(parts[2].strip("()"))
            return rec
        if verb == "EXT_INFO":
            rec["kind"] = "ext_info"
            kv, _ = parse_kv(tail)
            _merge(rec, kv)
            return rec
        if verb == "UNPROCESSED":
            rec["kind"] = "unprocessed"
            rec["error"] = tail.replace("OPERATION - ", "", 1)
            return rec
        # request error forms like `MOD dn="…", <msg>` keep their verb; anything else is unknown
        for candidate in REQUEST_VERBS:
            if verb.startswith(candidate + ","):
                rec["kind"] = "req"
                rec["type"] = candidate
                rec["error"] = body[len(candidate) + 1:].strip()
                return rec
        return None
    # connection-level lines (no op=)
    if rest.startswith("fd="):
        sp = rest.find(" ")
        sp2 = rest.find(" ", sp + 1)
        if " connection from " in rest:
            rec["kind"] = "open"
            rec["fd"] = _int(rest[3:sp])
            if rest.startswith("slot=", sp + 1):
                rec["slot"] = _int(rest[sp + 6:sp2])
            body = rest[sp2 + 1:]
            rec["ssl"] = body.startswith("SSL ")
            f = body.find("connection from ")
            src_dst = body[f + 16:]
            t = src_dst.rfind(" to ")
            rec["src"] = src_dst[:t] if t >= 0 else src_dst
            rec["dst"] = src_dst[t + 4:] if t >= 0 else None
            return rec
        if " HAProxy " in rest:
            rec["kind"] = "haproxy"
            rec["fd"] = _int(rest[3:sp])
            kv, more = parse_kv(rest[sp + 9:])
            if more.startswith("to "):  # `new_address_from=A to new_address_dest=B`
                kv.update(parse_kv(more[3:])[0])
            rec["src"] = kv.get("new_address_from")
            rec["dst"] = kv.get("new_address_dest")
            return rec
        if " closed" in rest or " Disconnect" in rest:  # close without op= (very old builds)
            return _parse_close(conn, None, rest, rec)
        return None
    if rest.startswith("AUTOBIND "):
        rec["kind"] = "autobind"
        kv, _ = parse_kv(rest[9:])
        rec["dn"] = kv.get("dn", "")
        return rec
    if rest.startswith("TLS") or rest.startswith("SSL"):
        return _parse_tls(rest, rec)
    if rest.startswith(NSPR_ERROR):  # a client certificate the server rejected (auth.c handle_bad_certificate)
        rec["kind"] = "tls"
        rec["protocol"] = None
        rec["message"] = rest
        return rec
    return None


def _parse_tls(rest: str, rec: Record) -> Record:
    """`TLS1.3 128-bit AES-GCM`, `TLS1.2 256-bit AES-GCM; client CN=…; issuer CN=…`,
    `TLS1.2 client bound as uid=…`, `TLS1.2 failed to map client certificate …`, `SSL failed to …`."""
    rec["kind"] = "tls"
    sp = rest.find(" ")
    proto = rest[:sp] if sp >= 0 else rest
    body = rest[sp + 1:] if sp >= 0 else ""
    # Builds before 1.3.3 wrote the word `SSL` for every session, whatever the protocol
    # (`conn=2 SSL 256-bit AES`): that is no version, unlike `SSL3`/`TLS1.2`.
    rec["protocol"] = None if proto == "SSL" else proto
    if body.startswith("client bound as "):
        rec["client_dn"] = body[16:]
        return rec
    parts = body.split("; ")
    first = parts[0]
    bits, _, cipher = first.partition("-bit ")
    if bits.isdigit():
        rec["bits"] = int(bits)
        rec["cipher"] = cipher
    else:
        rec["message"] = body
    for part in parts[1:]:
        if part.startswith("client "):
            rec["client_subject"] = part[7:]
        elif part.startswith("issuer "):
            rec["client_issuer"] = part[7:]
    return rec


def _parse_stat(tail: str, rec: Record) -> Record:
    """`read index: attribute=cn key(sub)=er_ --> count 24` / `read index: duration 0.000007200`."""
    rec["kind"] = "stat"
    body = tail[12:] if tail.startswith("read index: ") else tail
    if body.startswith("duration "):
        rec["duration"] = body[9:].split(" ")[0]
        return rec
    if body.startswith("attribute="):
        sp = body.find(" ")
        rec["attribute"] = body[10:sp]
        rest = body[sp + 1:]
        if rest.startswith("key("):
            close = rest.find(")=")
            rec["key_type"] = rest[4:close]
            arrow = rest.rfind(" --> count ")
            rec["key"] = rest[close + 2:arrow] if arrow >= 0 else rest[close + 2:]
            if arrow >= 0:
                cnt = rest[arrow + 11:].split(" ")[0]
                rec["count"] = _int(cnt)
                dur = rest.find("(duration ", arrow)
                if dur >= 0:  # this key's read time; `duration` is the op's total (`read index: duration X`)
                    rec["key_duration"] = rest[dur + 10:].rstrip(")")
    return rec


def _parse_result(tail: str, rec: Record) -> Record:
    rec["kind"] = "result"
    if '"' not in tail and " - " not in tail and "," not in tail:
        kv = dict(p.split("=", 1) for p in tail.split() if "=" in p)  # the common case: all simple tokens
        text = ""
    else:
        kv, text = parse_kv(tail)
    rec["kv"] = kv
    if text:
        if text.endswith('"'):  # 3.1.2+: `... - <result text> sid="<session id>"` (sid after the text)
            s = text.rfind(' sid="')
            if s >= 0:
                kv["sid"] = text[s + 6:-1]
                text = text[:s]
        if text.endswith("SASL bind in progress"):
            rec["sasl_in_progress"] = True
        rec["text"] = text
    return rec


# ----------------------------------------------------------------------------------------- JSON (3.x)

_JSON_CONNECTION_KINDS = {"CONNECTION": "open", "DISCONNECT": "close", "AUTOBIND": "autobind",
                          "TLS_INFO": "tls", "TLS_CLIENT_INFO": "tls", "HAPROXY": "haproxy"}


def parse_json(line: str | bytes) -> Record | None:
    """Normalise a 3.x JSON access-log event to the text record shape (the logconv.py approach)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    if "header" in obj:
        header = obj["header"]
        if isinstance(header, dict):  # the text banner's two facts in one event
            return {"kind": "header", "text": str(header.get("version") or header.get("instance") or ""),
                    "instance": header.get("instance")}
        return {"kind": "header", "text": str(header)}
    operation = obj.get("operation")
    t = obj.get("local_time")
    if not isinstance(operation, str) or not isinstance(t, str):
        return None
    rec: Record = {"t": t}
    conn = obj.get("conn_id")
    if obj.get("internal_op"):
        rec["internal"] = True
        rec["internal_id"] = obj.get("op_internal_id")
        rec["nesting"] = obj.get("op_internal_nested_count")
    try:
        conn_id = int(conn) if conn is not None and conn != "Internal" else 0
    except (TypeError, ValueError):
        conn_id = UINT64_END if _int_beyond_str_limit(conn) else 0
    if not -INT64_MAX - 1 <= conn_id < UINT64_END:  # no document could carry it (orjson: 64 bits)
        raise OverflowError(f"conn_id beyond 64 bits: {conn!r}")
    rec["conn"] = conn_id
    if "key" in obj:
        rec["json_key"] = obj["key"]
    if "op_id" in obj:
        rec["op"] = obj["op_id"]
    kind = _JSON_CONNECTION_KINDS.get(operation)
    if kind == "open":
        rec.update(kind="open", fd=obj.get("fd"), slot=obj.get("slot"), ssl=bool(obj.get("tls")),
                   src=obj.get("client_ip"), dst=obj.get("server_ip"))
        return rec
    if kind == "close":
        reason = obj.get("close_reason") or ""
        if type(reason) is not str:  # a list, a number ...: the engine's `parser error: TypeError`
            raise TypeError(f"close_reason is not a string: {reason!r}")
        code = reason.rsplit(" - ", 1)[-1].strip() if " - " in reason else None
        rec.update(kind="close", fd=obj.get("fd"), code=code if code and len(code) == 2 else None,
                   close_text=" - ".join(x for x in (obj.get("close_error"), reason) if x))
        rec.setdefault("op", -1)
        return rec
    if kind == "autobind":
        rec.update(kind="autobind", dn=obj.get("bind_dn", ""))
        return rec
    if kind == "tls":
        rec["kind"] = "tls"
        rec["protocol"] = obj.get("tls_version")
        if obj.get("keysize") is not None:
            rec["bits"] = _int(str(obj.get("keysize")))
        if obj.get("cipher"):
            rec["cipher"] = obj.get("cipher")
        if obj.get("client_dn"):
            rec["client_dn"] = obj["client_dn"]
        if obj.get("subject"):
            rec["client_subject"] = obj["subject"]
        if obj.get("issuer"):
            rec["client_issuer"] = obj["issuer"]
        if obj.get("err_msg"):
            rec["message"] = obj["err_msg"]
        return rec
    if kind == "haproxy":
        rec.update(kind="haproxy", src=obj.get("haproxy_ip"), dst=obj.get("haproxy_destip"))
        return rec
    if "op" not in rec:
        return None
    if operation == "RESULT":
        kv: dict[str, Any] = {}
        for key in ("err", "tag", "nentries", "wtime", "optime", "etime", "wqtime", "writetime",
                    "pr_idx", "pr_cookie", "csn", "sid", "wqdepth"):
            if key in obj:
                kv[key] = str(obj[key])
        if "wbusy" in obj:
            kv["wbusy"] = f"{obj['wbusy']}/{obj.get('wmax', '')}"
        if "bind_dn" in obj:
            kv["dn"] = obj["bind_dn"]
        notes = obj.get("notes")
        if isinstance(notes, list):
            letters = [n.get("note") for n in notes if isinstance(n, dict) and n.get("note")]
            kv["notes"] = ",".join(letters)
            kv["details"] = ",".join(n.get("description", "") for n in notes if isinstance(n, dict))
        rec["kind"] = "result"
        rec["kv"] = kv
        msg = obj.get("msg")
        if isinstance(msg, str) and msg.strip():
            msg = msg[3:] if msg.startswith(" - ") else msg.strip()  # `" - Invalid credentials"`
            if msg.endswith("SASL bind in progress"):
                rec["sasl_in_progress"] = True
            rec["text"] = msg
        return rec
    verb = JSON_OPERATION_TO_OP_TYPE.get(operation)
    if verb is not None:
        rec["kind"] = "req"
        rec["type"] = verb
        if verb == "SRCH":
            rec["base"] = obj.get("base_dn", "")
            rec["scope"] = obj.get("scope")
            rec["filter"] = obj.get("filter", "")
            attrs = obj.get("attrs")
            rec["attrs"] = " ".join(attrs) if isinstance(attrs, list) and attrs != ["ALL"] else None
            if obj.get("psearch"):
                rec["persistent"] = True
        elif verb == "BIND":
            rec["dn"] = obj.get("bind_dn", "")
            rec["method"] = str(obj.get("method", ""))
            rec["version"] = str(obj.get("version", ""))
            if obj.get("mech"):
                rec["mech"] = obj["mech"]
        elif verb in ("ADD", "MOD", "DEL", "MODRDN", "CMP"):
            rec["dn"] = obj.get("target_dn", "")
            if verb == "MODRDN":
                rec["newrdn"] = obj.get("newrdn", "")
                rec["newsuperior"] = obj.get("newsup") or "(null)"
            if verb == "CMP":
                rec["attr"] = obj.get("cmp_attr", "")
        elif verb == "EXT":
            rec["oid"] = obj.get("oid", "")
            if obj.get("name") or obj.get("oid_name"):
                rec["name"] = obj.get("name") or obj.get("oid_name")
        elif verb == "ABANDON":
            rec["targetop"] = str(obj.get("target_op", ""))
            for key in ("msgid", "nentries", "etime", "sid"):
                if key in obj:
                    rec[key] = str(obj[key])
        if obj.get("authzid"):
            rec["authzid"] = obj["authzid"]
        return rec
    if operation == "ENTRY":
        return {**rec, "kind": "entry", "dn": obj.get("target_dn", "")}
    if operation == "REFERRAL":
        return {**rec, "kind": "referral"}
    if operation == "SORT":  # `"sort_attrs":"SORT cn "` carries the text line's `SORT <keys>[ (<n>)]`
        attrs = obj.get("sort_attrs")
        spec = " ".join(attrs) if isinstance(attrs, list) else str(attrs or "")
        out = {**rec, "kind": "sort"}
        spec = spec[5:] if spec.startswith("SORT ") else spec
        spec = spec.strip()
        if spec.endswith(")") and " (" in spec:
            p = spec.rfind(" (")
            out["candidates"] = spec[p + 2:-1]
            spec = spec[:p]
        out["spec"] = spec
        return out
    if operation == "VLV":
        return {**rec, **_json_vlv(obj.get("vlv_request"), obj.get("vlv_response"))}
    if operation == "STAT":
        out = {**rec, "kind": "stat"}
        if "stat_etime" in obj:
            out["duration"] = str(obj["stat_etime"])
        else:
            out.update(attribute=obj.get("stat_attr"), key_type=obj.get("stat_key"),
                       key=obj.get("stat_key_value"), count=obj.get("stat_count"))
        return out
    if operation == "EXTENDED_OP_INFO":
        rec.pop("json_key", None)
        err = obj.get("err")
        return {**rec, "kind": "ext_info", "name": obj.get("name"), "target_dn": obj.get("target_dn"),
                "bind_dn": obj.get("bind_dn"), "msg": obj.get("msg"), "rc": None if err is None else str(err)}
    if operation in REQUEST_VERBS:
        # slapd_log_access_error() builds an "ERROR" event, then adds "operation" again with the
        # text verb: json-c replaces the value, so `{"operation":"SRCH",…,"msg":"invalid dn",
        # "target_dn":"not a dn"}` is the text log's `SRCH dn="not a dn", invalid dn`.
        rec.update(kind="req", type=operation, error=obj.get("msg") or "")
        rec["base" if operation == "SRCH" else "dn"] = obj.get("target_dn") or ""
        if obj.get("authzid"):
            rec["authzid"] = obj["authzid"]
        return rec
    if operation == "ERROR":
        error = obj.get("msg") or ""
        if "local_ssf" in obj and "ssf=" not in error:  # `UNPROCESSED OPERATION - Insufficient SSF (…)`
            ssf = " ".join(f"{k}={obj.get(k)}" for k in ("local_ssf", "sasl_ssf", "ssl_ssf"))
            error = f"{error or 'Insufficient SSF'} ({ssf})"
        return {**rec, "kind": "unprocessed", "error": error}
    return None


def _json_vlv(req: Any, res: Any) -> Record:
    """`vlv_request`/`vlv_response` objects -> the text line's `before:after:index:count target:count (rc)`."""
    out: Record = {"kind": "vlv"}
    if isinstance(req, dict):
        head = f"{req.get('request_before_count')}:{req.get('request_after_count')}"
        if req.get("request_value") is not None:  # by value
            out["request"] = f"{head}:{req.get('request_value')}"
        else:
            out["request"] = f"{head}:{req.get('request_index')}:{req.get('request_content_count')}"
    if isinstance(res, dict):
        out["response"] = f"{res.get('response_target_position')}:{res.get('response_content_count')}"
        result = res.get("response_result")
        if isinstance(result, int):
            out["vlv_result"] = result
    return out


def parse_line(line: str) -> Record | None:
    """Parse one line of either format (a trailing `\n` or `\r\n` is ignored)."""
    if line.endswith(("\n", "\r")):
        line = line.rstrip("\r\n")
    if line[:1] == "{":
        return parse_json(line)
    return parse_text(line)
