//! dirsrvbeat_fast: the access-log pipeline (parse -> join -> enrich -> NDJSON) of
//! dirsrvbeat, compiled. The Python pipeline is the reference; see docs/fast-path.md.

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

    /// Engine(connections, with_ids, host_name, service_name, close_grace_seconds=5.0, shard=0, nshards=1)
    #[pyclass(module = "dirsrvbeat_fast")]
    struct Engine {
        core: Core,
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
            Ok(Engine { core })
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
    }

    #[pymodule]
    fn dirsrvbeat_fast(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<Engine>()?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
