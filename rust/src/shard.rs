//! Sharded engines (`access parse --workers N`): which shard owns a line, and what the other
//! shards need to know about it.
//!
//! Every worker reads every line. It fully processes the lines of its shard (connection id mod
//! N; lines without a connection belong to shard 0) and looks at the others only for the two
//! facts that cross connections in `Joiner`: `connection from` lines (a connection id that goes
//! backwards is a server restart) and the close-grace clock (when closed connections expire).
//! The owner of a line is decided exactly as the parser would read its connection id, so a
//! connection's lines all meet in one shard.

use crate::parse::find_close;

/// What a line is, as far as sharding is concerned.
#[derive(Debug, PartialEq)]
pub enum Route<'a> {
    /// No connection id (banner, blank line, junk): shard 0's. Others parse it only when it may
    /// be a banner (every shard needs the server's version and instance).
    NoConn { maybe_header: bool },
    /// A text operation line (`[t] conn=N op=M VERB ...`, not a close): others need its stamp.
    TextOp { conn: i128, stamp: &'a str },
    /// A JSON event of a connection that is no open or close; its local_time when it is a plain
    /// string (None: no record, or no stamp the clock could use).
    JsonOp { conn: i128, stamp: Option<&'a str> },
    /// Any other line of a connection (open, close, TLS, AUTOBIND, ...): others parse it, or for
    /// a text line (its stamp and what follows the connection id) check the open and close
    /// shapes directly.
    Conn { conn: i128, text: Option<(&'a str, &'a str)> },
    /// A JSON line whose connection only a full parse tells.
    Parse,
}

impl Route<'_> {
    /// The connection, when the route knows it.
    pub fn conn(&self) -> Option<i128> {
        match self {
            Route::TextOp { conn, .. } | Route::JsonOp { conn, .. } | Route::Conn { conn, .. } => Some(*conn),
            _ => None,
        }
    }
}

/// The shard of a connection id (Python's `conn % n`: never negative).
#[inline]
pub fn shard_of(conn: i128, n: u32) -> u32 {
    match i64::try_from(conn) {
        Ok(c) => c.rem_euclid(n as i64) as u32, // no 128-bit division
        Err(_) => conn.rem_euclid(n as i128) as u32,
    }
}

/// The route of one line (without its newline), read as parse.py reads it.
pub fn route(line: &str) -> Route<'_> {
    let b = line.as_bytes();
    match b.first() {
        None => Route::NoConn { maybe_header: false },
        Some(b'{') => json_route(line),
        Some(b'[') => text_route(line),
        Some(&c) => Route::NoConn { maybe_header: c == b'\t' || line.starts_with("389-Directory/") },
    }
}

fn text_route(line: &str) -> Route<'_> {
    let b = line.as_bytes();
    // parse_text: `close = line.find("] ", 1)`, `rest = line[close + 2:]` must start with `conn=`
    let close = match find_close(b) {
        Some(i) => i,
        None => return Route::NoConn { maybe_header: false },
    };
    let rest = &line[close + 2..];
    if !rest.starts_with("conn=") {
        return Route::NoConn { maybe_header: false };
    }
    let sp = match memchr::memchr(b' ', &rest.as_bytes()[5..]) {
        Some(i) => i + 5,
        None => return Route::NoConn { maybe_header: false },
    };
    let tok = &rest.as_bytes()[5..sp];
    let mut r = &rest[sp + 1..];
    let conn: i128 = if !tok.is_empty() && tok.len() <= 18 && tok.iter().all(|c| c.is_ascii_digit()) {
        if let Some(x) = r.strip_prefix("(Internal) ") {
            r = x;
        }
        tok.iter().fold(0i64, |a, &c| a * 10 + (c - b'0') as i64) as i128 // 18 digits fit
    } else if tok.starts_with(b"Internal") {
        0
    } else {
        return Route::NoConn { maybe_header: false };
    };
    if let Some(after) = r.strip_prefix("op=") {
        return match memchr::memchr(b' ', after.as_bytes()) {
            // `op=N fd=... closed`: a close; anything else with an op is an operation line
            Some(i) if after[i + 1..].starts_with("fd=") => Route::Conn { conn, text: Some((&line[1..close], r)) },
            Some(_) => Route::TextOp { conn, stamp: &line[1..close] },
            None => Route::NoConn { maybe_header: false }, // no record: any owner will do
        };
    }
    Route::Conn { conn, text: Some((&line[1..close], r)) }
}

fn json_route(line: &str) -> Route<'_> {
    let top = match json_top(line) {
        Some(t) => t,
        None => return Route::Parse,
    };
    if top.header {
        return Route::NoConn { maybe_header: true };
    }
    // parse_json: int(conn_id) unless absent, null or "Internal" (then 0)
    let conn: i128 = match top.conn_id {
        None | Some("null") | Some("\"Internal\"") => 0,
        Some(raw) => {
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            if digits.is_empty() || digits.len() > 30 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Route::Parse;
            }
            match raw.parse::<i128>() {
                Ok(v) => v,
                Err(_) => return Route::Parse,
            }
        }
    };
    match top.operation {
        Some("\"CONNECTION\"") | Some("\"DISCONNECT\"") => return Route::Conn { conn, text: None },
        Some(op) if op.contains('\\') => return Route::Conn { conn, text: None },
        _ => {}
    }
    match top.local_time {
        Some(raw) if raw.starts_with('"') => {
            if raw.contains('\\') {
                Route::Conn { conn, text: None }
            } else {
                Route::JsonOp { conn, stamp: Some(&raw[1..raw.len() - 1]) }
            }
        }
        _ => Route::JsonOp { conn, stamp: None },
    }
}

/// The top-level members of a JSON object that sharding looks at (raw JSON text of the last
/// occurrence of each, as the parser's dict keeps the last).
#[derive(Default, Debug)]
pub struct JsonTop<'a> {
    pub conn_id: Option<&'a str>,
    pub local_time: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub header: bool,
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Index just past the string whose opening quote is at `i` (None: unterminated).
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Index just past the JSON value starting at `i` (a shallow check, not validation).
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = skip_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let start = i;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            if i == start {
                None
            } else {
                Some(i)
            }
        }
    }
}

/// Scan a JSON object's top level; None when it is not one the scan understands (then the
/// line is parsed fully).
pub fn json_top(line: &str) -> Option<JsonTop<'_>> {
    let b = line.as_bytes();
    let mut top = JsonTop::default();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(top);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let kend = skip_string(b, i)?;
        let key = &line[i + 1..kend - 1];
        if key.contains('\\') {
            return None;
        }
        i = skip_ws(b, kend);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let vstart = skip_ws(b, i + 1);
        let vend = skip_value(b, vstart)?;
        let raw = &line[vstart..vend];
        match key {
            "conn_id" => top.conn_id = Some(raw),
            "local_time" => top.local_time = Some(raw),
            "operation" => top.operation = Some(raw),
            "header" => top.header = true,
            _ => {}
        }
        i = skip_ws(b, vend);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Some(top),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let l = "[04/Dec/2026:19:53:00.1 +0000] conn=12 op=3 SRCH base=\"\"";
        assert_eq!(route(l), Route::TextOp { conn: 12, stamp: "04/Dec/2026:19:53:00.1 +0000" });
        assert_eq!(route("[x] conn=12 op=3 fd=64 closed - U1"),
                   Route::Conn { conn: 12, text: Some(("x", "op=3 fd=64 closed - U1")) });
        assert_eq!(route("[x] conn=12 fd=64 slot=64 connection from 1 to 2"),
                   Route::Conn { conn: 12, text: Some(("x", "fd=64 slot=64 connection from 1 to 2")) });
        assert_eq!(route("[x] conn=12 (Internal) op=3 SRCH"), Route::TextOp { conn: 12, stamp: "x" });
        assert_eq!(route("[x] conn=Internal(0) op=3 SRCH"), Route::TextOp { conn: 0, stamp: "x" });
        assert_eq!(route("[x] conn=1234567890123456789 op=3 SRCH"), Route::NoConn { maybe_header: false });
        assert_eq!(route("\t389-Directory/2.3.1"), Route::NoConn { maybe_header: true });
        assert_eq!(route("{\"header\":{\"version\":\"x\"}}"), Route::NoConn { maybe_header: true });
        let j = "{\"local_time\":\"2025-09-22T14:03:00.1 +0200\",\"operation\":\"BIND\",\"conn_id\":7,\"op_id\":0}";
        assert_eq!(route(j), Route::JsonOp { conn: 7, stamp: Some("2025-09-22T14:03:00.1 +0200") });
        let j = "{\"local_time\":\"t\",\"operation\":\"DISCONNECT\",\"conn_id\":7}";
        assert_eq!(route(j), Route::Conn { conn: 7, text: None });
        assert_eq!(route("{\"conn_id\":\"7\"}"), Route::Parse);
        assert_eq!(route("{\"conn_id\":7,\"notes\":[{\"conn_id\":9}]}").conn(), Some(7));
        assert_eq!(shard_of(-5, 3), 1);
    }
}
