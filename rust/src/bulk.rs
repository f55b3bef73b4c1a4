//! Elasticsearch `_bulk` framing for the engine's documents (the shipper's fast path): an
//! `index` action line before each document, named as `dirsrvbeat.es.indices.IndexNamer` names
//! it, and `event.ingested` as `ElasticsearchOutput` sets it.

use crate::json::write_str;

pub struct Bulk {
    /// `<prefix>-`
    prefix: String,
    rollover: bool,
    doc_type: Option<String>,
    /// the JSON text `,"ingested":"..."` appended to `event`, or empty
    ingested: Vec<u8>,
}

impl Bulk {
    pub fn new(prefix: &str, mode: &str, doc_type: Option<String>) -> Result<Bulk, String> {
        let rollover = match mode {
            "daily" => false,
            "rollover" => true,
            other => return Err(format!("index mode must be daily or rollover, not {:?}", other)),
        };
        Ok(Bulk { prefix: format!("{}-", prefix), rollover, doc_type, ingested: Vec::new() })
    }

    /// The `event.ingested` of the documents made from now on (None: not set).
    pub fn set_ingested(&mut self, iso: Option<&str>) {
        self.ingested.clear();
        if let Some(s) = iso {
            self.ingested.extend_from_slice(b",\"ingested\":");
            write_str(&mut self.ingested, s);
        }
    }

    #[inline]
    pub fn ingested(&self) -> &[u8] {
        &self.ingested
    }

    /// `{"index":{"_index":...,"_id":...[,"_type":...]}}\n` (key order of ElasticsearchOutput).
    pub fn action(&self, out: &mut Vec<u8>, suffix: &str, timestamp: Option<&str>, id: Option<&str>) {
        let mut index = String::with_capacity(self.prefix.len() + suffix.len() + 11);
        index.push_str(&self.prefix);
        index.push_str(suffix);
        if !self.rollover {
            index.push('-');
            match timestamp.and_then(utc_day) {
                Some(day) => index.push_str(&day),
                None => index.push_str("undated"),
            }
        }
        out.extend_from_slice(b"{\"index\":{\"_index\":");
        write_str(out, &index);
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            out.extend_from_slice(b",\"_id\":");
            write_str(out, id);
        }
        if let Some(t) = &self.doc_type {
            out.extend_from_slice(b",\"_type\":");
            write_str(out, t);
        }
        out.extend_from_slice(b"}}\n");
    }
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(b.iter().fold(0i64, |a, &c| a * 10 + (c - b'0') as i64))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `indices.utc_day` for the ISO strings the engine writes (`YYYY-MM-DDTHH:MM:SS[.fff]±HH:MM`):
/// the UTC day as `YYYY.MM.DD`, None when unusable (the document goes to `...-undated`).
pub fn utc_day(ts: &str) -> Option<String> {
    let b = ts.as_bytes();
    let n = b.len();
    if n < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let utc = n == 10 || ts.ends_with('Z') || ts.ends_with('z') || ts.ends_with("+00:00")
        || (n <= 23 && b[n - 6] != b'+' && b[n - 6] != b'-');
    if utc {
        return Some(format!("{}.{}.{}", &ts[0..4], &ts[5..7], &ts[8..10]));
    }
    // an offset: local time minus offset, whole minutes are enough to find the day
    if n < 22 || b[10] != b'T' || b[13] != b':' || b[n - 3] != b':' {
        return None;
    }
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (hh, mm) = (digits(&b[11..13])?, digits(&b[14..16])?);
    let sign = if b[n - 6] == b'-' { -1 } else { 1 };
    let offset = sign * (digits(&b[n - 5..n - 3])? * 60 + digits(&b[n - 2..n])?);
    let minutes = days_from_civil(y, m, d) * 1440 + hh * 60 + mm - offset;
    let (y, m, d) = civil_from_days(minutes.div_euclid(1440));
    if !(1..=9999).contains(&y) {
        return None;
    }
    Some(format!("{:04}.{:02}.{:02}", y, m, d))
}

#[cfg(test)]
mod tests {
    use super::utc_day;

    #[test]
    fn days() {
        assert_eq!(utc_day("2026-12-04T23:30:00.123+01:00").as_deref(), Some("2026.12.04"));
        assert_eq!(utc_day("2026-12-04T23:30:00.123-02:00").as_deref(), Some("2026.12.05"));
        assert_eq!(utc_day("2026-01-01T00:30:00.000+01:00").as_deref(), Some("2025.12.31"));
        assert_eq!(utc_day("2024-02-28T23:00:00.000-02:00").as_deref(), Some("2024.02.29"));
        assert_eq!(utc_day("2026-12-04T19:52:45.430+00:00").as_deref(), Some("2026.12.04"));
        assert_eq!(utc_day("2026-12-04").as_deref(), Some("2026.12.04"));
        assert_eq!(utc_day("junk"), None);
    }
}
