//! Documents written straight into bytes, in the key order Python's dicts give them.
//!
//! The enricher used to build each document as a tree of ordered objects and serialise it;
//! most of its time went into allocating, filling and dropping those trees. Here a document's
//! `dirsrv` object is a list of members whose values are written into one scratch buffer as
//! soon as they are known. `set` keeps a key's first position, as `d[k] = v` does; the three
//! objects Python fills in several steps through `setdefault` (search, abandon, ext) have a
//! content buffer of their own.

use crate::json::{write_json, write_str, J};

/// `"key":` for a static key (ASCII identifiers: nothing to escape).
#[inline]
pub fn key(out: &mut Vec<u8>, k: &'static str) {
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `,"key":` unless `out` is an empty object content buffer.
#[inline]
pub fn member(out: &mut Vec<u8>, k: &'static str) {
    if !out.is_empty() {
        out.push(b',');
    }
    key(out, k);
}

/// An object written member by member: `{`, `"a":1`, `,"b":2`, `}`.
pub struct ObjW {
    first: bool,
}

impl ObjW {
    #[inline]
    pub fn open(out: &mut Vec<u8>) -> ObjW {
        out.push(b'{');
        ObjW { first: true }
    }
    #[inline]
    pub fn key(&mut self, out: &mut Vec<u8>, k: &'static str) {
        if !self.first {
            out.push(b',');
        }
        self.first = false;
        key(out, k);
    }
    #[inline]
    pub fn val(&mut self, out: &mut Vec<u8>, k: &'static str, v: &J) {
        self.key(out, k);
        write_json(out, v);
    }
    #[inline]
    pub fn str(&mut self, out: &mut Vec<u8>, k: &'static str, v: &str) {
        self.key(out, k);
        write_str(out, v);
    }
    #[inline]
    pub fn close(self, out: &mut Vec<u8>) {
        out.push(b'}');
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Search,
    Abandon,
    Ext,
}

#[derive(Clone, Copy)]
enum Slot {
    Raw(u32, u32),
    Part(Part),
}

/// The members of a document's `dirsrv` object.
#[derive(Default)]
pub struct Members {
    list: Vec<(&'static str, Slot)>,
    pub scratch: Vec<u8>,
    pub search: Vec<u8>,
    pub abandon: Vec<u8>,
    pub ext: Vec<u8>,
}

impl Members {
    pub fn clear(&mut self) {
        self.list.clear();
        self.scratch.clear();
        self.search.clear();
        self.abandon.clear();
        self.ext.clear();
    }

    /// Where the next value written into `scratch` starts.
    #[inline]
    pub fn begin(&self) -> usize {
        self.scratch.len()
    }

    /// `dirsrv[k] = <the value written into scratch since start>`.
    pub fn set(&mut self, k: &'static str, start: usize) {
        let slot = Slot::Raw(start as u32, self.scratch.len() as u32);
        for (kk, s) in self.list.iter_mut() {
            if *kk == k {
                *s = slot;
                return;
            }
        }
        self.list.push((k, slot));
    }

    /// `dirsrv[k] = v` for a JSON value.
    pub fn set_json(&mut self, k: &'static str, v: &J) {
        let s = self.begin();
        write_json(&mut self.scratch, v);
        self.set(k, s);
    }

    /// `dirsrv.setdefault(k, {})`: the content buffer (`"a":1,"b":2`) of that object.
    pub fn part(&mut self, p: Part) -> &mut Vec<u8> {
        let k = match p {
            Part::Search => "search",
            Part::Abandon => "abandon",
            Part::Ext => "ext",
        };
        if !self.list.iter().any(|(kk, _)| *kk == k) {
            self.list.push((k, Slot::Part(p)));
        }
        match p {
            Part::Search => &mut self.search,
            Part::Abandon => &mut self.abandon,
            Part::Ext => &mut self.ext,
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (k, slot)) in self.list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            key(out, k);
            match *slot {
                Slot::Raw(a, b) => out.extend_from_slice(&self.scratch[a as usize..b as usize]),
                Slot::Part(p) => {
                    out.push(b'{');
                    out.extend_from_slice(match p {
                        Part::Search => &self.search,
                        Part::Abandon => &self.abandon,
                        Part::Ext => &self.ext,
                    });
                    out.push(b'}');
                }
            }
        }
        out.push(b'}');
    }
}
