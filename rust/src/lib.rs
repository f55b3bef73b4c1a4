//! dirsrvbeat_fast: the access-log pipeline (parse -> join -> enrich -> NDJSON) of
//! dirsrvbeat, compiled. The Python pipeline is the reference; see docs/fast-path.md.

pub mod bulk;
pub mod docw;
pub mod engine;
pub mod filter;
pub mod json;
pub mod parse;
pub mod py;
pub mod shard;
pub mod ts;
pub mod unidigits;

#[cfg(feature = "python")]
mod python {
    use crate::engine::Engine as Core;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyDict};
    use std::fs::File;
    use std::io::{ErrorKind, Read, Write};
    use std::mem::ManuallyDrop;
    use std::os::fd::FromRawFd;

    /// Engine(connections, with_ids, host_name, service_name, close_grace_seconds=5.0, shard=0, nshards=1)
    #[pyclass(module = "dirsrvbeat_fast")]
    struct Engine {
        core: Core,
        rd: Reader,
    }

    /// The file `pump` reads: a buffer whose head is the line the last block cut.
    #[derive(Default)]
    struct Reader {
        path: String,
        buf: Vec<u8>,
        carry: usize,
        offset: i64,
        lines_before: i64,
    }

    /// How much of a block `pump` feeds before it may write the documents out.
    const FEED_SLICE: usize = 256 << 10;

    /// A file descriptor the engine reads or writes without owning it.
    fn borrowed(fd: i32) -> ManuallyDrop<File> {
        // SAFETY: the caller keeps the descriptor open for the call; it is never closed here
        ManuallyDrop::new(unsafe { File::from_raw_fd(fd) })
    }

    fn write_locked(py: Python<'_>, fd: i32, data: &[u8], lock: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        if let Some(l) = lock {
            l.call_method0("acquire")?;
        }
        let res = py.allow_threads(|| borrowed(fd).write_all(data));
        if let Some(l) = lock {
            l.call_method0("release")?;
        }
        res.map_err(PyErr::from)
    }

    #[pymethods]
    impl Engine {
        #[new]
        #[pyo3(signature = (connections=false, with_ids=false, host_name=None, service_name=None,
                            close_grace_seconds=5.0, shard=0, nshards=1))]
        #[allow(clippy::too_many_arguments)]
        fn new(connections: bool, with_ids: bool, host_name: Option<String>, service_name: Option<String>,
               close_grace_seconds: f64, shard: u32, nshards: u32) -> PyResult<Self> {
            if nshards == 0 || shard >= nshards {
                return Err(pyo3::exceptions::PyValueError::new_err(format!("shard {} of {}", shard, nshards)));
            }
            let mut core = Core::new(connections, with_ids, host_name, service_name, close_grace_seconds);
            core.set_shard(shard, nshards);
            Ok(Engine { core, rd: Reader::default() })
        }

        /// Start reading a file with `pump` (its offsets and line numbers count from here).
        fn begin_file(&mut self, path: String) {
            self.rd = Reader { path, buf: std::mem::take(&mut self.rd.buf), carry: 0, offset: 0,
                               lines_before: self.core.fed_lines };
        }

        /// Read up to `block` bytes from `fd` (no copies through Python), feed the complete lines
        /// (at end of file also a last line without newline), and write the pending documents to
        /// `out_fd` (under `lock.acquire()`/`release()` when given) once there are at least
        /// `min_write` bytes of them, or at end of file when `flush`. Returns (end of file, bytes
        /// of this file fed so far, the read error if reading failed: then the file is done).
        /// Documents not yet written stay for the next call or `finish`. Write errors raise.
        #[pyo3(signature = (fd, block, out_fd, lock=None, min_write=1 << 20, flush=true))]
        #[allow(clippy::too_many_arguments)]
        fn pump(&mut self, py: Python<'_>, fd: i32, block: usize, out_fd: i32, lock: Option<Bound<'_, PyAny>>,
                min_write: usize, flush: bool) -> PyResult<(bool, i64, Option<String>)> {
            let core = &mut self.core;
            let rd = &mut self.rd;
            // the buffer keeps its length (no zeroing of a whole block per call): `carry` and
            // `have` say which bytes are data
            let read = py.allow_threads(|| -> std::io::Result<usize> {
                let need = rd.carry + block.max(1);
                if rd.buf.len() < need {
                    rd.buf.resize(need, 0);
                }
                loop {
                    match borrowed(fd).read(&mut rd.buf[rd.carry..need]) {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
            });
            let (eof, error) = match read {
                Err(e) => (true, Some(e.to_string())),
                Ok(0) => {
                    let carry = rd.carry;
                    if carry > 0 {
                        let lineno = core.fed_lines - rd.lines_before;
                        py.allow_threads(|| core.feed(&rd.path, &rd.buf[..carry], rd.offset, lineno));
                        rd.offset += carry as i64;
                    }
                    rd.buf.clear();
                    rd.carry = 0;
                    (true, None)
                }
                Ok(n) => {
                    let have = rd.carry + n;
                    match memchr::memrchr(b'\n', &rd.buf[..have]) {
                        None => rd.carry = have, // no complete line yet
                        Some(i) => {
                            // fed in slices of whole lines, the documents written out between
                            // them once there are min_write bytes: the output buffer stays small
                            // (in cache) instead of holding a whole block's documents
                            let cut = i + 1;
                            let mut start = 0;
                            while start < cut {
                                let mut end = (start + FEED_SLICE).min(cut);
                                if end < cut {
                                    end = match memchr::memrchr(b'\n', &rd.buf[start..end]) {
                                        Some(k) => start + k + 1,
                                        None => end + memchr::memchr(b'\n', &rd.buf[end..cut]).unwrap() + 1,
                                    };
                                }
                                let lineno = core.fed_lines - rd.lines_before;
                                let (path, part, offset) = (&rd.path, &rd.buf[start..end], rd.offset);
                                py.allow_threads(|| core.feed(path, part, offset, lineno));
                                rd.offset += (end - start) as i64;
                                start = end;
                                if start < cut && core.out.len() >= min_write {
                                    let res = write_locked(py, out_fd, &core.out, lock.as_ref());
                                    core.out.clear();
                                    if let Err(e) = res {
                                        // what was not fed stays for a next call
                                        rd.buf.copy_within(start..have, 0);
                                        rd.carry = have - start;
                                        return Err(e);
                                    }
                                }
                            }
                            rd.buf.copy_within(cut..have, 0);
                            rd.carry = have - cut;
                        }
                    }
                    (false, None)
                }
            };
            if self.core.out.len() >= min_write || (eof && flush && !self.core.out.is_empty()) {
                let res = write_locked(py, out_fd, &self.core.out, lock.as_ref());
                self.core.out.clear();
                res?;
            }
            Ok((eof, self.rd.offset, error))
        }

        /// Feed complete lines of one file; returns the NDJSON of the documents they complete.
        fn feed<'py>(&mut self, py: Python<'py>, path: &str, data: &[u8], base_offset: i64, base_lineno: i64)
                     -> Bound<'py, PyBytes> {
            let core = &mut self.core;
            py.allow_threads(|| core.feed(path, data, base_offset, base_lineno));
            let out = PyBytes::new(py, &self.core.out);
            self.core.out.clear();
            out
        }

        /// End of input: pending operations and open connections, as Joiner.finish.
        fn finish<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
            let core = &mut self.core;
            py.allow_threads(|| core.finish());
            let out = PyBytes::new(py, &self.core.out);
            self.core.out.clear();
            out
        }

        /// Emit the connections closed longer than the grace period before `epoch` (the wall
        /// clock at the end of a shipping run), as Joiner.expire_closed; returns their NDJSON.
        fn expire_closed<'py>(&mut self, py: Python<'py>, epoch: f64) -> Bound<'py, PyBytes> {
            let core = &mut self.core;
            py.allow_threads(|| core.expire_closed(epoch));
            let out = PyBytes::new(py, &self.core.out);
            self.core.out.clear();
            out
        }

        /// The joiner state and server facts as JSON text: what `AccessPipeline.export_state()`
        /// gives after a trip through JSON (either engine can import it). Not carried, as in
        /// Python: request errors logged before their request line (`Joiner.unprocessed`).
        fn export_state(&mut self) -> PyResult<String> {
            self.core.export_state().map_err(pyo3::exceptions::PyValueError::new_err)
        }

        /// Load a state exported by `export_state` here or by `AccessPipeline.export_state()`
        /// (JSON text); None or an empty text is no state.
        #[pyo3(signature = (text=None))]
        fn import_state(&mut self, text: Option<&str>) -> PyResult<()> {
            match text {
                Some(t) => self.core.import_state(t).map_err(pyo3::exceptions::PyValueError::new_err),
                None => Ok(()),
            }
        }

        fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
            let s = &self.core.stats;
            let d = PyDict::new(py);
            for (k, v) in [
                ("lines", s.lines), ("parsed", s.parsed), ("unparsed", s.unparsed),
                ("bad_utf8_lines", s.bad_utf8_lines), ("header_lines", s.header_lines),
                ("blank_lines", s.blank_lines), ("requests", s.requests), ("results", s.results),
                ("ops_emitted", s.ops_emitted), ("results_without_request", s.results_without_request),
                ("requests_without_result", s.requests_without_result),
                ("connections_emitted", s.connections_emitted), ("orphan_detail_lines", s.orphan_detail_lines),
                ("server_restarts", s.server_restarts), ("bad_timestamps", s.bad_timestamps),
            ] {
                d.set_item(k, v)?;
            }
            Ok(d)
        }

        /// (lines fed so far, documents produced so far): cheap counters for the adapter. A
        /// sharded engine is fed every line; its `stats()["lines"]` counts only its own.
        fn counts(&self) -> (i64, i64) {
            (self.core.fed_lines, self.core.documents)
        }

        /// Rejected lines since the last call: (file, line, offset, reason, text).
        fn take_dead_letters(&mut self) -> Vec<(String, i64, i64, String, String)> {
            std::mem::take(&mut self.core.dead)
                .into_iter()
                .map(|d| (d.file, d.line, d.offset, d.reason, d.text))
                .collect()
        }

        /// Frame the documents made from now on for `_bulk`: an `index` action line before each
        /// (index `<prefix>-<access|connection>[-<UTC day>]` as IndexNamer, `_id` = event.id,
        /// `_type` when given: Elasticsearch 6). `prefix=None` turns the framing off.
        #[pyo3(signature = (prefix, mode="daily", doc_type=None))]
        fn set_bulk(&mut self, prefix: Option<&str>, mode: &str, doc_type: Option<String>) -> PyResult<()> {
            self.core.bulk = match prefix {
                None => None,
                Some(p) => Some(crate::bulk::Bulk::new(p, mode, doc_type)
                    .map_err(pyo3::exceptions::PyValueError::new_err)?),
            };
            Ok(())
        }

        /// `event.ingested` of the framed documents made from now on (None: not set).
        #[pyo3(signature = (iso=None))]
        fn set_ingested(&mut self, iso: Option<&str>) -> PyResult<()> {
            match &mut self.core.bulk {
                Some(b) => {
                    b.set_ingested(iso);
                    Ok(())
                }
                None => Err(pyo3::exceptions::PyValueError::new_err("set_bulk first")),
            }
        }
    }

    #[pymodule]
    fn dirsrvbeat_fast(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<Engine>()?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
