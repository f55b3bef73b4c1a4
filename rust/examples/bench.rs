//! cargo run --release --no-default-features --example bench -- FILE [-c] [-i] [-w N [-s SHARD]]
//!
//! Rust-only throughput (the file is read into memory first). With `-w N` it runs the N shards
//! of a sharded run one after the other and prints each shard's time: on N cores the wall time
//! of `access parse --workers N` is about the slowest shard's.
use dirsrvbeat_fast::engine::Engine;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts allocations (with `-a`): what the engine costs the allocator per line.
struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        std::alloc::System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        std::alloc::System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        std::alloc::System.realloc(p, l, n)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn run(path: &str, data: &[u8], conns: bool, ids: bool, shard: u32, nshards: u32) -> (f64, i64, usize) {
    let t = std::time::Instant::now();
    let mut e = Engine::new(conns, ids, None, None, 5.0);
    e.set_shard(shard, nshards);
    let mut sink = std::io::sink();
    let mut out_bytes = 0;
    let mut pos = 0;
    let mut off = 0i64;
    let block = 4 << 20;
    while pos < data.len() {
        let mut end = (pos + block).min(data.len());
        if end < data.len() {
            end = pos + data[pos..end].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        }
        let lines = e.fed_lines;
        e.feed(path, &data[pos..end], off, lines);
        out_bytes += e.out.len();
        sink.write_all(&e.out).unwrap();
        e.out.clear();
        off += (end - pos) as i64;
        pos = end;
    }
    e.finish();
    out_bytes += e.out.len();
    (t.elapsed().as_secs_f64(), e.documents, out_bytes)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let conns = args.iter().any(|a| a == "-c");
    let ids = args.iter().any(|a| a == "-i");
    let workers: u32 = args.iter().position(|a| a == "-w").map(|i| args[i + 1].parse().unwrap()).unwrap_or(1);
    let only: Option<u32> = args.iter().position(|a| a == "-s").map(|i| args[i + 1].parse().unwrap());
    let data = std::fs::read(path).unwrap();
    let mb = data.len() as f64 / 1e6;
    let mut total_docs = 0;
    let mut slowest: f64 = 0.0;
    for shard in 0..workers {
        if only.is_some_and(|o| o != shard) {
            continue;
        }
        let (dt, docs, out) = run(path, &data, conns, ids, shard, workers);
        total_docs += docs;
        slowest = slowest.max(dt);
        eprintln!("shard {}/{}: {:.2} s, {:.1} MB/s of input, {} docs, {:.0} MB out", shard, workers, dt, mb / dt,
                  docs, out as f64 / 1e6);
    }
    eprintln!("{:.1} MB/s ({} shard(s) in parallel, slowest), {} docs; {} allocations", mb / slowest, workers,
              total_docs, ALLOCS.load(Ordering::Relaxed));
}
