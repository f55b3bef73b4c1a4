//! parse.py: one access-log line (text 1.3 -> 3.x, or 3.x JSON) -> a flat record (an Obj).

use crate::json::{from_serde, st, Obj, J, S};
use crate::py;
use smol_str::SmolStr;

pub enum Parsed {
    Rec(Obj),
    Blank,
    /// Banner text, and the instance a JSON header carries besides its version.
    Header(String, Option<String>),
    Unknown,
    /// Python raised inside the parser: "parser error: <name>".
    Error(&'static str),
}

const REQUEST_VERBS: [&str; 10] = ["BIND", "SRCH", "MOD", "ADD", "DEL", "MODRDN", "CMP", "EXT", "ABANDON", "UNBIND"];
// Python iterates a frozenset for the `VERB,` error forms; only one verb can match a given word
// except prefixes (MOD / MODRDN): "MODRDN," never starts with "MOD,", so the order is irrelevant.

/// `s.find(c)` for an ASCII byte (memchr).
#[inline]
fn fb(s: &str, c: u8) -> Option<usize> {
    memchr::memchr(c, s.as_bytes())
}

#[inline]
fn js(s: &str) -> J {
    J::Str(SmolStr::new(s))
}

#[inline]
fn jint(v: Option<i64>) -> J {
    match v {
        Some(i) => J::Int(i),
        None => J::Null,
    }
}

/// A `key=value` key: the usual ones as static strings (no copy, nothing to drop), others copied.
#[inline]
fn kv_key(k: &str) -> S {
    match k {
        "err" => st("err"),
        "tag" => st("tag"),
        "nentries" => st("nentries"),
        "wtime" => st("wtime"),
        "optime" => st("optime"),
        "etime" => st("etime"),
        "wqtime" => st("wqtime"),
        "dn" => st("dn"),
        "method" => st("method"),
        "version" => st("version"),
        "mech" => st("mech"),
        "notes" => st("notes"),
        "details" => st("details"),
        "oid" => st("oid"),
        "name" => st("name"),
        "authzid" => st("authzid"),
        "msgid" => st("msgid"),
        "newrdn" => st("newrdn"),
        "newsuperior" => st("newsuperior"),
        "deleteoldrdn" => st("deleteoldrdn"),
        "attr" => st("attr"),
        "csn" => st("csn"),
        "wbusy" => st("wbusy"),
        "wqdepth" => st("wqdepth"),
        "pr_idx" => st("pr_idx"),
        "pr_cookie" => st("pr_cookie"),
        "sid" => st("sid"),
        "options" => st("options"),
        _ => SmolStr::new(k),
    }
}

/// Byte index of the quote closing a value opened just before `start`.
fn end_of_quoted(s: &str, start: usize) -> Option<usize> {
    let b = s.as_bytes();
    let n = b.len();
    let mut pos = start;
    loop {
        let q = pos + memchr::memchr(b'"', &b[pos.min(n)..])?;
        let nxt = q + 1;
        let mut k = q as isize - 1;
        while k >= start as isize && b[k as usize] == b'\\' {
            k -= 1;
        }
        if (q as isize - 1 - k) % 2 == 1 {
            pos = nxt;
            continue;
        }
        if nxt >= n || b[nxt] == b',' {
            return Some(q);
        }
        if b[nxt] == b' ' {
            if s[nxt..].starts_with(" - ") {
                return Some(q);
            }
            let eq = memchr::memchr(b'=', &b[nxt + 1..]).map(|i| i + nxt + 1);
            let sp = memchr::memchr(b' ', &b[nxt + 1..]).map(|i| i + nxt + 1);
            if let Some(eq) = eq {
                if eq > 0 && (sp.is_none() || eq < sp.unwrap()) {
                    let key = &s[nxt + 1..eq];
                    let mut any = false;
                    let mut ok = true;
                    for c in key.chars() {
                        if c == '_' || c == '-' {
                            continue;
                        }
                        any = true;
                        if !c.is_alphanumeric() {
                            ok = false;
                            break;
                        }
                    }
                    if any && ok {
                        return Some(q);
                    }
                }
            }
        }
        pos = nxt;
    }
}

/// parse_kv: (key/values, trailing free text).
pub fn parse_kv(s: &str) -> (Obj, &str) {
    let mut out = Obj::with_capacity(8);
    let b = s.as_bytes();
    let n = b.len();
    let mut pos = 0;
    while pos < n {
        if b[pos] == b' ' {
            pos += 1;
            continue;
        }
        if s[pos..].starts_with("- ") {
            return (out, &s[pos + 2..]);
        }
        if b[pos] == b',' {
            return (out, py::lstrip(&s[pos + 1..]));
        }
        let eq = memchr::memchr(b'=', &b[pos..]).map(|i| i + pos);
        let sp = memchr::memchr(b' ', &b[pos..]).map(|i| i + pos);
        let eq = match eq {
            Some(eq) if !matches!(sp, Some(sp) if sp < eq) => eq,
            _ => return (out, &s[pos..]),
        };
        let key = kv_key(&s[pos..eq]);
        let vstart = eq + 1;
        if vstart < n && b[vstart] == b'"' {
            match end_of_quoted(s, vstart + 1) {
                None => {
                    out.set(key, js(&s[vstart + 1..]));
                    out.set(st("_truncated"), js("1"));
                    return (out, "");
                }
                Some(end) => {
                    out.set(key, js(&s[vstart + 1..end]));
                    pos = end + 1;
                }
            }
        } else {
            let mut end = vstart;
            while end < n && b[end] != b' ' && !(b[end] == b',' && (end + 1 == n || b[end + 1] == b' ')) {
                end += 1;
            }
            out.set(key, js(&s[vstart..end]));
            pos = end;
        }
    }
    (out, "")
}

fn parse_search(body: &str, rec: &mut Obj) {
    if body.starts_with("dn=") {
        let (mut kv, text) = parse_kv(body);
        if pop_truncated(&mut kv) {
            rec.set(st("truncated"), J::Bool(true));
        }
        rec.set(st("base"), kv.get("dn").cloned().unwrap_or_else(|| js("")));
        if let Some(a) = kv.get("authzid") {
            if !a.eq_str("(null)") {
                rec.set(st("authzid"), a.clone());
            }
        }
        rec.set(st("error"), js(text));
        return;
    }
    let b = find_sub(body, "\" scope=");
    let b = match b {
        Some(b) if body.starts_with("base=\"") => b,
        _ => {
            let (mut kv, text) = parse_kv(body);
            let text = text.to_string();
            if pop_truncated(&mut kv) {
                rec.set(st("truncated"), J::Bool(true));
            }
            merge(rec, kv);
            if !text.is_empty() {
                rec.set(st("error"), js(&text));
            }
            return;
        }
    };
    // body[6:b]: b >= 6 unless the quote is inside `base="` itself (b == 5: empty)
    rec.set(st("base"), js(if b >= 6 { &body[6..b] } else { "" }));
    let rest = &body[b + 8..];
    let sp = fb(rest, b' ');
    let scope = py::int(match sp {
        Some(sp) => &rest[..sp],
        None => rest,
    });
    rec.set(st("scope"), jint(scope));
    let rest = match sp {
        Some(sp) => &rest[sp + 1..],
        None => "",
    };
    if !rest.starts_with("filter=\"") {
        return;
    }
    let rest = &rest[8..];
    let a = match rfind_sub(rest, "\" attrs=") {
        Some(a) => a,
        None => {
            if let Some(c) = rfind_sub(rest, "\", ") {
                rec.set(st("filter"), js(&rest[..c]));
                rec.set(st("error"), js(&rest[c + 3..]));
            } else {
                let mut rest = rest;
                if let Some(q) = rest.rfind('"') {
                    let after = &rest[q + 1..];
                    if !after.is_empty() && " attrs=".starts_with(after) {
                        rest = &rest[..q + 1];
                    }
                }
                let f = rest.strip_suffix('"').unwrap_or(rest);
                rec.set(st("filter"), js(f));
                rec.set(st("truncated"), J::Bool(true));
            }
            return;
        }
    };
    rec.set(st("filter"), js(&rest[..a]));
    let mut tail = &rest[a + 8..];
    if tail.starts_with('"') {
        match end_of_quoted(tail, 1) {
            None => {
                rec.set(st("attrs"), js(&tail[1..]));
                rec.set(st("truncated"), J::Bool(true));
                return;
            }
            Some(end) => {
                rec.set(st("attrs"), js(&tail[1..end]));
                tail = &tail[end + 1..];
            }
        }
    } else {
        let sp = fb(tail, b' ');
        let word = match sp {
            Some(sp) => &tail[..sp],
            None => tail,
        };
        if word == "ALL" {
            rec.set(st("attrs"), J::Null);
        } else {
            // Python: tail[:sp] with sp == -1 drops the last character
            let v = match sp {
                Some(sp) => &tail[..sp],
                None => py::cslice(tail, 0, Some(-1)),
            };
            rec.set(st("attrs"), js(v));
        }
        tail = match sp {
            Some(sp) => &tail[sp..],
            None => "",
        };
    }
    if !tail.is_empty() {
        let (kv, text) = parse_kv(tail);
        if kv.get("options").map(|v| v.eq_str("persistent")).unwrap_or(false) {
            rec.set(st("persistent"), J::Bool(true));
        }
        if let Some(a) = kv.get("authzid") {
            rec.set(st("authzid"), a.clone());
        }
        if kv.truthy("_truncated") {
            rec.set(st("truncated"), J::Bool(true));
        }
        if !text.is_empty() {
            rec.set(st("error"), js(text));
        }
    }
}

/// Keys of a record the line's own `key=value` pairs never overwrite (parse.py RESERVED_KEYS).
fn reserved(k: &str) -> bool {
    matches!(k, "t" | "conn" | "op" | "kind" | "type" | "internal" | "internal_id" | "nesting" | "json_key"
        | "_path" | "_off" | "kv" | "text")
}

/// parse.py `_merge`: `rec.update(kv)` without the reserved keys.
fn merge(rec: &mut Obj, kv: Obj) {
    for (k, v) in kv.0 {
        if !reserved(&k) {
            rec.set(k, v);
        }
    }
}

/// `kv.pop("_truncated", None)` truthiness.
fn pop_truncated(kv: &mut Obj) -> bool {
    match kv.0.iter().position(|(k, _)| k == "_truncated") {
        Some(i) => kv.0.remove(i).1.truthy(),
        None => false,
    }
}

fn parse_request(verb: &str, body: &str, rec: &mut Obj) {
    match verb {
        "SRCH" => parse_search(body, rec),
        "UNBIND" => {
            if !body.is_empty() {
                rec.set(st("error"), js(body.trim_start_matches([',', ' '])));
            }
        }
        "ABANDON" => {
            if let Some(after) = body.strip_prefix("targetop=") {
                let m = find_sub(body, " msgid=");
                let target = match m {
                    Some(m) if m >= 9 => &body[9..m],
                    Some(_) => "",
                    None => after,
                };
                rec.set(st("targetop"), js(target));
                if let Some(m) = m {
                    let (kv, _) = parse_kv(&body[m + 1..]);
                    merge(rec, kv);
                }
            }
        }
        _ => {
            let (mut kv, text) = parse_kv(body);
            let text = text.to_string();
            if pop_truncated(&mut kv) {
                rec.set(st("truncated"), J::Bool(true));
            }
            merge(rec, kv);
            if !text.is_empty() {
                rec.set(st("error"), js(&text));
            }
        }
    }
}

fn parse_close(body: &str, mut rec: Obj) -> Obj {
    rec.set(st("kind"), js("close"));
    let sp = fb(body, b' ');
    let fd = match sp {
        Some(sp) if sp > 3 => jint(py::int(&body[3..sp])),
        _ => J::Null,
    };
    rec.set(st("fd"), fd);
    let text = match sp {
        Some(sp) => &body[sp + 1..],
        None => body,
    };
    rec.set(st("close_text"), js(text));
    let code = match rfind_sub(text, " - ") {
        Some(last) => py::strip(&text[last + 3..]),
        None => "",
    };
    let cb = code.as_bytes();
    let mut chars = code.chars();
    let ok = code.chars().count() == 2 && {
        let c0 = chars.next().unwrap();
        let c1 = chars.next().unwrap();
        // str.isupper() on one char: an uppercase (cased) letter; str.isdigit(): a digit
        c0.is_uppercase() && c1.is_ascii_digit()
    };
    let _ = cb;
    rec.set(st("code"), if ok { js(code) } else { J::Null });
    rec
}

/// `s.find(pat)` for a short ASCII pattern (no two-way searcher to build per call).
#[inline]
pub fn find_sub(s: &str, pat: &str) -> Option<usize> {
    let (b, p) = (s.as_bytes(), pat.as_bytes());
    let mut i = 0;
    while i + p.len() <= b.len() {
        let j = i + memchr::memchr(p[0], &b[i..=b.len() - p.len()])?;
        if &b[j..j + p.len()] == p {
            return Some(j);
        }
        i = j + 1;
    }
    None
}

/// `s.rfind(pat)` for a short ASCII pattern.
#[inline]
pub fn rfind_sub(s: &str, pat: &str) -> Option<usize> {
    let (b, p) = (s.as_bytes(), pat.as_bytes());
    if p.len() > b.len() {
        return None;
    }
    let mut end = b.len() - p.len() + 1;
    while let Some(j) = memchr::memrchr(p[0], &b[..end]) {
        if &b[j..j + p.len()] == p {
            return Some(j);
        }
        end = j;
    }
    None
}

/// `line.find("] ", 1)`: where a text line's stamp ends (a short scan: no searcher to build).
#[inline]
pub fn find_close(b: &[u8]) -> Option<usize> {
    let mut i = 1;
    while let Some(j) = memchr::memchr(b']', &b[i.min(b.len())..]) {
        let at = i + j;
        if b.get(at + 1) == Some(&b' ') {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// `DD/Mon/YYYY:HH:MM:SS[.fraction] +hhmm` (parse.py _stamp_ok).
pub fn stamp_ok(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() == 36 && b[20] == b'.' && b[30] == b' ' {
        // the usual `DD/Mon/YYYY:HH:MM:SS.fffffffff +hhmm`: every byte checked in place
        // (a failed check falls through: Unicode digits are digits too)
        let d = |i: usize| b[i].is_ascii_digit();
        if b[2] == b'/' && b[6] == b'/' && b[11] == b':' && b[14] == b':' && b[17] == b':'
            && matches!(&b[3..6], b"Jan" | b"Feb" | b"Mar" | b"Apr" | b"May" | b"Jun" | b"Jul" | b"Aug" | b"Sep"
                | b"Oct" | b"Nov" | b"Dec")
            && d(0) && d(1) && d(7) && d(8) && d(9) && d(10) && d(12) && d(13) && d(15) && d(16) && d(18) && d(19)
            && b[21..30].iter().all(|c| c.is_ascii_digit())
            && (b[31] == b'+' || b[31] == b'-')
            && b[32..].iter().all(|c| c.is_ascii_digit())
        {
            return true;
        }
    }
    if !t.is_ascii() {
        return stamp_ok_chars(t);
    }
    let b = t.as_bytes();
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' || b[17] != b':' {
        return false;
    }
    const MONTHS: [&[u8]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct",
        b"Nov", b"Dec"];
    if !MONTHS.contains(&&b[3..6]) {
        return false;
    }
    for i in [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19] {
        if !b[i].is_ascii_digit() {
            return false;
        }
    }
    let mut rest = &t[20..];
    if rest.starts_with('.') {
        let sp = fb(rest, b' ');
        let frac = match sp {
            Some(sp) => &rest[1..sp],
            None => &rest[1..],
        };
        if !py::isdigit(frac) {
            return false;
        }
        rest = match sp {
            Some(sp) => &rest[sp..],
            None => "",
        };
    }
    let r = rest.as_bytes();
    rest.is_empty() || (r.len() == 6 && r[0] == b' ' && (r[1] == b'+' || r[1] == b'-') && py::isdigit(&rest[2..]))
}

/// stamp_ok for a stamp with non-ASCII characters (Python indexes characters; `isdigit` is Unicode).
fn stamp_ok_chars(t: &str) -> bool {
    let c: Vec<char> = t.chars().collect();
    if c.len() < 20 || c[2] != '/' || c[6] != '/' || c[11] != ':' || c[14] != ':' || c[17] != ':' {
        return false;
    }
    let mon: String = c[3..6].iter().collect();
    if !["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].contains(&mon.as_str()) {
        return false;
    }
    for i in [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19] {
        if !py::is_digit_char(c[i]) {
            return false;
        }
    }
    let mut rest: &[char] = &c[20..];
    if rest.first() == Some(&'.') {
        let sp = rest.iter().position(|&x| x == ' ');
        let frac = match sp {
            Some(sp) => &rest[1..sp],
            None => &rest[1..],
        };
        if frac.is_empty() || !frac.iter().all(|&x| py::is_digit_char(x)) {
            return false;
        }
        rest = match sp {
            Some(sp) => &rest[sp..],
            None => &[],
        };
    }
    rest.is_empty()
        || (rest.len() == 6 && rest[0] == ' ' && (rest[1] == '+' || rest[1] == '-')
            && rest[2..].iter().all(|&x| py::is_digit_char(x)))
}

pub fn parse_text(line: &str) -> Parsed {
    let lb = line.as_bytes();
    if lb.is_empty() || lb[0] != b'[' {
        if py::strip(line).is_empty() {
            return Parsed::Blank;
        }
        if lb[0] == b'\t' || line.starts_with("389-Directory/") {
            return Parsed::Header(py::strip(line).to_string(), None);
        }
        return Parsed::Unknown;
    }
    let close = match find_close(lb) {
        Some(i) => i,
        None => return Parsed::Unknown,
    };
    let rest = &line[close + 2..];
    if !rest.starts_with("conn=") || !stamp_ok(&line[1..close]) {
        return Parsed::Unknown;
    }
    let mut rec = Obj::with_capacity(12);
    rec.push("t", js(&line[1..close]));
    let sp = match fb(&rest[5..], b' ') {
        Some(i) => i + 5,
        None => return Parsed::Unknown,
    };
    let conn_tok = &rest[5..sp];
    let mut rest = &rest[sp + 1..];
    let mut internal = false;
    let conn;
    let ct = conn_tok.as_bytes();
    if !ct.is_empty() && ct.len() <= 18 && ct.iter().all(|b| b.is_ascii_digit()) {
        conn = ct.iter().fold(0i64, |a, &b| a * 10 + (b - b'0') as i64);
        if let Some(r) = rest.strip_prefix("(Internal) ") {
            internal = true;
            rest = r;
        }
    } else if conn_tok.starts_with("Internal") {
        internal = true;
        conn = 0;
    } else {
        return Parsed::Unknown;
    }
    rec.push("conn", J::Int(conn));
    if let Some(after) = rest.strip_prefix("op=") {
        let sp = match fb(after, b' ') {
            Some(i) => i + 3,
            None => return Parsed::Unknown,
        };
        let op_tok = &rest[3..sp];
        let body = &rest[sp + 1..];
        let op;
        if op_tok.contains('(') {
            let cleaned = op_tok.replace(')', "");
            let parts: Vec<&str> = cleaned.split('(').collect();
            op = jint(py::int(parts[0]));
            rec.push("internal_id", if parts.len() > 1 { jint(py::int(parts[1])) } else { J::Null });
            rec.push("nesting", if parts.len() > 2 { jint(py::int(parts[2])) } else { J::Null });
            internal = true;
        } else {
            op = match py::int(op_tok) {
                Some(i) => J::Int(i),
                None => return Parsed::Unknown,
            };
        }
        rec.push("op", op);
        if internal {
            rec.push("internal", J::Bool(true));
        }
        let (verb, tail) = match fb(body, b' ') {
            Some(sp) => (&body[..sp], &body[sp + 1..]),
            None => (body, ""),
        };
        if verb == "RESULT" {
            return Parsed::Rec(parse_result(tail, rec));
        }
        if REQUEST_VERBS.contains(&verb) {
            rec.push("kind", js("req"));
            rec.push("type", js(verb));
            parse_request(verb, tail, &mut rec);
            return Parsed::Rec(rec);
        }
        if verb.starts_with("UNBIND,") {
            rec.set(st("kind"), js("req"));
            rec.set(st("type"), js("UNBIND"));
            // body[8:]: "UNBIND," plus one character
            let i = py::skip_chars(body, 7, 1);
            rec.set(st("error"), js(&body[i..]));
            return Parsed::Rec(rec);
        }
        if verb.starts_with("fd=") {
            return Parsed::Rec(parse_close(body, rec));
        }
        match verb {
            "ENTRY" => {
                rec.push("kind", js("entry"));
                let (kv, _) = parse_kv(tail);
                rec.set(st("dn"), kv.get("dn").cloned().unwrap_or_else(|| js("")));
                return Parsed::Rec(rec);
            }
            "REFERRAL" => {
                rec.set(st("kind"), js("referral"));
                return Parsed::Rec(rec);
            }
            "STAT" => return Parsed::Rec(parse_stat(tail, rec)),
            "SORT" => {
                rec.set(st("kind"), js("sort"));
                let mut spec = py::rstrip(tail);
                if spec.ends_with(')') {
                    if let Some(p) = spec.rfind(" (") {
                        rec.set(st("candidates"), js(&spec[p + 2..spec.len() - 1]));
                        spec = &spec[..p];
                    }
                }
                rec.set(st("spec"), js(spec));
                return Parsed::Rec(rec);
            }
            "VLV" => {
                rec.set(st("kind"), js("vlv"));
                let parts: Vec<&str> = tail.split(' ').collect();
                rec.set(st("request"), js(parts[0]));
                if parts.len() > 1 {
                    rec.set(st("response"), js(parts[1]));
                }
                if parts.len() > 2 {
                    rec.set(st("vlv_result"), jint(py::int(parts[2].trim_matches(['(', ')']))));
                }
                return Parsed::Rec(rec);
            }
            "EXT_INFO" => {
                rec.set(st("kind"), js("ext_info"));
                let (kv, _) = parse_kv(tail);
                merge(&mut rec, kv);
                return Parsed::Rec(rec);
            }
            "UNPROCESSED" => {
                rec.set(st("kind"), js("unprocessed"));
                rec.set(st("error"), js(&tail.replacen("OPERATION - ", "", 1)));
                return Parsed::Rec(rec);
            }
            _ => {}
        }
        for cand in REQUEST_VERBS {
            if verb.len() > cand.len() && verb.starts_with(cand) && verb.as_bytes()[cand.len()] == b',' {
                rec.set(st("kind"), js("req"));
                rec.set(st("type"), js(cand));
                rec.set(st("error"), js(py::strip(&body[cand.len() + 1..])));
                return Parsed::Rec(rec);
            }
        }
        return Parsed::Unknown;
    }
    if rest.starts_with("fd=") {
        let sp = fb(rest, b' ');
        if find_sub(rest, " connection from ").is_some() {
            let sp = sp.unwrap();
            let sp2 = fb(&rest[sp + 1..], b' ').map(|i| i + sp + 1).unwrap();
            rec.set(st("kind"), js("open"));
            rec.set(st("fd"), jint(py::int(&rest[3..sp])));
            if rest[sp + 1..].starts_with("slot=") {
                rec.set(st("slot"), jint(py::int(if sp + 6 <= sp2 { &rest[sp + 6..sp2] } else { "" })));
            }
            let body = &rest[sp2 + 1..];
            rec.set(st("ssl"), J::Bool(body.starts_with("SSL ")));
            // body.find("connection from ") may be -1 (then body[15:])
            let src_dst = match find_sub(body, "connection from ") {
                Some(f) => &body[f + 16..],
                None => &body[py::skip_chars(body, 0, 15)..],
            };
            match rfind_sub(src_dst, " to ") {
                Some(t) => {
                    rec.set(st("src"), js(&src_dst[..t]));
                    rec.set(st("dst"), js(&src_dst[t + 4..]));
                }
                None => {
                    rec.set(st("src"), js(src_dst));
                    rec.set(st("dst"), J::Null);
                }
            }
            return Parsed::Rec(rec);
        }
        if find_sub(rest, " HAProxy ").is_some() {
            rec.set(st("kind"), js("haproxy"));
            // rest[sp + 9:] (sp == -1 impossible: " HAProxy " holds a space)
            let sp = sp.unwrap();
            rec.set(st("fd"), jint(py::int(&rest[3..sp])));
            let i = py::skip_chars(rest, sp, 9);
            let (mut kv, more) = parse_kv(&rest[i..]);
            if let Some(m) = more.strip_prefix("to ") {
                kv.update(parse_kv(m).0);
            }
            rec.set(st("src"), kv.g("new_address_from"));
            rec.set(st("dst"), kv.g("new_address_dest"));
            return Parsed::Rec(rec);
        }
        if find_sub(rest, " closed").is_some() || find_sub(rest, " Disconnect").is_some() {
            return Parsed::Rec(parse_close(rest, rec));
        }
        return Parsed::Unknown;
    }
    if let Some(r) = rest.strip_prefix("AUTOBIND ") {
        rec.set(st("kind"), js("autobind"));
        let (kv, _) = parse_kv(r);
        rec.set(st("dn"), kv.get("dn").cloned().unwrap_or_else(|| js("")));
        return Parsed::Rec(rec);
    }
    if rest.starts_with("TLS") || rest.starts_with("SSL") {
        return Parsed::Rec(parse_tls(rest, rec));
    }
    if rest.starts_with("Netscape Portable Runtime error ") {
        rec.set(st("kind"), js("tls"));
        rec.set(st("protocol"), J::Null);
        rec.set(st("message"), js(rest));
        return Parsed::Rec(rec);
    }
    Parsed::Unknown
}

fn parse_tls(rest: &str, mut rec: Obj) -> Obj {
    rec.set(st("kind"), js("tls"));
    let (proto, body) = match fb(rest, b' ') {
        Some(sp) => (&rest[..sp], &rest[sp + 1..]),
        None => (rest, ""),
    };
    rec.set(st("protocol"), if proto == "SSL" { J::Null } else { js(proto) });
    if let Some(dn) = body.strip_prefix("client bound as ") {
        rec.set(st("client_dn"), js(dn));
        return rec;
    }
    let mut parts = body.split("; ");
    let first = parts.next().unwrap_or("");
    let (bits, cipher) = match first.find("-bit ") {
        Some(i) => (&first[..i], &first[i + 5..]),
        None => (first, ""),
    };
    if py::isdigit(bits) {
        rec.set(st("bits"), jint(py::int(bits).ok_or(()).ok()));
        rec.set(st("cipher"), js(cipher));
    } else {
        rec.set(st("message"), js(body));
    }
    for part in parts {
        if let Some(s) = part.strip_prefix("client ") {
            rec.set(st("client_subject"), js(s));
        } else if let Some(s) = part.strip_prefix("issuer ") {
            rec.set(st("client_issuer"), js(s));
        }
    }
    rec
}

fn parse_stat(tail: &str, mut rec: Obj) -> Obj {
    rec.set(st("kind"), js("stat"));
    let body = tail.strip_prefix("read index: ").unwrap_or(tail);
    if let Some(d) = body.strip_prefix("duration ") {
        rec.set(st("duration"), js(d.split(' ').next().unwrap_or("")));
        return rec;
    }
    if body.starts_with("attribute=") {
        let sp = fb(body, b' ');
        let attribute = match sp {
            Some(sp) if sp >= 10 => &body[10..sp],
            Some(_) => "",
            None => py::cslice(body, 10, Some(-1)),
        };
        rec.set(st("attribute"), js(attribute));
        let rest = match sp {
            Some(sp) => &body[sp + 1..],
            None => body,
        };
        if rest.starts_with("key(") {
            let close = rest.find(")=");
            let key_type = match close {
                Some(c) => &rest[4..c],
                None => py::cslice(rest, 4, Some(-1)),
            };
            rec.set(st("key_type"), js(key_type));
            let kstart = match close {
                Some(c) => c + 2,
                None => 1,
            };
            let arrow = rest.rfind(" --> count ");
            let key = match arrow {
                Some(a) if a >= kstart => &rest[kstart..a],
                Some(_) => "",
                None => &rest[kstart..],
            };
            rec.set(st("key"), js(key));
            if let Some(a) = arrow {
                let cnt = rest[a + 11..].split(' ').next().unwrap_or("");
                rec.set(st("count"), jint(py::int(cnt)));
                if let Some(d) = rest[a..].find("(duration ") {
                    let d = d + a;
                    rec.set(st("key_duration"), js(rest[d + 10..].trim_end_matches(')')));
                }
            }
        }
    }
    rec
}

/// Does ` - ` occur in `b`? (a `-` with a space on each side)
#[inline]
fn has_spaced_dash(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(j) = memchr::memchr(b'-', &b[i..]) {
        let at = i + j;
        if at > 0 && b[at - 1] == b' ' && b.get(at + 1) == Some(&b' ') {
            return true;
        }
        i = at + 1;
    }
    false
}

fn parse_result(tail: &str, mut rec: Obj) -> Obj {
    rec.push("kind", js("result"));
    let tb = tail.as_bytes();
    // the common case: all simple tokens (no quote, comma or ` - `)
    let simple = memchr::memchr2(b'"', b',', tb).is_none() && !has_spaced_dash(tb);
    let (kv, text) = if simple {
        let mut kv = Obj::with_capacity(10);
        if tail.is_ascii() {
            // str.split() on ASCII: runs of \t \n \x0b \x0c \r \x1c-\x1f and space
            for p in tb.split(|&c| c == b' ' || (9..=13).contains(&c) || (0x1c..=0x1f).contains(&c)) {
                if let Some(eq) = p.iter().position(|&c| c == b'=') {
                    // ASCII: the cuts are character boundaries
                    let k = unsafe { std::str::from_utf8_unchecked(&p[..eq]) };
                    let v = unsafe { std::str::from_utf8_unchecked(&p[eq + 1..]) };
                    kv.set(kv_key(k), js(v));
                }
            }
        } else {
            for p in py::split_ws(tail) {
                if let Some(eq) = p.find('=') {
                    kv.set(kv_key(&p[..eq]), js(&p[eq + 1..]));
                }
            }
        }
        (kv, "")
    } else {
        parse_kv(tail)
    };
    let mut kv = kv;
    let mut text = text;
    if !text.is_empty() && text.ends_with('"') {
        if let Some(s) = rfind_sub(text, " sid=\"") {
            let v = if s + 6 < text.len() { &text[s + 6..text.len() - 1] } else { "" };
            kv.set(st("sid"), js(v));
            text = &text[..s];
            rec.set(st("kv"), J::Obj(kv));
            if text.ends_with("SASL bind in progress") {
                rec.set(st("sasl_in_progress"), J::Bool(true));
            }
            rec.set(st("text"), js(text));
            return rec;
        }
    }
    rec.set(st("kv"), J::Obj(kv));
    if !text.is_empty() {
        if text.ends_with("SASL bind in progress") {
            rec.set(st("sasl_in_progress"), J::Bool(true));
        }
        rec.set(st("text"), js(text));
    }
    rec
}

// ------------------------------------------------------------------------------- JSON (3.x)

fn op_type_of_json(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "BIND" => "BIND",
        "SEARCH" => "SRCH",
        "MODIFY" => "MOD",
        "ADD" => "ADD",
        "DELETE" => "DEL",
        "MODRDN" => "MODRDN",
        "COMPARE" => "CMP",
        "EXTENDED_OP" => "EXT",
        "ABANDON" => "ABANDON",
        "UNBIND" => "UNBIND",
        _ => return None,
    })
}

/// Python `int(x)` for a JSON value: Ok(None) = TypeError/ValueError, Err = an int beyond 64 bits
/// (Python keeps it, then orjson refuses to write it: a document could not be made).
fn json_int(v: &J) -> Result<Option<J>, ()> {
    let i: i128 = match v.resolved() {
        J::Int(i) => return Ok(Some(J::Int(*i))),
        J::UInt(u) => return Ok(Some(J::UInt(*u))),
        J::Bool(b) => *b as i128,
        J::Float(f) => match py::trunc128(*f) {
            Some(i) => i,
            None if f.is_finite() => return Err(()),
            None => return Ok(None),
        },
        J::Str(s) => match py::int128(s) {
            Some(i) => i,
            None if py::int_parts(s).is_some() => return Err(()), // digits beyond 128 bits
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    py::int_json(i).map(Some).ok_or(())
}

/// `" ".join(list)`: None = TypeError (a non-str item).
fn join_strs(items: &[J], sep: &str) -> Option<String> {
    let mut out = String::new();
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(x.as_str()?);
    }
    Some(out)
}

pub fn parse_json(line: &str) -> Parsed {
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(_) => return Parsed::Unknown,
    };
    let obj = match from_serde(&value) {
        J::Obj(o) => o,
        _ => return Parsed::Unknown,
    };
    drop(value);
    if let Some(h) = obj.get("header") {
        if let Some(ho) = h.as_obj() {
            let v = ho.g("version");
            let v = if v.truthy() { v } else { ho.g("instance") };
            let inst = ho.g("instance");
            let inst = if inst.truthy() { Some(py::to_str(&inst)) } else { None };
            return Parsed::Header(if v.truthy() { py::to_str(&v) } else { String::new() }, inst);
        }
        return Parsed::Header(py::to_str(h), None);
    }
    let operation = match obj.get("operation").and_then(|v| v.as_str()) {
        Some(o) => o.to_string(),
        None => return Parsed::Unknown,
    };
    let t = match obj.get("local_time").and_then(|v| v.as_str()) {
        Some(t) => SmolStr::new(t),
        None => return Parsed::Unknown,
    };
    let g = |k: &str| obj.g(k);
    let mut rec = Obj::with_capacity(16);
    rec.push("t", J::Str(t));
    let conn = g("conn_id");
    if obj.truthy("internal_op") {
        rec.push("internal", J::Bool(true));
        rec.push("internal_id", g("op_internal_id"));
        rec.push("nesting", g("op_internal_nested_count"));
    }
    let c = if !conn.is_null() && !conn.eq_str("Internal") {
        match json_int(&conn) {
            Ok(c) => c.unwrap_or(J::Int(0)),
            Err(()) => return Parsed::Error("OverflowError"),
        }
    } else {
        J::Int(0)
    };
    rec.set(st("conn"), c);
    if let Some(k) = obj.get("key") {
        rec.set(st("json_key"), k.clone());
    }
    if let Some(op) = obj.get("op_id") {
        rec.set(st("op"), op.clone());
    }
    let set = |rec: &mut Obj, k: &'static str, v: J| rec.set(st(k), v);
    match operation.as_str() {
        "CONNECTION" => {
            set(&mut rec, "kind", js("open"));
            set(&mut rec, "fd", g("fd"));
            set(&mut rec, "slot", g("slot"));
            set(&mut rec, "ssl", J::Bool(obj.truthy("tls")));
            set(&mut rec, "src", g("client_ip"));
            set(&mut rec, "dst", g("server_ip"));
            return Parsed::Rec(rec);
        }
        "DISCONNECT" => {
            let reason = g("close_reason");
            let reason_s: String = if reason.truthy() {
                match reason.as_str() {
                    Some(s) => s.to_string(),
                    None => return Parsed::Error("TypeError"),
                }
            } else {
                String::new()
            };
            let code = if reason_s.contains(" - ") {
                let last = reason_s.rsplit(" - ").next().unwrap_or("");
                let c = py::strip(last);
                if !c.is_empty() && c.chars().count() == 2 {
                    js(c)
                } else {
                    J::Null
                }
            } else {
                J::Null
            };
            let mut pieces = Vec::new();
            for x in [g("close_error"), if reason.truthy() { js(&reason_s) } else { J::Null }] {
                if x.truthy() {
                    match x.as_str() {
                        Some(s) => pieces.push(s.to_string()),
                        None => return Parsed::Error("TypeError"),
                    }
                }
            }
            set(&mut rec, "kind", js("close"));
            set(&mut rec, "fd", g("fd"));
            set(&mut rec, "code", code);
            set(&mut rec, "close_text", js(&pieces.join(" - ")));
            if !rec.contains("op") {
                rec.push("op", J::Int(-1));
            }
            return Parsed::Rec(rec);
        }
        "AUTOBIND" => {
            set(&mut rec, "kind", js("autobind"));
            set(&mut rec, "dn", obj.get("bind_dn").cloned().unwrap_or_else(|| js("")));
            return Parsed::Rec(rec);
        }
        "TLS_INFO" | "TLS_CLIENT_INFO" => {
            set(&mut rec, "kind", js("tls"));
            set(&mut rec, "protocol", g("tls_version"));
            let ks = g("keysize");
            if !ks.is_null() {
                set(&mut rec, "bits", jint(py::int(&py::to_str(&ks))));
            }
            if obj.truthy("cipher") {
                set(&mut rec, "cipher", g("cipher"));
            }
            if obj.truthy("client_dn") {
                set(&mut rec, "client_dn", g("client_dn"));
            }
            if obj.truthy("subject") {
                set(&mut rec, "client_subject", g("subject"));
            }
            if obj.truthy("issuer") {
                set(&mut rec, "client_issuer", g("issuer"));
            }
            if obj.truthy("err_msg") {
                set(&mut rec, "message", g("err_msg"));
            }
            return Parsed::Rec(rec);
        }
        "HAPROXY" => {
            set(&mut rec, "kind", js("haproxy"));
            set(&mut rec, "src", g("haproxy_ip"));
            set(&mut rec, "dst", g("haproxy_destip"));
            return Parsed::Rec(rec);
        }
        _ => {}
    }
    if !rec.contains("op") {
        return Parsed::Unknown;
    }
    if operation == "RESULT" {
        let mut kv = Obj::with_capacity(12);
        for key in ["err", "tag", "nentries", "wtime", "optime", "etime", "wqtime", "writetime", "pr_idx",
            "pr_cookie", "csn", "sid", "wqdepth"] {
            if let Some(v) = obj.get(key) {
                kv.push(key, js(&py::to_str(v)));
            }
        }
        if let Some(wb) = obj.get("wbusy") {
            let wmax = obj.get("wmax").map(py::to_str).unwrap_or_default();
            kv.push("wbusy", js(&format!("{}/{}", py::to_str(wb), wmax)));
        }
        if let Some(dn) = obj.get("bind_dn") {
            kv.push("dn", dn.clone());
        }
        if let Some(J::List(notes)) = obj.get("notes") {
            let mut letters = Vec::new();
            for n in notes {
                if let Some(o) = n.as_obj() {
                    if let Some(note) = o.get("note") {
                        if note.truthy() {
                            letters.push(note.clone());
                        }
                    }
                }
            }
            let letters = match join_strs(&letters, ",") {
                Some(s) => s,
                None => return Parsed::Error("TypeError"),
            };
            kv.push("notes", js(&letters));
            let mut descs = Vec::new();
            for n in notes {
                if let Some(o) = n.as_obj() {
                    descs.push(o.get("description").cloned().unwrap_or_else(|| js("")));
                }
            }
            let details = match join_strs(&descs, ",") {
                Some(s) => s,
                None => return Parsed::Error("TypeError"),
            };
            kv.push("details", js(&details));
        }
        set(&mut rec, "kind", js("result"));
        set(&mut rec, "kv", J::Obj(kv));
        if let Some(msg) = obj.gstr("msg") {
            if !py::strip(msg).is_empty() {
                let m = match msg.strip_prefix(" - ") {
                    Some(r) => r,
                    None => py::strip(msg),
                };
                if m.ends_with("SASL bind in progress") {
                    set(&mut rec, "sasl_in_progress", J::Bool(true));
                }
                set(&mut rec, "text", js(m));
            }
        }
        return Parsed::Rec(rec);
    }
    if let Some(verb) = op_type_of_json(&operation) {
        set(&mut rec, "kind", js("req"));
        set(&mut rec, "type", js(verb));
        let get_or = |k: &str, d: &str| obj.get(k).cloned().unwrap_or_else(|| js(d));
        match verb {
            "SRCH" => {
                set(&mut rec, "base", get_or("base_dn", ""));
                set(&mut rec, "scope", g("scope"));
                set(&mut rec, "filter", get_or("filter", ""));
                let attrs = match obj.get("attrs") {
                    Some(J::List(l)) if !(l.len() == 1 && l[0].eq_str("ALL")) => match join_strs(l, " ") {
                        Some(s) => js(&s),
                        None => return Parsed::Error("TypeError"),
                    },
                    _ => J::Null,
                };
                set(&mut rec, "attrs", attrs);
                if obj.truthy("psearch") {
                    set(&mut rec, "persistent", J::Bool(true));
                }
            }
            "BIND" => {
                set(&mut rec, "dn", get_or("bind_dn", ""));
                set(&mut rec, "method", js(&py::to_str(&get_or("method", ""))));
                set(&mut rec, "version", js(&py::to_str(&get_or("version", ""))));
                if obj.truthy("mech") {
                    set(&mut rec, "mech", g("mech"));
                }
            }
            "ADD" | "MOD" | "DEL" | "MODRDN" | "CMP" => {
                set(&mut rec, "dn", get_or("target_dn", ""));
                if verb == "MODRDN" {
                    set(&mut rec, "newrdn", get_or("newrdn", ""));
                    let ns = g("newsup");
                    set(&mut rec, "newsuperior", if ns.truthy() { ns } else { js("(null)") });
                }
                if verb == "CMP" {
                    set(&mut rec, "attr", get_or("cmp_attr", ""));
                }
            }
            "EXT" => {
                set(&mut rec, "oid", get_or("oid", ""));
                if obj.truthy("name") || obj.truthy("oid_name") {
                    let n = if obj.truthy("name") { g("name") } else { g("oid_name") };
                    set(&mut rec, "name", n);
                }
            }
            "ABANDON" => {
                set(&mut rec, "targetop", js(&py::to_str(&get_or("target_op", ""))));
                for key in ["msgid", "nentries", "etime", "sid"] {
                    if let Some(v) = obj.get(key) {
                        rec.set(SmolStr::new_static(key), js(&py::to_str(v)));
                    }
                }
            }
            _ => {}
        }
        if obj.truthy("authzid") {
            set(&mut rec, "authzid", g("authzid"));
        }
        return Parsed::Rec(rec);
    }
    let kind = |rec: &mut Obj, k: &'static str| rec.set(st("kind"), js(k));
    match operation.as_str() {
        "ENTRY" => {
            kind(&mut rec, "entry");
            set(&mut rec, "dn", obj.get("target_dn").cloned().unwrap_or_else(|| js("")));
        }
        "REFERRAL" => kind(&mut rec, "referral"),
        "SORT" => {
            kind(&mut rec, "sort");
            let spec = match obj.get("sort_attrs") {
                Some(J::List(l)) => match join_strs(l, " ") {
                    Some(s) => s,
                    None => return Parsed::Error("TypeError"),
                },
                Some(other) if other.truthy() => py::to_str(other),
                _ => String::new(),
            };
            let mut spec: &str = spec.strip_prefix("SORT ").unwrap_or(&spec);
            spec = py::strip(spec);
            if spec.ends_with(')') {
                if let Some(p) = spec.rfind(" (") {
                    set(&mut rec, "candidates", js(&spec[p + 2..spec.len() - 1]));
                    spec = &spec[..p];
                }
            }
            let spec = spec.to_string();
            set(&mut rec, "spec", js(&spec));
        }
        "VLV" => {
            kind(&mut rec, "vlv");
            let f = |o: &Obj, k: &str| py::to_str(&o.g(k));
            if let Some(req) = obj.get("vlv_request").and_then(|v| v.as_obj()) {
                let head = format!("{}:{}", f(req, "request_before_count"), f(req, "request_after_count"));
                let v = if !req.g("request_value").is_null() {
                    format!("{}:{}", head, f(req, "request_value"))
                } else {
                    format!("{}:{}:{}", head, f(req, "request_index"), f(req, "request_content_count"))
                };
                set(&mut rec, "request", js(&v));
            }
            if let Some(res) = obj.get("vlv_response").and_then(|v| v.as_obj()) {
                let v = format!("{}:{}", f(res, "response_target_position"), f(res, "response_content_count"));
                set(&mut rec, "response", js(&v));
                let r = res.g("response_result");
                if matches!(r, J::Int(_) | J::UInt(_) | J::Bool(_)) {
                    set(&mut rec, "vlv_result", r);
                }
            }
        }
        "STAT" => {
            kind(&mut rec, "stat");
            if let Some(e) = obj.get("stat_etime") {
                set(&mut rec, "duration", js(&py::to_str(e)));
            } else {
                set(&mut rec, "attribute", g("stat_attr"));
                set(&mut rec, "key_type", g("stat_key"));
                set(&mut rec, "key", g("stat_key_value"));
                set(&mut rec, "count", g("stat_count"));
            }
        }
        "EXTENDED_OP_INFO" => {
            if let Some(i) = rec.0.iter().position(|(k, _)| k == "json_key") {
                rec.0.remove(i);
            }
            kind(&mut rec, "ext_info");
            set(&mut rec, "name", g("name"));
            set(&mut rec, "target_dn", g("target_dn"));
            set(&mut rec, "bind_dn", g("bind_dn"));
            set(&mut rec, "msg", g("msg"));
            let err = g("err");
            set(&mut rec, "rc", if err.is_null() { J::Null } else { js(&py::to_str(&err)) });
        }
        "SRCH" | "MOD" | "DEL" | "CMP" | "EXT" | "BIND" | "ADD" | "MODRDN" | "ABANDON" | "UNBIND" => {
            kind(&mut rec, "req");
            set(&mut rec, "type", js(&operation));
            let m = g("msg");
            set(&mut rec, "error", if m.truthy() { m } else { js("") });
            let td = g("target_dn");
            let td = if td.truthy() { td } else { js("") };
            set(&mut rec, if operation == "SRCH" { "base" } else { "dn" }, td);
            if obj.truthy("authzid") {
                set(&mut rec, "authzid", g("authzid"));
            }
        }
        "ERROR" => {
            kind(&mut rec, "unprocessed");
            let m = g("msg");
            let mut error = if m.truthy() { py::to_str(&m) } else { String::new() };
            if obj.contains("local_ssf") && !error.contains("ssf=") {
                let ssf: Vec<String> = ["local_ssf", "sasl_ssf", "ssl_ssf"]
                    .iter()
                    .map(|k| format!("{}={}", k, py::to_str(&g(k))))
                    .collect();
                error = format!("{} ({})", if error.is_empty() { "Insufficient SSF" } else { &error }, ssf.join(" "));
                set(&mut rec, "error", js(&error));
            } else {
                set(&mut rec, "error", if m.truthy() { m } else { js("") });
            }
        }
        _ => return Parsed::Unknown,
    }
    Parsed::Rec(rec)
}

pub fn parse_line(line: &str) -> Parsed {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.as_bytes().first() == Some(&b'{') {
        parse_json(line)
    } else {
        parse_text(line)
    }
}

#[allow(dead_code)]
pub fn key_str(k: &S) -> &str {
    k.as_str()
}
