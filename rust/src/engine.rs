//! stages.py + join.py + enrich.py: lines in, NDJSON documents out, in the Python order.

use crate::filter::FilterCache;
use crate::docw::{member, Members, ObjW, Part};
use crate::json::{st, write_float, write_int, write_json, write_obj, write_plain_decimal, write_str, Obj, J, S};
use crate::parse::{self, parse_line, Parsed};
use crate::py;
use crate::shard::{self, Route};
use crate::ts::{parse_seconds, Ts};
use base64::Engine as _;
use blake2::digest::{Update, VariableOutput};
use rustc_hash::FxHashMap;
use smol_str::SmolStr;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

mod state;

const COMPLETE: &str = "complete";
const NO_RESULT: &str = "no_result";
const UNFINISHED: &str = "unfinished";
const RESULT_ONLY: &str = "result_only";
const STARTTLS_OID: &str = "1.3.6.1.4.1.1466.20037";

#[inline]
fn js(s: &str) -> J {
    J::Str(SmolStr::new(s))
}

// ------------------------------------------------------------------------------ code tables

fn result_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "success", 1 => "operationsError", 2 => "protocolError", 3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded", 5 => "compareFalse", 6 => "compareTrue", 7 => "authMethodNotSupported",
        8 => "strongerAuthRequired", 9 => "partialResults", 10 => "referral", 11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension", 13 => "confidentialityRequired", 14 => "saslBindInProgress",
        16 => "noSuchAttribute", 17 => "undefinedAttributeType", 18 => "inappropriateMatching",
        19 => "constraintViolation", 20 => "attributeOrValueExists", 21 => "invalidAttributeSyntax",
        32 => "noSuchObject", 33 => "aliasProblem", 34 => "invalidDNSyntax", 35 => "isLeaf",
        36 => "aliasDereferencingProblem", 48 => "inappropriateAuthentication", 49 => "invalidCredentials",
        50 => "insufficientAccessRights", 51 => "busy", 52 => "unavailable", 53 => "unwillingToPerform",
        54 => "loopDetect", 60 => "sortControlMissing", 61 => "offsetRangeError", 64 => "namingViolation",
        65 => "objectClassViolation", 66 => "notAllowedOnNonLeaf", 67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists", 69 => "objectClassModsProhibited", 71 => "affectsMultipleDSAs",
        76 => "virtualListViewError", 80 => "other", 118 => "canceled", 119 => "noSuchOperation",
        120 => "tooLate", 121 => "cannotCancel", 122 => "assertionFailed", 123 => "authorizationDenied",
        _ => return None,
    })
}

fn non_failure(code: i64) -> bool {
    matches!(code, 0 | 5 | 6 | 10 | 14)
}

fn tag_name(tag: i64) -> Option<&'static str> {
    Some(match tag {
        97 => "bind", 100 => "search_entry", 101 => "search", 103 => "modify", 105 => "add", 107 => "delete",
        109 => "modrdn", 111 => "compare", 115 => "search_reference", 120 => "extended", 121 => "intermediate",
        48 => "internal",
        _ => return None,
    })
}

fn tag_to_op_type(tag: i64) -> &'static str {
    match tag {
        97 => "BIND", 101 => "SRCH", 103 => "MOD", 105 => "ADD", 107 => "DEL", 109 => "MODRDN", 111 => "CMP",
        120 => "EXT",
        _ => "UNKNOWN",
    }
}

fn event_type(op_type: &str) -> &'static str {
    match op_type {
        "BIND" => "start", "UNBIND" => "end", "ADD" => "creation", "DEL" => "deletion", "MOD" => "change",
        "MODRDN" => "change", "SRCH" => "access", "CMP" => "access", "EXT" => "protocol", "ABANDON" => "end",
        _ => "info",
    }
}

fn note_name(n: &str) -> &str {
    match n {
        "U" => "partially_unindexed", "P" => "paged", "A" => "fully_unindexed",
        "F" => "filter_attribute_missing_from_schema", "M" => "multi_factor_authentication",
        "N" => "not_synchronous", "B" => "blocked_by_maxthreadsperconn",
        other => other,
    }
}

fn close_code(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "A1" => ("Connection aborted", "client aborted the connection"),
        "B1" => ("Bad Ber Tag or uncleanly closed connection",
                 "corrupt BER, or the client closed the socket without UNBIND"),
        "B2" => ("Ber Too Big (nsslapd-maxbersize)", "request PDU larger than nsslapd-maxbersize"),
        "B3" => ("Ber peak tag", "corrupt BER"),
        "B4" => ("Server failed to flush response back to Client", "write to the client failed (gone or too slow)"),
        "T1" => ("Idle Timeout (nsslapd-idletimeout)", "connection idle longer than nsslapd-idletimeout"),
        "T2" => ("IO Block Timeout (nsslapd-ioblocktimeout)", "blocked I/O longer than nsslapd-ioblocktimeout"),
        "T3" => ("Paged Search Time Limit Exceeded", "paged search time limit exceeded"),
        "R1" => ("Poll revents", "poll reported error events"),
        "P1" => ("Plugin", "a plugin closed the connection"),
        "P2" => ("Poll", "closed or corrupt connection detected by poll"),
        "P3" => ("Invalid Proxy Header", "invalid HAProxy PROXY protocol header"),
        "P4" => ("Unknown Proxy", "connection from an untrusted HAProxy"),
        "S1" => ("SASL Failure", "SASL layer failure"),
        "U1" => ("Cleanly Closed Connection", "client sent UNBIND"),
        _ => return None,
    })
}

fn known_ext(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.3.6.1.4.1.1466.20037" => "start_tls",
        "1.3.6.1.4.1.4203.1.11.1" => "password_modify",
        "1.3.6.1.4.1.4203.1.11.3" => "whoami",
        "1.3.6.1.1.8" => "cancel",
        "2.16.840.1.113730.3.5.12" => "replication_start_nsds90",
        "2.16.840.1.113730.3.5.5" => "replication_end",
        "2.16.840.1.113730.3.5.6" => "replication_entry",
        "2.16.840.1.113730.3.5.9" => "replication_cleanallruv",
        "2.16.840.1.113730.3.5.3" => "replication_start",
        "1.3.6.1.4.1.4203.1.11.2" => "password_modify_legacy",
        _ => return None,
    })
}

fn scope_name(scope: &J) -> String {
    let k = match scope.resolved() {
        J::Int(i) => Some(*i),
        J::UInt(_) => None,
        J::Bool(b) => Some(*b as i64),
        J::Float(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    };
    match k {
        Some(0) => "base".into(),
        Some(1) => "one".into(),
        Some(2) => "sub".into(),
        Some(3) => "subordinate".into(),
        _ => py::to_str(scope),
    }
}

// ------------------------------------------------------------------------------ hash keys

/// A Python dict key (hash/equality as Python: 1 == 1.0 == True).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum K {
    N,
    I(i128),
    S(SmolStr),
    O(String),
}

fn key_of(j: &J) -> K {
    match j.resolved() {
        J::Null => K::N,
        J::Bool(b) => K::I(*b as i128),
        J::Int(i) => K::I(*i as i128),
        J::UInt(u) => K::I(*u as i128),
        J::Float(f) if f.fract() == 0.0 && f.abs() < 1.7e38 => K::I(*f as i128),
        J::Float(f) => K::O(format!("f{}", f.to_bits())),
        J::Str(s) => K::S(s.clone()),
        other => K::O(py::to_str(other)),
    }
}

type PKey = (K, K, K);

// ------------------------------------------------------------------------------ state

/// A connection identity's document parts, serialised once (every document of that identity
/// copies the bytes).
struct Parts {
    source: Option<Arc<[u8]>>,
    destination: Option<Arc<[u8]>>,
    tls: Option<Vec<u8>>,
    conn: Vec<u8>,
    bind: Vec<u8>,
    bind_obj: Obj,
}

fn json_bytes(v: &J) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_json(&mut out, v);
    out
}

struct Ident {
    conn_id: J,
    key: J,
    transport: &'static str,
    tls_protocol: J,
    tls_bits: J,
    tls_cipher: J,
    tls_client_subject: J,
    bind_dn: J,
    bind_method: J,
    bind_mech: J,
    haproxy_src: J,
    /// the connection's src and dst when this identity was made (exported with the state)
    src: J,
    dst: J,
    /// `_endpoint(src)`, `_endpoint(dst)` serialised (shared by the connection's identities)
    source: Option<Arc<[u8]>>,
    destination: Option<Arc<[u8]>>,
    parts: OnceLock<Parts>,
}

struct Conn {
    conn_id: J,
    key: J,
    opened: Option<S>,
    first_seen: Option<S>,
    src: J,
    dst: J,
    fd: J,
    transport: &'static str,
    tls_protocol: J,
    tls_bits: J,
    tls_cipher: J,
    tls_client_subject: J,
    /// not in any document; kept for the exported state
    tls_client_issuer: J,
    bind_dn: J,
    bind_method: J,
    bind_mech: J,
    autobind_dn: J,
    bind_dns: Vec<J>,
    haproxy_src: J,
    ops: i64,
    ops_by_type: Vec<(S, i64)>,
    etime_total: f64,
    unindexed: i64,
    failed_binds: i64,
    last_seen: Option<S>,
    close: Option<Box<Obj>>,
    ident: Option<Arc<Ident>>,
    bind_op: J,
    awaiting_bind: Vec<PKey>,
    held: Vec<Held>,
    /// keys of `pending` on this connection (finish_conn scans `pending` only when > 0)
    pending_ops: u32,
    /// (src, dst) and their endpoint parts, reused while the addresses stay the same
    endpoints: Option<Box<Endpoints>>,
}

/// A connection's (src, dst) and their serialised `_endpoint` parts.
type Endpoints = (J, J, Option<Arc<[u8]>>, Option<Arc<[u8]>>);

/// An operation completed while a BIND logged before it still lacks its RESULT.
struct Held {
    req: Obj,
    res: Option<Obj>,
    status: &'static str,
    details: Option<Box<Details>>,
}

impl Conn {
    fn new(conn_id: J, key: J, first_seen: Option<S>) -> Conn {
        Conn {
            conn_id, key, opened: None, first_seen, src: J::Null, dst: J::Null, fd: J::Null, transport: "ldap",
            tls_protocol: J::Null, tls_bits: J::Null, tls_cipher: J::Null, tls_client_subject: J::Null,
            tls_client_issuer: J::Null, bind_dn: J::Null, bind_method: J::Null, bind_mech: J::Null, autobind_dn: J::Null, bind_dns: Vec::new(),
            haproxy_src: J::Null, ops: 0, ops_by_type: Vec::new(), etime_total: 0.0, unindexed: 0, failed_binds: 0,
            last_seen: None, close: None, ident: None, bind_op: J::Null, awaiting_bind: Vec::new(), held: Vec::new(),
            pending_ops: 0, endpoints: None,
        }
    }

    fn identity(&mut self) -> Arc<Ident> {
        if let Some(i) = &self.ident {
            return i.clone();
        }
        let same = |a: &J, b: &J| match (a.resolved(), b.resolved()) {
            (J::Null, J::Null) => true,
            (J::Str(x), J::Str(y)) => x == y,
            _ => false,
        };
        let fresh = match &self.endpoints {
            Some(e) => !(same(&e.0, &self.src) && same(&e.1, &self.dst)),
            None => true,
        };
        if fresh {
            let src = endpoint_json(&self.src).map(Arc::from);
            let dst = endpoint_json(&self.dst).map(Arc::from);
            self.endpoints = Some(Box::new((self.src.clone(), self.dst.clone(), src, dst)));
        }
        let e = self.endpoints.as_ref().unwrap();
        let (source, destination) = (e.2.clone(), e.3.clone());
        let i = Arc::new(Ident {
            conn_id: self.conn_id.clone(), key: self.key.clone(),
            transport: self.transport, tls_protocol: self.tls_protocol.clone(), tls_bits: self.tls_bits.clone(),
            tls_cipher: self.tls_cipher.clone(), tls_client_subject: self.tls_client_subject.clone(),
            // never bound: anonymous if its open line was seen, unknown (None) otherwise
            bind_dn: if !self.bind_dn.is_null() {
                self.bind_dn.clone()
            } else if self.opened.as_ref().map(|o| !o.is_empty()).unwrap_or(false) {
                js("")
            } else {
                J::Null
            },
            bind_method: self.bind_method.clone(), bind_mech: self.bind_mech.clone(),
            haproxy_src: self.haproxy_src.clone(), src: self.src.clone(), dst: self.dst.clone(), source,
            destination, parts: OnceLock::new(),
        });
        self.ident = Some(i.clone());
        i
    }

    fn changed(&mut self) {
        self.ident = None;
    }
}

#[derive(Default, Clone)]
struct Details {
    abandoned: bool,
    target_key: Option<String>,
    entries: Option<i64>,
    entry_dns: Vec<J>,
    index_reads: Option<Vec<J>>,
    stat_duration: Option<f64>,
    sort: Option<J>,
    sort_candidates: Option<J>,
    vlv: Option<Obj>,
    referrals: Option<i64>,
    ext_info: Option<Obj>,
    unprocessed: Option<J>,
}

impl Details {
    fn is_empty(&self) -> bool {
        !self.abandoned && self.target_key.is_none() && self.entries.is_none() && self.index_reads.is_none()
            && self.stat_duration.is_none() && self.sort.is_none() && self.sort_candidates.is_none()
            && self.vlv.is_none() && self.referrals.is_none() && self.ext_info.is_none() && self.unprocessed.is_none()
    }
}

struct Op {
    req: Obj,
    ident: Arc<Ident>,
    details: Option<Box<Details>>,
    abandoned: bool,
    prev: Option<Box<Op>>,
}

#[derive(Default, Clone, Copy)]
pub struct Stats {
    pub lines: i64,
    pub parsed: i64,
    pub unparsed: i64,
    pub header_lines: i64,
    pub blank_lines: i64,
    pub bad_utf8_lines: i64,
    pub requests: i64,
    pub results: i64,
    pub ops_emitted: i64,
    pub results_without_request: i64,
    pub requests_without_result: i64,
    pub connections_emitted: i64,
    pub orphan_detail_lines: i64,
    pub server_restarts: i64,
    pub bad_timestamps: i64,
}

pub struct DeadLetter {
    pub file: String,
    pub line: i64,
    pub offset: i64,
    pub reason: String,
    pub text: String,
}

pub struct Engine {
    connections: bool,
    with_ids: bool,
    host_json: Option<Vec<u8>>,
    host_name: String,
    service: Obj,
    service_json: Vec<u8>,
    members: Members,
    op_key: String,
    grace: f64,
    ts: Ts,
    filters: FilterCache,
    /// boxed: a `Conn` is large, and the table is probed and grown often
    conns: FxHashMap<K, (u64, Box<Conn>)>,
    pending: FxHashMap<PKey, (u64, Op)>,
    seq: u64,
    /// Joiner.closing: (deadline, conn id, conn key). In a sharded engine it holds every
    /// shard's closes (None: another shard's), so that every shard expires at the same lines.
    closing: VecDeque<(f64, Option<(J, J)>)>,
    shard: u32,
    nshards: u32,
    /// every line fed (a sharded engine's `stats.lines` counts only its own)
    pub fed_lines: i64,
    last_open_conn: i128,
    unprocessed: FxHashMap<PKey, J>,
    pub stats: Stats,
    pub documents: i64,
    pub dead: Vec<DeadLetter>,
    pub out: Vec<u8>,
    /// `_bulk` framing of the documents (the shipper's fast path), when set
    pub bulk: Option<crate::bulk::Bulk>,
}

// ------------------------------------------------------------------------------ helpers

fn is_ipv4(s: &str) -> bool {
    // ipaddress.IPv4Address: four decimal octets <= 255, 1-3 ASCII digits, no leading zero
    let mut n = 0;
    for p in s.as_bytes().split(|&b| b == b'.') {
        n += 1;
        let ok = n <= 4 && !p.is_empty() && p.len() <= 3 && p.iter().all(|b| b.is_ascii_digit())
            && !(p.len() > 1 && p[0] == b'0')
            && p.iter().fold(0u32, |a, &b| a * 10 + (b - b'0') as u32) <= 255;
        if !ok {
            return false;
        }
    }
    n == 4
}

fn is_ip(s: &str) -> bool {
    is_ipv4(s) || (s.contains(':') && s.parse::<std::net::Ipv6Addr>().is_ok())
}

fn tls_version(protocol: &J) -> (J, Option<&'static str>) {
    if !protocol.truthy() {
        return (J::Null, None);
    }
    let p = py::to_str(protocol).to_uppercase();
    for (prefix, lower) in [("TLS", "tls"), ("SSL", "ssl")] {
        if let Some(rest) = p.strip_prefix(prefix) {
            let v = rest.trim_start_matches('V');
            return (if v.is_empty() { J::Null } else { js(v) }, Some(lower));
        }
    }
    (protocol.clone(), None)
}

/// `{"address": v[, "ip": host]}` (enrich.py `_endpoint`), None for a falsy value.
fn endpoint_json(value: &J) -> Option<Vec<u8>> {
    if !value.truthy() {
        return None;
    }
    let owned;
    let v: &str = match value.as_str() {
        Some(s) => s,
        None => {
            owned = py::to_str(value);
            &owned
        }
    };
    let host = match v.as_bytes().iter().position(|&b| b == b'%') {
        Some(i) => &v[..i],
        None => v,
    };
    let mut out = Vec::with_capacity(24 + 2 * v.len());
    let mut w = ObjW::open(&mut out);
    w.val(&mut out, "address", value);
    if is_ip(host) {
        w.str(&mut out, "ip", host);
    }
    w.close(&mut out);
    Some(out)
}

fn parts_of(ident: &Ident) -> &Parts {
    ident.parts.get_or_init(|| {
        let (version, proto) = tls_version(&ident.tls_protocol);
        let tls = if version.truthy() || ident.tls_cipher.truthy() {
            let mut t = Vec::with_capacity(96);
            let mut w = ObjW::open(&mut t);
            w.key(&mut t, "established");
            t.extend_from_slice(b"true");
            if version.truthy() {
                w.val(&mut t, "version", &version);
            }
            if let Some(p) = proto {
                w.str(&mut t, "version_protocol", p);
            }
            if ident.tls_cipher.truthy() {
                w.val(&mut t, "cipher", &ident.tls_cipher);
            }
            if ident.tls_client_subject.truthy() {
                w.key(&mut t, "client");
                t.extend_from_slice(b"{\"subject\":");
                write_json(&mut t, &ident.tls_client_subject);
                t.push(b'}');
            }
            w.close(&mut t);
            Some(t)
        } else {
            None
        };
        let mut conn = Vec::with_capacity(80);
        let mut w = ObjW::open(&mut conn);
        w.val(&mut conn, "id", &ident.conn_id);
        w.val(&mut conn, "key", &ident.key);
        w.str(&mut conn, "transport", ident.transport);
        if ident.tls_bits.truthy() {
            w.val(&mut conn, "tls_key_bits", &ident.tls_bits);
        }
        if ident.haproxy_src.truthy() {
            w.val(&mut conn, "proxy_address", &ident.haproxy_src);
        }
        w.close(&mut conn);
        let mut bind = Obj::with_capacity(3);
        if !ident.bind_dn.is_null() {
            bind.push("dn", ident.bind_dn.clone());
        }
        if ident.bind_method.truthy() {
            bind.push("method", ident.bind_method.clone());
        }
        if ident.bind_mech.truthy() {
            bind.push("mech", ident.bind_mech.clone());
        }
        Parts {
            source: ident.source.clone(),
            destination: ident.destination.clone(),
            tls,
            conn,
            bind: json_bytes(&J::Obj(bind.clone())),
            bind_obj: bind,
        }
    })
}

fn kv_of(res: &Obj) -> &Obj {
    static EMPTY: OnceLock<Obj> = OnceLock::new();
    res.get("kv").and_then(|k| k.as_obj()).unwrap_or_else(|| EMPTY.get_or_init(Obj::default))
}

fn t_of(rec: &Obj) -> Option<&str> {
    rec.gstr("t")
}

pub fn banner_facts(text: &str) -> (Option<String>, Option<String>) {
    if let Some(rest) = text.strip_prefix("389-Directory/") {
        return (Some(rest.split(' ').next().unwrap_or("").to_string()), None);
    }
    if text.ends_with(')') && text.contains('(') {
        let p = text.rfind('(').unwrap();
        let inner = text[p + 1..text.len() - 1].trim_end_matches('/');
        let last = inner.rsplit('/').next().unwrap_or("");
        return (None, if last.is_empty() { None } else { Some(last.to_string()) });
    }
    (None, None)
}

impl Engine {
    pub fn new(connections: bool, with_ids: bool, host_name: Option<String>, service_name: Option<String>,
               grace: f64) -> Engine {
        let mut service = Obj::with_capacity(3);
        service.push("type", js("dirsrv"));
        if let Some(n) = service_name.as_deref() {
            if !n.is_empty() {
                service.push("name", js(n));
            }
        }
        let host_json = match host_name.as_deref() {
            Some(h) if !h.is_empty() => {
                let mut o = Obj::with_capacity(1);
                o.push("name", js(h));
                Some(json_bytes(&J::Obj(o)))
            }
            _ => None,
        };
        let service_json = json_bytes(&J::Obj(service.clone()));
        Engine {
            connections, with_ids, host_json, host_name: host_name.filter(|h| !h.is_empty()).unwrap_or_default(),
            service, service_json, members: Members::default(), op_key: String::new(), grace, ts: Ts::default(), filters: FilterCache::default(),
            conns: FxHashMap::default(), pending: FxHashMap::default(), unprocessed: FxHashMap::default(), seq: 0, closing: VecDeque::new(), shard: 0, nshards: 1, fed_lines: 0,
            last_open_conn: -1, stats: Stats::default(), documents: 0, dead: Vec::new(), out: Vec::with_capacity(1 << 20), bulk: None,
        }
    }

    fn set_server(&mut self, version: Option<String>, instance: Option<String>) {
        if let Some(v) = version {
            if !v.is_empty() {
                self.service.set(st("version"), js(&v));
            }
        }
        if let Some(i) = instance {
            if !i.is_empty() && !self.service.contains("name") {
                self.service.set(st("name"), js(&i));
            }
        }
        self.service_json = json_bytes(&J::Obj(self.service.clone()));
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    // ------------------------------------------------------------------ lines

    /// Feed a block of complete lines of one file.
    pub fn feed(&mut self, path: &str, data: &[u8], base_offset: i64, base_lineno: i64) {
        let path_s = SmolStr::new(path);
        let mut pos = 0usize;
        let mut lineno = base_lineno;
        let n = data.len();
        // one check for the whole block (lines are cut at `\n`, an ASCII byte: each is valid too)
        let all_valid = std::str::from_utf8(data).is_ok();
        while pos < n {
            let end = match memchr::memchr(b'\n', &data[pos..]) {
                Some(i) => pos + i + 1,
                None => n,
            };
            let raw = &data[pos..end];
            lineno += 1;
            let offset = base_offset + pos as i64;
            let (text, bad) = if all_valid {
                // SAFETY: a slice of a valid UTF-8 block cut before and after ASCII bytes
                (std::borrow::Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(raw) }), false)
            } else {
                match std::str::from_utf8(raw) {
                    Ok(s) => (std::borrow::Cow::Borrowed(s), false),
                    Err(_) => (String::from_utf8_lossy(raw), true),
                }
            };
            let mut t: &str = &text;
            if t.ends_with('\n') {
                t = t.strip_suffix("\r\n").unwrap_or(&t[..t.len() - 1]);
            }
            self.fed_lines += 1;
            if self.nshards > 1 {
                let route = shard::route(t);
                let owner = match route.conn() {
                    Some(c) => shard::shard_of(c, self.nshards),
                    None if route == Route::Parse => self.parsed_owner(t),
                    None => 0,
                };
                if owner == self.shard {
                    self.line(&path_s, offset, lineno, t, bad);
                } else {
                    self.foreign(t, route);
                }
            } else {
                self.line(&path_s, offset, lineno, t, bad);
            }
            pos = end;
        }
    }

    /// Make this engine shard `shard` of `nshards` (`access parse --workers`): it processes the
    /// lines of its connections (and, as shard 0, the lines of none) and takes from the others
    /// only server restarts, the close-grace clock and banner facts, so that its documents are
    /// exactly those one engine makes for these connections. Stats count its own lines; every
    /// shard counts every server restart.
    pub fn set_shard(&mut self, shard: u32, nshards: u32) {
        assert!(nshards >= 1 && shard < nshards, "shard {} of {}", shard, nshards);
        self.shard = shard;
        self.nshards = nshards;
    }

    /// What parse_text makes of a connection's text line, after its `conn=N `: Some(true) an
    /// open (`fd=… connection from …`), Some(false) a close (`op=N fd=…`, or `fd=… closed` /
    /// `Disconnect` without an op), None anything else (or no record).
    fn open_or_close(rest: &str) -> Option<bool> {
        if let Some(after) = rest.strip_prefix("op=") {
            let sp = memchr::memchr(b' ', after.as_bytes())?;
            let (tok, body) = (&after[..sp], &after[sp + 1..]);
            // `op=N(id)(depth)` always reads; a plain op token must be an int
            let op_ok = tok.contains('(') || py::int(tok).is_some();
            return if op_ok && body.starts_with("fd=") { Some(false) } else { None };
        }
        if !rest.starts_with("fd=") {
            return None;
        }
        if parse::find_sub(rest, " connection from ").is_some() {
            return Some(true);
        }
        if parse::find_sub(rest, " HAProxy ").is_some() {
            return None;
        }
        if parse::find_sub(rest, " closed").is_some() || parse::find_sub(rest, " Disconnect").is_some() {
            return Some(false);
        }
        None
    }

    /// The shard of a line only a full parse can tell (JSON of an unusual shape).
    fn parsed_owner(&self, t: &str) -> u32 {
        match parse_line(t) {
            Parsed::Rec(r) => match r.get("conn").map(|c| c.resolved()) {
                Some(J::Int(i)) => shard::shard_of(*i as i128, self.nshards),
                Some(J::UInt(u)) => shard::shard_of(*u as i128, self.nshards),
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Another shard's line: what Joiner.feed would do with it that is not about its own
    /// connection (restart detection, expiry of closed connections), and banner facts.
    fn foreign(&mut self, t: &str, route: Route<'_>) {
        match route {
            Route::NoConn { maybe_header: true } => {
                if let Parsed::Header(h, inst) = parse_line(t) {
                    self.header_facts(&h, inst.as_deref());
                }
            }
            Route::NoConn { .. } | Route::JsonOp { stamp: None, .. } => {}
            Route::TextOp { stamp, .. } | Route::JsonOp { stamp: Some(stamp), .. } => {
                if self.closing.is_empty() {
                    return;
                }
                // Joiner._expire, without counting bad stamps (the owner counts them)
                let front = self.closing[0].0;
                let epoch = match self.ts.expiry_epoch(stamp, front) {
                    Ok(Some(e)) => e,
                    _ => return,
                };
                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                if !(front < epoch) {
                    return;
                }
                // something expires: only if the line is a record (a junk line moves no clock)
                if let Parsed::Rec(r) = parse_line(t) {
                    if r.contains("t") && r.contains("conn") {
                        self.expire_closed(epoch);
                    }
                }
            }
            Route::Conn { conn, text: Some((stamp, rest)) } => match Self::open_or_close(rest) {
                // the two shapes every connection has, checked as parse_text checks them (no
                // parse: they cannot fail once the stamp is good)
                Some(is_open) => {
                    if !parse::stamp_ok(stamp) {
                        return;
                    }
                    if !self.closing.is_empty() {
                        self.expire_with(stamp, false);
                    }
                    if is_open {
                        self.observe_open(conn);
                    } else {
                        let epoch = self.ts.epoch(stamp).unwrap_or(0.0);
                        self.closing.push_back((epoch + self.grace, None));
                    }
                }
                None => self.foreign_parsed(t),
            },
            Route::Conn { text: None, .. } | Route::Parse => self.foreign_parsed(t),
        }
    }

    /// Another shard's line that only a parse tells about.
    fn foreign_parsed(&mut self, t: &str) {
        match parse_line(t) {
            Parsed::Rec(rec) => {
                if !rec.contains("t") || !rec.contains("conn") {
                    return;
                }
                let tt: Option<S> = match rec.get("t") {
                    Some(J::Str(x)) => Some(x.clone()),
                    _ => None,
                };
                if !self.closing.is_empty() {
                    if let Some(tt) = &tt {
                        self.expire_with(tt, false);
                    }
                }
                match rec.get("kind").and_then(|k| k.as_str()) {
                    Some("open") => {
                        let c = match rec.get("conn").map(|c| c.resolved()) {
                            Some(J::Int(i)) => *i as i128,
                            Some(J::UInt(u)) => *u as i128,
                            _ => 0,
                        };
                        self.observe_open(c);
                    }
                    Some("close") => {
                        let epoch = tt.and_then(|x| self.ts.epoch(&x)).unwrap_or(0.0);
                        self.closing.push_back((epoch + self.grace, None));
                    }
                    _ => {}
                }
            }
            Parsed::Header(h, inst) => self.header_facts(&h, inst.as_deref()),
            _ => {}
        }
    }

    /// Pipeline.header: the server's version/instance from a banner (and a JSON header's instance).
    fn header_facts(&mut self, h: &str, instance: Option<&str>) {
        let (v, i) = banner_facts(h);
        if v.is_some() || i.is_some() {
            self.set_server(v, i);
        }
        if let Some(inst) = instance {
            let (v, i) = banner_facts(inst);
            if v.is_some() || i.is_some() {
                self.set_server(v, i);
            }
        }
    }

    fn reject(&mut self, path: &str, lineno: i64, offset: i64, reason: String, text: &str) {
        self.stats.unparsed += 1;
        self.dead.push(DeadLetter { file: path.to_string(), line: lineno, offset, reason, text: text.to_string() });
    }

    fn line(&mut self, path: &S, offset: i64, lineno: i64, text: &str, bad: bool) {
        self.stats.lines += 1;
        if bad {
            self.stats.bad_utf8_lines += 1;
        }
        let parsed = if text.is_empty() { Parsed::Blank } else { parse_line(text) };
        let mut rec = match parsed {
            Parsed::Blank => {
                self.stats.blank_lines += 1;
                return;
            }
            Parsed::Header(h, instance) => {
                self.stats.header_lines += 1;
                self.header_facts(&h, instance.as_deref());
                return;
            }
            Parsed::Unknown => {
                self.reject(path, lineno, offset, "unknown line shape".into(), text);
                return;
            }
            Parsed::Error(name) => {
                self.reject(path, lineno, offset, format!("parser error: {}", name), text);
                return;
            }
            Parsed::Rec(r) => r,
        };
        // "kind" may have been overwritten by a key=value of the line (Python's rec.update)
        match rec.get("kind").and_then(|k| k.as_str()) {
            Some("blank") => {
                self.stats.blank_lines += 1;
                return;
            }
            Some("header") => {
                self.stats.header_lines += 1;
                return;
            }
            _ => {}
        }
        if !rec.contains("t") || !rec.contains("conn") {
            self.reject(path, lineno, offset, "missing timestamp or connection".into(), text);
            return;
        }
        self.stats.parsed += 1;
        // rec["_path"] = path; rec["_off"] = offset (one scan: only `_` keys can be them)
        let (mut ip, mut io) = (None, None);
        for (i, (k, _)) in rec.0.iter().enumerate() {
            if k.as_bytes().first() == Some(&b'_') {
                match k.as_str() {
                    "_path" => ip = Some(i),
                    "_off" => io = Some(i),
                    _ => {}
                }
            }
        }
        match ip {
            Some(i) => rec.0[i].1 = J::Str(path.clone()),
            None => rec.0.push((st("_path"), J::Str(path.clone()))),
        }
        match io {
            Some(i) => rec.0[i].1 = J::Int(offset),
            None => rec.0.push((st("_off"), J::Int(offset))),
        }
        self.join_feed(rec);
    }

    // ------------------------------------------------------------------ joiner

    fn epoch(&mut self, raw: &str) -> Option<f64> {
        match self.ts.epoch(raw) {
            Some(e) => Some(e),
            None => {
                self.stats.bad_timestamps += 1;
                None
            }
        }
    }

    fn epoch_or0(&mut self, raw: Option<&str>) -> f64 {
        // Python: self._epoch(t) or 0.0 (t may be None only through odd records)
        match raw {
            Some(r) => self.epoch(r).unwrap_or(0.0),
            None => 0.0,
        }
    }

    fn key_for(epoch: f64, conn_id: &J) -> J {
        let ms = epoch * 1000.0;
        let mut s = String::with_capacity(24);
        if ms.abs() < 9.0e18 {
            // int(ms) fits 64 bits. SAFETY: write_int writes ASCII digits
            write_int(unsafe { s.as_mut_vec() }, ms as i64);
        } else {
            s.push_str(&py::float_int_str(ms));
        }
        s.push('-');
        push_str_of(&mut s, conn_id);
        js(&s)
    }

    fn conn_mut(&mut self, conn_id: &J, t: Option<&S>, json_key: Option<&J>) -> &mut Conn {
        let k = key_of(conn_id);
        if !self.conns.contains_key(&k) {
            let key = match json_key {
                Some(jk) if !jk.is_null() => jk.clone(),
                _ => {
                    let epoch = self.epoch_or0(t.map(|s| s.as_str()));
                    Self::key_for(epoch, conn_id)
                }
            };
            let seq = self.next_seq();
            self.conns.insert(k.clone(), (seq, Box::new(Conn::new(conn_id.clone(), key, t.cloned()))));
        }
        &mut self.conns.get_mut(&k).unwrap().1
    }

    fn join_feed(&mut self, rec: Obj) {
        let kind: &'static str = match rec.get("kind").and_then(|k| k.as_str()).unwrap_or("") {
            "req" => "req",
            "result" => "result",
            "entry" => "entry",
            "stat" => "stat",
            "sort" => "sort",
            "vlv" => "vlv",
            "referral" => "referral",
            "ext_info" => "ext_info",
            "unprocessed" => "unprocessed",
            "open" => "open",
            "close" => "close",
            "tls" => "tls",
            "autobind" => "autobind",
            "haproxy" => "haproxy",
            _ => "",
        };
        if !self.closing.is_empty() {
            if let Some(J::Str(t)) = rec.get("t") {
                self.expire(t);
            }
        }
        // the stamp as an owned string only where a connection may be made from it here
        let t = || -> Option<S> {
            match rec.get("t") {
                Some(J::Str(s)) => Some(s.clone()),
                _ => None,
            }
        };
        match kind {
            "req" => self.request(rec),
            "result" => self.result(rec),
            "entry" | "stat" | "sort" | "vlv" | "referral" | "ext_info" | "unprocessed" => self.detail(rec, kind),
            "open" => self.open(rec),
            "close" => self.close(rec),
            "tls" => {
                let conn = rec.g("conn");
                let c = self.conn_mut(&conn, t().as_ref(), rec.get("json_key"));
                if !rec.g("bits").is_null() {
                    c.tls_protocol = rec.g("protocol");
                    c.tls_bits = rec.g("bits");
                    c.tls_cipher = rec.g("cipher");
                }
                if rec.truthy("client_subject") {
                    c.tls_client_subject = rec.g("client_subject");
                    c.tls_client_issuer_set(rec.g("client_issuer"));
                }
                if rec.truthy("client_dn") {
                    let dn = rec.g("client_dn");
                    c.bind_dn = dn.clone();
                    c.bind_method = js("sasl");
                    c.bind_mech = js("EXTERNAL");
                    c.bind_dns.push(dn);
                }
                c.changed();
            }
            "autobind" => {
                let conn = rec.g("conn");
                let c = self.conn_mut(&conn, t().as_ref(), rec.get("json_key"));
                c.autobind_dn = rec.g("dn");
                c.changed();
            }
            "haproxy" => {
                let conn = rec.g("conn");
                let c = self.conn_mut(&conn, t().as_ref(), rec.get("json_key"));
                c.haproxy_src = c.src.clone();
                let src = rec.g("src");
                if src.truthy() {
                    c.src = src;
                }
                c.changed();
            }
            _ => {}
        }
    }

    fn observe_open(&mut self, conn_id: i128) {
        if conn_id <= self.last_open_conn {
            self.stats.server_restarts += 1;
            self.flush_all("server_restart", NO_RESULT);
        }
        self.last_open_conn = conn_id;
    }

    fn open(&mut self, rec: Obj) {
        let conn = rec.g("conn");
        let conn_i = match conn.resolved() {
            J::Int(i) => *i as i128,
            J::UInt(u) => *u as i128,
            _ => 0,
        };
        self.observe_open(conn_i);
        if let Some((_, old)) = self.conns.remove(&key_of(&conn)) {
            self.finish_conn(old, "no_close_line", NO_RESULT);
        }
        let t = match rec.get("t") {
            Some(J::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let epoch = self.epoch_or0(t.as_deref());
        let src = rec.g("src");
        let dst = rec.g("dst");
        let transport = if rec.truthy("ssl") {
            "ldaps"
        } else if src.eq_str("local") || dst.as_str().map(|d| d.starts_with('/')).unwrap_or(false) {
            "ldapi"
        } else {
            "ldap"
        };
        let jk = rec.g("json_key");
        let key = if jk.truthy() { jk } else { Self::key_for(epoch, &conn) };
        let mut c = Conn::new(conn.clone(), key, t.clone());
        c.opened = t;
        c.src = src;
        c.dst = dst;
        c.fd = rec.g("fd");
        c.transport = transport;
        let seq = self.next_seq();
        self.conns.insert(key_of(&conn), (seq, Box::new(c)));
    }

    fn close(&mut self, rec: Obj) {
        let conn = rec.g("conn");
        let t = match rec.get("t") {
            Some(J::Str(s)) => Some(s.clone()),
            _ => None,
        };
        self.conn_mut(&conn, t.as_ref(), rec.get("json_key"));
        let epoch = self.epoch_or0(t.as_deref());
        let grace = self.grace;
        let c = &mut self.conns.get_mut(&key_of(&conn)).unwrap().1;
        c.last_seen = t;
        c.close = Some(Box::new(rec));
        let entry = (epoch + grace, Some((c.conn_id.clone(), c.key.clone())));
        self.closing.push_back(entry);
    }

    fn expire(&mut self, t: &str) {
        self.expire_with(t, true);
    }

    /// Joiner._expire; `count`: a bad stamp counts in `bad_timestamps` (the line's own shard).
    fn expire_with(&mut self, t: &str, count: bool) {
        // Most lines cannot expire anything: compare with the line's whole second first.
        // (second_epoch and convert fail together: they read the same date and zone.)
        match self.ts.expiry_epoch(t, self.closing[0].0) {
            Ok(None) => {}
            Ok(Some(epoch)) => self.expire_closed(epoch),
            Err(_) => {
                if count {
                    self.stats.bad_timestamps += 1;
                }
            }
        }
    }

    pub fn expire_closed(&mut self, epoch: f64) {
        while let Some(front) = self.closing.front() {
            #[allow(clippy::neg_cmp_op_on_partial_ord)] // NaN stops the loop, as in Python
            if !(front.0 < epoch) {
                break;
            }
            let (conn_id, key) = match self.closing.pop_front().unwrap().1 {
                Some(x) => x,
                None => continue, // another shard's connection
            };
            let k = key_of(&conn_id);
            let matches = match self.conns.get(&k) {
                Some((_, c)) => key_of(&c.key) == key_of(&key) && c.close.is_some(),
                None => false,
            };
            if matches {
                let (_, c) = self.conns.remove(&k).unwrap();
                self.finish_conn(c, "closed", NO_RESULT);
            }
        }
    }

    fn finish_conn(&mut self, mut c: Box<Conn>, conn_status: &str, op_status: &str) {
        if !c.held.is_empty() {
            // the BIND RESULT never came: they ran as whoever the connection is now
            let ident = c.identity();
            let held = std::mem::take(&mut c.held);
            self.emit_held(held, &ident);
        }
        if c.pending_ops > 0 && !self.pending.is_empty() {
            let ck = key_of(&c.conn_id);
            let mut stale: Vec<(u64, PKey)> =
                self.pending.iter().filter(|(k, _)| k.0 == ck).map(|(k, v)| (v.0, k.clone())).collect();
            stale.sort_by_key(|x| x.0);
            for (_, k) in stale {
                let (_, op) = self.pending.remove(&k).unwrap();
                self.emit_unresolved(op, op_status);
            }
        }
        if c.opened.is_none() && matches!(c.conn_id.resolved(), J::Int(0) | J::Bool(false) | J::Float(0.0)) {
            return; // `conn=Internal`: the server's own operations, not a client connection
        }
        if self.connections {
            self.conn_doc(&mut c, conn_status);
        }
        self.stats.connections_emitted += 1;
    }

    fn flush_all(&mut self, conn_status: &str, op_status: &str) {
        let conns = sorted_by_seq(self.conns.drain().map(|(_, v)| v).collect());
        for c in conns {
            let status = if c.close.is_none() { conn_status } else { "closed" };
            self.finish_conn(c, status, op_status);
        }
        self.closing.clear();
        let mut ops: Vec<(u64, Op)> = self.pending.drain().map(|(_, v)| v).collect();
        ops.sort_by_key(|x| x.0);
        for (_, op) in ops {
            self.emit_unresolved(op, op_status);
        }
    }

    fn emit_unresolved(&mut self, op: Op, status: &str) {
        let mut cur = Some(Box::new(op));
        while let Some(mut op) = cur {
            let prev = op.prev.take();
            let mut details = op.details.take();
            if op.abandoned {
                let mut d = details.unwrap_or_default();
                d.abandoned = true;
                details = Some(d);
            }
            self.stats.requests_without_result += 1;
            self.stats.ops_emitted += 1;
            let ident = op.ident.clone();
            self.op_doc(Some(&op.req), None, &ident, status, details.as_deref());
            cur = prev;
        }
    }

    fn request(&mut self, rec: Obj) {
        self.stats.requests += 1;
        let conn_id = rec.g("conn");
        let t = match rec.get("t") {
            Some(J::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let internal = rec.truthy("internal");
        let op_type = rec.gstr("type").unwrap_or("").to_string();
        let c = self.conn_mut(&conn_id, t.as_ref(), rec.get("json_key"));
        c.last_seen = t;
        let ident = c.identity();
        if !internal {
            c.ops += 1;
            match c.ops_by_type.iter_mut().find(|(k, _)| k == op_type.as_str()) {
                Some(e) => e.1 += 1,
                None => c.ops_by_type.push((SmolStr::new(&op_type), 1)),
            }
        }
        if op_type == "UNBIND" {
            self.emit(key_of(&conn_id), rec, None, ident, COMPLETE, None);
            return;
        }
        if op_type == "ABANDON" {
            let target = rec.g("targetop");
            let mut details = None;
            if let Some(ts) = target.as_str() {
                if py::isdigit(ts) {
                    if let Some(ti) = py::int128(ts) {
                        let tkey = (key_of(&conn_id), K::I(ti), K::N);
                        if let Some((_, top)) = self.pending.get_mut(&tkey) {
                            top.abandoned = true;
                        }
                    }
                    let ckey = py::to_str(&self.conns.get(&key_of(&conn_id)).unwrap().1.key);
                    details = Some(Box::new(Details { target_key: Some(format!("{}-{}", ckey, ts)), ..Default::default() }));
                }
            }
            self.emit(key_of(&conn_id), rec, None, ident, COMPLETE, details);
            return;
        }
        let key: PKey = (key_of(&conn_id), key_of(rec.r("op")), key_of(rec.r("internal_id")));
        if !internal {
            let c = &mut self.conns.get_mut(&key_of(&conn_id)).unwrap().1;
            let op_j = rec.g("op");
            if op_type == "BIND" {
                c.bind_op = op_j;
                c.awaiting_bind.clear();
            } else if !c.bind_op.is_null() && py_gt(&op_j, &c.bind_op) {
                if c.awaiting_bind.len() < 64 {
                    c.awaiting_bind.push(key.clone());
                } else {
                    c.bind_op = J::Null;
                    c.awaiting_bind.clear();
                }
            }
        }
        let mut op = Op { req: rec, ident, details: None, abandoned: false, prev: None };
        match self.pending.remove(&key) {
            Some((seq, prev)) => {
                if internal {
                    op.prev = Some(Box::new(prev));
                } else {
                    self.emit_unresolved(prev, NO_RESULT);
                }
                self.pending.insert(key, (seq, op));
            }
            None => {
                let seq = self.next_seq();
                self.conns.get_mut(&key.0).unwrap().1.pending_ops += 1;
                self.pending.insert(key, (seq, op));
            }
        }
    }

    fn result(&mut self, rec: Obj) {
        self.stats.results += 1;
        let conn_id = rec.g("conn");
        let key: PKey = (key_of(&conn_id), key_of(rec.r("op")), key_of(rec.r("internal_id")));
        let op = self.pending.remove(&key).map(|(_, op)| op);
        let t = match rec.get("t") {
            Some(J::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let c = self.conn_mut(&conn_id, t.as_ref(), rec.get("json_key"));
        c.last_seen = t;
        if let Some(o) = &op {
            c.pending_ops = c.pending_ops.saturating_sub(1);
            if o.prev.is_some() {
                c.pending_ops += 1; // the stack under it stays pending
            }
        }
        let mut op = match op {
            None => {
                let ident = c.identity();
                self.stats.results_without_request += 1;
                self.stats.ops_emitted += 1;
                let details = self
                    .unprocessed
                    .remove(&key)
                    .map(|e| Details { unprocessed: Some(e), ..Default::default() });
                self.op_doc(None, Some(&rec), &ident, RESULT_ONLY, details.as_ref());
                return;
            }
            Some(op) => op,
        };
        if let Some(prev) = op.prev.take() {
            let seq = self.next_seq();
            self.pending.insert(key, (seq, *prev));
        }
        if op.abandoned {
            op.details.get_or_insert_with(Box::default).abandoned = true;
        }
        if !rec.truthy("internal") {
            let kv = kv_of(&rec);
            let c = &mut self.conns.get_mut(&key_of(&conn_id)).unwrap().1;
            if let Some(et) = kv.get("etime") {
                if et.truthy() {
                    if let Some(f) = et.as_str().and_then(parse_seconds) {
                        c.etime_total += f;
                    }
                }
            }
            if let Some(notes) = kv.gstr("notes") {
                if notes.contains('A') || notes.contains('U') {
                    c.unindexed += 1;
                }
            }
            let op_type = op.req.gstr("type").unwrap_or("");
            if op_type == "BIND" {
                let awaiting = bound(c, &op.req, &rec, kv);
                if !awaiting.is_empty() {
                    let ident = c.identity();
                    for k in awaiting {
                        if let Some((_, p)) = self.pending.get_mut(&k) {
                            p.ident = ident.clone();
                        }
                    }
                }
                let ident = op.ident.clone();
                self.op_doc(Some(&op.req), Some(&rec), &ident, COMPLETE, op.details.as_deref());
                self.stats.ops_emitted += 1;
                let ck = key_of(&conn_id);
                let c = &self.conns.get(&ck).unwrap().1;
                if c.bind_op.is_null() && !c.held.is_empty() {
                    self.release_held(&ck);
                }
                return;
            } else if op_type == "EXT" && op.req.get("oid").map(|o| o.eq_str(STARTTLS_OID)).unwrap_or(false)
                && kv.get("err").map(|e| e.eq_str("0")).unwrap_or(false)
            {
                c.transport = "starttls";
                c.changed();
            }
        }
        let ident = op.ident.clone();
        self.emit(key_of(&conn_id), op.req, Some(rec), ident, COMPLETE, op.details);
    }

    /// Joiner._emit: emit an operation, or hold it while a BIND logged before it lacks its RESULT.
    fn emit(&mut self, ck: K, req: Obj, res: Option<Obj>, ident: Arc<Ident>, status: &'static str,
            details: Option<Box<Details>>) {
        let c = &mut self.conns.get_mut(&ck).unwrap().1;
        if !c.bind_op.is_null() && !req.truthy("internal")
            && py_gt(&req.get("op").cloned().unwrap_or(J::Int(-1)), &c.bind_op)
        {
            if c.held.len() < 64 {
                c.held.push(Held { req, res, status, details });
                return;
            }
            c.bind_op = J::Null;
            self.release_held(&ck);
        }
        self.op_doc(Some(&req), res.as_ref(), &ident, status, details.as_deref());
        self.stats.ops_emitted += 1;
    }

    fn release_held(&mut self, ck: &K) {
        let c = &mut self.conns.get_mut(ck).unwrap().1;
        let ident = c.identity();
        let held = std::mem::take(&mut c.held);
        self.emit_held(held, &ident);
    }

    fn emit_held(&mut self, held: Vec<Held>, ident: &Arc<Ident>) {
        for h in held {
            self.op_doc(Some(&h.req), h.res.as_ref(), ident, h.status, h.details.as_deref());
            self.stats.ops_emitted += 1;
        }
    }

    fn detail(&mut self, rec: Obj, kind: &str) {
        let key: PKey = (key_of(rec.r("conn")), key_of(rec.r("op")), key_of(rec.r("internal_id")));
        let op = match self.pending.get_mut(&key) {
            Some((_, op)) => op,
            None => {
                if kind == "unprocessed" {
                    // rejected before its request was logged: its RESULT follows
                    if self.unprocessed.len() > 10_000 {
                        self.unprocessed.clear();
                    }
                    self.unprocessed.insert(key, rec.g("error"));
                    return;
                }
                self.stats.orphan_detail_lines += 1;
                return;
            }
        };
        let d = op.details.get_or_insert_with(Box::default);
        match kind {
            "entry" => {
                d.entries = Some(d.entries.unwrap_or(0) + 1);
                if d.entry_dns.len() < 10 {
                    d.entry_dns.push(rec.get("dn").cloned().unwrap_or_else(|| js("")));
                }
            }
            "stat" => {
                if rec.contains("attribute") {
                    let mut r = Obj::with_capacity(4);
                    r.push("attribute", rec.g("attribute"));
                    r.push("key_type", rec.g("key_type"));
                    r.push("key", rec.g("key"));
                    r.push("count", rec.g("count"));
                    d.index_reads.get_or_insert_with(Vec::new).push(J::Obj(r));
                }
                if rec.truthy("duration") {
                    if let Some(f) = rec.gstr("duration").and_then(py::float) {
                        d.stat_duration = Some(d.stat_duration.unwrap_or(0.0) + f);
                    }
                }
            }
            "sort" => {
                d.sort = Some(rec.g("spec"));
                if let Some(c) = rec.get("candidates") {
                    if !c.is_null() {
                        d.sort_candidates = Some(c.clone());
                    }
                }
            }
            "vlv" => {
                let mut v = Obj::with_capacity(3);
                for k in ["request", "response", "vlv_result"] {
                    if let Some(x) = rec.get(k) {
                        v.push(k, x.clone());
                    }
                }
                d.vlv = Some(v);
            }
            "referral" => d.referrals = Some(d.referrals.unwrap_or(0) + 1),
            "ext_info" => {
                let mut e = Obj::with_capacity(rec.0.len());
                for (k, v) in rec.0.iter() {
                    if !matches!(k.as_str(), "t" | "conn" | "op" | "kind" | "json_key") && !k.starts_with('_') {
                        e.0.push((k.clone(), v.clone()));
                    }
                }
                d.ext_info = Some(e);
            }
            "unprocessed" => d.unprocessed = Some(rec.g("error")),
            _ => {}
        }
    }

    pub fn finish(&mut self) {
        let conns = sorted_by_seq(self.conns.drain().map(|(_, v)| v).collect());
        for c in conns {
            if c.close.is_some() {
                self.finish_conn(c, "closed", NO_RESULT);
            } else {
                self.finish_conn(c, "open", UNFINISHED);
            }
        }
        self.closing.clear();
        self.flush_all("open", UNFINISHED);
    }

    // ------------------------------------------------------------------ enricher

    fn time(&mut self, raw: Option<&str>) -> (Option<f64>, Option<String>) {
        match raw {
            None => (None, None),
            Some(r) => match self.ts.convert(r) {
                Some((e, iso)) => (Some(e), Some(iso)),
                None => (None, None),
            },
        }
    }

    fn doc_id(&self, key: &str, req_t: Option<&str>, res_t: Option<&str>) -> String {
        let name = self.service.get("name").filter(|v| v.truthy()).map(py::to_str).unwrap_or_default();
        let raw = [name.as_str(), self.host_name.as_str(), key, req_t.unwrap_or(""), res_t.unwrap_or("")].join("|");
        let mut h = blake2::Blake2bVar::new(15).unwrap();
        h.update(raw.as_bytes());
        let mut digest = [0u8; 15];
        h.finalize_variable(&mut digest).unwrap();
        base64::engine::general_purpose::URL_SAFE.encode(digest)
    }

    fn op_doc(&mut self, req: Option<&Obj>, res: Option<&Obj>, ident: &Arc<Ident>, status: &str,
              details: Option<&Details>) {
        let parts = parts_of(ident);
        let anchor = req.or(res).unwrap();
        let start_iso = match req {
            Some(r) => t_of(r).and_then(|t| self.ts.iso(t)),
            None => None,
        };
        let end_iso = match res {
            Some(r) => t_of(r).and_then(|t| self.ts.iso(t)),
            None => None,
        };
        let op_type: &str = match req {
            Some(r) => r.gstr("type").unwrap_or(""),
            None => num(res.and_then(|r| kv_of(r).get("tag"))).map(tag_to_op_type).unwrap_or("UNKNOWN"),
        };
        let internal = anchor.truthy("internal");
        let anchor_op = anchor.g("op");
        let mut m = std::mem::take(&mut self.members);
        m.clear();
        let s = m.begin();
        m.scratch.extend_from_slice(&parts.conn);
        m.set("conn", s);
        let s = m.begin();
        m.scratch.extend_from_slice(&parts.bind);
        m.set("bind", s);
        let mut op_key = std::mem::take(&mut self.op_key);
        op_key.clear();
        push_str_of(&mut op_key, &ident.key);
        op_key.push('-');
        push_str_of(&mut op_key, &anchor_op);
        let s = m.begin();
        {
            let o = &mut m.scratch;
            let mut w = ObjW::open(o);
            w.val(o, "id", &anchor_op);
            w.str(o, "type", op_type);
            w.str(o, "status", status);
            w.key(o, "internal");
            o.extend_from_slice(if internal { b"true" } else { b"false" });
            if internal {
                let iid = anchor.g("internal_id");
                let nesting = anchor.g("nesting");
                w.val(o, "internal_id", &iid);
                w.val(o, "nesting", &nesting);
                if key_of(&ident.conn_id) != K::I(0) {
                    w.str(o, "parent_key", &op_key);
                }
                if iid.is_null() {
                    op_key.push_str("-i@");
                    push_str_of(&mut op_key, &anchor.g("t"));
                } else {
                    op_key.push_str("-i");
                    push_str_of(&mut op_key, &iid);
                    if nesting.truthy() {
                        op_key.push_str("-d");
                        push_str_of(&mut op_key, &nesting);
                    }
                }
            }
            w.str(o, "key", &op_key);
            if details.map(|d| d.abandoned).unwrap_or(false) {
                w.key(o, "abandoned");
                o.extend_from_slice(b"true");
            }
            w.close(o);
        }
        m.set("op", s);
        let mut outcome = "unknown";
        let mut duration = None;
        if let Some(r) = res {
            outcome = result_part(r, &mut m, &mut duration);
        }
        if let Some(r) = req {
            self.request_part(op_type, r, res, &mut m, parts);
        }
        if let Some(d) = details {
            if !d.is_empty() {
                details_part(d, &mut m);
            }
        }
        let id = if self.with_ids { Some(self.doc_id(&op_key, req.and_then(t_of), res.and_then(t_of))) } else { None };
        let timestamp: Option<&str> = match (&start_iso, &end_iso) {
            (Some(s), _) if !s.is_empty() => Some(&**s),
            (_, Some(e)) => Some(&**e),
            (Some(s), None) => Some(&**s),
            (None, None) => None,
        };
        let out = &mut self.out;
        if let Some(b) = &self.bulk {
            b.action(out, "access", timestamp, id.as_deref());
        }
        out.extend_from_slice(b"{\"@timestamp\":");
        match timestamp {
            Some(t) => write_str(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(
            b",\"event\":{\"dataset\":\"dirsrv.access\",\"module\":\"dirsrv\",\"kind\":\"event\",\"category\":[\"network\"],\"action\":");
        write_action(out, op_type);
        out.extend_from_slice(b",\"type\":[");
        write_str(out, event_type(op_type));
        out.push(b']');
        if let Some(s) = &start_iso {
            if !s.is_empty() {
                out.extend_from_slice(b",\"start\":");
                write_str(out, s);
            }
        }
        if let Some(e) = &end_iso {
            if !e.is_empty() {
                out.extend_from_slice(b",\"end\":");
                write_str(out, e);
            }
        }
        if let Some(d) = &duration {
            out.extend_from_slice(b",\"duration\":");
            write_json(out, d);
        }
        out.extend_from_slice(b",\"outcome\":");
        write_str(out, outcome);
        if let Some(id) = &id {
            out.extend_from_slice(b",\"id\":");
            write_str(out, id);
        }
        if let Some(b) = &self.bulk {
            out.extend_from_slice(b.ingested());
        }
        out.push(b'}');
        common_parts(out, parts, &self.service_json, self.host_json.as_deref());
        // stages.Enrich: the log position is the RESULT's when there is one
        let log_anchor = res.or(req).unwrap();
        out.extend_from_slice(b",\"log\":{\"file\":{\"path\":");
        write_json(out, &log_anchor.g("_path"));
        out.extend_from_slice(b"},\"offset\":");
        write_json(out, &log_anchor.g("_off"));
        out.extend_from_slice(b"},\"dirsrv\":");
        m.write(out);
        out.extend_from_slice(b"}\n");
        self.members = m;
        self.op_key = op_key;
        self.documents += 1;
    }

    fn request_part(&mut self, op_type: &str, req: &Obj, res: Option<&Obj>, m: &mut Members, parts: &Parts) {
        if let Some(a) = req.get("authzid").filter(|a| a.truthy()) {
            m.set_json("authzid", a);
        }
        if let Some(e) = req.get("error").filter(|e| e.truthy()) {
            m.set_json("request_error", e);
        }
        let empty = js("");
        let get_or = |k: &str| req.get(k).unwrap_or(&empty);
        match op_type {
            "SRCH" => {
                let search = m.part(Part::Search);
                member(search, "base");
                write_json(search, get_or("base"));
                let scope = req.g("scope");
                if !scope.is_null() {
                    member(search, "scope");
                    write_json(search, &scope);
                    member(search, "scope_name");
                    write_str(search, &scope_name(&scope));
                }
                if let Some(flt) = req.get("filter").filter(|f| !f.is_null()) {
                    member(search, "filter");
                    write_json(search, flt);
                    let info = match flt.as_str() {
                        Some(f) => self.filters.get(f),
                        None => self.filters.get(&py::to_str(flt)),
                    };
                    search.extend_from_slice(&info.json);
                }
                if let Some(attrs) = req.get("attrs") {
                    if attrs.is_null() {
                        member(search, "attrs_all");
                        search.extend_from_slice(b"true");
                    } else {
                        member(search, "attrs");
                        search.push(b'[');
                        let s = py::to_str(attrs);
                        for (i, a) in s.split(' ').filter(|a| !a.is_empty()).enumerate() {
                            if i > 0 {
                                search.push(b',');
                            }
                            write_str(search, a);
                        }
                        search.push(b']');
                    }
                }
                if req.truthy("persistent") {
                    member(search, "persistent");
                    search.extend_from_slice(b"true");
                }
                if req.truthy("truncated") {
                    member(search, "truncated");
                    search.extend_from_slice(b"true");
                }
            }
            "BIND" => {
                let mut bind = parts.bind_obj.clone();
                bind.set(st("requested_dn"), get_or("dn").clone());
                let method = req.g("method");
                if method.truthy() {
                    let v = if method.eq_str("sasl") {
                        "sasl"
                    } else if req.truthy("dn") {
                        "simple"
                    } else {
                        "anonymous"
                    };
                    bind.set(st("method"), js(v));
                }
                if req.truthy("mech") {
                    bind.set(st("mech"), req.g("mech"));
                }
                if req.truthy("version") {
                    bind.set(st("version"), req.g("version"));
                }
                let rkv = res.map(kv_of);
                let ok = rkv.map(|k| k.get("err").map(|e| e.eq_str("0")).unwrap_or(false)).unwrap_or(false);
                match rkv.and_then(|k| k.get("dn")) {
                    Some(dn) if ok => bind.set(st("dn"), dn.clone()),
                    _ => bind.set(st("dn"), get_or("dn").clone()),
                }
                let s = m.begin();
                write_obj(&mut m.scratch, &bind);
                m.set("bind", s);
            }
            "ADD" | "MOD" | "DEL" | "MODRDN" | "CMP" => {
                if let Some(dn) = req.get("dn") {
                    let s = m.begin();
                    m.scratch.extend_from_slice(b"{\"dn\":");
                    write_json(&mut m.scratch, dn);
                    m.scratch.push(b'}');
                    m.set("target", s);
                }
                if op_type == "MODRDN" {
                    let newrdn = req.get("newrdn");
                    let sup = req.g("newsuperior");
                    let sup_ok = sup.truthy() && !sup.eq_str("(null)");
                    if newrdn.is_some() || sup_ok {
                        let s = m.begin();
                        let o = &mut m.scratch;
                        let mut w = ObjW::open(o);
                        if let Some(n) = newrdn {
                            w.val(o, "newrdn", n);
                        }
                        if sup_ok {
                            w.val(o, "newsuperior", &sup);
                        }
                        w.close(o);
                        m.set("modrdn", s);
                    }
                } else if op_type == "CMP" {
                    let s = m.begin();
                    m.scratch.extend_from_slice(b"{\"attribute\":");
                    write_json(&mut m.scratch, get_or("attr"));
                    m.scratch.push(b'}');
                    m.set("compare", s);
                }
            }
            "EXT" => {
                let oid = get_or("oid");
                let ext = m.part(Part::Ext);
                member(ext, "oid");
                write_json(ext, oid);
                if req.truthy("name") {
                    member(ext, "name");
                    write_json(ext, req.get("name").unwrap());
                } else if let Some(n) = oid.as_str().and_then(known_ext) {
                    member(ext, "name");
                    write_str(ext, n);
                }
            }
            "ABANDON" => {
                let ab = m.part(Part::Abandon);
                let target = req.g("targetop");
                member(ab, "target_op");
                write_json(ab, &target);
                let tstr = if target.truthy() { py::to_str(&target) } else { String::new() };
                member(ab, "target_found");
                ab.extend_from_slice(if py::isdigit(&tstr) { b"true" } else { b"false" });
                for name in ["msgid", "nentries"] {
                    if let Some(v) = num(req.get(name)) {
                        member(ab, name);
                        write_int(ab, v);
                    }
                }
                if req.truthy("etime") {
                    if let Some(f) = req.gstr("etime").and_then(parse_seconds) {
                        member(ab, "target_etime");
                        write_float(ab, f);
                    }
                }
            }
            _ => {}
        }
        if let Some(sid) = req.get("sid").filter(|s| s.truthy()) {
            m.set_json("sid", sid);
        }
    }

    fn conn_doc(&mut self, c: &mut Conn, status: &str) {
        let ident = c.identity();
        let parts = parts_of(&ident);
        let start_raw = match &c.opened {
            Some(o) if !o.is_empty() => Some(o.clone()),
            _ => c.first_seen.clone(),
        };
        let (start_epoch, start_iso) = self.time(start_raw.as_deref());
        let end_raw: Option<S> = match &c.close {
            Some(cl) => match cl.get("t") {
                Some(J::Str(s)) => Some(s.clone()),
                _ => None,
            },
            None => c.last_seen.clone(),
        };
        let (end_epoch, end_iso) = self.time(end_raw.as_deref());
        let id = if self.with_ids { Some(self.doc_id(&format!("conn-{}", py::to_str(&c.key)), None, None)) } else { None };
        let timestamp: Option<&str> = match (&start_iso, &end_iso) {
            (Some(s), _) if !s.is_empty() => Some(&**s),
            (_, Some(e)) => Some(&**e),
            (Some(s), None) => Some(&**s),
            (None, None) => None,
        };
        let out = &mut self.out;
        if let Some(b) = &self.bulk {
            b.action(out, "connection", timestamp, id.as_deref());
        }
        out.extend_from_slice(b"{\"@timestamp\":");
        match timestamp {
            Some(t) => write_str(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"event\":{\"dataset\":\"dirsrv.connection\",\"module\":\"dirsrv\",\"kind\":\"event\",\
\"category\":[\"network\"],\"type\":[\"connection\"],\"action\":\"connection\"");
        if let Some(s) = start_iso.as_deref().filter(|s| !s.is_empty()) {
            out.extend_from_slice(b",\"start\":");
            write_str(out, s);
        }
        if let Some(e) = end_iso.as_deref().filter(|e| !e.is_empty()) {
            out.extend_from_slice(b",\"end\":");
            write_str(out, e);
        }
        if let (Some(s), Some(e)) = (start_epoch, end_epoch) {
            if c.opened.is_some() {
                // max(0, int((end - start) * 1e9))
                let d = match py::trunc128((e - s) * 1e9) {
                    Some(i) if i <= 0 => Some(J::Int(0)),
                    Some(i) => py::int_json(i),
                    None if e < s => Some(J::Int(0)),
                    None => None,
                };
                if let Some(d) = d {
                    out.extend_from_slice(b",\"duration\":");
                    write_json(out, &d);
                }
            }
        }
        let close_code_j = c.close.as_ref().map(|cl| cl.g("code"));
        out.extend_from_slice(b",\"outcome\":");
        write_str(out, match &close_code_j {
            Some(code) if code.eq_str("U1") => "success",
            Some(_) => "failure",
            None => "unknown",
        });
        if let Some(id) = &id {
            out.extend_from_slice(b",\"id\":");
            write_str(out, id);
        }
        if let Some(b) = &self.bulk {
            out.extend_from_slice(b.ingested());
        }
        out.push(b'}');
        common_parts(out, parts, &self.service_json, self.host_json.as_deref());
        // dirsrv.conn: the identity's conn part plus the connection's counters
        out.extend_from_slice(b",\"dirsrv\":{\"conn\":");
        out.extend_from_slice(&parts.conn[..parts.conn.len() - 1]);
        out.extend_from_slice(b",\"status\":");
        write_str(out, status);
        out.extend_from_slice(b",\"ops\":");
        write_int(out, c.ops);
        out.extend_from_slice(b",\"ops_by_type\":{");
        for (i, (k, v)) in c.ops_by_type.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, k);
            out.push(b':');
            write_int(out, *v);
        }
        out.extend_from_slice(b"},\"etime_total\":");
        write_float(out, py::round9(c.etime_total));
        out.extend_from_slice(b",\"unindexed_searches\":");
        write_int(out, c.unindexed);
        out.extend_from_slice(b",\"failed_binds\":");
        write_int(out, c.failed_binds);
        out.extend_from_slice(b",\"bind_dns\":[");
        for (i, dn) in c.bind_dns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json(out, dn);
        }
        out.extend_from_slice(b"],\"open_line_seen\":");
        out.extend_from_slice(if c.opened.is_some() { b"true" } else { b"false" });
        if !c.fd.is_null() {
            out.extend_from_slice(b",\"fd\":");
            write_json(out, &c.fd);
        }
        if !c.autobind_dn.is_null() {
            out.extend_from_slice(b",\"autobind_dn\":");
            write_json(out, &c.autobind_dn);
        }
        out.extend_from_slice(b"},\"bind\":");
        out.extend_from_slice(&parts.bind);
        if let Some(close) = &c.close {
            let code = close_code_j.unwrap_or(J::Null);
            out.extend_from_slice(b",\"close\":{\"text\":");
            match close.get("close_text") {
                Some(t) => write_json(out, t),
                None => out.extend_from_slice(b"\"\""),
            }
            if code.truthy() {
                out.extend_from_slice(b",\"code\":");
                write_json(out, &code);
                let cs = py::to_str(&code);
                out.extend_from_slice(b",\"name\":");
                match close_code(&cs) {
                    Some((name, meaning)) => {
                        write_str(out, name);
                        out.extend_from_slice(b",\"meaning\":");
                        write_str(out, meaning);
                    }
                    None => {
                        write_json(out, &code);
                        out.extend_from_slice(b",\"meaning\":\"unknown close code\"");
                    }
                }
            }
            let op = close.g("op");
            if !op.is_null() {
                out.extend_from_slice(b",\"op\":");
                write_json(out, &op);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}}\n");
        self.documents += 1;
    }
}

/// Values in their insertion order (`seq`), without moving the values while sorting (a `Conn`
/// is large).
fn sorted_by_seq<T>(items: Vec<(u64, T)>) -> impl Iterator<Item = T> {
    let mut order: Vec<(u64, usize)> = items.iter().enumerate().map(|(i, x)| (x.0, i)).collect();
    order.sort_unstable();
    let mut slots: Vec<Option<T>> = items.into_iter().map(|x| Some(x.1)).collect();
    order.into_iter().map(move |(_, i)| slots[i].take().unwrap())
}

/// `s += str(v)` (f-string formatting), without an intermediate String for ints and strs.
#[inline]
fn push_str_of(s: &mut String, v: &J) {
    match v.resolved() {
        J::Str(x) => s.push_str(x),
        // SAFETY: write_int writes ASCII digits
        J::Int(i) => write_int(unsafe { s.as_mut_vec() }, *i),
        other => s.push_str(&py::to_str(other)),
    }
}

/// doc["source"], ["destination"], ["tls"], ["service"], ["host"] (enrich.py `_common`).
fn common_parts(out: &mut Vec<u8>, parts: &Parts, service: &[u8], host: Option<&[u8]>) {
    if let Some(s) = &parts.source {
        out.extend_from_slice(b",\"source\":");
        out.extend_from_slice(s);
    }
    if let Some(s) = &parts.destination {
        out.extend_from_slice(b",\"destination\":");
        out.extend_from_slice(s);
    }
    if let Some(s) = &parts.tls {
        out.extend_from_slice(b",\"tls\":");
        out.extend_from_slice(s);
    }
    out.extend_from_slice(b",\"service\":");
    out.extend_from_slice(service);
    if let Some(h) = host {
        out.extend_from_slice(b",\"host\":");
        out.extend_from_slice(h);
    }
}

/// enrich.py `_result`: the result, timing, pool, notes and paged-results members; the outcome.
fn result_part(res: &Obj, m: &mut Members, duration: &mut Option<J>) -> &'static str {
    let kv = kv_of(res);
    let mut outcome = "unknown";
    let code = num(kv.get("err"));
    let tag = num(kv.get("tag"));
    let nentries = num(kv.get("nentries"));
    if let Some(sid) = kv.get("sid") {
        m.set_json("sid", sid);
    }
    let s = m.begin();
    {
        let o = &mut m.scratch;
        let mut w = ObjW::open(o);
        if let Some(code) = code {
            w.key(o, "code");
            write_int(o, code);
            w.key(o, "name");
            match result_name(code) {
                Some(n) => write_str(o, n),
                None => write_str(o, &format!("code{}", code)),
            }
            outcome = if non_failure(code) { "success" } else { "failure" };
        }
        if let Some(t) = tag {
            w.key(o, "tag");
            write_int(o, t);
            w.key(o, "tag_name");
            match tag_name(t) {
                Some(n) => write_str(o, n),
                None => {
                    o.push(b'"');
                    write_int(o, t);
                    o.push(b'"');
                }
            }
        }
        if let Some(n) = nentries {
            w.key(o, "nentries");
            write_int(o, n);
        }
        if let Some(t) = res.get("text").filter(|t| t.truthy()) {
            w.val(o, "message", t);
        }
        if let Some(csn) = kv.get("csn") {
            w.val(o, "csn", csn);
        }
        if let Some(dn) = kv.get("dn") {
            w.val(o, "bound_dn", dn);
        }
        w.close(o);
    }
    m.set("result", s);
    let s = m.begin();
    let mut etime = None;
    let mut any = false;
    {
        let o = &mut m.scratch;
        let mut w = ObjW::open(o);
        for key in ["wqtime", "wtime", "optime", "writetime", "etime"] {
            let v = match kv.get(key).and_then(|v| v.as_str()) {
                Some(v) => v,
                None => continue,
            };
            if let Some(f) = parse_seconds(v) {
                w.key(o, key);
                // parse_seconds took float(v) unless the fraction has 10 digits
                let plain = v.len() < 12 || v.as_bytes()[v.len() - 11] != b'.';
                if !(plain && write_plain_decimal(o, v)) {
                    write_float(o, f);
                }
                any = true;
                if key == "etime" {
                    etime = Some(f);
                }
            }
        }
        w.close(o);
    }
    if any {
        m.set("timing", s);
        *duration = etime.and_then(nanos);
    } else {
        m.scratch.truncate(s);
    }
    if let Some(wb) = kv.get("wbusy") {
        let wb = wb.as_str().unwrap_or("");
        let (busy, wmax) = match wb.find('/') {
            Some(i) => (&wb[..i], &wb[i + 1..]),
            None => (wb, ""),
        };
        let (b, x) = (js(busy), js(wmax));
        let s = m.begin();
        let o = &mut m.scratch;
        let mut w = ObjW::open(o);
        for (name, value) in [("busy", Some(&b)), ("max", Some(&x)), ("queue_depth", kv.get("wqdepth"))] {
            if let Some(n) = num(value) {
                w.key(o, name);
                write_int(o, n);
            }
        }
        w.close(o);
        m.set("pool", s);
    }
    if let Some(notes) = kv.get("notes").filter(|n| n.truthy()) {
        let notes = notes.as_str().unwrap_or("");
        let s = m.begin();
        let o = &mut m.scratch;
        o.push(b'[');
        let mut first = true;
        for l in notes.split(',').filter(|n| !n.is_empty()) {
            if !first {
                o.push(b',');
            }
            first = false;
            write_str(o, l);
        }
        o.push(b']');
        m.set("notes", s);
        let s = m.begin();
        let o = &mut m.scratch;
        o.push(b'[');
        let mut first = true;
        for l in notes.split(',').filter(|n| !n.is_empty()) {
            if !first {
                o.push(b',');
            }
            first = false;
            write_str(o, note_name(l));
        }
        o.push(b']');
        m.set("note_names", s);
        let has = |x: &str| notes.split(',').any(|l| l == x);
        if has("A") {
            let sp = m.part(Part::Search);
            member(sp, "unindexed");
            write_str(sp, "full");
        } else if has("U") {
            let sp = m.part(Part::Search);
            member(sp, "unindexed");
            write_str(sp, "partial");
        }
        if has("P") {
            let sp = m.part(Part::Search);
            member(sp, "paged");
            sp.extend_from_slice(b"true");
        }
    }
    if kv.contains("pr_idx") {
        let sp = m.part(Part::Search);
        member(sp, "paged_results");
        let mut w = ObjW::open(sp);
        for (key, name) in [("pr_idx", "index"), ("pr_cookie", "cookie")] {
            if let Some(i) = num(kv.get(key)) {
                w.key(sp, name);
                write_int(sp, i);
            }
        }
        w.close(sp);
    }
    outcome
}

/// `event.action` (codes.OP_TYPE_ACTIONS, else the type in lower case).
fn write_action(out: &mut Vec<u8>, op_type: &str) {
    match op_type {
        "BIND" => out.extend_from_slice(b"\"bind\""),
        "SRCH" => out.extend_from_slice(b"\"search\""),
        "MOD" => out.extend_from_slice(b"\"modify\""),
        "ADD" => out.extend_from_slice(b"\"add\""),
        "DEL" => out.extend_from_slice(b"\"delete\""),
        "MODRDN" => out.extend_from_slice(b"\"modrdn\""),
        "CMP" => out.extend_from_slice(b"\"compare\""),
        "EXT" => out.extend_from_slice(b"\"extended\""),
        "ABANDON" => out.extend_from_slice(b"\"abandon\""),
        "UNBIND" => out.extend_from_slice(b"\"unbind\""),
        other => write_str(out, &other.to_lowercase()),
    }
}

impl Conn {
    fn tls_client_issuer_set(&mut self, issuer: J) {
        // not part of any document, but of the exported state
        self.tls_client_issuer = issuer;
    }
}

/// Python `a > b` for op ids (numbers, or strings; other mixes raise TypeError in Python: false).
fn py_gt(a: &J, b: &J) -> bool {
    match (py::num_of(a), py::num_of(b)) {
        (Some(x), Some(y)) => py::num_gt(x, y),
        _ => match (a.resolved(), b.resolved()) {
            (J::Str(x), J::Str(y)) => x > y,
            _ => false,
        },
    }
}

/// enrich.py `_num`: a logged number that fits a long (int() semantics), else None.
fn num(v: Option<&J>) -> Option<i64> {
    match v?.resolved() {
        J::Str(s) => py::int(s),
        J::Int(i) => Some(*i),
        J::Bool(b) => Some(*b as i64),
        J::Float(f) => py::trunc128(*f).and_then(|i| i64::try_from(i).ok()),
        _ => None,
    }
}

/// `int(x * 1e9)` as orjson writes it (None: beyond 64 bits, where orjson raises).
fn nanos(seconds: f64) -> Option<J> {
    py::trunc128(seconds * 1e9).and_then(py::int_json)
}

/// Joiner._bound: returns the keys of requests waiting for this BIND's identity.
fn bound(c: &mut Conn, req: &Obj, res: &Obj, kv: &Obj) -> Vec<PKey> {
    if key_of(&c.bind_op) == key_of(req.r("op")) {
        c.bind_op = J::Null;
    }
    let err = kv.get("err");
    if res.truthy("sasl_in_progress") || err.map(|e| e.eq_str("14")).unwrap_or(false) {
        c.awaiting_bind.clear();
        return Vec::new();
    }
    update_identity(c, req, kv);
    std::mem::take(&mut c.awaiting_bind)
}

fn update_identity(c: &mut Conn, req: &Obj, kv: &Obj) {
    let err = kv.get("err");
    if err.map(|e| e.eq_str("0")).unwrap_or(false) {
        let dn = match kv.get("dn") {
            Some(d) if !d.is_null() => d.clone(),
            _ => req.get("dn").cloned().unwrap_or_else(|| js("")),
        };
        c.bind_dn = dn.clone();
        c.bind_method = js(if req.get("method").map(|m| m.eq_str("sasl")).unwrap_or(false) {
            "sasl"
        } else if dn.truthy() {
            "simple"
        } else {
            "anonymous"
        });
        c.bind_mech = req.g("mech");
        if dn.truthy() {
            let differs = match c.bind_dns.last() {
                None => true,
                Some(last) => key_of(last) != key_of(&dn),
            };
            if differs {
                c.bind_dns.push(dn);
            }
        }
    } else {
        c.bind_dn = js("");
        c.bind_method = js("anonymous");
        c.bind_mech = J::Null;
        c.failed_binds += 1;
    }
    c.changed();
}

fn details_part(d: &Details, m: &mut Members) {
    // `abandoned` is written with the op object
    if let Some(tk) = &d.target_key {
        let ab = m.part(Part::Abandon);
        member(ab, "target_key");
        write_str(ab, tk);
    }
    if d.entries.is_some() || d.sort.is_some() || d.vlv.is_some() || d.referrals.is_some() {
        let search = m.part(Part::Search);
        if let Some(n) = d.entries {
            member(search, "entry_lines");
            write_int(search, n);
            member(search, "entry_dns");
            write_json(search, &J::List(d.entry_dns.clone()));
        }
        if let Some(r) = d.referrals {
            member(search, "referrals");
            write_int(search, r);
        }
        if let Some(s) = &d.sort {
            member(search, "sort");
            search.extend_from_slice(b"{\"keys\":");
            write_json(search, s);
            if let Some(c) = &d.sort_candidates {
                search.extend_from_slice(b",\"candidates\":");
                write_json(search, c);
            }
            search.push(b'}');
        }
        if let Some(v) = &d.vlv {
            member(search, "vlv");
            write_obj(search, v);
        }
    }
    if d.index_reads.is_some() || d.stat_duration.is_some() {
        let s = m.begin();
        let o = &mut m.scratch;
        let mut w = ObjW::open(o);
        if let Some(reads) = &d.index_reads {
            if !reads.is_empty() {
                w.key(o, "index_reads");
                o.push(b'[');
                for (i, r) in reads.iter().enumerate() {
                    if i > 0 {
                        o.push(b',');
                    }
                    write_json(o, r);
                }
                o.push(b']');
                w.key(o, "index_read_count");
                write_int(o, reads.len() as i64);
            }
        }
        if let Some(dur) = d.stat_duration {
            w.key(o, "duration");
            write_float(o, dur);
        }
        w.close(o);
        m.set("stat", s);
    }
    if let Some(e) = &d.ext_info {
        let ext = m.part(Part::Ext);
        member(ext, "info");
        write_obj(ext, e);
    }
    if let Some(u) = &d.unprocessed {
        m.set_json("request_error", u);
    }
}
