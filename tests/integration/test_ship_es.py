"""`dirsrvbeat setup` + `dirsrvbeat access ship` against real Elasticsearch (every version of the
matrix) and a real 389 DS: exactly-once delivery across runs, rotation, kill -9 and ES outages."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from dirsrvbeat.access.pipeline import AccessPipeline

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]

ROOT = Path(__file__).resolve().parents[2]
LIVE = ROOT / "tests" / "data" / "live"
CLI = [sys.executable, "-m", "dirsrvbeat"]
# the heavier scenarios run on one server of the matrix (the first one selected of these)
SCENARIO_KEYS = ("7.10", "8", "7.17", "6.8", "9")


def cli(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    p = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"dirsrvbeat {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def expected_documents(paths: list[Path]) -> list[dict]:
    """What shipping everything delivers: all but still-open work (closed connections expire)."""
    p = AccessPipeline([str(x) for x in paths], connections=True, with_ids=True, flush_at_end=False)
    docs = list(p.documents())
    p.expire_closed(float("inf"), docs)
    return docs


def result_lines(paths: list[Path]) -> int:
    n = 0
    for path in paths:
        with open(path, "rb") as f:
            n += sum(1 for raw in f if b" RESULT err=" in raw)
    return n


def es_count(es, index: str, query: dict | None = None) -> int:
    es.ok("POST", f"/{index}/_refresh")
    body = {"query": query} if query else None
    return es.ok("POST", f"/{index}/_count", body)["count"]


@pytest.fixture()
def clean(es):
    es.delete_indices("dirsrvbeat-*")
    yield es
    es.delete_indices("dirsrvbeat-*")


def scenario_server(es) -> None:
    from services.es import selected_versions

    keys = [v.key for v in selected_versions()]
    first = next((k for k in SCENARIO_KEYS if k in keys), None)
    if es.key != first:
        pytest.skip(f"scenario runs once, on ES {first}")


def test_setup_and_ship_real_log_types_and_counts(clean, tmp_path):
    es = clean
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(LIVE / "access.default-level.log", logs / "access.20261204-100000")
    shutil.copy(LIVE / "access.level772-statlog1.log", logs / "access")
    cli("setup", "--es-url", es.url)
    cli("setup", "--es-url", es.url)  # idempotent
    p = cli("access", "ship", str(logs / "access*"), "--state-dir", str(tmp_path / "state"), "--es-url", es.url)
    assert "rejected=0" in p.stderr
    files = [logs / "access.20261204-100000", logs / "access"]
    expected = expected_documents(files)
    assert es_count(es, "dirsrvbeat-*") == len(expected)
    with_result = es_count(es, "dirsrvbeat-access-*", {"exists": {"field": "dirsrv.result.code"}})
    assert with_result == result_lines(files)
    mapping = es.ok("GET", "/dirsrvbeat-access-*/_mapping")
    props = next(iter(mapping.values()))["mappings"]
    props = props.get("properties") or next(iter(props.values()))["properties"]  # 6.x: typed
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["@timestamp"]["type"] == "date"
    assert props["dirsrv"]["properties"]["timing"]["properties"]["etime"]["type"] == "double"
    assert props["dirsrv"]["properties"]["result"]["properties"]["code"]["type"] == "long"
    assert props["dirsrv"]["properties"]["search"]["properties"]["filter_shape"]["type"] == "keyword"
    # a second run finds nothing new and changes nothing
    p = cli("access", "ship", str(logs / "access*"), "--state-dir", str(tmp_path / "state"), "--es-url", es.url)
    assert " docs=0 " in p.stderr
    assert es_count(es, "dirsrvbeat-*") == len(expected)
    # unindexed searches are findable by shape
    full = es_count(es, "dirsrvbeat-access-*", {"term": {"dirsrv.search.unindexed": "full"}})
    assert full == sum(1 for d in expected if d["dirsrv"].get("search", {}).get("unindexed") == "full") > 0


def _stored(es, pattern: str) -> dict[str, tuple[str, dict]]:
    """_id -> (index without its prefix, _source without event.ingested) of every stored document."""
    es.ok("POST", f"/{pattern}/_refresh")
    out: dict[str, tuple[str, dict]] = {}
    body = {"size": 1000, "sort": ["_doc"], "query": {"match_all": {}}}
    resp = es.ok("POST", f"/{pattern}/_search?scroll=1m", body)
    while resp["hits"]["hits"]:
        for hit in resp["hits"]["hits"]:
            source = hit["_source"]
            assert source["event"].pop("ingested")
            out[hit["_id"]] = (hit["_index"].split("-", 1)[1], source)
        resp = es.ok("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": resp["_scroll_id"]})
    return out


@pytest.mark.skipif(not __import__("dirsrvbeat.access.fast", fromlist=["x"]).available(),
                    reason="dirsrvbeat_fast is not built (rust/build.sh)")
def test_compiled_and_python_engines_store_the_same_documents(es, tmp_path):
    """`ship --engine rust` (documents framed for _bulk in Rust) and `--engine python` store the
    same documents under the same ids in the same (daily, UTC) indices, `_type` included on 6.x."""
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(LIVE / "access.default-level.log", logs / "access.20261204-100000")
    shutil.copy(LIVE / "access.level772-statlog1.log", logs / "access")
    stored = {}
    for engine in ("python", "rust"):
        prefix = f"dsbeng{engine}"
        es.delete_indices(f"{prefix}-*")
        try:
            p = cli("access", "ship", str(logs / "access*"), "--engine", engine, "--index-prefix", prefix,
                    "--batch-docs", "300", "--state-dir", str(tmp_path / f"state-{engine}"), "--es-url", es.url)
            assert "rejected=0" in p.stderr
            stored[engine] = _stored(es, f"{prefix}-*")
        finally:
            es.delete_indices(f"{prefix}-*")
    expected = expected_documents([logs / "access.20261204-100000", logs / "access"])
    assert len(stored["rust"]) == len(expected) > 100
    assert stored["rust"] == stored["python"]


def test_live_traffic_with_repeated_ship_and_rotation(clean, dirsrv, tmp_path):
    scenario_server(clean)
    es = clean
    from services.traffic import Traffic

    cli("setup", "--es-url", es.url)
    # the server deletes its oldest rotated logs past maxlogsperdir: keep every file of this test
    kept = dirsrv.get_config("nsslapd-accesslog-maxlogsperdir").get("nsslapd-accesslog-maxlogsperdir", ["10"])[0]
    dirsrv.set_config("nsslapd-accesslog-maxlogsperdir", 1000)
    state = tmp_path / "state"
    pattern = str(Path(dirsrv.log_dir) / "access*")
    traffic = Traffic(dirsrv, seed=7, max_seconds=120)
    user_dn = f"uid=user0042,ou=people,{dirsrv.suffix}"
    t0 = time.time()
    done = threading.Event()

    def drive():
        try:
            traffic.mixed_workload(seconds=12, seed=3, think=0.3)
        finally:
            done.set()

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    bursts = 0
    runs = 0
    rotated = False
    while not done.is_set() or runs < 3:
        for _ in range(5):  # a user with a known, exact number of operations
            c = dirsrv.connect(user_dn, "user0042-Pass1")
            c.search(f"ou=people,{dirsrv.suffix}", "(uid=user0042)", attributes=["cn"])
            c.unbind()
            bursts += 1
        cli("access", "ship", pattern, "--state-dir", str(state), "--es-url", es.url)
        runs += 1
        if runs == 2 and not rotated:
            dirsrv.rotate_access_log()
            rotated = True
    thread.join(timeout=60)

    def sizes():
        found = sorted(Path(dirsrv.log_dir).glob("access*"), key=lambda p: (p.name == "access", p.name))
        found = [f for f in found if not f.name.endswith("rotationinfo")]
        return found, [f.stat().st_size for f in found]

    # late lines (persistent searches ending, idle timeouts) keep coming for a while: ship until the
    # log stood still for longer than the close grace period (then every closed connection is done)
    for _ in range(10):
        dirsrv.wait_for_log_flush(settle=2.0)
        files, before = sizes()
        time.sleep(6)
        cli("access", "ship", pattern, "--state-dir", str(state), "--es-url", es.url)
        if sizes()[1] == before:
            break
    assert rotated and len(files) >= 2
    # exactly one document per RESULT line of every file, and every expected document once
    assert es_count(es, "dirsrvbeat-access-*", {"exists": {"field": "dirsrv.result.code"}}) == result_lines(files)
    expected = expected_documents(files)
    open_at_end = [d for d in expected if d["event"]["dataset"] == "dirsrv.connection"
                   and d["dirsrv"]["conn"]["status"] == "open"]
    assert es_count(es, "dirsrvbeat-*") == len(expected) - len(open_at_end)
    # the right bind DN on each of the user's operations, since the test started
    since = {"range": {"@timestamp": {"gte": int(t0 * 1000) - 1000, "format": "epoch_millis"}}}
    user_searches = es_count(es, "dirsrvbeat-access-*", {"bool": {"filter": [
        since, {"term": {"dirsrv.bind.dn": user_dn}}, {"term": {"dirsrv.op.type": "SRCH"}},
        {"term": {"dirsrv.search.filter": "(uid=user0042)"}}]}})
    if user_searches != bursts:  # say which documents disagree
        hits = es.ok("POST", "/dirsrvbeat-access-*/_search", {"size": 100, "query": {"bool": {"filter": [
            since, {"term": {"dirsrv.search.filter": "(uid=user0042)"}}]}}})["hits"]["hits"]
        detail = [(h["_source"]["dirsrv"].get("bind"), h["_source"]["dirsrv"]["op"], h["_source"].get("log"))
                  for h in hits if h["_source"]["dirsrv"].get("bind", {}).get("dn") != user_dn]
        raise AssertionError(f"{user_searches} of {bursts} searches carry {user_dn}: {detail}")
    anonymous_user_searches = es_count(es, "dirsrvbeat-access-*", {"bool": {"filter": [
        since, {"term": {"dirsrv.search.filter": "(uid=user0042)"}}, {"term": {"dirsrv.bind.dn": ""}}]}})
    assert anonymous_user_searches == 0
    dirsrv.set_config("nsslapd-accesslog-maxlogsperdir", kept)


def big_log(tmp_path: Path) -> tuple[Path, list[Path]]:
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "access"
    shutil.copy(ROOT / "tests" / "data" / "samples" / "access.full.log", live)
    return live, [live]


@pytest.mark.parametrize("engine", ["python", "auto"])
def test_kill_minus_nine_mid_bulk_then_rerun_loses_and_duplicates_nothing(clean, tmp_path, engine):
    scenario_server(clean)
    es = clean
    cli("setup", "--es-url", es.url)
    live, files = big_log(tmp_path)
    state = tmp_path / "state"
    config = tmp_path / "dirsrvbeat.yml"  # small requests: the run lasts long enough to be killed mid-bulk
    config.write_text(f"elasticsearch:\n  hosts: ['{es.url}']\n  bulk:\n    chunk_docs: 150\n")
    args = [*CLI, "access", "ship", str(live), "--state-dir", str(state), "--config", str(config),
            "--batch-docs", "150", "--engine", engine]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    registry = state / "registry.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not registry.exists() and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # let it get into the middle of a bulk
    assert proc.poll() is None, "shipper finished before it could be killed; use a bigger log"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    shipped = orjson.loads(registry.read_bytes())
    offset = next(iter(shipped["files"].values()))["offset"]
    assert 0 < offset < live.stat().st_size
    cli("access", "ship", str(live), "--state-dir", str(state), "--es-url", es.url)
    expected = expected_documents(files)
    assert es_count(es, "dirsrvbeat-*") == len(expected)
    ids = {d["event"]["id"] for d in expected}
    assert len(ids) == len(expected)


def test_elasticsearch_stopped_mid_run_exits_nonzero_without_advancing(clean, tmp_path):
    scenario_server(clean)
    es = clean
    from services.es import start, stop

    cli("setup", "--es-url", es.url)
    live, files = big_log(tmp_path)
    state = tmp_path / "state"
    config = tmp_path / "dirsrvbeat.yml"
    config.write_text(f"elasticsearch:\n  hosts: ['{es.url}']\n  timeout: 5\n"
                      "  bulk:\n    max_retries: 2\n    initial_backoff: 0.2\n    max_backoff: 1\n"
                      "    chunk_docs: 100\n")
    args = [*CLI, "access", "ship", str(live), "--config", str(config), "--state-dir", str(state),
            "--batch-docs", "100"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    registry = state / "registry.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not registry.exists() and proc.poll() is None:
        time.sleep(0.05)
    try:
        stop(es.key)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 69, err
        assert "state not advanced" in err
        offset = next(iter(orjson.loads(registry.read_bytes())["files"].values()))["offset"]
        assert offset < live.stat().st_size
    finally:
        start(es.key)
    cli("access", "ship", str(live), "--config", str(config), "--state-dir", str(state))
    assert es_count(es, "dirsrvbeat-*") == len(expected_documents(files))
