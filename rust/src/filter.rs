//! filter_shape.py: generalised LDAP filter shapes and (attribute, match type) components.

use crate::py;
use rustc_hash::FxHashMap;
use std::sync::Arc;

const MAX_SHAPE_LENGTH: usize = 1024;

pub struct FilterInfo {
    pub shape: String,
    pub components: Vec<(String, &'static str)>,
    pub valid: bool,
    /// `,"filter_shape":…,"filter_attributes":[…],"filter_components":[…][,"filter_valid":false]`
    pub json: Vec<u8>,
}

fn info_json(shape: &str, components: &[(String, &'static str)], valid: bool) -> Vec<u8> {
    use crate::json::write_str;
    let mut out = Vec::with_capacity(64 + shape.len() * 2);
    out.extend_from_slice(b",\"filter_shape\":");
    write_str(&mut out, shape);
    out.extend_from_slice(b",\"filter_attributes\":[");
    let mut seen: Vec<&str> = Vec::new();
    for (a, _) in components {
        if !seen.contains(&a.as_str()) {
            if !seen.is_empty() {
                out.push(b',');
            }
            seen.push(a);
            write_str(&mut out, a);
        }
    }
    out.extend_from_slice(b"],\"filter_components\":[");
    for (i, (a, k)) in components.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(&mut out, &format!("{}:{}", a, k));
    }
    out.push(b']');
    if !valid {
        out.extend_from_slice(b",\"filter_valid\":false");
    }
    out
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    components: Vec<(String, &'static str)>,
}

type R<T> = Result<T, ()>;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn parse(&mut self) -> R<String> {
        let s = self.s;
        if self.peek() != Some(b'(') {
            let shape = self.item(s.len())?;
            self.pos = s.len();
            return Ok(shape);
        }
        self.pos += 1;
        let c = match self.peek() {
            None => return Err(()),
            Some(c) => c,
        };
        if c == b'&' || c == b'|' {
            self.pos += 1;
            let mut parts = Vec::new();
            while self.peek() == Some(b'(') {
                parts.push(self.parse()?);
            }
            self.expect_close()?;
            parts.sort();
            let mut out = String::with_capacity(2 + parts.iter().map(|p| p.len()).sum::<usize>() + 1);
            out.push('(');
            out.push(c as char);
            for p in &parts {
                out.push_str(p);
            }
            out.push(')');
            return Ok(out);
        }
        if c == b'!' {
            self.pos += 1;
            let inner = self.parse()?;
            self.expect_close()?;
            return Ok(format!("(!{})", inner));
        }
        let end = match s[self.pos..].find(')') {
            Some(i) => self.pos + i,
            None => return Err(()),
        };
        let shape = self.item(end)?;
        self.pos = end;
        self.expect_close()?;
        Ok(shape)
    }

    fn expect_close(&mut self) -> R<()> {
        if self.peek() == Some(b')') {
            self.pos += 1;
            Ok(())
        } else {
            Err(())
        }
    }

    fn item(&mut self, end: usize) -> R<String> {
        let text = &self.s[self.pos..end];
        let eq = match text.find('=') {
            Some(i) if i > 0 => i,
            _ => return Err(()),
        };
        let op_char = text[..eq].chars().next_back().unwrap();
        let value = &text[eq + 1..];
        if op_char == '<' || op_char == '>' || op_char == '~' {
            let attr = py::strip(&text[..eq - 1]).to_lowercase();
            let kind = match op_char {
                '<' => "le",
                '>' => "ge",
                _ => "approx",
            };
            let shape = format!("({}{}=?)", attr, op_char);
            self.components.push((attr, kind));
            return Ok(shape);
        }
        if op_char == ':' {
            let desc = text[..eq - 1].to_lowercase();
            let attr = desc.split(':').next().unwrap_or("");
            let name = if attr.is_empty() { desc.clone() } else { attr.to_string() };
            self.components.push((name, "ext"));
            return Ok(format!("({}:=?)", desc));
        }
        let attr = py::strip(&text[..eq]).to_lowercase();
        if value == "*" {
            let shape = format!("({}=*)", attr);
            self.components.push((attr, "pres"));
            return Ok(shape);
        }
        if value.contains('*') {
            let mut out = String::with_capacity(attr.len() + value.len() + 3);
            out.push('(');
            out.push_str(&attr);
            out.push('=');
            for (i, chunk) in value.split('*').enumerate() {
                if i > 0 {
                    out.push('*');
                }
                if !chunk.is_empty() {
                    out.push('?');
                }
            }
            out.push(')');
            self.components.push((attr, "sub"));
            return Ok(out);
        }
        let shape = format!("({}=?)", attr);
        self.components.push((attr, "eq"));
        Ok(shape)
    }
}

fn fallback_shape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            out.push('=');
            let mut j = i + 1;
            while j < b.len() && b[j] != b')' {
                j += 1;
            }
            out.push(if &text[i + 1..j] == "*" { '*' } else { '?' });
            i = j;
            continue;
        }
        let c = text[i..].chars().next().unwrap();
        for l in c.to_lowercase() {
            out.push(l);
        }
        i += c.len_utf8();
    }
    out
}

pub fn compute(filter_text: &str) -> FilterInfo {
    let mut text = py::strip(filter_text);
    let truncated = text.ends_with("...");
    if truncated {
        text = &text[..text.len() - 3];
    }
    let mut parser = Parser { s: text, pos: 0, components: Vec::new() };
    let (mut shape, valid) = match parser.parse() {
        Ok(shape) => {
            let valid = !truncated && parser.pos == text.len();
            (shape, valid)
        }
        Err(()) => (fallback_shape(text), false),
    };
    if truncated {
        shape.push_str("...");
    }
    if shape.chars().count() > MAX_SHAPE_LENGTH {
        let cut: String = shape.chars().take(MAX_SHAPE_LENGTH - 3).collect();
        shape = cut + "...";
    }
    let mut components: Vec<(String, &'static str)> = Vec::with_capacity(parser.components.len());
    for c in parser.components {
        if !components.contains(&c) {
            components.push(c);
        }
    }
    let json = info_json(&shape, &components, valid);
    FilterInfo { shape, components, valid, json }
}

#[derive(Default)]
pub struct FilterCache {
    map: FxHashMap<String, Arc<FilterInfo>>,
}

impl FilterCache {
    pub fn get(&mut self, filter: &str) -> Arc<FilterInfo> {
        if let Some(v) = self.map.get(filter) {
            return v.clone();
        }
        let info = Arc::new(compute(filter));
        if self.map.len() >= 65536 {
            self.map.clear();
        }
        self.map.insert(filter.to_string(), info.clone());
        info
    }
}
