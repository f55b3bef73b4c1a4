//! Python string and number semantics the reference implementation relies on.

use crate::json::{shortest_digits, Obj, J};
use crate::unidigits::{DECIMAL, DIGIT};

fn in_table(c: char) -> Option<u8> {
    let cp = c as u32;
    let i = DECIMAL.partition_point(|r| r.1 < cp);
    match DECIMAL.get(i) {
        Some(&(a, _, v)) if a <= cp => Some(v + (cp - a) as u8),
        _ => None,
    }
}

/// A non-ASCII number turned into ASCII the way int()/float() read it (decimal digits -> 0-9).
pub fn ascii_number(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else if let Some(v) = in_table(c) {
            out.push((b'0' + v) as char);
        } else {
            return None;
        }
    }
    Some(out)
}

#[inline]
pub fn is_digit_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    let cp = c as u32;
    let i = DIGIT.partition_point(|r| r.1 < cp);
    matches!(DIGIT.get(i), Some(&(a, _)) if a <= cp)
}

/// `str.isspace()` for one character.
#[inline]
pub fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}'
        | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

#[inline]
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}
#[inline]
pub fn lstrip(s: &str) -> &str {
    s.trim_start_matches(is_space)
}
#[inline]
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// `str.split()` (runs of whitespace, no empty parts).
pub fn split_ws(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|p| !p.is_empty())
}

/// `str.isdigit()` (Unicode: also `²`, `٣`, ...).
#[inline]
pub fn isdigit(s: &str) -> bool {
    // one pass: an ASCII non-digit decides; a non-ASCII byte sends the whole string to the table
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    for &c in b {
        if !c.is_ascii_digit() {
            return c >= 0x80 && s.chars().all(is_digit_char);
        }
    }
    true
}

/// `str.isalnum()`.
pub fn isalnum(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric())
}

/// Digits with single `_` between digits (the body of Python's int()/float() literals).
fn strip_underscores(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !s.contains('_') {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let prev_ok = i > 0 && b[i - 1].is_ascii_digit();
            let next_ok = i + 1 < b.len() && b[i + 1].is_ascii_digit();
            if !prev_ok || !next_ok {
                return None;
            }
        }
    }
    Some(std::borrow::Cow::Owned(s.replace('_', "")))
}

/// The whitespace int() and float() ignore around a number: unlike str.strip(), not \x1c-\x1f.
#[inline]
fn num_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c != '\x1c' && c != '\x1d' && c != '\x1e' && c != '\x1f' && is_space(c))
}

/// The sign and ASCII digits `int(s)` reads from a str (None = ValueError).
pub fn int_parts(s: &str) -> Option<(bool, std::borrow::Cow<'_, str>)> {
    let t = num_strip(s);
    if !t.is_ascii() {
        let a = ascii_number(t)?;
        let (neg, body) = int_parts(&a)?;
        return Some((neg, std::borrow::Cow::Owned(body.into_owned())));
    }
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let body = strip_underscores(body)?;
    if !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((neg, body))
}

/// `int(s)` for a str: surrounding whitespace, a sign, digits with `_`. None = ValueError
/// (or a value beyond 64 bits).
pub fn int(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 18 && b.iter().all(|c| c.is_ascii_digit()) {
        return Some(b.iter().fold(0i64, |a, &c| a * 10 + (c - b'0') as i64)); // the common case
    }
    i64::try_from(int128(s)?).ok()
}

/// `int(s)` as a 128-bit value (None = ValueError, or beyond 128 bits).
pub fn int128(s: &str) -> Option<i128> {
    let (neg, body) = int_parts(s)?;
    let v: i128 = body.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// `float(int(s))`: any number of digits, correctly rounded (None = ValueError, or an
/// OverflowError beyond the float range).
pub fn int_as_float(s: &str) -> Option<f64> {
    let (neg, body) = int_parts(s)?;
    let v: f64 = body.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// `int(f)` of a finite float (truncation), exactly, when it fits 128 bits.
pub fn trunc128(f: f64) -> Option<i128> {
    if !f.is_finite() || f.abs() >= 1.7e38 {
        return None;
    }
    Some(f.trunc() as i128)
}

/// `str(int(f))` of a finite float, exact at any magnitude (Python ints have no limit).
pub fn float_int_str(f: f64) -> String {
    if let Some(i) = trunc128(f) {
        return i.to_string();
    }
    if !f.is_finite() {
        return if f.is_nan() { "nan".into() } else { "inf".into() };
    }
    // |f| >= 1.7e38 is an integer: mantissa * 2^exp, printed in base 1e9 limbs
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mant = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let mut limbs: Vec<u64> = vec![mant % 1_000_000_000, (mant / 1_000_000_000) % 1_000_000_000,
                                   mant / 1_000_000_000_000_000_000];
    for _ in 0..exp {
        let mut carry = 0u64;
        for l in limbs.iter_mut() {
            let v = *l * 2 + carry;
            *l = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    while limbs.len() > 1 && *limbs.last().unwrap() == 0 {
        limbs.pop();
    }
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    out.push_str(&limbs.last().unwrap().to_string());
    for l in limbs.iter().rev().skip(1) {
        out.push_str(&format!("{:09}", l));
    }
    out
}

/// Python's exact comparison of a float with an int (None: NaN).
pub fn cmp_float_int(f: f64, i: i128) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering::*;
    if f.is_nan() {
        return None;
    }
    if f >= 1.7e38 {
        return Some(Greater);
    }
    if f <= -1.7e38 {
        return Some(Less);
    }
    let fl = f.floor();
    let fi = fl as i128;
    Some(match fi.cmp(&i) {
        Equal if f > fl => Greater,
        o => o,
    })
}

/// Python `f >= i` for a float and an int (exact, no rounding of the int).
pub fn float_ge_int(f: f64, i: i128) -> bool {
    if i.unsigned_abs() <= 1 << 53 {
        // the int is exactly a double: the float comparison is exact (NaN: false, as in Python)
        return f >= i as i64 as f64;
    }
    matches!(cmp_float_int(f, i), Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal))
}

/// Python `a > b` for two numbers (exact between ints and floats).
pub fn num_gt(a: Num, b: Num) -> bool {
    use std::cmp::Ordering::Greater;
    match (a, b) {
        (Num::I(x), Num::I(y)) => x > y,
        (Num::F(x), Num::F(y)) => x > y,
        (Num::F(x), Num::I(y)) => cmp_float_int(x, y) == Some(Greater),
        (Num::I(x), Num::F(y)) => cmp_float_int(y, x) == Some(std::cmp::Ordering::Less),
    }
}

#[derive(Clone, Copy)]
pub enum Num {
    I(i128),
    F(f64),
}

/// A JSON value as a Python number (bool is an int), or None.
pub fn num_of(v: &J) -> Option<Num> {
    match v.resolved() {
        J::Int(i) => Some(Num::I(*i as i128)),
        J::UInt(u) => Some(Num::I(*u as i128)),
        J::Bool(b) => Some(Num::I(*b as i128)),
        J::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

/// A Python int as the JSON value orjson writes (None: beyond 64 bits, orjson raises).
pub fn int_json(i: i128) -> Option<J> {
    if let Ok(v) = i64::try_from(i) {
        Some(J::Int(v))
    } else {
        u64::try_from(i).ok().map(J::UInt)
    }
}

/// `float(s)` for a str.
pub fn float(s: &str) -> Option<f64> {
    // the usual timing value: digits and one dot (no sign, exponent, `_` or spaces), read in
    // the same pass that checks it
    let b = s.as_bytes();
    if !b.is_empty() && b.len() < 40 && b[0] != b'.' && b[b.len() - 1] != b'.' {
        let mut m = 0u64; // meaningful only for at most 19 digits
        let mut k = 0usize;
        let mut dots = 0usize;
        let mut plain = true;
        for &c in b {
            let d = c.wrapping_sub(b'0');
            if d < 10 {
                m = m.wrapping_mul(10).wrapping_add(d as u64);
                k += dots;
            } else if c == b'.' {
                dots += 1;
            } else {
                plain = false;
                break;
            }
        }
        if plain && dots <= 1 {
            // Clinger's fast path: digits m <= 2^53 and 10^k <= 10^22 are exact doubles, and one
            // division rounds m / 10^k correctly (what parse gives)
            if b.len() <= 19 && m <= 1 << 53 && k <= 22 {
                const POW10: [f64; 23] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
                    1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
                return Some(m as f64 / POW10[k]);
            }
            return s.parse::<f64>().ok();
        }
    }
    let t = num_strip(s);
    if !t.is_ascii() {
        return float(&ascii_number(t)?);
    }
    if t.is_empty() {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if lower.len() - body.len() > 1 {
        return None;
    }
    if matches!(body, "inf" | "infinity" | "nan") {
        return lower.parse::<f64>().ok();
    }
    if !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'_' | b'+' | b'-')) {
        return None;
    }
    let cleaned = strip_underscores(&lower)?;
    cleaned.parse::<f64>().ok()
}

/// `repr(float)` / `str(float)`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let (neg, digits, n) = shortest_digits(f);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let d = std::str::from_utf8(&digits).unwrap();
    if d == "0" {
        out.push_str("0.0");
        return out;
    }
    let k = d.len() as i32;
    let e = n - 1; // scientific exponent
    if (-4..16).contains(&e) {
        if n <= 0 {
            out.push_str("0.");
            for _ in 0..(-n) {
                out.push('0');
            }
            out.push_str(d);
        } else if n >= k {
            out.push_str(d);
            for _ in 0..(n - k) {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&d[..n as usize]);
            out.push('.');
            out.push_str(&d[n as usize..]);
        }
    } else {
        out.push_str(&d[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&d[1..]);
        }
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let a = e.abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    }
    out
}

fn repr_str(s: &str, out: &mut String) {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(q);
}

fn repr_into(v: &J, out: &mut String) {
    match v.resolved() {
        J::Str(s) => repr_str(s, out),
        J::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(x, out);
            }
            out.push(']');
        }
        J::Obj(o) => repr_obj(o, out),
        other => out.push_str(&to_str(other)),
    }
}

fn repr_obj(o: &Obj, out: &mut String) {
    out.push('{');
    for (i, (k, x)) in o.0.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        repr_str(k, out);
        out.push_str(": ");
        repr_into(x, out);
    }
    out.push('}');
}

/// `str(value)` / f-string formatting.
pub fn to_str(v: &J) -> String {
    match v.resolved() {
        J::Null => "None".into(),
        J::Bool(true) => "True".into(),
        J::Bool(false) => "False".into(),
        J::Int(i) => i.to_string(),
        J::UInt(u) => u.to_string(),
        J::Float(f) => float_repr(*f),
        J::Str(s) => s.to_string(),
        other => {
            let mut out = String::new();
            repr_into(other, &mut out);
            out
        }
    }
}

/// Python `round(x, 9)` (correctly rounded through the decimal string).
pub fn round9(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{:.9}", x).parse().unwrap_or(x)
}

/// Char-indexed slice `s[start:end]` with Python clamping; end None = to the end.
pub fn cslice(s: &str, start: isize, end: Option<isize>) -> &str {
    let n = s.chars().count() as isize;
    let norm = |i: isize| -> usize {
        let i = if i < 0 { (n + i).max(0) } else { i.min(n) };
        i as usize
    };
    let a = norm(start);
    let b = end.map(norm).unwrap_or(n as usize);
    if a >= b {
        return "";
    }
    let mut it = s.char_indices().map(|(i, _)| i).chain(std::iter::once(s.len()));
    let ba = it.clone().nth(a).unwrap_or(s.len());
    let bb = it.nth(b).unwrap_or(s.len());
    &s[ba..bb]
}

/// Byte index after skipping `n` chars from byte index `from` (Python `s[i + n:]` where the
/// characters skipped may not be ASCII).
pub fn skip_chars(s: &str, from: usize, n: usize) -> usize {
    let mut idx = from;
    let mut left = n;
    let bytes = s.as_bytes();
    while left > 0 && idx < s.len() {
        idx += 1;
        while idx < s.len() && (bytes[idx] & 0xC0) == 0x80 {
            idx += 1;
        }
        left -= 1;
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_read_as_parse_reads_them() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..300_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = format!("{}", x % 10u64.pow((i % 19) as u32 + 1));
            let cut = (x >> 40) as usize % (digits.len() + 1);
            let s = if cut == 0 || cut == digits.len() {
                digits.clone()
            } else {
                format!("{}.{}", &digits[..cut], &digits[cut..])
            };
            let z = format!("0.{:0>9}", x % 1_000_000_000);
            for v in [s.as_str(), z.as_str()] {
                let want: f64 = v.parse().unwrap();
                assert_eq!(float(v).map(f64::to_bits), Some(want.to_bits()), "{}", v);
            }
        }
        for v in ["9007199254740993", "9007199254740993.0", "0.9007199254740993", "1234567890123456789", "0.0", "00"] {
            assert_eq!(float(v).map(f64::to_bits), Some(v.parse::<f64>().unwrap().to_bits()), "{}", v);
        }
        assert!(isdigit("0123") && !isdigit("") && !isdigit("12a") && isdigit("1\u{b2}") && !isdigit("\u{b2}x"));
    }
}
