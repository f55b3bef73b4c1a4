"""The CEL workload classifier on access-log documents, single process and sharded."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "samples" / "access.full.log"
RULES = ROOT / "examples" / "workloads.yml"


def parse(*extra: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "dirsrvbeat", "access", "parse", "--connections",
                          "--workloads", str(RULES), *extra, str(SAMPLE)], capture_output=True, check=True)
    return [orjson.loads(line) for line in out.stdout.splitlines()]


def test_every_document_gets_a_workload_and_workers_agree():
    one = parse()
    assert all(d["dirsrv"].get("workload") for d in one)
    workloads = Counter(d["dirsrv"]["workload"] for d in one)
    assert len(workloads) >= 2
    svc_sync = [d for d in one if d["dirsrv"].get("bind", {}).get("dn", "").startswith("uid=svc-sync,")]
    assert svc_sync and {d["dirsrv"]["workload"] for d in svc_sync} <= set(workloads)
    two = parse("--workers", "2")
    canon = lambda docs: sorted(orjson.dumps(d, option=orjson.OPT_SORT_KEYS) for d in docs)  # noqa: E731
    assert canon(two) == canon(one)


def test_bad_rules_file_is_a_usage_error(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("rules:\n  - {workload: broken, rule: 'bind_dn =='}\n")
    p = subprocess.run([sys.executable, "-m", "dirsrvbeat", "access", "parse", "--workloads", str(rules),
                        str(SAMPLE)], capture_output=True, text=True)
    assert p.returncode == 2
    assert "broken" in p.stderr
