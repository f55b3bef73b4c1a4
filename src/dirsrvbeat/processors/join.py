"""Join each request with its RESULT and track every connection's identity.

The joiner is a state machine fed parsed records in file order. It keeps:

* connections, keyed by conn id within the current server run: client/server address,
  transport (ldap, ldaps, ldapi, starttls), TLS details and the bound DN;
* pending operations, keyed by (conn, op, internal id), each holding the request record,
  the connection *identity at request time* and the folded detail lines (ENTRY, STAT, SORT, VLV).

It emits `OpEvent`s (one per operation) and `ConnEvent`s (one per connection, after its close
plus a grace period, because 389 DS logs some RESULTs after the Disconnect line). A connection
id that goes backwards on a `connection from` line marks a server restart: everything of the old
run is flushed. `export_state()` / `import_state()` carry open work across cron runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..codes import STARTTLS_OID
from ..timestamps import BadTimestamp, TimestampConverter, parse_seconds
from .parse import Record

# Seconds a closed connection stays joinable: RESULTs of pipelined ops can follow Disconnect.
DEFAULT_CLOSE_GRACE_SECONDS = 5.0

# Statuses of an operation document (dirsrv.op.status)
COMPLETE = "complete"
NO_RESULT = "no_result"  # the connection closed, or the server restarted, before a RESULT
UNFINISHED = "unfinished"  # end of input while waiting (parse without carry-over)
RESULT_ONLY = "result_only"  # RESULT whose request line is not in the input

TAG_TO_OP_TYPE = {97: "BIND", 101: "SRCH", 103: "MOD", 105: "ADD", 107: "DEL", 109: "MODRDN",
                  111: "CMP", 120: "EXT"}

_I128_MAX = 2**127 - 1


class _ByRepr:
    """A JSON list or object logged as an op id (junk), as part of a pending op's key: equal by
    its repr, as the compiled engine keys it (a list cannot be a dict key)."""

    __slots__ = ("text", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.text = repr(value)

    def __eq__(self, other: object) -> bool:
        return type(other) is _ByRepr and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _key_part(value: Any) -> Any:
    return _ByRepr(value) if type(value) is list or type(value) is dict else value


def _op_key(key: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
    """A pending-op key a dict refused (TypeError: unhashable), with its lists/objects keyed by repr."""
    return (key[0], _key_part(key[1]), _key_part(key[2]))


def _op_after(a: Any, b: Any) -> bool:
    """`a > b` for op ids; ids of types Python cannot order (junk JSON: a list, a string against a
    number, null) are not after, as in the compiled engine."""
    ta, tb = type(a), type(b)
    if ta is tb is int or ((ta is int or ta is float or ta is bool) and (tb is int or tb is float or tb is bool)):
        return a > b
    return ta is tb is str and a > b


def _target_number(target: str) -> int | None:
    """ABANDON's `targetop=N` as an op id to look up: None for a digit int() refuses (`²`) and for
    a number beyond 128 bits (the compiled engine looks neither up)."""
    if not target.isdecimal():
        return None
    try:
        number = int(target)
    except ValueError:  # beyond int()'s 4300 digits
        return None
    return number if number <= _I128_MAX else None


@dataclass
class Connection:
    conn_id: int
    key: str
    opened: str | None = None  # raw timestamp of `connection from`
    opened_epoch: float | None = None
    first_seen: str | None = None
    src: str | None = None
    dst: str | None = None
    fd: int | None = None
    transport: str = "ldap"
    tls_protocol: str | None = None
    tls_bits: int | None = None
    tls_cipher: str | None = None
    tls_client_subject: str | None = None
    tls_client_issuer: str | None = None
    bind_dn: str | None = None  # None: never bound (anonymous); "" anonymous bind
    bind_method: str | None = None
    bind_mech: str | None = None
    autobind_dn: str | None = None
    bind_dns: list[str] = field(default_factory=list)
    haproxy_src: str | None = None
    ops: int = 0
    ops_by_type: dict[str, int] = field(default_factory=dict)
    etime_total: float = 0.0
    unindexed: int = 0
    failed_binds: int = 0
    last_seen: str | None = None
    close: Record | None = None
    close_epoch: float | None = None
    # A BIND whose RESULT is not logged yet: RFC 4511 forbids other requests until the client has
    # the BindResponse, so requests logged meanwhile (the server logs RESULTs after sending them)
    # were sent under the new identity: their identity is settled by the BIND RESULT.
    bind_op: int | None = None
    awaiting_bind: list[list[Any]] = field(default_factory=list)
    # ...and operations completed meanwhile wait for it too: the BIND RESULT can even be logged
    # after the next op's RESULT, its UNBIND and the Disconnect (seen on 2.3.1).
    held: list[dict[str, Any]] = field(default_factory=list)
    _identity: dict[str, Any] | None = field(default=None, repr=False)

    def identity(self) -> dict[str, Any]:
        """Connection facts every op document carries; rebuilt only when they change."""
        ident = self._identity
        if ident is None:
            ident = self._identity = {
                "conn_id": self.conn_id, "key": self.key, "src": self.src, "dst": self.dst,
                "transport": self.transport, "tls_protocol": self.tls_protocol, "tls_bits": self.tls_bits,
                "tls_cipher": self.tls_cipher, "tls_client_subject": self.tls_client_subject,
                # never bound: anonymous if we saw it open, unknown (None) if it opened before the input
                "bind_dn": self.bind_dn if self.bind_dn is not None else ("" if self.opened else None),
                "bind_method": self.bind_method,
                "bind_mech": self.bind_mech, "haproxy_src": self.haproxy_src,
            }
        return ident

    def changed(self) -> None:
        self._identity = None

    def to_state(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "_identity"}
        if self.awaiting_bind:  # a junk op id (a JSON list) is written as its key: its repr
            state["awaiting_bind"] = [[x.text if type(x) is _ByRepr else x for x in k] for k in self.awaiting_bind]
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Connection:
        return cls(**state)


class OpEvent:
    """One operation: its request (may be None), RESULT (may be None) and connection identity."""

    __slots__ = ("details", "ident", "req", "res", "status")

    def __init__(self, req: Record | None, res: Record | None, ident: dict[str, Any],
                 status: str, details: dict[str, Any] | None) -> None:
        self.req = req
        self.res = res
        self.ident = ident
        self.status = status
        self.details = details


class ConnEvent:
    __slots__ = ("conn", "status")

    def __init__(self, conn: Connection, status: str) -> None:
        self.conn = conn
        self.status = status


@dataclass
class JoinStats:
    requests: int = 0
    results: int = 0
    ops_emitted: int = 0
    results_without_request: int = 0
    requests_without_result: int = 0
    connections_emitted: int = 0
    orphan_detail_lines: int = 0
    server_restarts: int = 0
    bad_timestamps: int = 0


class Joiner:
    """Feed records with `feed`; it returns (usually empty) lists of events to emit."""

    def __init__(self, close_grace_seconds: float = DEFAULT_CLOSE_GRACE_SECONDS,
                 timestamps: TimestampConverter | None = None) -> None:
        self.grace = close_grace_seconds
        self.ts = timestamps or TimestampConverter()
        self.conns: dict[int, Connection] = {}
        self.pending: dict[tuple[int, int, int | None], dict[str, Any]] = {}
        self.closing: deque[tuple[float, int, str]] = deque()
        self.last_open_conn = -1
        self.unprocessed: dict[tuple[int, int, int | None], str | None] = {}
        self.stats = JoinStats()

    # ------------------------------------------------------------------ helpers
    def _epoch(self, raw: str) -> float | None:
        try:
            return self.ts.convert(raw)[0]
        except BadTimestamp:
            self.stats.bad_timestamps += 1
            return None

    def _conn(self, conn_id: int, t: str, json_key: str | None = None) -> Connection:
        """The connection, created on first sight when its open line is not in the input."""
        c = self.conns.get(conn_id)
        if c is None:
            if json_key is None:
                epoch = self._epoch(t) or 0.0
                json_key = f"{int(epoch * 1000)}-{conn_id}"
            c = Connection(conn_id=conn_id, key=json_key, first_seen=t)
            self.conns[conn_id] = c
        return c

    # ------------------------------------------------------------------ main entry
    def feed(self, rec: Record, out: list[Any]) -> None:
        kind = rec["kind"]
        t = rec.get("t")
        if self.closing and t is not None:
            self._expire(t, out)
        if kind == "req":
            self._request(rec, out)
        elif kind == "result":
            self._result(rec, out)
        elif kind in ("entry", "stat", "sort", "vlv", "referral", "ext_info", "unprocessed"):
            self._detail(rec, kind, out)
        elif kind == "open":
            self._open(rec, out)
        elif kind == "close":
            self._close(rec)
        elif kind == "tls":
            c = self._conn(rec["conn"], t, rec.get("json_key"))
            if rec.get("bits") is not None:
                c.tls_protocol = rec.get("protocol")
                c.tls_bits = rec.get("bits")
                c.tls_cipher = rec.get("cipher")
            if rec.get("client_subject"):
                c.tls_client_subject = rec["client_subject"]
                c.tls_client_issuer = rec.get("client_issuer")
            if rec.get("client_dn"):  # TLS client-certificate bind
                c.bind_dn = rec["client_dn"]
                c.bind_method = "sasl"
                c.bind_mech = "EXTERNAL"
                c.bind_dns.append(rec["client_dn"])
            c.changed()
        elif kind == "autobind":
            c = self._conn(rec["conn"], t, rec.get("json_key"))
            c.autobind_dn = rec.get("dn")
            c.changed()
        elif kind == "haproxy":
            c = self._conn(rec["conn"], t, rec.get("json_key"))
            c.haproxy_src = c.src
            c.src = rec.get("src") or c.src
            c.changed()

    def observe_open(self, conn_id: int, out: list[Any]) -> None:
        """A `connection from` line: a conn id that goes backwards means the server restarted.

        Shard workers call this for the open lines of other shards too, so that every shard
        sees the restart at the same line as a single process would."""
        if conn_id <= self.last_open_conn:
            self.stats.server_restarts += 1
            self._flush_all(out, conn_status="server_restart", op_status=NO_RESULT)
        self.last_open_conn = conn_id

    def tick(self, t: str, out: list[Any]) -> None:
        """Advance the clock with another shard's line (same expiry decisions as one process)."""
        if self.closing:
            self._expire(t, out)

    def _open(self, rec: Record, out: list[Any]) -> None:
        conn_id = rec["conn"]
        self.observe_open(conn_id, out)
        old = self.conns.pop(conn_id, None)
        if old is not None:  # a close line we never saw
            self._finish_conn(old, out, "no_close_line", NO_RESULT)
        t = rec["t"]
        epoch = self._epoch(t) or 0.0
        src = rec.get("src")
        dst = rec.get("dst")
        if rec.get("ssl"):
            transport = "ldaps"
        elif src == "local" or (dst or "").startswith("/"):
            transport = "ldapi"
        else:
            transport = "ldap"
        key = rec.get("json_key") or f"{int(epoch * 1000)}-{conn_id}"
        self.conns[conn_id] = Connection(conn_id=conn_id, key=key, opened=t, opened_epoch=epoch, first_seen=t,
                                         src=src, dst=dst, fd=rec.get("fd"), transport=transport)

    def _close(self, rec: Record) -> None:
        c = self._conn(rec["conn"], rec["t"], rec.get("json_key"))
        c.close = rec
        c.last_seen = rec["t"]
        epoch = self._epoch(rec["t"]) or 0.0
        c.close_epoch = epoch
        self.closing.append((epoch + self.grace, c.conn_id, c.key))

    def _expire(self, t: str, out: list[Any]) -> None:
        # Most lines cannot expire anything: compare with the line's whole second first.
        try:
            second = self.ts.second_epoch(t)
        except BadTimestamp:
            second = None
        if second is not None and self.closing[0][0] >= second + 1:
            return
        epoch = self._epoch(t)
        if epoch is not None:
            self.expire_closed(epoch, out)

    def expire_closed(self, epoch: float, out: list[Any]) -> None:
        """Finish connections closed more than the grace period before `epoch` (a line's time, or
        the wall clock at the end of a shipping run: no more lines can come for them)."""
        closing = self.closing
        while closing and closing[0][0] < epoch:
            _, conn_id, key = closing.popleft()
            c = self.conns.get(conn_id)
            if c is not None and c.key == key and c.close is not None:
                del self.conns[conn_id]
                self._finish_conn(c, out, "closed", NO_RESULT)

    def _finish_conn(self, c: Connection, out: list[Any], conn_status: str, op_status: str) -> None:
        """Emit a connection's still-pending ops, then the connection itself."""
        conn_id = c.conn_id
        if c.held:  # the BIND RESULT never came: they ran as whoever the connection is now
            self._release_held(c, out)
        stale = [k for k in self.pending if k[0] == conn_id] if self.pending else []
        for k in stale:
            op = self.pending.pop(k)
            self._emit_unresolved(op, op_status, out)
        if c.conn_id == 0 and c.opened is None:
            return  # `conn=Internal`: the server's own operations, not a client connection
        out.append(ConnEvent(c, conn_status))
        self.stats.connections_emitted += 1

    def _flush_all(self, out: list[Any], conn_status: str, op_status: str) -> None:
        for c in list(self.conns.values()):
            self._finish_conn(c, out, conn_status if c.close is None else "closed", op_status)
        self.conns.clear()
        self.closing.clear()
        for op in self.pending.values():  # ops of conn ids never seen (internal conn 0 ...)
            self._emit_unresolved(op, op_status, out)
        self.pending.clear()

    def _emit_unresolved(self, op: dict[str, Any] | None, status: str, out: list[Any]) -> None:
        """Emit a pending op (and the stack under it) that will never get its RESULT."""
        while op is not None:
            prev = op.pop("_prev", None)
            details = op.get("details")
            if op.get("abandoned"):
                details = {**(details or {}), "abandoned": True}
            self.stats.requests_without_result += 1
            self.stats.ops_emitted += 1
            out.append(OpEvent(op["req"], None, op["ident"], status, details))
            op = prev

    # ------------------------------------------------------------------ operations
    def _request(self, rec: Record, out: list[Any]) -> None:
        self.stats.requests += 1
        conn_id = rec["conn"]
        c = self._conn(conn_id, rec["t"], rec.get("json_key"))
        c.last_seen = rec["t"]
        op_type = rec["type"]
        ident = c.identity()
        if not rec.get("internal"):
            c.ops += 1
            c.ops_by_type[op_type] = c.ops_by_type.get(op_type, 0) + 1
        if op_type == "UNBIND":
            self._emit(c, rec, None, ident, COMPLETE, None, out)
            return
        if op_type == "ABANDON":
            target = rec.get("targetop")
            details = None
            if target and target.isdigit():
                number = _target_number(target)
                top = self.pending.get((conn_id, number, None)) if number is not None else None
                if top is not None:
                    top["abandoned"] = True
                details = {"target_key": f"{c.key}-{target}"}
            self._emit(c, rec, None, ident, COMPLETE, details, out)
            return
        key = (conn_id, rec["op"], rec.get("internal_id"))
        try:
            prev = self.pending.get(key)
        except TypeError:  # a JSON list or object as op id: keyed by its repr, as the engine keys it
            key = _op_key(key)
            prev = self.pending.get(key)
        op = {"req": rec, "ident": ident}
        if not rec.get("internal"):
            if op_type == "BIND":
                c.bind_op = rec["op"]
                c.awaiting_bind = []
            elif c.bind_op is not None and _op_after(rec["op"], c.bind_op):
                if len(c.awaiting_bind) < 64:
                    c.awaiting_bind.append(list(key))
                else:  # that BIND's RESULT is not coming (not logged): stop waiting for it
                    c.bind_op = None
                    c.awaiting_bind = []
        if prev is not None:
            if rec.get("internal"):
                op["_prev"] = prev  # nested/sequential internal ops reusing one key: a stack
            else:  # a duplicate request id: the earlier one never got its RESULT
                self._emit_unresolved(prev, NO_RESULT, out)
        self.pending[key] = op

    def _result(self, rec: Record, out: list[Any]) -> None:
        self.stats.results += 1
        conn_id = rec["conn"]
        key = (conn_id, rec["op"], rec.get("internal_id"))
        try:
            op = self.pending.pop(key, None)
        except TypeError:  # a JSON list or object as op id: keyed by its repr, as the engine keys it
            key = _op_key(key)
            op = self.pending.pop(key, None)
        c = self.conns.get(conn_id)
        if c is None:
            c = self._conn(conn_id, rec["t"], rec.get("json_key"))
        c.last_seen = rec["t"]
        kv = rec["kv"]
        if op is None:
            self.stats.results_without_request += 1
            self.stats.ops_emitted += 1
            details = None
            if self.unprocessed:
                key = _op_key(key)  # (an empty `pending` popped it unhashed)
                if key in self.unprocessed:
                    details = {"unprocessed": self.unprocessed.pop(key)}
            out.append(OpEvent(None, rec, c.identity(), RESULT_ONLY, details))
            return
        prev = op.pop("_prev", None)
        if prev is not None:
            self.pending[key] = prev
        req = op["req"]
        if op.get("abandoned"):
            details = op.setdefault("details", {})
            details["abandoned"] = True
        if not rec.get("internal"):
            etime = kv.get("etime")
            if etime:
                try:
                    c.etime_total += parse_seconds(etime)
                except ValueError:
                    pass
            notes = kv.get("notes")
            if notes and ("A" in notes or "U" in notes):
                c.unindexed += 1
            op_type = req["type"]
            if op_type == "BIND":
                self._bound(c, req, rec, kv)
                out.append(OpEvent(req, rec, op["ident"], COMPLETE, op.get("details")))
                self.stats.ops_emitted += 1
                if c.bind_op is None and c.held:
                    self._release_held(c, out)
                return
            if op_type == "EXT" and req.get("oid") == STARTTLS_OID and kv.get("err") == "0":
                c.transport = "starttls"
                c.changed()
        self._emit(c, req, rec, op["ident"], COMPLETE, op.get("details"), out)

    def _emit(self, c: Connection, req: Record, res: Record | None, ident: dict[str, Any], status: str,
              details: dict[str, Any] | None, out: list[Any]) -> None:
        """Emit an operation, or hold it while a BIND logged before it still lacks its RESULT."""
        if c.bind_op is not None and not req.get("internal") and _op_after(req.get("op", -1), c.bind_op):
            if len(c.held) < 64:
                c.held.append({"req": req, "res": res, "status": status, "details": details})
                return
            c.bind_op = None  # that BIND's RESULT is not coming: stop waiting
            self._release_held(c, out)
        out.append(OpEvent(req, res, ident, status, details))
        self.stats.ops_emitted += 1

    def _release_held(self, c: Connection, out: list[Any]) -> None:
        ident = c.identity()
        for h in c.held:
            out.append(OpEvent(h["req"], h["res"], ident, h["status"], h["details"]))
            self.stats.ops_emitted += 1
        c.held = []

    def _bound(self, c: Connection, req: Record, res: Record, kv: dict[str, str]) -> None:
        bind_op = c.bind_op
        if bind_op == req.get("op") and (type(bind_op) is int or _key_part(bind_op) == _key_part(req.get("op"))):
            c.bind_op = None
        if res.get("sasl_in_progress") or kv.get("err") == "14":
            c.awaiting_bind = []
            return
        self._update_identity(c, req, kv)
        if c.awaiting_bind:
            ident = c.identity()
            for key in c.awaiting_bind:
                op = self.pending.get((key[0], key[1], key[2]))
                if op is not None:
                    op["ident"] = ident
            c.awaiting_bind = []

    def _update_identity(self, c: Connection, req: Record, kv: dict[str, str]) -> None:
        if kv.get("err") == "0":
            dn = kv.get("dn")
            if dn is None:  # very old builds: no dn= on the RESULT; the request DN is the identity
                dn = req.get("dn", "")
            c.bind_dn = dn
            c.bind_method = "sasl" if req.get("method") == "sasl" else ("simple" if dn else "anonymous")
            c.bind_mech = req.get("mech")
            if dn and (not c.bind_dns or c.bind_dns[-1] != dn):
                c.bind_dns.append(dn)
        else:  # RFC 4513: a failed bind leaves the connection anonymous
            c.bind_dn = ""
            c.bind_method = "anonymous"
            c.bind_mech = None
            c.failed_binds += 1
        c.changed()

    def _detail(self, rec: Record, kind: str, out: list[Any]) -> None:
        key = (rec["conn"], rec.get("op"), rec.get("internal_id"))
        try:
            op = self.pending.get(key)
        except TypeError:  # a JSON list or object as op id: keyed by its repr, as the engine keys it
            key = _op_key(key)
            op = self.pending.get(key)
        if op is None:
            if kind == "unprocessed":  # rejected before its request was logged: its RESULT follows
                if len(self.unprocessed) > 10_000:
                    self.unprocessed.clear()
                self.unprocessed[key] = rec.get("error")
                return
            self.stats.orphan_detail_lines += 1
            return
        details = op.get("details")
        if details is None:
            details = op["details"] = {}
        if kind == "entry":
            details["entries"] = details.get("entries", 0) + 1
            dns = details.setdefault("entry_dns", [])
            if len(dns) < 10:
                dns.append(rec.get("dn", ""))
        elif kind == "stat":
            if "attribute" in rec:
                details.setdefault("index_reads", []).append(
                    {"attribute": rec.get("attribute"), "key_type": rec.get("key_type"),
                     "key": rec.get("key"), "count": rec.get("count")})
            if rec.get("duration"):
                try:
                    details["stat_duration"] = details.get("stat_duration", 0.0) + float(rec["duration"])
                except ValueError:
                    pass
        elif kind == "sort":
            details["sort"] = rec.get("spec")
            if rec.get("candidates") is not None:
                details["sort_candidates"] = rec["candidates"]
        elif kind == "vlv":
            details["vlv"] = {k: rec[k] for k in ("request", "response", "vlv_result") if k in rec}
        elif kind == "referral":
            details["referrals"] = details.get("referrals", 0) + 1
        elif kind == "ext_info":
            details["ext_info"] = {k: v for k, v in rec.items()
                                   if k not in ("t", "conn", "op", "kind", "json_key") and not k.startswith("_")}
        elif kind == "unprocessed":
            details["unprocessed"] = rec.get("error")

    # ------------------------------------------------------------------ end of input / carry-over
    def finish(self, out: list[Any]) -> None:
        """End of input: emit every pending op as unfinished and every connection as open."""
        for c in list(self.conns.values()):
            if c.close is not None:
                self._finish_conn(c, out, "closed", NO_RESULT)
            else:
                self._finish_conn(c, out, "open", UNFINISHED)
        self.conns.clear()
        self.closing.clear()
        self._flush_all(out, "open", UNFINISHED)

    def export_state(self) -> dict[str, Any]:
        """Open connections and pending ops, JSON-serialisable, for the next cron run."""
        idents: dict[int, dict[str, Any]] = {}
        pending = []
        for key, op in self.pending.items():
            chain = []
            while op is not None:
                ident = op["ident"]
                idents[id(ident)] = {k: v for k, v in ident.items() if k != "_parts"}
                chain.append({"req": op["req"], "ident": id(ident), "details": op.get("details"),
                              "abandoned": op.get("abandoned", False)})
                op = op.get("_prev")
            pending.append({"key": [x.value if type(x) is _ByRepr else x for x in key], "chain": chain})
        return {
            "version": 1,
            "last_open_conn": self.last_open_conn,
            "conns": [c.to_state() for c in self.conns.values()],
            "identities": {str(k): v for k, v in idents.items()},
            "pending": pending,
            "closing": [list(x) for x in self.closing],
        }

    def import_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.last_open_conn = state.get("last_open_conn", -1)
        for cs in state.get("conns", []):
            c = Connection.from_state(cs)
            self.conns[c.conn_id] = c
        idents = state.get("identities", {})
        for entry in state.get("pending", []):
            key = tuple(_key_part(x) for x in entry["key"])
            op = None
            for item in reversed(entry["chain"]):
                new = {"req": item["req"], "ident": idents.get(str(item["ident"]), {})}
                if item.get("details"):
                    new["details"] = item["details"]
                if item.get("abandoned"):
                    new["abandoned"] = True
                if op is not None:
                    new["_prev"] = op
                op = new
            if op is not None:
                self.pending[key] = op  # type: ignore[index]
        self.closing = deque(tuple(x) for x in state.get("closing", []))  # type: ignore[misc]


def join(records: Iterator[Record], joiner: Joiner | None = None, flush: bool = True) -> Iterator[Any]:
    """Generator stage: records in, OpEvent/ConnEvent out."""
    j = joiner or Joiner()
    out: list[Any] = []
    for rec in records:
        j.feed(rec, out)
        if out:
            yield from out
            out.clear()
    if flush:
        j.finish(out)
        yield from out
