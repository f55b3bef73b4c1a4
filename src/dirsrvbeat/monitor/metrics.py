"""The scalar values read from the monitor entries: one table drives the Elasticsearch documents,
the per-interval deltas, Prometheus and the field definitions (a unit test checks that
fields/monitor.yml defines every field named here).

`field` is relative to `dirsrv.monitor.<metricset>`; counters also get `<field>_delta` (the
increase since the previous scrape) when the previous value is known.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    attr: str                 # attribute name (lower case)
    field: str                # dotted, relative to dirsrv.monitor.<metricset>
    kind: str                 # gauge | counter
    description: str
    type: str = "long"        # long | double
    aliases: tuple[str, ...] = ()

    @property
    def counter(self) -> bool:
        return self.kind == "counter"


G, C = "gauge", "counter"

SERVER = (
    Metric("threads", "threads", G, "Active server threads: workers plus listener and housekeeping "
           "threads (not busy workers)."),
    Metric("currentconnections", "connections.current", G, "Open connections."),
    Metric("totalconnections", "connections.total", C, "Connections accepted since start."),
    Metric("currentconnectionsatmaxthreads", "connections.at_max_threads", G,
           "Connections using nsslapd-maxthreadsperconn threads now."),
    Metric("maxthreadsperconnhits", "max_threads_per_conn_hits", C,
           "Times any connection reached nsslapd-maxthreadsperconn."),
    Metric("dtablesize", "dtablesize", G, "Connection-table size."),
    Metric("readwaiters", "readwaiters", G, "Connections handed to a thread to read a PDU (the `r` flag)."),
    Metric("opsinitiated", "ops.initiated", C, "Operations received since start."),
    Metric("opscompleted", "ops.completed", C, "Operations completed since start."),
    Metric("entriessent", "entries_sent", C, "Entries sent since start."),
    Metric("bytessent", "bytes_sent", C, "Bytes sent since start."),
    Metric("nbackends", "backends", G, "Public backends."),
    Metric("currentworkqueue", "work_queue.current", G, "Operations waiting in the work queue (3.2.1+)."),
    Metric("maxworkqueue", "work_queue.max", G, "Work-queue high-water mark (3.2.1+)."),
    Metric("currentbusyworkers", "busy_workers.current", G, "Busy worker threads (3.2.1+)."),
    Metric("maxbusyworkers", "busy_workers.max", G, "Busy-worker high-water mark (3.2.1+)."),
)

CONFIG = (
    Metric("nsslapd-threadnumber", "threadnumber", G, "Worker threads (nsslapd-threadnumber)."),
    Metric("nsslapd-maxthreadsperconn", "maxthreadsperconn", G,
           "Threads one connection may use (nsslapd-maxthreadsperconn)."),
    Metric("nsslapd-maxdescriptors", "maxdescriptors", G, "nsslapd-maxdescriptors."),
    Metric("nsslapd-reservedescriptors", "reservedescriptors", G, "nsslapd-reservedescriptors."),
    Metric("nsslapd-conntablesize", "conntablesize", G, "nsslapd-conntablesize (when the server returns it)."),
    Metric("nsslapd-numlisteners", "numlisteners", G, "nsslapd-numlisteners (when the server returns it)."),
    Metric("nsslapd-idletimeout", "idletimeout", G, "nsslapd-idletimeout (seconds)."),
    Metric("nsslapd-ioblocktimeout", "ioblocktimeout", G, "nsslapd-ioblocktimeout (milliseconds)."),
    Metric("nsslapd-listen-backlog-size", "listen_backlog_size", G, "nsslapd-listen-backlog-size."),
    Metric("nsslapd-maxbersize", "maxbersize", G, "nsslapd-maxbersize (bytes)."),
    Metric("nsslapd-sizelimit", "sizelimit", G, "nsslapd-sizelimit."),
    Metric("nsslapd-timelimit", "timelimit", G, "nsslapd-timelimit (seconds)."),
)
LDBM_CONFIG = (
    Metric("nsslapd-idlistscanlimit", "idlistscanlimit", G, "nsslapd-idlistscanlimit (ldbm database)."),
    Metric("nsslapd-lookthroughlimit", "lookthroughlimit", G, "nsslapd-lookthroughlimit (ldbm database)."),
)

_SNMP_COUNTERS = (
    "anonymousbinds", "unauthbinds", "simpleauthbinds", "strongauthbinds", "bindsecurityerrors", "inops",
    "readops", "compareops", "addentryops", "removeentryops", "modifyentryops", "modifyrdnops", "listops",
    "searchops", "onelevelsearchops", "wholesubtreesearchops", "referrals", "chainings", "securityerrors",
    "errors", "connectionseq", "connectionsinmaxthreads", "connectionsmaxthreadscount", "bytesrecv",
    "bytessent", "entriesreturned", "referralsreturned", "supplierentries", "copyentries", "cacheentries",
    "cachehits", "consumerhits",
)
_SNMP_ALIASES = {"supplierentries": ("masterentries",), "consumerhits": ("slavehits",)}
SNMP = (
    Metric("connections", "connections", G, "Open connections (cn=snmp,cn=monitor)."),
    *(Metric(a, a, C, f"cn=snmp,cn=monitor {a} (counter since start).",
             aliases=_SNMP_ALIASES.get(a, ())) for a in _SNMP_COUNTERS),
)

DATABASE = (
    Metric("dbcachehits", "db_cache.hits", C, "Database page-cache hits."),
    Metric("dbcachetries", "db_cache.tries", C, "Database page-cache lookups."),
    Metric("dbcachehitratio", "db_cache.hit_ratio", G, "Page-cache hit ratio since start (%).", "double"),
    Metric("dbcachepagein", "db_cache.page_in", C, "Pages read into the cache."),
    Metric("dbcachepageout", "db_cache.page_out", C, "Pages written from the cache."),
    Metric("dbcacheroevict", "db_cache.ro_evict", C, "Clean pages evicted."),
    Metric("dbcacherwevict", "db_cache.rw_evict", C, "Dirty pages evicted."),
    Metric("normalizeddncachetries", "ndn_cache.tries", C, "Normalized-DN cache lookups."),
    Metric("normalizeddncachehits", "ndn_cache.hits", C, "Normalized-DN cache hits."),
    Metric("normalizeddncachemisses", "ndn_cache.misses", C, "Normalized-DN cache misses."),
    Metric("normalizeddncachehitratio", "ndn_cache.hit_ratio", G, "Normalized-DN cache hit ratio (%).",
           "double"),
    Metric("normalizeddncacheevictions", "ndn_cache.evictions", C, "Normalized-DN cache evictions."),
    Metric("currentnormalizeddncachesize", "ndn_cache.size", G, "Normalized-DN cache size (bytes)."),
    Metric("maxnormalizeddncachesize", "ndn_cache.max_size", G, "Normalized-DN cache limit (bytes)."),
    Metric("currentnormalizeddncachecount", "ndn_cache.count", G, "Normalized DNs cached."),
)

BACKEND = (
    Metric("readonly", "readonly", G, "1 when the backend is read-only."),
    Metric("entrycachehits", "entry_cache.hits", C, "Entry-cache hits."),
    Metric("entrycachetries", "entry_cache.tries", C, "Entry-cache lookups."),
    Metric("entrycachehitratio", "entry_cache.hit_ratio", G, "Entry-cache hit ratio since start (%).",
           "double"),
    Metric("currententrycachesize", "entry_cache.size", G, "Entry-cache size (bytes)."),
    Metric("maxentrycachesize", "entry_cache.max_size", G, "Entry-cache limit (bytes)."),
    Metric("currententrycachecount", "entry_cache.count", G, "Entries cached."),
    Metric("maxentrycachecount", "entry_cache.max_count", G, "Entry-cache entry limit (-1 unlimited)."),
    Metric("dncachehits", "dn_cache.hits", C, "DN-cache hits."),
    Metric("dncachetries", "dn_cache.tries", C, "DN-cache lookups."),
    Metric("dncachehitratio", "dn_cache.hit_ratio", G, "DN-cache hit ratio since start (%).", "double"),
    Metric("currentdncachesize", "dn_cache.size", G, "DN-cache size (bytes)."),
    Metric("maxdncachesize", "dn_cache.max_size", G, "DN-cache limit (bytes)."),
    Metric("currentdncachecount", "dn_cache.count", G, "DNs cached."),
    Metric("maxdncachecount", "dn_cache.max_count", G, "DN-cache entry limit (-1 unlimited)."),
)

# hit ratio over the last interval: (hits delta, tries delta) -> field
INTERVAL_RATIOS = {
    "database": (("db_cache.hits", "db_cache.tries", "db_cache.hit_ratio_interval"),
                 ("ndn_cache.hits", "ndn_cache.tries", "ndn_cache.hit_ratio_interval")),
    "backend": (("entry_cache.hits", "entry_cache.tries", "entry_cache.hit_ratio_interval"),
                ("dn_cache.hits", "dn_cache.tries", "dn_cache.hit_ratio_interval")),
}

TABLES = {"server": SERVER, "config": CONFIG, "ldbm_config": LDBM_CONFIG, "snmp": SNMP,
          "database": DATABASE, "backend": BACKEND}


def number(text: str | None, kind: str = "long") -> int | float | None:
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text) if kind == "long" else float(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def extract(table: tuple[Metric, ...], attrs: dict[str, list[str]] | None) -> dict[str, int | float]:
    """{relative field: number} for every metric of `table` present in `attrs`."""
    out: dict[str, int | float] = {}
    if not attrs:
        return out
    for m in table:
        values = attrs.get(m.attr)
        if not values:
            for alias in m.aliases:
                values = attrs.get(alias)
                if values:
                    break
        if values:
            v = number(values[0], m.type)
            if v is not None:
                out[m.field] = v
    return out
