"""Build a large, realistic 389 DS access log from REAL server output, deterministically.

The real log (tests/data/samples/access.full.log, 389 DS 2.3.1) is cut into its connections: every
line of a connection, with its time offset from the connection's first line. New connections
are drawn from those (so the mix of binds, indexed and unindexed searches, modifications,
abandons and close codes keeps the real proportions), given fresh increasing conn ids and start
times, and their lines are interleaved by time as a busy server writes them. Internal-op,
ENTRY and STAT lines are kept only with --verbose (the default access-log level has none).
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import re
import sys
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SOURCE = os.path.join(HERE, "..", "tests", "data", "samples", "access.full.log")
CONN_RE = re.compile(rb"conn=(\d+)")
TS_FMT = "%d/%b/%Y:%H:%M:%S"


def load_connections(path: str, verbose: bool) -> list[list[tuple[float, bytes]]]:
    """Per connection: [(seconds since the connection's first line, line after the conn id)]."""
    conns: dict[int, list[tuple[float, bytes]]] = {}
    done: list[list[tuple[float, bytes]]] = []
    first: dict[int, float] = {}
    with open(path, "rb") as f:
        for raw in f:
            if not raw.startswith(b"[") or b"] conn=" not in raw:
                continue
            if not verbose and (b"(Internal)" in raw or b" ENTRY " in raw or b" STAT " in raw):
                continue
            close = raw.index(b"]")
            stamp = raw[1:close].decode()
            sec, _, rest = stamp.partition(".")
            frac = rest.split(" ")[0]
            t = datetime.strptime(sec, TS_FMT).replace(tzinfo=timezone.utc).timestamp() + int(frac) / 1e9
            m = CONN_RE.search(raw, close)
            conn = int(m.group(1))
            tail = raw[m.end():]
            if b" connection from " in raw and conn in conns:  # a restart reused the id
                done.append(conns.pop(conn))
            if conn not in conns:
                conns[conn] = []
                first[conn] = t
            conns[conn].append((max(0.0, t - first[conn]), tail))
    done.extend(conns.values())
    # connections whose open line is in the log make whole, realistic templates
    return [c for c in done if c and b"connection from" in c[0][1]]


def synthesize(out_path: str, target_bytes: int, seed: int, source: str, verbose: bool,
               rate: float) -> None:
    rng = random.Random(seed)
    templates = load_connections(source, verbose)
    start = datetime(2026, 12, 4, 8, 0, 0, tzinfo=timezone.utc).timestamp()
    ts_cache: dict[int, bytes] = {}

    def stamp(t: float) -> bytes:
        sec = int(t)
        base = ts_cache.get(sec)
        if base is None:
            if len(ts_cache) > 100_000:
                ts_cache.clear()
            base = ts_cache[sec] = ("[" + datetime.fromtimestamp(sec, timezone.utc).strftime(TS_FMT)).encode()
        return b"%s.%09d +0000] conn=" % (base, int((t - sec) * 1e9))

    heap: list[tuple[float, int, int, int]] = []  # (time, conn id, template index, line index)
    next_open = start
    conn_id = 0
    written = 0
    buf: list[bytes] = []
    with open(out_path, "wb") as out:
        out.write(b"\t389-Directory/2.3.1 B2025.016.1616\n\tlocalhost:636 (/etc/dirsrv/slapd-bench)\n\n")
        while written < target_bytes:
            # open new connections up to the current time (Poisson arrivals)
            now = heap[0][0] if heap else next_open
            while next_open <= now or not heap:
                conn_id += 1
                idx = rng.randrange(len(templates))
                heapq.heappush(heap, (next_open + templates[idx][0][0], conn_id, idx, 0))
                next_open += rng.expovariate(rate)
                now = heap[0][0]
            t, cid, idx, li = heapq.heappop(heap)
            tmpl = templates[idx]
            line = stamp(t) + b"%d" % cid + tmpl[li][1]
            buf.append(line)
            written += len(line)
            if li + 1 < len(tmpl):
                heapq.heappush(heap, (t - tmpl[li][0] + tmpl[li + 1][0], cid, idx, li + 1))
            if len(buf) >= 10000:
                out.write(b"".join(buf))
                buf.clear()
        out.write(b"".join(buf))


def ensure(size_mb: int, seed: int = 1, verbose: bool = False, directory: str | None = None) -> str:
    """Path of a cached synthetic log of about size_mb MB (built once per size/seed)."""
    directory = directory or os.environ.get("DIRSRVBEAT_BENCH_DIR", "/var/tmp/dirsrvbeat-bench")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"access.synth-{size_mb}mb-seed{seed}{'-verbose' if verbose else ''}.log")
    if not os.path.exists(path):
        t0 = time.monotonic()
        tmp = path + ".tmp"
        synthesize(tmp, size_mb * 1_000_000, seed, DEFAULT_SOURCE, verbose, rate=400.0)
        os.replace(tmp, path)
        print(f"built {path} in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true", help="keep internal-op, ENTRY and STAT lines")
    ap.add_argument("--rate", type=float, default=400.0, help="new connections per second")
    ap.add_argument("--source", default=DEFAULT_SOURCE)
    a = ap.parse_args()
    synthesize(a.out, a.mb * 1_000_000, a.seed, a.source, a.verbose, a.rate)


if __name__ == "__main__":
    main()
