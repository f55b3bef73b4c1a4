//! A small ordered JSON value (Python dict semantics: assignment keeps a key's first position)
//! and a writer that prints what `orjson.dumps` prints.

use smol_str::SmolStr;
use std::sync::Arc;

pub type S = SmolStr;

#[derive(Clone, Debug)]
pub enum J {
    Null,
    Bool(bool),
    Int(i64),
    /// An int beyond i64 that still fits 64 bits unsigned (orjson reads and writes those).
    UInt(u64),
    Float(f64),
    Str(S),
    List(Vec<J>),
    Obj(Obj),
    /// A shared, immutable subtree (identity fragments, service, host).
    Shared(Arc<J>),
}

#[derive(Clone, Debug, Default)]
pub struct Obj(pub Vec<(S, J)>);

#[inline]
pub fn st(s: &'static str) -> S {
    SmolStr::new_static(s)
}

impl J {
    #[inline]
    pub fn s(v: &str) -> J {
        J::Str(SmolStr::new(v))
    }
    #[inline]
    pub fn resolved(&self) -> &J {
        match self {
            J::Shared(a) => a.as_ref().resolved(),
            other => other,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.resolved(), J::Null)
    }
    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self.resolved() {
            J::Null => false,
            J::Bool(b) => *b,
            J::Int(i) => *i != 0,
            J::UInt(u) => *u != 0,
            J::Float(f) => *f != 0.0,
            J::Str(s) => !s.is_empty(),
            J::List(l) => !l.is_empty(),
            J::Obj(o) => !o.0.is_empty(),
            J::Shared(_) => unreachable!(),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self.resolved() {
            J::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }
    pub fn as_obj(&self) -> Option<&Obj> {
        match self.resolved() {
            J::Obj(o) => Some(o),
            _ => None,
        }
    }
    /// Python `==` against a str.
    pub fn eq_str(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
    /// An owned (unshared) copy of an object value, for `dict(x)` copies.
    pub fn to_obj(&self) -> Obj {
        match self.resolved() {
            J::Obj(o) => o.clone(),
            _ => Obj::default(),
        }
    }
}

/// Key equality with a cheap rejection (most compared keys differ in length or first byte).
#[inline(always)]
pub fn key_eq(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    x.len() == y.len() && (x.is_empty() || (x[0] == y[0] && x[x.len() - 1] == y[y.len() - 1] && x == y))
}

impl Obj {
    pub fn with_capacity(n: usize) -> Obj {
        Obj(Vec::with_capacity(n))
    }
    #[inline]
    pub fn get(&self, k: &str) -> Option<&J> {
        self.0.iter().find(|(key, _)| key_eq(key, k)).map(|(_, v)| v)
    }
    #[inline]
    pub fn get_mut(&mut self, k: &str) -> Option<&mut J> {
        self.0.iter_mut().find(|(key, _)| key_eq(key, k)).map(|(_, v)| v)
    }
    #[inline]
    pub fn contains(&self, k: &str) -> bool {
        self.0.iter().any(|(key, _)| key_eq(key, k))
    }
    /// Python `d[k] = v`.
    #[inline]
    pub fn set(&mut self, k: S, v: J) {
        if let Some(slot) = self.get_mut(k.as_str()) {
            *slot = v;
        } else {
            self.0.push((k, v));
        }
    }
    /// Append a key known to be absent.
    #[inline]
    pub fn push(&mut self, k: &'static str, v: J) {
        self.0.push((st(k), v));
    }
    /// `d.get(k)` by reference (J::Null when absent): no clone.
    #[inline]
    pub fn r(&self, k: &str) -> &J {
        static NULL: J = J::Null;
        self.get(k).unwrap_or(&NULL)
    }
    /// `d.get(k)` returning J::Null when absent.
    #[inline]
    pub fn g(&self, k: &str) -> J {
        self.get(k).cloned().unwrap_or(J::Null)
    }
    #[inline]
    pub fn truthy(&self, k: &str) -> bool {
        self.get(k).map(|v| v.truthy()).unwrap_or(false)
    }
    #[inline]
    pub fn gstr(&self, k: &str) -> Option<&str> {
        self.get(k).and_then(|v| v.as_str())
    }
    pub fn update(&mut self, other: Obj) {
        for (k, v) in other.0 {
            self.set(k, v);
        }
    }
    /// `d.setdefault(k, {})`, returning the (now owned) object. A non-object value is left as is
    /// and a scratch object returned (Python would fail on it later; it never happens here).
    pub fn setdefault_obj(&mut self, k: &'static str) -> &mut Obj {
        let idx = match self.0.iter().position(|(key, _)| key_eq(key, k)) {
            Some(i) => i,
            None => {
                self.0.push((st(k), J::Obj(Obj::default())));
                self.0.len() - 1
            }
        };
        let slot = &mut self.0[idx].1;
        if let J::Shared(a) = slot {
            let inner = (**a).clone();
            *slot = inner;
        }
        match slot {
            J::Obj(o) => o,
            _ => {
                *slot = J::Obj(Obj::default());
                match slot {
                    J::Obj(o) => o,
                    _ => unreachable!(),
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------ writer

const HEX: &[u8; 16] = b"0123456789abcdef";

static ESC: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t
};

/// Any byte of the word that JSON must escape (< 0x20, `"`, `\\`)? Bytes >= 0x80 never are.
#[inline(always)]
fn needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    (x.wrapping_sub(ONES * 0x20) & !x & HIGH) | zero(x ^ (ONES * 0x22)) | zero(x ^ (ONES * 0x5c)) != 0
}

#[inline]
fn escape_byte(out: &mut Vec<u8>, b: u8) {
    let e = ESC[b as usize];
    if e == b'u' {
        out.extend_from_slice(b"\\u00");
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    } else {
        out.push(b'\\');
        out.push(e);
    }
}

/// A JSON string as orjson writes it (only `"`, `\\` and control characters escaped).
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let n = bytes.len();
    // most strings need no escape: one scan without branches (vectorised), then one copy
    let esc = bytes.iter().fold(false, |a, &b| a | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if esc {
        return write_str_escaped(out, s);
    }
    out.reserve(n + 2);
    // SAFETY: n + 2 bytes reserved above; the copy does not overlap (s is not in out's spare room)
    unsafe {
        let len = out.len();
        let p = out.as_mut_ptr().add(len);
        *p = b'"';
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.add(1), n);
        *p.add(n + 1) = b'"';
        out.set_len(len + n + 2);
    }
}

#[cold]
#[inline(never)]
fn write_str_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let n = bytes.len();
    out.reserve(n + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        if needs_escape(x) {
            for j in i..i + 8 {
                let b = bytes[j];
                if ESC[b as usize] != 0 {
                    out.extend_from_slice(&bytes[start..j]);
                    escape_byte(out, b);
                    start = j + 1;
                }
            }
        }
        i += 8;
    }
    for (j, &b) in bytes.iter().enumerate().skip(i) {
        if ESC[b as usize] != 0 {
            out.extend_from_slice(&bytes[start..j]);
            escape_byte(out, b);
            start = j + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Shortest round-trip float as orjson prints it (`0.00001`, `1.5e-7`, `1e+16`, `100.0`).
pub fn write_float(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let mut buf = [0u8; 24];
    let (neg, len, n) = digits_into(f, &mut buf);
    write_digits(out, neg, &buf[..len], n);
}

/// A float given by its shortest digits (value = 0.DIGITS x 10^n), as orjson prints it.
pub fn write_digits(out: &mut Vec<u8>, neg: bool, digits: &[u8], n: i32) {
    if neg {
        out.push(b'-');
    }
    let k = digits.len() as i32;
    if digits == b"0" {
        out.extend_from_slice(b"0.0");
        return;
    }
    if k <= n && n <= 16 {
        out.extend_from_slice(digits);
        for _ in 0..(n - k) {
            out.push(b'0');
        }
        out.extend_from_slice(b".0");
    } else if 0 < n && n <= 16 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -5 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-n) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        let e = n - 1;
        if e > 0 {
            out.push(b'+');
        }
        write_int(out, e as i64);
    }
}

/// `float(s)` written as orjson writes it, straight from the digits of a plain decimal
/// (`0.000091376`): a decimal of at most 15 significant digits is the shortest representation
/// of its float (distinct 15-digit decimals are distinct doubles). False: not such a decimal.
pub fn write_plain_decimal(out: &mut Vec<u8>, s: &str) -> bool {
    let b = s.as_bytes();
    let dot = match b.iter().position(|&c| c == b'.') {
        Some(d) if d > 0 && d + 1 < b.len() => d,
        _ => return false,
    };
    if !b[..dot].iter().all(|c| c.is_ascii_digit()) || !b[dot + 1..].iter().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let mut buf = [0u8; 24];
    let mut len = 0;
    let mut n = dot as i32;
    for &c in b[..dot].iter().chain(b[dot + 1..].iter()) {
        if len == 0 && c == b'0' {
            n -= 1; // a leading zero
            continue;
        }
        if len == buf.len() {
            return false;
        }
        buf[len] = c;
        len += 1;
    }
    while len > 0 && buf[len - 1] == b'0' {
        len -= 1;
    }
    if len == 0 {
        out.extend_from_slice(b"0.0");
        return true;
    }
    if len > 15 {
        return false;
    }
    write_digits(out, false, &buf[..len], n);
    true
}

/// Significant digits of the shortest round-trip representation into `buf`:
/// (negative, digit count, n) with value = 0.DIGITS x 10^n.
fn digits_into(f: f64, buf: &mut [u8; 24]) -> (bool, usize, i32) {
    let mut rb = ryu::Buffer::new();
    let s = rb.format_finite(f).as_bytes();
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (mant, exp) = match s.iter().position(|&c| c == b'e') {
        Some(i) => (&s[..i], std::str::from_utf8(&s[i + 1..]).unwrap().parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let dot = mant.iter().position(|&c| c == b'.').unwrap_or(mant.len());
    let mut len = 0;
    for &c in mant.iter() {
        if c != b'.' {
            buf[len] = c;
            len += 1;
        }
    }
    let mut n = dot as i32 + exp;
    let lead = buf[..len].iter().take_while(|&&d| d == b'0').count();
    if lead == len {
        buf[0] = b'0';
        return (neg, 1, 1);
    }
    buf.copy_within(lead..len, 0);
    len -= lead;
    n -= lead as i32;
    while len > 1 && buf[len - 1] == b'0' {
        len -= 1;
    }
    (neg, len, n)
}

/// (negative, significant digits, n) with value = 0.DIGITS x 10^n.
pub fn shortest_digits(f: f64) -> (bool, Vec<u8>, i32) {
    let mut buf = [0u8; 24];
    let (neg, len, n) = digits_into(f, &mut buf);
    (neg, buf[..len].to_vec(), n)
}

pub fn write_json(out: &mut Vec<u8>, v: &J) {
    match v {
        J::Null => out.extend_from_slice(b"null"),
        J::Bool(true) => out.extend_from_slice(b"true"),
        J::Bool(false) => out.extend_from_slice(b"false"),
        J::Int(i) => write_int(out, *i),
        J::UInt(u) => write_uint(out, *u),
        J::Float(f) => write_float(out, *f),
        J::Str(s) => write_str(out, s),
        J::List(l) => {
            out.push(b'[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, x);
            }
            out.push(b']');
        }
        J::Obj(o) => write_obj(out, o),
        J::Shared(a) => write_json(out, a),
    }
}

pub fn write_obj(out: &mut Vec<u8>, o: &Obj) {
    out.push(b'{');
    for (i, (k, x)) in o.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_json(out, x);
    }
    out.push(b'}');
}

static PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Decimal digits of `v`, written straight into `out`'s spare room (two digits per division).
#[inline]
pub fn write_uint(out: &mut Vec<u8>, mut v: u64) {
    let mut n = 1;
    let mut x = v;
    while x >= 10 {
        x /= 10;
        n += 1;
    }
    out.reserve(n);
    // SAFETY: n bytes reserved; every one of them is written below before set_len
    unsafe {
        let len = out.len();
        let base = out.as_mut_ptr().add(len);
        let mut p = n;
        while v >= 100 {
            let r = (v % 100) as usize * 2;
            v /= 100;
            p -= 2;
            *base.add(p) = PAIRS[r];
            *base.add(p + 1) = PAIRS[r + 1];
        }
        if v >= 10 {
            let r = v as usize * 2;
            *base.add(p - 2) = PAIRS[r];
            *base.add(p - 1) = PAIRS[r + 1];
        } else {
            *base.add(p - 1) = b'0' + v as u8;
        }
        out.set_len(len + n);
    }
}

#[inline]
pub fn write_int(out: &mut Vec<u8>, i: i64) {
    if i < 0 {
        out.push(b'-');
    }
    write_uint(out, i.unsigned_abs());
}

/// serde_json value (as orjson.loads would give it) -> J.
pub fn from_serde(v: &serde_json::Value) -> J {
    match v {
        serde_json::Value::Null => J::Null,
        serde_json::Value::Bool(b) => J::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::Int(i)
            } else if let Some(u) = n.as_u64() {
                J::UInt(u)
            } else {
                J::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => J::s(s),
        serde_json::Value::Array(a) => J::List(a.iter().map(from_serde).collect()),
        serde_json::Value::Object(m) => {
            J::Obj(Obj(m.iter().map(|(k, v)| (SmolStr::new(k), from_serde(v))).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_as_display() {
        let mut vals: Vec<i64> = vec![0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, i64::MAX, i64::MIN, -1, -10, -100];
        let mut p = 1i64;
        for _ in 0..18 {
            vals.extend([p - 1, p, p + 1, -p, 7 * p]);
            p *= 10;
        }
        for v in vals {
            let mut out = b"x".to_vec();
            write_int(&mut out, v);
            assert_eq!(out, format!("x{}", v).into_bytes());
        }
        for v in [0u64, 9, 10, u64::MAX, 1 << 63] {
            let mut out = Vec::new();
            write_uint(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
        }
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\"".as_bytes());
    }
}
