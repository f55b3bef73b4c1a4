//! timestamps.py: TimestampConverter (cached per second) and parse_seconds.

use crate::py;
use rustc_hash::FxHashMap;
use smol_str::SmolStr;

/// timestamps.BadTimestamp
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadTimestamp;

#[derive(Clone)]
pub struct Entry {
    pub epoch: i128,
    /// `epoch` as a float (Python's `float(second)`)
    pub sec_f: f64,
    pub iso: SmolStr,
    pub iso_tz: SmolStr,
}

/// An ISO-8601 stamp as documents carry it: inline (no allocation, no reference count) when it
/// has the usual length.
#[derive(Clone)]
pub enum Iso {
    Inline(u8, [u8; 40]),
    Heap(SmolStr),
}

impl Iso {
    fn new(s: &str) -> Iso {
        if s.len() <= 40 {
            let mut buf = [0u8; 40];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            Iso::Inline(s.len() as u8, buf)
        } else {
            Iso::Heap(SmolStr::new(s))
        }
    }
    #[inline]
    pub fn as_str(&self) -> &str {
        match self {
            // SAFETY: only ever built from valid UTF-8 (a &str, or an ISO stamp, its zone and ASCII
            // fraction digits: see `new` and `iso_value`)
            Iso::Inline(n, buf) => unsafe { std::str::from_utf8_unchecked(&buf[..*n as usize]) },
            Iso::Heap(s) => s,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

impl std::ops::Deref for Iso {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

#[derive(Default)]
pub struct Ts {
    cache: FxHashMap<String, Entry>,
    last_key: String,
    /// how much of `last_key` is the date (the fast path below needs a 20-byte date)
    last_date_len: usize,
    last: Option<Entry>,
    key_buf: String,
    iso_cache: FxHashMap<IsoKey, Iso>,
    iso_last_key: Option<IsoKey>,
    iso_last: Option<Iso>,
}

/// A key of the ISO cache (`raw[:dot + 4] + raw[sp:]`), inline when short.
#[derive(Clone, PartialEq, Eq, Hash)]
enum IsoKey {
    Inline(u8, [u8; 46]),
    Heap(Box<str>),
}

impl IsoKey {
    fn new(head: &str, tail: &str) -> IsoKey {
        let n = head.len() + tail.len();
        if n <= 46 {
            let mut buf = [0u8; 46];
            buf[..head.len()].copy_from_slice(head.as_bytes());
            buf[head.len()..n].copy_from_slice(tail.as_bytes());
            IsoKey::Inline(n as u8, buf)
        } else {
            IsoKey::Heap(format!("{}{}", head, tail).into_boxed_str())
        }
    }
    fn is(&self, head: &str, tail: &str) -> bool {
        let k: &[u8] = match self {
            IsoKey::Inline(n, buf) => &buf[..*n as usize],
            IsoKey::Heap(s) => s.as_bytes(),
        };
        k.len() == head.len() + tail.len() && k[..head.len()] == *head.as_bytes() && k[head.len()..] == *tail.as_bytes()
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn second(date: &str, tz: &str) -> Option<Entry> {
    // Python ints have no limit: 128 bits hold every stamp but a hand-made hour of 30+ digits
    let (y, month, d, h, mi, s);
    if date.contains('/') {
        let mut it = date.splitn(3, '/');
        let day = it.next()?;
        let mon = it.next()?;
        let rest = it.next()?;
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() != 4 {
            return None;
        }
        month = MONTHS.iter().position(|x| *x == mon)? as i128 + 1;
        y = py::int128(parts[0])?;
        d = py::int128(day)?;
        h = py::int128(parts[1])?;
        mi = py::int128(parts[2])?;
        s = py::int128(parts[3])?;
    } else {
        let p: Vec<&str> = date.split('T').collect();
        if p.len() != 2 {
            return None;
        }
        let ymd: Vec<&str> = p[0].split('-').collect();
        let hms: Vec<&str> = p[1].split(':').collect();
        if ymd.len() != 3 || hms.len() != 3 {
            return None;
        }
        month = py::int128(ymd[1])?;
        y = py::int128(ymd[0])?;
        d = py::int128(ymd[2])?;
        h = py::int128(hms[0])?;
        mi = py::int128(hms[1])?;
        s = py::int128(hms[2])?;
    }
    // no zone: UTC ("Z"); `tz[1:3]`/`tz[3:5]` are character slices
    let off: i128 = if tz.is_empty() {
        0
    } else {
        let sign = if tz.starts_with('-') { -1 } else { 1 };
        sign * (py::int128(py::cslice(tz, 1, Some(3)))? * 3600 + py::int128(py::cslice(tz, 3, Some(5)))? * 60)
    };
    // out-of-range fields are bad stamps; calendar.timegm -> datetime.date(year, month, 1) also
    // refuses years beyond 9999. Hours, minutes and seconds may be negative (arithmetic).
    if !((1..=12).contains(&month) && (1..=31).contains(&d) && h <= 23 && mi <= 59 && s <= 60
        && (1..=9999).contains(&y))
    {
        return None;
    }
    let days = days_from_civil(y as i64, month as i64, 1) as i128 + d - 1;
    let epoch = days
        .checked_mul(86400)?
        .checked_add(h.checked_mul(3600)?)?
        .checked_add(mi.checked_mul(60)?)?
        .checked_add(s)?
        .checked_sub(off)?;
    let iso = SmolStr::new(format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, month, d, h, mi, s));
    let iso_tz = if tz.is_empty() {
        SmolStr::new_static("Z")
    } else {
        SmolStr::new(format!("{}:{}", py::cslice(tz, 0, Some(3)), py::cslice(tz, 3, Some(5))))
    };
    Some(Entry { epoch, sec_f: epoch as f64, iso, iso_tz })
}

/// Is byte `c` one of the word's eight bytes?
#[inline(always)]
fn has_byte(w: u64, c: u8) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = w ^ (ONES * c as u64);
    x.wrapping_sub(ONES) & !x & (ONES * 0x80) != 0
}

#[inline]
fn find_byte(s: &str, c: u8) -> Option<usize> {
    s.bytes().position(|b| b == c)
}

/// Nine ASCII digits (`b.len() == 9`): their value.
#[inline(always)]
fn nine_digits(b: &[u8]) -> Option<u32> {
    let w = u64::from_le_bytes(b[..8].try_into().unwrap());
    const THREES: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // every byte 0x30..=0x39: high nibble 3, and still 3 after adding 6 (no byte carries over)
    if w & HIGH != THREES || w.wrapping_add(0x0606_0606_0606_0606) & HIGH != THREES || !b[8].is_ascii_digit() {
        return None;
    }
    // eight digits at once (the first byte is the most significant digit)
    let mut v = w - THREES;
    v = v.wrapping_mul(10).wrapping_add(v >> 8);
    v = ((v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32))))
        >> 32;
    Some(v as u32 * 10 + (b[8] - b'0') as u32)
}

/// Python `front >= second + 1` for the entry's whole second.
#[inline(always)]
fn past_second(front: f64, e: &Entry) -> bool {
    if e.epoch.unsigned_abs() < 1 << 52 {
        // second + 1 is exactly a double
        front >= e.sec_f + 1.0
    } else {
        py::float_ge_int(front, e.epoch + 1)
    }
}

impl Ts {
    /// The usual text stamp (`04/Dec/2026:19:53:00.675805620 +0000`) whose date and zone are the
    /// last entry's key: the value of its nine fraction digits. Such a stamp splits as the fast
    /// path of `split` splits it (the 20 bytes equal to the last date hold no space or dot, nine
    /// digits no space) and `entry` would find the last entry.
    #[inline(always)]
    fn fast_last(&self, raw: &str) -> Option<u32> {
        let b = raw.as_bytes();
        if b.len() != 36 || b[20] != b'.' || b[30] != b' ' || self.last_date_len != 20 || self.last_key.len() != 25
            || self.last.is_none()
        {
            return None;
        }
        let k = self.last_key.as_bytes();
        if b[..20] != k[..20] || b[31..] != k[20..] {
            return None;
        }
        nine_digits(&b[21..30])
    }

    /// Make `self.last` the entry of (date, tz) (false: BadTimestamp). The cache key is
    /// `date + tz`, as in Python (two splits of one key share the entry).
    fn entry(&mut self, date: &str, tz: &str) -> bool {
        if self.last.is_some() && self.last_key.len() == date.len() + tz.len()
            && self.last_key.as_bytes()[..date.len()] == *date.as_bytes()
            && self.last_key.as_bytes()[date.len()..] == *tz.as_bytes()
        {
            return true;
        }
        self.key_buf.clear();
        self.key_buf.push_str(date);
        self.key_buf.push_str(tz);
        let e = match self.cache.get(&self.key_buf) {
            Some(e) => e.clone(),
            None => {
                let e = match second(date, tz) {
                    Some(e) => e,
                    None => return false,
                };
                if self.cache.len() > 4096 {
                    self.cache.clear();
                }
                self.cache.insert(self.key_buf.clone(), e.clone());
                e
            }
        };
        std::mem::swap(&mut self.last_key, &mut self.key_buf);
        self.last_date_len = date.len();
        self.last = Some(e);
        true
    }

    #[inline]
    fn split(raw: &str) -> (&str, &str, Option<&str>) {
        // the usual text stamp `04/Dec/2026:19:53:00.675805620 +0000`
        let b = raw.as_bytes();
        if b.len() == 36 && b[20] == b'.' && b[30] == b' ' {
            let w = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
            // no space or dot in the date (bytes 0-19), no space in the fraction (21-29)
            if !has_byte(w(0), b' ') && !has_byte(w(8), b' ') && !has_byte(w(12), b' ')
                && !has_byte(w(0), b'.') && !has_byte(w(8), b'.') && !has_byte(w(12), b'.')
                && !has_byte(w(21), b' ') && b[29] != b' '
            {
                return (&raw[..20], &raw[31..], Some(&raw[21..30]));
            }
        }
        let (stamp, tz) = match find_byte(raw, b' ') {
            Some(sp) => (&raw[..sp], &raw[sp + 1..]),
            None => (raw, ""),
        };
        match find_byte(stamp, b'.') {
            Some(dot) => (&stamp[..dot], tz, Some(&stamp[dot + 1..])),
            None => (stamp, tz, None),
        }
    }

    /// `int(frac) / 10 ** len(frac)` (a correctly rounded quotient, as Python's true division).
    fn frac_value(frac: &str) -> f64 {
        let b = frac.as_bytes();
        if b.len() <= 15 && b.iter().all(|c| c.is_ascii_digit()) {
            // both exact in a double: one correctly rounded division
            const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
                                      1e14, 1e15];
            let n = b.iter().fold(0u64, |a, &c| a * 10 + (c - b'0') as u64);
            return n as f64 / POW10[b.len()];
        }
        let mut s = String::with_capacity(frac.len() + 2);
        s.push_str("0.");
        if frac.is_ascii() {
            s.push_str(frac);
        } else {
            s.push_str(&py::ascii_number(frac).unwrap_or_default());
        }
        s.parse().unwrap_or(0.0)
    }

    /// TimestampConverter.second_epoch: the whole second's epoch (None = BadTimestamp).
    pub fn second_epoch(&mut self, raw: &str) -> Option<i128> {
        let (date, tz, _) = Self::split(raw);
        if self.entry(date, tz) {
            self.last.as_ref().map(|e| e.epoch)
        } else {
            None
        }
    }

    /// TimestampConverter.iso: cached per millisecond, keyed `raw[:dot + 4] + raw[sp:]`, only for
    /// well-formed stamps (digits between the first `.` and the last space); others are converted
    /// every time. Two stamps sharing a key share the cached value, as in Python.
    pub fn iso(&mut self, raw: &str) -> Option<Iso> {
        let b = raw.as_bytes();
        // the usual stamp: first dot at 20, last space at 30, nine ASCII digits between
        let usual = b.len() == 36 && b[20] == b'.' && b[30] == b' ' && nine_digits(&b[21..30]).is_some()
            && !b[..20].contains(&b'.') && !b[31..].contains(&b' ');
        let (head_end, sp) = if usual {
            (24, 30)
        } else {
            let dot = find_byte(raw, b'.');
            let sp = raw.bytes().rposition(|b| b == b' ');
            match (dot, sp) {
                (Some(d), Some(s)) if s >= d && py::isdigit(&raw[d + 1..s]) => (py::skip_chars(raw, d, 4), s),
                _ => return self.iso_value(raw),
            }
        };
        let head = &raw[..head_end];
        let tail = &raw[sp..];
        // the last key looked up or inserted is always in Python's cache too
        if let (Some(k), Some(last)) = (&self.iso_last_key, &self.iso_last) {
            if k.is(head, tail) {
                return Some(last.clone());
            }
        }
        let key = IsoKey::new(head, tail);
        let v = match self.iso_cache.get(&key) {
            Some(v) => v.clone(),
            None => {
                let v = self.iso_value(raw)?;
                if self.iso_cache.len() > 4096 {
                    self.iso_cache.clear();
                }
                self.iso_cache.insert(key.clone(), v.clone());
                v
            }
        };
        self.iso_last_key = Some(key);
        self.iso_last = Some(v.clone());
        Some(v)
    }

    /// Joiner._expire's two steps in one lookup: Ok(None) when nothing closing before
    /// `front` can expire at this stamp (its whole second is not past `front`), Ok(Some(epoch))
    /// otherwise, Err for a bad stamp (BadTimestamp from second_epoch or convert).
    pub fn expiry_epoch(&mut self, raw: &str, front: f64) -> Result<Option<f64>, BadTimestamp> {
        if let Some(n) = self.fast_last(raw) {
            let e = self.last.as_ref().unwrap();
            if past_second(front, e) {
                return Ok(None);
            }
            return Ok(Some(e.sec_f + n as f64 / 1e9));
        }
        let (date, tz, frac) = Self::split(raw);
        if !self.entry(date, tz) {
            return Err(BadTimestamp);
        }
        let e = self.last.as_ref().unwrap();
        if past_second(front, e) {
            return Ok(None);
        }
        let epoch = e.sec_f;
        match frac {
            Some(f) if !f.is_empty() => {
                if !py::isdigit(f) {
                    return Err(BadTimestamp);
                }
                Ok(Some(epoch + Self::frac_value(f)))
            }
            _ => Ok(Some(epoch)),
        }
    }

    /// `convert(raw)[1]`, built in place (no epoch, no String).
    fn iso_value(&mut self, raw: &str) -> Option<Iso> {
        if self.fast_last(raw).is_some() {
            // the usual stamp of the last entry's second: its ISO second, `.` + three digits, zone
            let e = self.last.as_ref().unwrap();
            let n = e.iso.len() + 4 + e.iso_tz.len();
            if n <= 40 {
                let mut buf = [0u8; 40];
                buf[..e.iso.len()].copy_from_slice(e.iso.as_bytes());
                let i = e.iso.len();
                buf[i] = b'.';
                buf[i + 1..i + 4].copy_from_slice(&raw.as_bytes()[21..24]);
                buf[i + 4..n].copy_from_slice(e.iso_tz.as_bytes());
                return Some(Iso::Inline(n as u8, buf));
            }
        }
        let (date, tz, frac) = Self::split(raw);
        if !self.entry(date, tz) {
            return None;
        }
        let e = self.last.as_ref().unwrap();
        let frac = frac.filter(|f| !f.is_empty());
        if let Some(f) = frac {
            if !py::isdigit(f) {
                return None;
            }
        }
        let n = e.iso.len() + 4 + e.iso_tz.len();
        if n > 40 || !frac.map(|f| f.is_ascii()).unwrap_or(true) {
            return self.convert(raw).map(|x| Iso::new(&x.1));
        }
        let mut buf = [0u8; 40];
        buf[..e.iso.len()].copy_from_slice(e.iso.as_bytes());
        let mut i = e.iso.len();
        buf[i] = b'.';
        i += 1;
        let fb = frac.unwrap_or("").as_bytes();
        for j in 0..3 {
            buf[i] = *fb.get(j).unwrap_or(&b'0');
            i += 1;
        }
        buf[i..i + e.iso_tz.len()].copy_from_slice(e.iso_tz.as_bytes());
        Some(Iso::Inline(n as u8, buf))
    }

    /// Epoch seconds (None = BadTimestamp).
    pub fn epoch(&mut self, raw: &str) -> Option<f64> {
        if let Some(n) = self.fast_last(raw) {
            return Some(self.last.as_ref().unwrap().sec_f + n as f64 / 1e9);
        }
        let (date, tz, frac) = Self::split(raw);
        if !self.entry(date, tz) {
            return None;
        }
        let epoch = self.last.as_ref().unwrap().sec_f;
        match frac {
            Some(f) if !f.is_empty() => {
                if !py::isdigit(f) {
                    return None;
                }
                Some(epoch + Self::frac_value(f))
            }
            _ => Some(epoch),
        }
    }

    /// (epoch, ISO-8601 with milliseconds).
    pub fn convert(&mut self, raw: &str) -> Option<(f64, String)> {
        let (date, tz, frac) = Self::split(raw);
        if !self.entry(date, tz) {
            return None;
        }
        let e = self.last.as_ref().unwrap();
        let mut iso = String::with_capacity(32);
        iso.push_str(&e.iso);
        iso.push('.');
        match frac {
            Some(f) if !f.is_empty() => {
                if !py::isdigit(f) {
                    return None;
                }
                let mut n = 0;
                for c in f.chars().take(3) {
                    iso.push(c);
                    n += 1;
                }
                for _ in n..3 {
                    iso.push('0');
                }
                iso.push_str(&e.iso_tz);
                Some((e.sec_f + Self::frac_value(f), iso))
            }
            _ => {
                iso.push_str("000");
                iso.push_str(&e.iso_tz);
                Some((e.sec_f, iso))
            }
        }
    }
}

/// parse_seconds: None = ValueError (junk, or not a finite number of seconds).
pub fn parse_seconds(value: &str) -> Option<f64> {
    match find_byte(value, b'.') {
        None => py::int_as_float(value),
        Some(dot) => {
            let frac = &value[dot + 1..];
            // ten characters take at least ten bytes
            if frac.len() >= 10 && frac.chars().count() == 10 && py::isdigit(frac) {
                // int(value[:dot]) + int(frac) / 1e9
                let a = py::int_as_float(&value[..dot])?;
                let b = py::int(frac)?;
                Some(a + b as f64 / 1e9)
            } else {
                py::float(value).filter(|f| f.is_finite())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_digits_reads_as_the_fold() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = if i < 1000 { i } else { x % 1_000_000_000 };
            let s = format!("{:09}", n);
            assert_eq!(nine_digits(s.as_bytes()), Some(n as u32), "{}", s);
        }
        for bad in ["12345678a", "/23456789", ":23456789", "1234 6789", "12345678\u{7f}"] {
            if bad.len() == 9 {
                assert_eq!(nine_digits(bad.as_bytes()), None, "{}", bad);
            }
        }
        let mut b = *b"123456789";
        for pos in 0..9 {
            for c in 0..=255u8 {
                b[pos] = c;
                let want = if b.iter().all(|d| d.is_ascii_digit()) {
                    Some(b.iter().fold(0u32, |a, &d| a * 10 + (d - b'0') as u32))
                } else {
                    None
                };
                assert_eq!(nine_digits(&b), want);
            }
            b[pos] = b'1' + pos as u8;
        }
    }

    #[test]
    fn fast_paths_agree() {
        let mut ts = Ts::default();
        let a = "04/Dec/2026:19:53:00.675805620 +0000";
        assert_eq!(ts.epoch(a), Some(1796413980.0 + 0.67580562));
        assert_eq!(ts.epoch("04/Dec/2026:19:53:00.000000001 +0000"), Some(1796413980.0 + 1e-9));
        assert_eq!(ts.expiry_epoch(a, 1796413981.0), Ok(None));
        assert_eq!(ts.expiry_epoch(a, 1796413980.5), Ok(Some(1796413980.0 + 0.67580562)));
        assert_eq!(ts.expiry_epoch(a, f64::NAN), Ok(Some(1796413980.0 + 0.67580562)));
        assert_eq!(ts.iso(a).unwrap().as_str(), "2026-12-04T19:53:00.675+00:00");
        // a key made of a shorter date and a longer zone is another split, not the fast path's
        let mut ts = Ts::default();
        assert_eq!(ts.epoch("04/Dec/2026:19:53:0 0+0000"), Some(1796413980.0)); // same key: shared entry
        assert_eq!(ts.epoch(a), Some(1796413980.0 + 0.67580562));
    }
}
