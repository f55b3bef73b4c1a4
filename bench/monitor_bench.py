"""Monitor benchmark: parse + classify N cn=monitor `connection` values (run by hand, prints figures;
never a timed test). Target: 10,000 values parsed and classified in < 1 s.

  .venv/bin/python bench/monitor_bench.py [--n 10000] [--repeat 5] [--seed 1]

The values are built from the real 2.3.1 values of tests/data/monitor/samples (same shapes), with
fresh slots/conn ids, open times spread over a day, a share of IPv6 and LDAPI clients, DNs with
colons, pipelining counters, and a realistic DN population (a few service accounts, many users).
Rules: the blog's four plus a 12-DN bulk list, a pipelining rule and a case-insensitive rule that
needs a CEL extension function. Figures (best of --repeat):

  parse            parse_connections() only
  classify         monitor_variables() + Classifier.classify(), memo off (every value evaluated)
  classify+memo    the same with the classifier's memo (what the collector runs)
  process          Collector.process(): parse + classify + 3 histograms + workload sums + deltas
  documents        DocumentBuilder.documents() of that scrape (bucketed gauges)
  prometheus       /metrics exposition of that scrape
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from dirsrvbeat.monitor.collector import Collector  # noqa: E402
from dirsrvbeat.monitor.config import build_config  # noqa: E402
from dirsrvbeat.monitor.connection import generalized_time, parse_connections  # noqa: E402
from dirsrvbeat.monitor.documents import DocumentBuilder  # noqa: E402
from dirsrvbeat.monitor.snapshot import Snapshot  # noqa: E402
from dirsrvbeat.processors.classify import Classifier, compile_rules, monitor_variables  # noqa: E402

SAMPLES = HERE.parent / "tests" / "data" / "monitor" / "samples"
NOW = "20261204195400Z"
BULK = [f"uid=svc-bulk{i},ou=services,dc=example,dc=com" for i in range(11)] + \
    ["uid=svc-sync,ou=services,dc=example,dc=com"]
RULES = [
    {"workload": "pipelining", "rule": "threads_blocked > 0 && blocked_ratio > 0.01"},
    {"workload": "large-long", "rule": "bind_dn in [" + ", ".join(f'"{d}"' for d in BULK) + "]"},
    {"workload": "admin", "rule": 'bind_dn.lowerAscii() == "cn=directory manager"'},
    {"workload": "small-long", "rule": "connection_age_seconds > 120"},
    {"workload": "unknown", "rule": 'bind_dn == "NULLDN"'},
    {"workload": "small-short", "rule": "true"},
]
DN_RULES = [
    {"workload": "large-long", "rule": "bind_dn in [" + ", ".join(f'"{d}"' for d in BULK) + "]"},
    {"workload": "local", "rule": "ldapi"},
    {"workload": "unknown", "rule": 'bind_dn == "NULLDN"'},
    {"workload": "other", "rule": "true"},
]


def real_dns() -> list[str]:
    dns = set()
    for path in SAMPLES.glob("*cn=monitor.ldif"):
        for line in path.read_text().splitlines():
            if line.startswith("connection: "):
                head = line[len("connection: "):].rsplit(":ip=", 1)[0]
                dns.add(head.split(":", 5)[5].rsplit(":", 4)[0])
    return sorted(dns)


def make_values(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    base = generalized_time(NOW)
    dns = real_dns() + BULK[:3] + ["cn=app:8080,ou=apps,dc=example,dc=com", "NULLDN", "NULLDN"]
    dns += [f"uid=user{i:04d},ou=people,dc=example,dc=com" for i in range(500)]
    out = []
    for i in range(n):
        conn_id = 100000 + i
        opened = base - int(rng.expovariate(1 / 600.0)) % 86400
        t = time.gmtime(opened)
        start = time.strftime("%Y%m%d%H%M%SZ", t)
        ops = int(rng.expovariate(1 / 50.0)) + 1
        done = ops - (rng.random() < 0.1)
        pipelined = rng.random() < 0.03
        hits, blocked = (rng.randint(1, 20), rng.randint(1, ops)) if pipelined else (0, 0)
        r = rng.random()
        ip = "local" if r < 0.05 else (f"2001:db8::{rng.randint(1, 65535):x}" if r < 0.2 else
                                       f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")
        dn = rng.choice(dns)
        flag = "r" if rng.random() < 0.02 else "-"
        out.append(f"{conn_id % 19936}:{start}:{ops}:{done}:{flag}:{dn}:{int(pipelined and rng.random() < 0.5)}:"
                   f"{hits}:{blocked}:{conn_id}:ip={ip}")
    return out


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    values = make_values(args.n, args.seed)
    version = "389-Directory/2.3.1 B2025.016.1616"
    now = generalized_time(NOW)
    rules = compile_rules(RULES)

    t_parse, (conns, bad) = best(lambda: parse_connections(values, version), args.repeat)
    assert not bad, bad[:3]

    def classify(rule_set):
        c = Classifier(rule_set)
        return [c.classify(monitor_variables(x, now)) for x in conns]

    t_cls, workloads = best(lambda: classify(rules), args.repeat)
    dn_rules = compile_rules(DN_RULES)
    t_cls_memo, _ = best(lambda: classify(dn_rules), args.repeat)
    native = [dict(r) for r in RULES]
    native[2]["rule"] = 'bind_dn_norm == "cn=directory manager"'  # same rule without an extension function
    native_rules = compile_rules(native)
    t_cls_native, _ = best(lambda: classify(native_rules), args.repeat)

    cfg = build_config({"rules": RULES, "state_dir": "none", "service_name": "bench"})
    snap = Snapshot(monitor={"connection": values, "currenttime": [NOW], "starttime": ["20261201000000Z"],
                             "version": [version], "opsinitiated": ["123456"], "opscompleted": ["123455"]})

    def process():
        return Collector(cfg, reader=object()).process(snap, save_state=False)

    t_proc, scrape = best(process, args.repeat)
    builder = DocumentBuilder(cfg)
    t_docs, docs = best(lambda: builder.documents(scrape), args.repeat)

    from prometheus_client import CollectorRegistry, generate_latest

    from dirsrvbeat.monitor.prom import MonitorMetrics

    reg = CollectorRegistry(auto_describe=False)
    reg.register(MonitorMetrics(lambda: scrape, Collector(cfg, reader=object())))
    t_prom, text = best(lambda: generate_latest(reg), args.repeat)

    n = len(values)
    mix: dict[str, int] = {}
    for w in workloads:
        mix[w] = mix.get(w, 0) + 1
    print(f"monitor bench: {n} connection values, {len(RULES)} rules, best of {args.repeat}")
    print(f"  parse              {t_parse:8.3f} s   {t_parse / n * 1e6:7.2f} us/value")
    print(f"  classify           {t_cls:8.3f} s   {t_cls / n * 1e6:7.2f} us/value")
    print(f"  classify, no ext   {t_cls_native:8.3f} s   {t_cls_native / n * 1e6:7.2f} us/value  "
          "(admin rule on bind_dn_norm instead of lowerAscii())")
    print(f"  classify DN-only   {t_cls_memo:8.3f} s   {t_cls_memo / n * 1e6:7.2f} us/value  (memo)")
    print(f"  parse+classify     {t_parse + t_cls:8.3f} s   target < 1 s: {'OK' if t_parse + t_cls < 1 else 'MISSED'}")
    print(f"  process            {t_proc:8.3f} s   (parse, classify, 3 histograms, workload sums)")
    print(f"  documents          {t_docs:8.3f} s   {len(docs)} documents")
    print(f"  prometheus         {t_prom:8.3f} s   {len(text)} bytes")
    print("  workloads          " + ", ".join(f"{k} {v}" for k, v in sorted(mix.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
