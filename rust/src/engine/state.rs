//! The joiner's state across runs: `AccessPipeline.export_state()` / `import_state()`.
//!
//! `Engine::export_state` writes the JSON text the Python pipeline's `export_state()` gives
//! after a trip through JSON (`{"join": Joiner.export_state(), "service": {...}}`), and
//! `Engine::import_state` reads it (written by Python or by Rust), so that either engine
//! continues the other's work with the same documents in the same order:
//!
//! * connections and pending operations keep the exported order (Python dicts keep insertion
//!   order; the engine orders them by `seq`, renumbered on import in that order);
//! * identities are numbered by their `Arc` (Python: `id(dict)`); an identity shared by several
//!   pending operations stays shared through export and import;
//! * Rust-only caches (a connection's current identity and endpoint parts, `pending_ops`) are
//!   rebuilt on import; `opened_epoch` and `close_epoch`, which the engine does not keep, are
//!   computed again from `opened` and `close["t"]` as `Joiner` computed them.
//!
//! Not carried, as in Python: `Joiner.unprocessed` (request errors logged before a request
//! line; a RESULT after the cut finds none), the counters (`stats`) and caches.
//!
//! Limits (values no real log gives): a sharded engine (nshards > 1) has no state of its own;
//! a transport or status other than the known ones reads as `ldap` / `complete`; a key part of
//! `awaiting_bind` that is neither null, an int, a str nor a float is exported as its `str()`.

use super::*;
use crate::json::from_serde;
use serde_json::{Map, Value};

const TRANSPORTS: [&str; 4] = ["ldap", "ldaps", "ldapi", "starttls"];
const STATUSES: [&str; 4] = [COMPLETE, NO_RESULT, UNFINISHED, RESULT_ONLY];

fn obj(members: Vec<(&'static str, J)>) -> J {
    J::Obj(Obj(members.into_iter().map(|(k, v)| (st(k), v)).collect()))
}

fn opt_s(v: &Option<S>) -> J {
    match v {
        Some(s) => J::Str(s.clone()),
        None => J::Null,
    }
}

fn opt_f(v: Option<f64>) -> J {
    v.map(J::Float).unwrap_or(J::Null)
}

/// A hash key back to the value it was made of (ints, strs, null and floats exactly).
fn k_json(k: &K) -> J {
    match k {
        K::N => J::Null,
        K::I(i) => py::int_json(*i).unwrap_or_else(|| J::s(&i.to_string())),
        K::S(s) => J::Str(s.clone()),
        K::O(s) => match s.strip_prefix('f').and_then(|b| b.parse::<u64>().ok()) {
            Some(bits) => J::Float(f64::from_bits(bits)),
            None => J::s(s),
        },
    }
}

fn pkey_json(k: &PKey) -> J {
    J::List(vec![k_json(&k.0), k_json(&k.1), k_json(&k.2)])
}

fn details_json(d: &Details) -> J {
    let mut o = Obj::default();
    if let Some(tk) = &d.target_key {
        o.push("target_key", J::s(tk));
    }
    if let Some(n) = d.entries {
        o.push("entries", J::Int(n));
        o.push("entry_dns", J::List(d.entry_dns.clone()));
    }
    if let Some(reads) = &d.index_reads {
        o.push("index_reads", J::List(reads.clone()));
    }
    if let Some(f) = d.stat_duration {
        o.push("stat_duration", J::Float(f));
    }
    if let Some(s) = &d.sort {
        o.push("sort", s.clone());
    }
    if let Some(c) = &d.sort_candidates {
        o.push("sort_candidates", c.clone());
    }
    if let Some(v) = &d.vlv {
        o.push("vlv", J::Obj(v.clone()));
    }
    if let Some(r) = d.referrals {
        o.push("referrals", J::Int(r));
    }
    if let Some(e) = &d.ext_info {
        o.push("ext_info", J::Obj(e.clone()));
    }
    if let Some(u) = &d.unprocessed {
        o.push("unprocessed", u.clone());
    }
    if d.abandoned {
        o.push("abandoned", J::Bool(true));
    }
    J::Obj(o)
}

fn opt_details_json(d: &Option<Box<Details>>) -> J {
    d.as_deref().map(details_json).unwrap_or(J::Null)
}

fn ident_json(i: &Ident) -> J {
    obj(vec![
        ("conn_id", i.conn_id.clone()), ("key", i.key.clone()), ("src", i.src.clone()), ("dst", i.dst.clone()),
        ("transport", J::s(i.transport)), ("tls_protocol", i.tls_protocol.clone()), ("tls_bits", i.tls_bits.clone()),
        ("tls_cipher", i.tls_cipher.clone()), ("tls_client_subject", i.tls_client_subject.clone()),
        ("bind_dn", i.bind_dn.clone()), ("bind_method", i.bind_method.clone()), ("bind_mech", i.bind_mech.clone()),
        ("haproxy_src", i.haproxy_src.clone()),
    ])
}

fn ident_id(i: &Arc<Ident>) -> i64 {
    Arc::as_ptr(i) as usize as i64
}

// ------------------------------------------------------------------------------ reading

type M = Map<String, Value>;

fn jv(m: &M, k: &str) -> J {
    m.get(k).map(from_serde).unwrap_or(J::Null)
}

fn sv(m: &M, k: &str) -> Option<S> {
    match m.get(k) {
        Some(Value::String(s)) => Some(SmolStr::new(s)),
        _ => None,
    }
}

fn iv(m: &M, k: &str) -> i64 {
    match m.get(k) {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0),
        Some(Value::Bool(b)) => *b as i64,
        _ => 0,
    }
}

fn fv(v: Option<&Value>) -> Option<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::Bool(b)) => Some(*b as i64 as f64),
        _ => None,
    }
}

fn rec_of(v: &Value) -> Option<Obj> {
    match from_serde(v) {
        J::Obj(o) => Some(o),
        _ => None,
    }
}

fn static_of(s: Option<&Value>, known: &[&'static str], default: &'static str) -> &'static str {
    let s = s.and_then(|v| v.as_str()).unwrap_or(default);
    known.iter().find(|k| **k == s).copied().unwrap_or(default)
}

fn pkey_of(v: &Value) -> PKey {
    let parts: Vec<K> = match v {
        Value::Array(a) => a.iter().map(|x| key_of(&from_serde(x))).collect(),
        _ => Vec::new(),
    };
    let at = |i: usize| parts.get(i).cloned().unwrap_or(K::N);
    (at(0), at(1), at(2))
}

fn details_of(v: &Value) -> Option<Box<Details>> {
    let m = v.as_object()?;
    let mut d = Details::default();
    for (k, v) in m {
        match k.as_str() {
            "target_key" => d.target_key = Some(v.as_str().map(str::to_string).unwrap_or_else(|| py::to_str(&from_serde(v)))),
            "entries" => d.entries = Some(v.as_i64().unwrap_or(0)),
            "entry_dns" => {
                if let J::List(l) = from_serde(v) {
                    d.entry_dns = l;
                }
            }
            "index_reads" => {
                d.index_reads = Some(match from_serde(v) {
                    J::List(l) => l,
                    _ => Vec::new(),
                })
            }
            "stat_duration" => d.stat_duration = fv(Some(v)),
            "sort" => d.sort = Some(from_serde(v)),
            "sort_candidates" => d.sort_candidates = Some(from_serde(v)),
            "vlv" => d.vlv = rec_of(v),
            "referrals" => d.referrals = Some(v.as_i64().unwrap_or(0)),
            "ext_info" => d.ext_info = rec_of(v),
            "unprocessed" => d.unprocessed = Some(from_serde(v)),
            "abandoned" => d.abandoned = from_serde(v).truthy(),
            _ => {}
        }
    }
    Some(Box::new(d))
}

fn ident_of(m: &M) -> Arc<Ident> {
    let src = jv(m, "src");
    let dst = jv(m, "dst");
    Arc::new(Ident {
        conn_id: jv(m, "conn_id"), key: jv(m, "key"), transport: static_of(m.get("transport"), &TRANSPORTS, "ldap"),
        tls_protocol: jv(m, "tls_protocol"), tls_bits: jv(m, "tls_bits"), tls_cipher: jv(m, "tls_cipher"),
        tls_client_subject: jv(m, "tls_client_subject"), bind_dn: jv(m, "bind_dn"),
        bind_method: jv(m, "bind_method"), bind_mech: jv(m, "bind_mech"), haproxy_src: jv(m, "haproxy_src"),
        source: endpoint_json(&src).map(Arc::from), destination: endpoint_json(&dst).map(Arc::from), src, dst,
        parts: OnceLock::new(),
    })
}

fn conn_of(m: &M) -> Conn {
    let mut c = Conn::new(jv(m, "conn_id"), jv(m, "key"), sv(m, "first_seen"));
    c.opened = sv(m, "opened");
    c.src = jv(m, "src");
    c.dst = jv(m, "dst");
    c.fd = jv(m, "fd");
    c.transport = static_of(m.get("transport"), &TRANSPORTS, "ldap");
    c.tls_protocol = jv(m, "tls_protocol");
    c.tls_bits = jv(m, "tls_bits");
    c.tls_cipher = jv(m, "tls_cipher");
    c.tls_client_subject = jv(m, "tls_client_subject");
    c.tls_client_issuer = jv(m, "tls_client_issuer");
    c.bind_dn = jv(m, "bind_dn");
    c.bind_method = jv(m, "bind_method");
    c.bind_mech = jv(m, "bind_mech");
    c.autobind_dn = jv(m, "autobind_dn");
    if let J::List(l) = jv(m, "bind_dns") {
        c.bind_dns = l;
    }
    c.haproxy_src = jv(m, "haproxy_src");
    c.ops = iv(m, "ops");
    if let Some(Value::Object(o)) = m.get("ops_by_type") {
        c.ops_by_type = o.iter().map(|(k, v)| (SmolStr::new(k), v.as_i64().unwrap_or(0))).collect();
    }
    c.etime_total = fv(m.get("etime_total")).unwrap_or(0.0);
    c.unindexed = iv(m, "unindexed");
    c.failed_binds = iv(m, "failed_binds");
    c.last_seen = sv(m, "last_seen");
    c.close = m.get("close").and_then(rec_of).map(Box::new);
    c.bind_op = jv(m, "bind_op");
    if let Some(Value::Array(a)) = m.get("awaiting_bind") {
        c.awaiting_bind = a.iter().map(pkey_of).collect();
    }
    if let Some(Value::Array(a)) = m.get("held") {
        for h in a.iter().filter_map(|h| h.as_object()) {
            c.held.push(Held {
                req: h.get("req").and_then(rec_of).unwrap_or_default(),
                res: h.get("res").and_then(rec_of),
                status: static_of(h.get("status"), &STATUSES, COMPLETE),
                details: h.get("details").and_then(details_of),
            });
        }
    }
    c
}

/// Connection.to_state(); `opened_epoch` and `close_epoch` as Joiner computed them (`_epoch(t) or 0.0`).
fn conn_json(c: &Conn, ts: &mut Ts) -> J {
        let opened_epoch = c.opened.as_ref().map(|o| ts.epoch(o).unwrap_or(0.0));
        let close_epoch = c.close.as_ref().map(|cl| cl.gstr("t").and_then(|t| ts.epoch(t)).unwrap_or(0.0));
        let held = c
            .held
            .iter()
            .map(|h| {
                obj(vec![
                    ("req", J::Obj(h.req.clone())),
                    ("res", h.res.clone().map(J::Obj).unwrap_or(J::Null)),
                    ("status", J::s(h.status)),
                    ("details", opt_details_json(&h.details)),
                ])
            })
            .collect();
        obj(vec![
            ("conn_id", c.conn_id.clone()), ("key", c.key.clone()), ("opened", opt_s(&c.opened)),
            ("opened_epoch", opt_f(opened_epoch)), ("first_seen", opt_s(&c.first_seen)), ("src", c.src.clone()),
            ("dst", c.dst.clone()), ("fd", c.fd.clone()), ("transport", J::s(c.transport)),
            ("tls_protocol", c.tls_protocol.clone()), ("tls_bits", c.tls_bits.clone()),
            ("tls_cipher", c.tls_cipher.clone()), ("tls_client_subject", c.tls_client_subject.clone()),
            ("tls_client_issuer", c.tls_client_issuer.clone()), ("bind_dn", c.bind_dn.clone()),
            ("bind_method", c.bind_method.clone()), ("bind_mech", c.bind_mech.clone()),
            ("autobind_dn", c.autobind_dn.clone()), ("bind_dns", J::List(c.bind_dns.clone())),
            ("haproxy_src", c.haproxy_src.clone()), ("ops", J::Int(c.ops)),
            ("ops_by_type", J::Obj(Obj(c.ops_by_type.iter().map(|(k, v)| (k.clone(), J::Int(*v))).collect()))),
            ("etime_total", J::Float(c.etime_total)), ("unindexed", J::Int(c.unindexed)),
            ("failed_binds", J::Int(c.failed_binds)), ("last_seen", opt_s(&c.last_seen)),
            ("close", c.close.as_ref().map(|cl| J::Obj((**cl).clone())).unwrap_or(J::Null)),
            ("close_epoch", opt_f(close_epoch)), ("bind_op", c.bind_op.clone()),
            ("awaiting_bind", J::List(c.awaiting_bind.iter().map(pkey_json).collect())),
            ("held", J::List(held)),
        ])
}

impl Engine {

    /// `AccessPipeline.export_state()` as JSON text (see the module doc).
    pub fn export_state(&mut self) -> Result<String, String> {
        if self.nshards > 1 {
            return Err("a sharded engine has no state of its own to export".into());
        }
        let mut conns: Vec<(u64, K)> = self.conns.iter().map(|(k, (seq, _))| (*seq, k.clone())).collect();
        conns.sort_by_key(|x| x.0);
        let mut ts = std::mem::take(&mut self.ts);
        let conn_states: Vec<J> = conns.iter().map(|(_, k)| conn_json(&self.conns.get(k).unwrap().1, &mut ts)).collect();
        self.ts = ts;
        let mut ops: Vec<(u64, &PKey, &Op)> = self.pending.iter().map(|(k, (seq, op))| (*seq, k, op)).collect();
        ops.sort_by_key(|x| x.0);
        let mut idents = Obj::default();
        let mut seen: FxHashMap<i64, ()> = FxHashMap::default();
        let mut pending = Vec::with_capacity(ops.len());
        for (_, key, top) in ops {
            // the key as the request logged it (the values it was made of), else from the hash key
            let rk: PKey = (key_of(&top.req.g("conn")), key_of(&top.req.g("op")), key_of(&top.req.g("internal_id")));
            let key_j = if &rk == key {
                J::List(vec![top.req.g("conn"), top.req.g("op"), top.req.g("internal_id")])
            } else {
                pkey_json(key)
            };
            let mut chain = Vec::new();
            let mut cur = Some(top);
            while let Some(op) = cur {
                let id = ident_id(&op.ident);
                if seen.insert(id, ()).is_none() {
                    idents.0.push((SmolStr::new(id.to_string()), ident_json(&op.ident)));
                }
                chain.push(obj(vec![
                    ("req", J::Obj(op.req.clone())),
                    ("ident", J::Int(id)),
                    ("details", opt_details_json(&op.details)),
                    ("abandoned", J::Bool(op.abandoned)),
                ]));
                cur = op.prev.as_deref();
            }
            pending.push(obj(vec![("key", key_j), ("chain", J::List(chain))]));
        }
        let closing = self
            .closing
            .iter()
            .map(|(deadline, c)| {
                let (cid, key) = c.clone().unwrap_or((J::Null, J::Null));
                J::List(vec![J::Float(*deadline), cid, key])
            })
            .collect();
        let join = obj(vec![
            ("version", J::Int(1)),
            ("last_open_conn", py::int_json(self.last_open_conn).unwrap_or(J::Int(-1))),
            ("conns", J::List(conn_states)),
            ("identities", J::Obj(idents)),
            ("pending", J::List(pending)),
            ("closing", J::List(closing)),
        ]);
        let state = obj(vec![("join", join), ("service", J::Obj(self.service.clone()))]);
        let mut out = Vec::with_capacity(4096);
        write_json(&mut out, &state);
        Ok(String::from_utf8(out).expect("JSON text is UTF-8"))
    }

    /// `AccessPipeline.import_state(json.loads(text))`: empty text (or `null`, `{}`) is no state.
    pub fn import_state(&mut self, text: &str) -> Result<(), String> {
        if text.trim().is_empty() {
            return Ok(());
        }
        if self.nshards > 1 {
            return Err("a sharded engine cannot import a state".into());
        }
        let state: Value = serde_json::from_str(text).map_err(|e| format!("bad state JSON: {}", e))?;
        let state = match state {
            Value::Null => return Ok(()),
            Value::Object(m) => m,
            _ => return Err("the state is not a JSON object".into()),
        };
        if state.is_empty() {
            return Ok(());
        }
        match state.get("join") {
            Some(Value::Object(j)) if !j.is_empty() => self.import_join(j),
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(_) => return Err("the state's join is not a JSON object".into()),
        }
        if let Some(Value::Object(s)) = state.get("service") {
            let text = |k: &str| match s.get(k) {
                Some(Value::String(v)) => Some(v.clone()),
                _ => None,
            };
            self.set_server(text("version"), text("name"));
        }
        Ok(())
    }

    /// Joiner.import_state.
    fn import_join(&mut self, j: &M) {
        self.last_open_conn = match j.get("last_open_conn") {
            Some(Value::Number(n)) => n
                .as_i64()
                .map(|i| i as i128)
                .or_else(|| n.as_u64().map(|u| u as i128))
                .unwrap_or(-1),
            _ => -1,
        };
        if let Some(Value::Array(conns)) = j.get("conns") {
            for cs in conns.iter().filter_map(|c| c.as_object()) {
                let c = conn_of(cs);
                let k = key_of(&c.conn_id);
                // a dict assignment keeps an existing key's position
                let seq = match self.conns.get(&k) {
                    Some((seq, _)) => *seq,
                    None => self.next_seq(),
                };
                self.conns.insert(k, (seq, Box::new(c)));
            }
        }
        let mut idents: FxHashMap<String, Arc<Ident>> = FxHashMap::default();
        if let Some(Value::Object(ids)) = j.get("identities") {
            for (k, v) in ids {
                let empty = M::new();
                idents.insert(k.clone(), ident_of(v.as_object().unwrap_or(&empty)));
            }
        }
        if let Some(Value::Array(pending)) = j.get("pending") {
            for entry in pending.iter().filter_map(|e| e.as_object()) {
                let key = pkey_of(entry.get("key").unwrap_or(&Value::Null));
                let chain = match entry.get("chain") {
                    Some(Value::Array(a)) => a,
                    _ => continue,
                };
                let mut op: Option<Op> = None;
                for item in chain.iter().rev() {
                    let empty = M::new();
                    let item = item.as_object().unwrap_or(&empty);
                    let id = item.get("ident").map(|v| py::to_str(&from_serde(v))).unwrap_or_default();
                    let ident = match idents.get(&id) {
                        Some(i) => i.clone(),
                        None => ident_of(&empty),
                    };
                    // Python: `if item.get("details")`: an empty dict is no details
                    let details = item.get("details").and_then(details_of).filter(|_| {
                        item.get("details").and_then(|d| d.as_object()).map(|d| !d.is_empty()).unwrap_or(false)
                    });
                    op = Some(Op {
                        req: item.get("req").and_then(rec_of).unwrap_or_default(),
                        ident,
                        details,
                        abandoned: item.get("abandoned").map(|a| from_serde(a).truthy()).unwrap_or(false),
                        prev: op.map(Box::new),
                    });
                }
                if let Some(op) = op {
                    let seq = match self.pending.get(&key) {
                        Some((seq, _)) => *seq,
                        None => self.next_seq(),
                    };
                    self.pending.insert(key, (seq, op));
                }
            }
        }
        self.closing = match j.get("closing") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    let x = x.as_array().map(|v| v.as_slice()).unwrap_or(&[]);
                    let deadline = fv(x.first()).unwrap_or(f64::NAN);
                    let cid = x.get(1).map(from_serde).unwrap_or(J::Null);
                    let key = x.get(2).map(from_serde).unwrap_or(J::Null);
                    (deadline, Some((cid, key)))
                })
                .collect(),
            _ => VecDeque::new(),
        };
        // rebuild the count of pending operations of each connection
        let mut counts: FxHashMap<K, u32> = FxHashMap::default();
        for k in self.pending.keys() {
            *counts.entry(k.0.clone()).or_default() += 1;
        }
        for (k, (_, c)) in self.conns.iter_mut() {
            c.pending_ops = counts.get(k).copied().unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[03/Sep/2019:16:21:14.550918012 +0200] conn=12 fd=64 slot=64 connection from 192.168.122.1 to 192.168.122.50
[03/Sep/2019:16:21:14.551360422 +0200] conn=12 op=0 BIND dn=\"cn=DM\" method=128 version=3
[03/Sep/2019:16:21:14.551400000 +0200] conn=12 (Internal) op=0(1)(1) SRCH base=\"cn=config\" scope=0 filter=\"(cn=*)\"
[03/Sep/2019:16:21:14.551500000 +0200] conn=12 (Internal) op=0(1)(1) SRCH base=\"cn=schema\" scope=0 filter=\"(cn=*)\"
[03/Sep/2019:16:21:14.551600000 +0200] conn=12 op=1 SRCH base=\"dc=lab\" scope=2 filter=\"(uid=a)\" attrs=\"uid\"
[03/Sep/2019:16:21:14.551700000 +0200] conn=12 op=1 RESULT err=0 tag=101 nentries=1 etime=0.0000219903
[03/Sep/2019:16:21:14.562870004 +0200] conn=13 fd=65 slot=65 connection from 192.168.122.2 to 192.168.122.50
[03/Sep/2019:16:21:14.562870004 +0200] conn=13 op=-1 fd=65 closed - B1
";

    fn engine() -> Engine {
        Engine::new(true, true, Some("ldap1".into()), None, 5.0)
    }

    #[test]
    fn export_import_export_is_the_same_text() {
        let mut a = engine();
        a.feed("access", LOG.as_bytes(), 0, 0);
        let text = a.export_state().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let join = &v["join"];
        assert_eq!(join["conns"].as_array().unwrap().len(), 2);
        assert_eq!(join["pending"].as_array().unwrap().len(), 2); // the BIND, then the internal stack
        assert_eq!(join["pending"][1]["chain"].as_array().unwrap().len(), 2);
        assert_eq!(join["closing"].as_array().unwrap().len(), 1);
        assert_eq!(join["conns"][0]["held"].as_array().unwrap().len(), 1); // op=1 waits for the BIND
        // both chain entries share the identity of the connection before its BIND RESULT
        assert_eq!(join["pending"][1]["chain"][0]["ident"], join["pending"][1]["chain"][1]["ident"]);
        assert_eq!(join["pending"][0]["chain"][0]["ident"], join["pending"][1]["chain"][0]["ident"]);
        assert_eq!(join["identities"].as_object().unwrap().len(), 1);
        let mut b = engine();
        b.import_state(&text).unwrap();
        let again = b.export_state().unwrap();
        // the identity ids are pointers: equal once renumbered
        let renumber = |t: &str| {
            let ids: Vec<String> = serde_json::from_str::<Value>(t).unwrap()["join"]["identities"]
                .as_object().unwrap().keys().cloned().collect();
            ids.iter().enumerate().fold(t.to_string(), |acc, (i, id)| acc.replace(id.as_str(), &format!("ID{}", i)))
        };
        assert_eq!(renumber(&text), renumber(&again));
        // both continue alike
        a.finish();
        b.finish();
        let (da, db) = (String::from_utf8_lossy(&a.out), String::from_utf8_lossy(&b.out));
        assert!(da.lines().count() >= 5);
        assert_eq!(da, db);
    }

    #[test]
    fn no_state() {
        let fresh = engine().export_state().unwrap();
        for text in ["", " ", "null", "{}", "{\"join\": {}}"] {
            let mut e = engine();
            e.import_state(text).unwrap();
            assert_eq!(e.export_state().unwrap(), fresh);
        }
        for text in ["{", "[1]", "{\"join\": 3}"] {
            assert!(engine().import_state(text).is_err(), "{}", text);
        }
    }

    #[test]
    fn keys_back_to_values() {
        for v in [J::Null, J::Int(-3), J::s("x"), J::Float(1.5), J::Float(-0.1)] {
            let back = k_json(&key_of(&v));
            assert_eq!(json_bytes(&back), json_bytes(&v));
        }
        assert_eq!(json_bytes(&k_json(&key_of(&J::Float(2.0)))), b"2"); // 2.0 == 2 as a dict key
    }
}
