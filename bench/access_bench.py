"""Access-log benchmark: prints throughput and memory figures (run by hand, never a timed test).

  .venv/bin/python bench/access_bench.py --sizes 100,500,2000 --workers 2 [--es-url http://127.0.0.1:19271]

For each synthetic log size (built once from real 389 DS output, deterministic by seed, cached in
/var/tmp/dirsrvbeat-bench) it measures, on the same file: `wc -l` (the I/O ceiling),
`dirsrvbeat access parse` with full enrichment to /dev/null and to a file, single process and
with --workers N, and logconv (389 DS's own analyser) for the ratios (against the single process and
the --workers figure, all to /dev/null). First, the start-up cost every figure includes (an empty
file). Peak RSS is the largest single process (wait4). With --es-url it also measures `dirsrvbeat
access ship` documents/s next to the raw `_bulk` ceiling of the same server (pre-serialised NDJSON,
same chunk size).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth  # noqa: E402

VENV_BIN = os.path.join(HERE, "..", ".venv", "bin")
DIRSRVBEAT = os.path.join(VENV_BIN, "dirsrvbeat") if os.path.exists(os.path.join(VENV_BIN, "dirsrvbeat")) \
    else shutil.which("dirsrvbeat") or "dirsrvbeat"


GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def measure(cmd: list[str], stdout: str = os.devnull, env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in MB, exit status). RSS from GNU time's %M (the command's own
    process; with --workers the parent's children are included by the kernel's accounting)."""
    with open(stdout, "wb") as out, tempfile.NamedTemporaryFile("r") as rss_file:
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *cmd] if GNU_TIME else cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        text = rss_file.read().strip().splitlines()
        rss_kb = int(text[-1]) if GNU_TIME and text and text[-1].isdigit() else usage.ru_maxrss
    return wall, rss_kb // 1024, os.waitstatus_to_exitcode(status)


def count_lines_and_ops(path: str) -> tuple[int, int]:
    lines = ops = 0
    with open(path, "rb") as f:
        for raw in f:
            lines += 1
            if b" RESULT err=" in raw or b" UNBIND" in raw or b" ABANDON " in raw:
                ops += 1
    return lines, ops


def row(name: str, size: int, lines: int, ops: int, wall: float, rss: int, rc: int) -> None:
    mb = size / 1e6
    print(f"  {name:<44} {wall:8.2f} s {mb / wall:8.1f} MB/s {lines / wall / 1e3:8.0f} klines/s "
          f"{ops / wall / 1e3:7.0f} kops/s {rss:6d} MB RSS" + ("" if rc == 0 else f"  (exit {rc})"))


def bench_startup(workers: int, runs: int = 7) -> None:
    """The fixed cost in every figure below: `access parse` of an empty file (median of `runs`)."""
    with tempfile.NamedTemporaryFile(suffix=".log") as empty:
        figures = []
        for w in sorted({1, workers}):
            walls = sorted(measure([DIRSRVBEAT, "access", "parse", "--connections", "--workers", str(w),
                                    empty.name])[0] for _ in range(runs))
            figures.append(f"--workers {w} {walls[runs // 2] * 1000:.0f} ms")
    print(f"start-up (access parse of an empty file, median of {runs}): {', '.join(figures)}")


def bench_parse(path: str, workers: int, logconv: bool) -> None:
    size = os.path.getsize(path)
    lines, ops = count_lines_and_ops(path)
    print(f"\n{os.path.basename(path)}: {size / 1e6:.0f} MB, {lines} lines, {ops} operations")
    wall, rss, rc = measure(["wc", "-l", path])
    row("wc -l (I/O ceiling)", size, lines, ops, wall, rss, rc)
    base = [DIRSRVBEAT, "access", "parse", "--connections", path]
    wall, rss, rc = measure(base)
    row("access parse > /dev/null", size, lines, ops, wall, rss, rc)
    single = wall
    multi = None
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as tmp:
        out = os.path.join(tmp, "ops.ndjson")
        wall, rss, rc = measure(base, stdout=out)
        row("access parse > file", size, lines, ops, wall, rss, rc)
        if workers > 1:
            wall, rss, rc = measure([*base, "--workers", str(workers)])
            row(f"access parse --workers {workers} > /dev/null", size, lines, ops, wall, rss, rc)
            multi = wall
            wall, rss, rc = measure([*base, "--workers", str(workers)], stdout=out)
            row(f"access parse --workers {workers} > file", size, lines, ops, wall, rss, rc)
    if logconv and shutil.which("logconv"):
        wall, rss, rc = measure(["logconv", path])
        row("logconv (default report)", size, lines, ops, wall, rss, rc)
        ratios = f"1 process {wall / single:.1f}x"
        if multi is not None:
            ratios += f", --workers {workers} {wall / multi:.1f}x"
        print(f"  ratio dirsrvbeat / logconv throughput (both > /dev/null): {ratios}")


def bench_ship(path: str, es_url: str, rounds: int = 2) -> None:
    """`access ship` documents/s next to the raw `_bulk` ceiling of the same server: the very bodies
    ship sends (framed by the engine, same index names and templates, same 5000-document / 5 MiB
    chunks, same answer filter, one request in flight), posted straight to `_bulk`. Fresh indices for every run;
    ceiling and ship alternate `rounds` times (the first ceiling run also warms the server up)."""
    from dirsrvbeat.access import fast
    from dirsrvbeat.access.ship_native import _Chunks
    from dirsrvbeat.es.client import EsClient
    from dirsrvbeat.outputs.elasticsearch import BULK_FILTER_PATH, DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_DOCS

    prefix = "benchship"
    size = os.path.getsize(path)
    client = EsClient([es_url])
    version = client.info()
    subprocess.run([DIRSRVBEAT, "setup", "--es-url", es_url, "--index-prefix", prefix], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wipe() -> None:
        names = client.request("GET", f"/_cat/indices/{prefix}-*", params={"h": "index", "format": "json"}).body
        for name in sorted({row["index"] for row in names or []}):
            client.request("DELETE", f"/{name}")

    engine = fast.new_engine(connections=True, with_ids=True)
    engine.set_bulk(prefix, "daily", "_doc" if version.major < 7 else None)
    engine.set_ingested("2026-12-04T00:00:00.000Z")
    chunks = _Chunks(2, DEFAULT_CHUNK_DOCS, DEFAULT_CHUNK_BYTES)
    with open(path, "rb") as f:
        offset = 0
        while block := f.read(4 << 20):
            block += f.readline()
            chunks.add(engine.feed(path, block, offset, 0))
            offset += len(block)
    chunks.add(engine.expire_closed(time.time()))
    docs = chunks.docs
    bodies = []
    while chunks.docs:
        lines, _ = chunks.take()
        bodies.append(b"\n".join(lines) + b"\n")
    print(f"\nship into Elasticsearch {version.number} at {es_url}: {docs} documents from {size / 1e6:.0f} MB "
          f"of log, {len(bodies)} requests")
    ceilings, ships = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            wipe()
            t0 = time.perf_counter()
            for body in bodies:
                resp = client.bulk(body, filter_path=BULK_FILTER_PATH)  # the request ship makes
                if resp.get("errors"):
                    raise SystemExit("ceiling: _bulk answered errors")
            ceiling = time.perf_counter() - t0
            ceilings.append(ceiling)
            print(f"  raw _bulk ceiling (same bodies)        {ceiling:8.2f} s {docs / ceiling:10.0f} docs/s")
            wipe()
            state = os.path.join(tmp, f"state{r}")
            wall, rss, rc = measure([DIRSRVBEAT, "access", "ship", "--state-dir", state, "--es-url", es_url,
                                     "--index-prefix", prefix, path])
            ships.append(wall)
            print(f"  dirsrvbeat access ship                 {wall:8.2f} s {docs / wall:10.0f} docs/s "
                  f"{rss:6d} MB RSS = {ceiling / wall * 100:.0f} % of the ceiling before it"
                  + ("" if rc == 0 else f" (exit {rc})"))
    wipe()
    best_ceiling, best_ship = min(ceilings), min(ships)
    print(f"  best of {rounds}: ceiling {docs / best_ceiling:.0f} docs/s, ship {docs / best_ship:.0f} docs/s "
          f"= {best_ceiling / best_ship * 100:.0f} % of the ceiling")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100", help="comma list of MB sizes (e.g. 100,500,2000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-logconv", action="store_true")
    ap.add_argument("--es-url", help="also benchmark shipping into this Elasticsearch")
    ap.add_argument("--ship-size", type=int, default=100, help="MB of log for the shipping benchmark")
    ap.add_argument("--ship-rounds", type=int, default=2, help="ceiling/ship pairs in the shipping benchmark")
    a = ap.parse_args()
    print(f"dirsrvbeat access benchmark on {os.cpu_count()} CPUs; binary {DIRSRVBEAT}")
    bench_startup(a.workers)
    for mb in (int(x) for x in a.sizes.split(",") if x):
        bench_parse(synth.ensure(mb, a.seed), a.workers, not a.no_logconv)
    if a.es_url:
        bench_ship(synth.ensure(a.ship_size, a.seed), a.es_url, a.ship_rounds)


if __name__ == "__main__":
    main()
