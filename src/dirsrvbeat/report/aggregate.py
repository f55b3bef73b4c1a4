"""One streaming pass over the pipeline's documents into bounded aggregates, then the report model.

`ReportAggregator.add(doc)` takes every operation and connection document once and keeps no
document: counters, log-linear histograms, top-N heaps and per-key maps capped at `key_cap` keys
(past it, keys fold into `(other)`). `finish()` turns the aggregates into the report model, a
JSON-ready dict that the text, JSON and HTML renderers all read.

Client operations are what the report is about. Internal operations (access-log level 4) are
counted apart (`internal`), and `logconv_equivalent` restates the totals the way logconv.pl
counts them (it adds internal operations, AUTOBINDs and VLV lines) so the two can be compared.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from ..codes import CLOSE_CODES, KNOWN_EXTENDED_OPS, OP_TYPES, STARTTLS_OID, result_name
from .advice import ShapeEvidence, advise
from .sketch import (
    CappedCounter,
    CappedMap,
    LogHistogram,
    TopN,
    latency_buckets,
    logconv_buckets,
)
from .timeline import Timeline

ANONYMOUS = "(anonymous)"
UNKNOWN_CLIENT = "(unknown)"
NO_SHAPE = "(no filter)"
ROOT_DN = "cn=directory manager"
SUB_CAP = 50  # per-shape bases / bind DNs / clients
QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)

_ISO_CACHE: dict[str, float] = {}


def iso_epoch(s: str | None) -> float | None:
    """`2026-12-04T19:52:45.430+00:00` (the enricher's format) -> epoch seconds, cached per second."""
    if not s:
        return None
    if len(s) >= 24 and s[19] == ".":
        key = s[:19] + s[23:]
        base = _ISO_CACHE.get(key)
        if base is None:
            try:
                base = datetime.fromisoformat(key.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
            if len(_ISO_CACHE) > 100_000:
                _ISO_CACHE.clear()
            _ISO_CACHE[key] = base
        frac = s[20:23]
        return base + int(frac) / 1000 if frac.isdigit() else base
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def epoch_iso(epoch: float | None) -> str | None:
    if epoch is None or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class KeyStats:
    """Per bind DN / per client IP."""

    __slots__ = ("close_codes", "conns", "errors", "etime", "failed_binds", "name", "ops", "optime",
                 "unindexed", "wtime", "wtime_max")

    def __init__(self) -> None:
        self.name = ""
        self.ops = 0
        self.etime = 0.0
        self.wtime = 0.0
        self.wtime_max = 0.0
        self.optime = 0.0
        self.errors = 0
        self.unindexed = 0
        self.failed_binds = 0
        self.conns = 0
        self.close_codes: dict[str, int] = {}

    def as_dict(self, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name or key, "ops": self.ops, "etime_total": self.etime,
                               "etime_avg": self.etime / self.ops if self.ops else None,
                               "wtime_total": self.wtime, "wtime_avg": self.wtime / self.ops if self.ops else None,
                               "wtime_max": self.wtime_max, "errors": self.errors, "unindexed": self.unindexed}
        if self.conns:
            out["connections"] = self.conns
            out["close_codes"] = dict(sorted(self.close_codes.items(), key=lambda kv: -kv[1]))
        if self.failed_binds:
            out["failed_binds"] = self.failed_binds
        return out


class ShapeStats:
    """Per generalised filter shape (every search)."""

    __slots__ = ("components", "count", "etime", "etime_max", "example", "full", "nentries", "partial",
                 "slowest_filter", "unindexed_etime", "wtime", "wtime_max")

    def __init__(self) -> None:
        self.count = 0
        self.etime = 0.0
        self.etime_max = -1.0
        self.wtime = 0.0
        self.wtime_max = 0.0
        self.nentries = 0
        self.full = 0
        self.partial = 0
        self.unindexed_etime = 0.0
        self.example: str | None = None
        self.slowest_filter: str | None = None
        self.components: list[str] = []


class UnindexedDetail:
    """Extra detail kept for unindexed shapes only: who and where."""

    __slots__ = ("bases", "binds", "clients", "etime_max", "nentries", "stat_reads")

    def __init__(self) -> None:
        self.bases = CappedCounter(SUB_CAP)
        self.binds = CappedCounter(SUB_CAP)
        self.clients = CappedCounter(SUB_CAP)
        self.etime_max = 0.0
        self.nentries = 0
        self.stat_reads: dict[str, int] = {}  # "attribute:type" -> largest STAT count (statlog 1)


def _top(m: CappedMap[KeyStats], n: int, attr: str) -> list[dict[str, Any]]:
    items = sorted(m.items(), key=lambda kv: (-getattr(kv[1], attr), kv[0]))
    return [v.as_dict(k) for k, v in items[:n] if getattr(v, attr)]


def _counter_list(c: CappedCounter, n: int | None, key_name: str) -> list[dict[str, Any]]:
    return [{key_name: k, "count": v} for k, v in c.most_common(n)]


class ReportAggregator:
    """Feed every document with `add`; call `finish` once."""

    def __init__(self, top_n: int = 20, key_cap: int = 10_000, timeline: bool = True) -> None:
        self.top_n = top_n
        self.key_cap = key_cap
        self.t_min = math.inf
        self.t_max = -math.inf
        # operations
        self.by_type: dict[str, int] = {}
        self.status: dict[str, int] = {}
        self.codes: dict[int, int] = {}
        self.codes_by_type: dict[tuple[int, str], int] = {}
        self.no_result = 0
        self.type_etime: dict[str, LogHistogram] = {}
        self.etime = LogHistogram()
        self.wtime = LogHistogram()
        self.optime = LogHistogram()
        self.wqtime = LogHistogram()
        self.etime_groups = latency_buckets()
        self.wtime_groups = latency_buckets()
        self.optime_groups = latency_buckets()
        self.etime_logconv = logconv_buckets()
        self.slowest: TopN[dict[str, Any]] = TopN(top_n)
        self.binds = CappedMap(key_cap, KeyStats)
        self.clients = CappedMap(key_cap, KeyStats)
        self.shapes = CappedMap(key_cap, ShapeStats)
        self.unindexed = CappedMap(key_cap, UnindexedDetail)
        self.bases = CappedCounter(key_cap)
        self.searches_full = 0
        self.searches_partial = 0
        self.nentries = LogHistogram(sub=4)
        # binds
        self.bind_methods: dict[str, int] = {}
        self.sasl_mechs: dict[str, int] = {}
        self.bind_versions: dict[str, int] = {}
        self.anonymous_binds = 0
        self.root_dn_binds = 0
        self.failed_by_dn = CappedCounter(key_cap)
        self.failed_by_client = CappedCounter(key_cap)
        self.failed_by_code: dict[int, int] = {}
        self.failed_binds = 0
        # abandons
        self.abandons = 0
        self.abandon_found = 0
        self.abandon_targets: dict[str, int] = {}
        self.abandoned_ops: dict[str, int] = {}
        self.abandon_list: TopN[dict[str, Any]] = TopN(top_n)
        # misc counters (logconv's list)
        self.misc: dict[str, int] = {k: 0 for k in (
            "paged_searches", "persistent_searches", "proxied_auth_operations", "vlv_searches",
            "sort_searches", "invalid_filter_attribute_searches", "subtree_objectclass_star_searches",
            "entry_lines", "referral_lines", "mfa_binds", "not_synchronous", "blocked_by_maxthreadsperconn")}
        self.ext_ops: dict[str, int] = {}
        self.ext_names: dict[str, str] = {}
        # internal operations
        self.internal_by_type: dict[str, int] = {}
        self.internal_codes: dict[int, int] = {}
        self.internal_full = 0
        self.internal_partial = 0
        self.internal_entry_lines = 0
        self.internal_vlv_notes = 0
        # connections
        self.conns = 0
        self.transport: dict[str, int] = {}
        self.conn_status: dict[str, int] = {}
        self.close_codes: dict[str, int] = {}
        self.close_nocode = CappedCounter(1000)
        self.conn_duration = LogHistogram()
        self.conn_duration_logconv = logconv_buckets()
        self.conn_ops = LogHistogram(sub=4)
        self.conn_without_open = 0
        self.autobinds = 0
        self.server_starts = 0  # `connection from` lines with conn=1
        self.tls_versions: dict[str, int] = {}
        self.peak_concurrent: int | None = None
        self.peak_concurrent_at: str | None = None
        self.timeline = Timeline() if timeline else None

    # ------------------------------------------------------------------ feeding
    def add(self, doc: dict[str, Any]) -> None:
        if doc["event"]["dataset"] == "dirsrv.connection":
            self._connection(doc)
        else:
            self._operation(doc)

    def _time(self, event: dict[str, Any]) -> tuple[float | None, float | None]:
        start = iso_epoch(event.get("start"))
        end = iso_epoch(event.get("end"))
        for t in (start, end):
            if t is not None:
                if t < self.t_min:
                    self.t_min = t
                if t > self.t_max:
                    self.t_max = t
        return start, end

    def _operation(self, doc: dict[str, Any]) -> None:
        d = doc["dirsrv"]
        op = d["op"]
        typ = op["type"]
        if op["internal"]:
            self._internal(d, typ)
            return
        event = doc["event"]
        start, end = self._time(event)
        self.by_type[typ] = self.by_type.get(typ, 0) + 1
        status = op["status"]
        self.status[status] = self.status.get(status, 0) + 1
        if op.get("abandoned"):
            self.abandoned_ops[typ] = self.abandoned_ops.get(typ, 0) + 1
        bind = d["bind"]
        dn = bind.get("dn") or ""
        source = doc.get("source")
        client = (source.get("address") if source else None) or UNKNOWN_CLIENT
        result = d.get("result")
        code = result.get("code") if result else None
        timing = d.get("timing")
        etime = wtime = optime = None
        if timing:
            etime = timing.get("etime")
            wtime = timing.get("wtime")
            optime = timing.get("optime")
        notes = d.get("notes")
        search = d.get("search")
        unindexed = search.get("unindexed") if search else None

        if code is not None:
            self.codes[code] = self.codes.get(code, 0) + 1
            k = (code, typ)
            self.codes_by_type[k] = self.codes_by_type.get(k, 0) + 1
        elif typ not in ("UNBIND", "ABANDON"):
            self.no_result += 1
        error = code is not None and code not in (0, 5, 6, 14)

        if etime is not None:
            self.etime.add(etime)
            self.etime_groups.add(etime)
            self.etime_logconv.add(etime)
            h = self.type_etime.get(typ)
            if h is None:
                h = self.type_etime[typ] = LogHistogram()
            h.add(etime)
        if wtime is not None:
            self.wtime.add(wtime)
            self.wtime_groups.add(wtime)
        if optime is not None:
            self.optime.add(optime)
            self.optime_groups.add(optime)
        if timing and "wqtime" in timing:
            self.wqtime.add(timing["wqtime"])

        # who: bind DN and client
        key = dn.lower()
        b = self.binds.get(key)
        if not b.name:
            b.name = dn or ANONYMOUS
        c = self.clients.get(client)
        if not c.name:
            c.name = client
        for s in (b, c):
            s.ops += 1
            if etime is not None:
                s.etime += etime
            if wtime is not None:
                s.wtime += wtime
                if wtime > s.wtime_max:
                    s.wtime_max = wtime
            if optime is not None:
                s.optime += optime
            if error:
                s.errors += 1
            if unindexed:
                s.unindexed += 1

        if etime is not None and self.slowest.would_admit(etime):
            self.slowest.offer(etime, lambda: self._op_summary(doc, d, typ, dn, client, result, timing, search))

        if notes:
            if "M" in notes:
                self.misc["mfa_binds"] += 1
            if "N" in notes:
                self.misc["not_synchronous"] += 1
            if "B" in notes:
                self.misc["blocked_by_maxthreadsperconn"] += 1
            if "F" in notes:
                self.misc["invalid_filter_attribute_searches"] += 1
        if d.get("authzid"):
            self.misc["proxied_auth_operations"] += 1

        if typ == "SRCH" and search is not None:
            self._search(d, search, dn, client, etime, wtime, result, unindexed)
        elif typ == "BIND":
            self._bind(bind, dn, client, code, result)
        elif typ == "ABANDON":
            self._abandon(d, doc, dn, client)
        elif typ == "EXT":
            ext = d.get("ext") or {}
            oid = ext.get("oid", "")
            self.ext_ops[oid] = self.ext_ops.get(oid, 0) + 1
            name = ext.get("name") or KNOWN_EXTENDED_OPS.get(oid)
            if name:
                self.ext_names[oid] = name

        if self.timeline is not None:
            t = start if start is not None else end
            if t is not None:
                self.timeline.op(t, typ, etime, wtime, error, bool(unindexed))

    def _search(self, d: dict[str, Any], search: dict[str, Any], dn: str, client: str, etime: float | None,
                wtime: float | None, result: dict[str, Any] | None, unindexed: str | None) -> None:
        misc = self.misc
        if search.get("paged"):
            misc["paged_searches"] += 1
        if search.get("persistent"):
            misc["persistent_searches"] += 1
        if search.get("vlv"):
            misc["vlv_searches"] += 1
        if search.get("sort"):
            misc["sort_searches"] += 1
        entry_lines = search.get("entry_lines")
        if entry_lines:
            misc["entry_lines"] += entry_lines
        if search.get("referrals"):
            misc["referral_lines"] += search["referrals"]
        shape_key = search.get("filter_shape") or NO_SHAPE
        if search.get("scope") == 2 and shape_key == "(objectclass=*)":
            misc["subtree_objectclass_star_searches"] += 1
        base = search.get("base", "")
        self.bases.inc(base.lower())
        nentries = result.get("nentries") if result else None
        if nentries is not None:
            self.nentries.add(nentries)
        sh = self.shapes.get(shape_key)
        sh.count += 1
        if sh.example is None:
            sh.example = search.get("filter")
            sh.components = list(search.get("filter_components") or ())
        if etime is not None:
            sh.etime += etime
            if etime > sh.etime_max:
                sh.etime_max = etime
                sh.slowest_filter = search.get("filter")
        if wtime is not None:
            sh.wtime += wtime
            if wtime > sh.wtime_max:
                sh.wtime_max = wtime
        if nentries:
            sh.nentries += nentries
        if unindexed:
            if unindexed == "full":
                sh.full += 1
                self.searches_full += 1
            else:
                sh.partial += 1
                self.searches_partial += 1
            if etime is not None:
                sh.unindexed_etime += etime
            u = self.unindexed.get(shape_key)
            u.bases.inc(base)
            u.binds.inc(dn or ANONYMOUS)
            u.clients.inc(client)
            if etime is not None and etime > u.etime_max:
                u.etime_max = etime
            if nentries:
                u.nentries += nentries
            stat = d.get("stat")
            if stat and stat.get("index_reads"):
                reads = u.stat_reads
                for r in stat["index_reads"]:
                    k = f"{(r.get('attribute') or '').lower()}:{r.get('key_type')}"
                    count = r.get("count")
                    if isinstance(count, int) and count > reads.get(k, -1) and (k in reads or len(reads) < 50):
                        reads[k] = count

    def _bind(self, bind: dict[str, Any], dn: str, client: str, code: int | None,
              result: dict[str, Any] | None) -> None:
        method = bind.get("method") or "unknown"
        self.bind_methods[method] = self.bind_methods.get(method, 0) + 1
        mech = bind.get("mech")
        if method == "sasl" and mech:
            self.sasl_mechs[mech] = self.sasl_mechs.get(mech, 0) + 1
        version = bind.get("version")
        if version:
            self.bind_versions[version] = self.bind_versions.get(version, 0) + 1
        requested = bind.get("requested_dn", dn)
        if method == "anonymous" or (method != "sasl" and not requested):
            self.anonymous_binds += 1
        if (dn or requested).lower() == ROOT_DN:
            self.root_dn_binds += 1
        if code is not None and code not in (0, 14):
            self.failed_binds += 1
            who = requested or dn or (f"(SASL {mech or '?'}, no DN)" if method == "sasl" else ANONYMOUS)
            self.failed_by_dn.inc(who)
            self.failed_by_client.inc(client)
            self.failed_by_code[code] = self.failed_by_code.get(code, 0) + 1
            self.binds.get(dn.lower()).failed_binds += 1
            self.clients.get(client).failed_binds += 1

    def _abandon(self, d: dict[str, Any], doc: dict[str, Any], dn: str, client: str) -> None:
        self.abandons += 1
        ab = d.get("abandon") or {}
        target = str(ab.get("target_op", ""))
        kind = "op" if ab.get("target_found") else (target or "unknown")
        self.abandon_targets[kind] = self.abandon_targets.get(kind, 0) + 1
        if ab.get("target_found"):
            self.abandon_found += 1
        score = ab.get("target_etime") or 0.0
        conn = d["conn"]
        self.abandon_list.offer(score, lambda: {
            "time": doc["event"].get("start"), "conn": conn.get("id"), "op": d["op"].get("id"),
            "target_op": target, "msgid": ab.get("msgid"), "target_nentries": ab.get("nentries"),
            "target_etime": ab.get("target_etime"), "bind_dn": dn or ANONYMOUS, "client": client})

    def _op_summary(self, doc: dict[str, Any], d: dict[str, Any], typ: str, dn: str, client: str,
                    result: dict[str, Any] | None, timing: dict[str, Any] | None,
                    search: dict[str, Any] | None) -> dict[str, Any]:
        conn = d["conn"]
        out: dict[str, Any] = {
            "time": doc["event"].get("start") or doc.get("@timestamp"), "type": typ, "conn": conn.get("id"),
            "op": d["op"].get("id"), "bind_dn": dn or ANONYMOUS, "client": client,
            "transport": conn.get("transport"),
        }
        if timing:
            out.update({k: timing[k] for k in ("etime", "wtime", "optime") if k in timing})
        if result:
            out["result"] = result.get("code")
            out["result_name"] = result.get("name")
            if "nentries" in result:
                out["nentries"] = result["nentries"]
        if search:
            out["base"] = search.get("base")
            out["scope"] = search.get("scope_name")
            out["filter"] = search.get("filter")
            out["shape"] = search.get("filter_shape")
            if search.get("unindexed"):
                out["unindexed"] = search["unindexed"]
        elif d.get("target"):
            out["target"] = d["target"].get("dn")
        elif d.get("ext"):
            out["ext"] = d["ext"].get("name") or d["ext"].get("oid")
        if d.get("notes"):
            out["notes"] = ",".join(d["notes"])
        return out

    def _internal(self, d: dict[str, Any], typ: str) -> None:
        self.internal_by_type[typ] = self.internal_by_type.get(typ, 0) + 1
        result = d.get("result")
        if result and result.get("code") is not None:
            code = result["code"]
            self.internal_codes[code] = self.internal_codes.get(code, 0) + 1
        search = d.get("search")
        if search:
            unindexed = search.get("unindexed")
            if unindexed == "full":
                self.internal_full += 1
            elif unindexed == "partial":
                self.internal_partial += 1
            if search.get("entry_lines"):
                self.internal_entry_lines += search["entry_lines"]

    def _connection(self, doc: dict[str, Any]) -> None:
        d = doc["dirsrv"]
        conn = d["conn"]
        event = doc["event"]
        start, _ = self._time(event)
        self.conns += 1
        transport = conn.get("transport") or "ldap"
        self.transport[transport] = self.transport.get(transport, 0) + 1
        status = conn.get("status") or "unknown"
        self.conn_status[status] = self.conn_status.get(status, 0) + 1
        opened = conn.get("open_line_seen", True)
        if not opened:
            self.conn_without_open += 1
        elif conn.get("id") == 1:
            self.server_starts += 1
        if conn.get("autobind_dn") is not None:
            self.autobinds += 1
        tls = doc.get("tls")
        if tls and tls.get("version"):
            label = f"{(tls.get('version_protocol') or 'tls').upper()}{tls['version']}"
            self.tls_versions[label] = self.tls_versions.get(label, 0) + 1
        source = doc.get("source")
        client = (source.get("address") if source else None) or UNKNOWN_CLIENT
        c = self.clients.get(client)
        if not c.name:
            c.name = client
        c.conns += 1
        close = d.get("close")
        code = None
        if close is not None:
            code = close.get("code")
            if code:
                self.close_codes[code] = self.close_codes.get(code, 0) + 1
            else:
                self.close_nocode.inc(_close_reason(close.get("text", "")))
        label = code or ("(no code)" if close is not None else f"({status})")
        c.close_codes[label] = c.close_codes.get(label, 0) + 1
        duration = event.get("duration")
        if opened and duration is not None and close is not None:
            seconds = duration / 1e9
            self.conn_duration.add(seconds)
            self.conn_duration_logconv.add(seconds)
        self.conn_ops.add(conn.get("ops") or 0)
        if self.timeline is not None and opened and start is not None:
            self.timeline.conn_opened(start)

    def set_concurrency(self, peak: int, at: str | None) -> None:
        self.peak_concurrent = peak
        self.peak_concurrent_at = at

    # ------------------------------------------------------------------ report model
    def finish(self, instance: str | None = None, backend: str | None = None) -> dict[str, Any]:
        seconds = self.t_max - self.t_min if self.t_max >= self.t_min else 0.0
        per_s = (lambda n: n / seconds) if seconds > 0 else (lambda n: None)
        ops_total = sum(self.by_type.values())
        by_type = []
        for typ in [*OP_TYPES, *sorted(t for t in self.by_type if t not in OP_TYPES)]:
            n = self.by_type.get(typ, 0)
            if not n and typ not in ("SRCH", "BIND", "MOD", "ADD", "DEL"):
                continue
            h = self.type_etime.get(typ)
            rate = per_s(n)
            row: dict[str, Any] = {"type": typ, "count": n, "per_second": rate,
                                   "per_minute": rate * 60 if rate is not None else None,
                                   "share": n / ops_total if ops_total else None}
            if h is not None and h.count:
                row.update({"etime_avg": h.mean, "etime_p95": h.quantile(0.95), "etime_max": h.max})
            by_type.append(row)
        results_total = sum(self.codes.values())
        codes = [{"code": code, "name": result_name(code), "count": n,
                  "share": n / results_total if results_total else None,
                  "by_type": {t: m for (c2, t), m in sorted(self.codes_by_type.items()) if c2 == code}}
                 for code, n in sorted(self.codes.items(), key=lambda kv: (-kv[1], kv[0]))]
        model: dict[str, Any] = {
            "time_range": {"start": epoch_iso(self.t_min), "end": epoch_iso(self.t_max), "seconds": seconds},
            "totals": {
                "operations": ops_total, "operations_per_second": per_s(ops_total),
                "by_type": by_type, "status": dict(sorted(self.status.items())),
                "results": results_total, "without_result": self.no_result,
            },
            "results": codes,
            "latency": {
                "etime": self.etime.summary(QUANTILES), "wtime": self.wtime.summary(QUANTILES),
                "optime": self.optime.summary(QUANTILES),
                "groups": {"etime": self.etime_groups.as_list(), "wtime": self.wtime_groups.as_list(),
                           "optime": self.optime_groups.as_list()},
                "logconv_groups": {"etime": self.etime_logconv.as_list()},
                "histogram": _histogram(self.etime, self.wtime, self.optime),
            },
            "slowest": self.slowest.items(),
            "searches": self._searches_model(),
        }
        if self.wqtime.count:
            model["latency"]["wqtime"] = self.wqtime.summary(QUANTILES)
        unindexed, evidence = self._unindexed_model()
        model["unindexed"] = unindexed
        model["index_advice"] = [a.as_dict() for a in advise(evidence, instance=instance, backend=backend)]
        model["bind_dns"] = {"count": len(self.binds), "capped": self.binds.capped,
                             "by_ops": _top(self.binds, self.top_n, "ops"),
                             "by_etime": _top(self.binds, self.top_n, "etime")}
        model["clients"] = {"count": len(self.clients), "capped": self.clients.capped,
                            "by_ops": _top(self.clients, self.top_n, "ops"),
                            "by_etime": _top(self.clients, self.top_n, "etime"),
                            "by_connections": _top(self.clients, self.top_n, "conns")}
        model["worker_wait"] = self._wait_model()
        model["connections"] = self._connections_model(seconds)
        model["binds"] = {
            "count": self.by_type.get("BIND", 0), "methods": dict(sorted(self.bind_methods.items())),
            "sasl_mechanisms": dict(sorted(self.sasl_mechs.items(), key=lambda kv: -kv[1])),
            "versions": dict(sorted(self.bind_versions.items())), "anonymous": self.anonymous_binds,
            "directory_manager": self.root_dn_binds, "autobinds": self.autobinds,
            "unbinds": self.by_type.get("UNBIND", 0),
        }
        model["failed_binds"] = {
            "count": self.failed_binds,
            "by_code": [{"code": c, "name": result_name(c), "count": n}
                        for c, n in sorted(self.failed_by_code.items(), key=lambda kv: -kv[1])],
            "by_dn": _counter_list(self.failed_by_dn, self.top_n, "dn"),
            "by_client": _counter_list(self.failed_by_client, self.top_n, "client"),
            "distinct_dns": len(self.failed_by_dn),
        }
        model["abandons"] = {
            "count": self.abandons, "target_found": self.abandon_found,
            "targets": dict(sorted(self.abandon_targets.items(), key=lambda kv: -kv[1])),
            "abandoned_ops_by_type": dict(sorted(self.abandoned_ops.items(), key=lambda kv: -kv[1])),
            "longest_running_targets": self.abandon_list.items(),
        }
        model["extended_ops"] = [{"oid": oid, "name": self.ext_names.get(oid), "count": n}
                                 for oid, n in sorted(self.ext_ops.items(), key=lambda kv: -kv[1])]
        model["other"] = dict(self.misc)
        model["internal"] = {
            "operations": sum(self.internal_by_type.values()), "by_type": dict(sorted(self.internal_by_type.items())),
            "results": dict(sorted(self.internal_codes.items())), "unindexed_full": self.internal_full,
            "unindexed_partial": self.internal_partial, "entry_lines": self.internal_entry_lines,
        }
        model["logconv_equivalent"] = self._logconv_model()
        if self.timeline is not None:
            model["timeline"] = self.timeline.points()
        return model

    def _searches_model(self) -> dict[str, Any]:
        n = self.top_n
        rows = []
        for key, sh in self.shapes.items():
            rows.append({"shape": key, "count": sh.count, "etime_total": sh.etime,
                         "etime_avg": sh.etime / sh.count if sh.count else None,
                         "etime_max": sh.etime_max if sh.etime_max >= 0 else None,
                         "wtime_total": sh.wtime, "nentries_total": sh.nentries,
                         "unindexed": sh.full + sh.partial, "example": sh.example})
        return {
            "count": self.by_type.get("SRCH", 0), "shapes": len(self.shapes), "capped": self.shapes.capped,
            "top_shapes_by_count": sorted(rows, key=lambda r: (-r["count"], r["shape"]))[:n],
            "top_shapes_by_etime": sorted(rows, key=lambda r: (-r["etime_total"], r["shape"]))[:n],
            "top_bases": _counter_list(self.bases, n, "base"),
            "nentries": self.nentries.summary((0.5, 0.95, 0.99)),
        }

    def _unindexed_model(self) -> tuple[dict[str, Any], list[ShapeEvidence]]:
        rows = []
        evidence = []
        for key, u in self.unindexed.items():
            sh = self.shapes.get(key) if key in self.shapes else ShapeStats()
            count = sh.full + sh.partial
            bases = u.bases.most_common(5)
            rows.append({
                "shape": key, "count": count, "full": sh.full, "partial": sh.partial,
                "etime_total": sh.unindexed_etime, "etime_avg": sh.unindexed_etime / count if count else None,
                "etime_max": u.etime_max, "nentries_avg": u.nentries / count if count else None,
                "bases": [{"base": b, "count": c} for b, c in bases],
                "bind_dns": [{"dn": b, "count": c} for b, c in u.binds.most_common(5)],
                "clients": [{"client": b, "count": c} for b, c in u.clients.most_common(5)],
                "components": sh.components, "example": sh.slowest_filter or sh.example,
                "index_reads": dict(sorted(u.stat_reads.items())),
            })
            evidence.append(ShapeEvidence(shape=key, searches=count, etime_total=sh.unindexed_etime,
                                          full=sh.full, partial=sh.partial, example_filter=sh.example,
                                          bases=[b for b, _ in bases]))
        rows.sort(key=lambda r: (-r["etime_total"], -r["count"], r["shape"]))
        return {"searches": self.searches_full + self.searches_partial, "full": self.searches_full,
                "partial": self.searches_partial, "shapes": rows, "capped": self.unindexed.capped}, evidence

    def _wait_model(self) -> dict[str, Any]:
        n = self.top_n
        shapes = [{"shape": k, "count": s.count, "wtime_total": s.wtime, "wtime_avg": s.wtime / s.count,
                   "wtime_max": s.wtime_max, "etime_total": s.etime}
                  for k, s in self.shapes.items() if s.count and s.wtime]
        shapes.sort(key=lambda r: (-r["wtime_total"], r["shape"]))
        etime_sum = self.etime.sum
        return {
            "wtime_total": self.wtime.sum,
            "share_of_etime": self.wtime.sum / etime_sum if etime_sum else None,
            "by_bind_dn": _top(self.binds, n, "wtime"), "by_shape": shapes[:n],
            "by_client": _top(self.clients, n, "wtime"),
        }

    def _connections_model(self, seconds: float) -> dict[str, Any]:
        n = self.conns
        transports = {t: {"count": c, "share": c / n if n else None}
                      for t, c in sorted(self.transport.items(), key=lambda kv: -kv[1])}
        codes = []
        for code, count in sorted(self.close_codes.items(), key=lambda kv: (-kv[1], kv[0])):
            entry = CLOSE_CODES.get(code)
            codes.append({"code": code, "name": entry[0] if entry else code,
                          "meaning": entry[1] if entry else "unknown close code", "count": count})
        for reason, count in self.close_nocode.most_common():
            codes.append({"code": None, "name": reason,
                          "meaning": "closed without a close code (the OS/NSPR error text is all the "
                                     "server logged)", "count": count})
        return {
            "count": n, "per_second": n / seconds if seconds > 0 else None,
            "peak_concurrent": self.peak_concurrent, "peak_concurrent_at": self.peak_concurrent_at,
            "transport": transports, "tls_versions": dict(sorted(self.tls_versions.items())),
            "status": dict(sorted(self.conn_status.items())), "without_open_line": self.conn_without_open,
            "duration": self.conn_duration.summary(QUANTILES),
            "duration_logconv_groups": self.conn_duration_logconv.as_list(),
            "ops_per_connection": self.conn_ops.summary((0.5, 0.95, 0.99)),
            "close_codes": codes, "server_starts": self.server_starts,
        }

    def _logconv_model(self) -> dict[str, Any]:
        """The totals restated with logconv.pl 8.2's counting rules (see docs/report.md)."""
        both = {t: self.by_type.get(t, 0) + self.internal_by_type.get(t, 0) for t in OP_TYPES}
        binds = both["BIND"] + self.autobinds
        vlv = self.misc["vlv_searches"]
        total_ops = (both["SRCH"] + both["MOD"] + both["ADD"] + both["CMP"] + both["DEL"] + both["MODRDN"]
                     + binds + both["EXT"] + both["ABANDON"] + vlv)
        codes: dict[int, int] = dict(self.codes)
        for code, n in self.internal_codes.items():
            codes[code] = codes.get(code, 0) + n
        starttls = self.ext_ops.get(STARTTLS_OID, 0)
        ldaps = self.transport.get("ldaps", 0)
        ldapi = self.transport.get("ldapi", 0)
        return {
            "restarts": self.server_starts,
            "total_operations": total_ops,
            "total_results": sum(codes.values()) + both["ABANDON"],
            "total_connections": self.conns,
            "ldap_connections": self.conns - ldaps - ldapi, "ldapi_connections": ldapi,
            "ldaps_connections": ldaps, "starttls_extended_ops": starttls,
            "searches": both["SRCH"], "modifications": both["MOD"], "adds": both["ADD"],
            "deletes": both["DEL"], "mod_rdns": both["MODRDN"], "compares": both["CMP"], "binds": binds,
            "unbinds": both["UNBIND"], "extended_operations": both["EXT"], "abandoned_requests": both["ABANDON"],
            "internal_operations": sum(self.internal_by_type.values()) + self.internal_entry_lines,
            "entry_operations": self.misc["entry_lines"] + self.internal_entry_lines,
            "unindexed_searches": self.searches_full + self.internal_full,
            "unindexed_components": self.searches_partial + self.internal_partial,
            "vlv_operations": vlv, "sort_operations": self.misc["sort_searches"],
            "paged_searches": self.misc["paged_searches"], "persistent_searches": self.misc["persistent_searches"],
            "proxied_auth_operations": self.misc["proxied_auth_operations"],
            "invalid_attribute_filters": self.misc["invalid_filter_attribute_searches"],
            "ldap_v3_binds": self.bind_versions.get("3", 0), "ldap_v2_binds": self.bind_versions.get("2", 0),
            "sasl_binds": self.bind_methods.get("sasl", 0),
            "result_codes": {str(c): n for c, n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))},
            "close_codes": dict(sorted(self.close_codes.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def _close_reason(text: str) -> str:
    """`Disconnect - Connection reset by peer - TCP connection reset by peer.` -> the last part."""
    parts = [p.strip() for p in text.split(" - ") if p.strip()]
    if len(parts) > 1 and parts[0].lower() in ("disconnect", "closed"):
        parts = parts[1:]
    return (parts[-1] if parts else text).rstrip(".") or "(unknown)"


HISTOGRAM_EDGES = [1e-5 * (10 ** (i / 4)) for i in range(0, 29)]  # 10 µs .. ~1000 s, 4 per decade


def _histogram(*hists: LogHistogram) -> dict[str, Any]:
    """Counts per quarter-decade bin for the latency histogram chart (etime, wtime, optime)."""
    series = {}
    for name, h in zip(("etime", "wtime", "optime"), hists):
        series[name] = h.regroup(HISTOGRAM_EDGES)
    return {"edges": HISTOGRAM_EDGES, "series": series}
