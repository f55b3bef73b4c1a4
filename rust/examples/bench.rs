//! cargo run --release --no-default-features --example bench -- FILE [-c] [-i]
use dirsrvbeat_fast::engine::Engine;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let conns = args.iter().any(|a| a == "-c");
    let ids = args.iter().any(|a| a == "-i");
    let data = std::fs::read(path).unwrap();
    let t = std::time::Instant::now();
    let mut e = Engine::new(conns, ids, None, None, 5.0);
    let mut sink = std::io::sink();
    let mut pos = 0;
    let mut off = 0i64;
    let block = 4 << 20;
    while pos < data.len() {
        let mut end = (pos + block).min(data.len());
        if end < data.len() {
            end = pos + data[pos..end].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        }
        let lines = e.stats.lines;
        e.feed(path, &data[pos..end], off, lines);
        sink.write_all(&e.out).unwrap();
        e.out.clear();
        off += (end - pos) as i64;
        pos = end;
    }
    e.finish();
    let dt = t.elapsed().as_secs_f64();
    eprintln!("{:.1} MB/s, {} docs", data.len() as f64 / 1e6 / dt, e.documents);
}
