"""`access parse --workers N`: the documents of one process, whatever the number of workers.

Every worker reads everything and processes its connections' lines (access/parallel.py); the
output is the single process's output in another order. Checked for both engines (the compiled
one in sharded mode, and the Python pipeline in each worker) on the real sample, on every golden
log concatenated into one file (banners, restarts and junk mid-file), on synthetic logs built
from real output with a server restart, and on random damaged mixes of real lines. Failures and
Ctrl-C must stop every process promptly.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from dirsrvbeat.access import fast, parallel
from dirsrvbeat.access.parallel import SHARED_KEYS, SUM_KEYS, WorkerError, run_parallel
from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.deadletter import DeadLetter, MalformedLine

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "samples" / "access.full.log"
GOLDEN = sorted((ROOT / "tests" / "golden").glob("**/*.log"))
sys.path.insert(0, str(ROOT / "bench"))
import synth  # noqa: E402

ENGINES = ["python", pytest.param("rust", marks=pytest.mark.skipif(
    not fast.available(), reason="dirsrvbeat_fast is not built (rust/build.sh)"))]
OPTIONS = dict(connections=True, with_ids=True, host_name="ldap1", service_name=None)
COMPARED = tuple(k for k in SUM_KEYS if k != "documents") + SHARED_KEYS


def canonical(lines: list[bytes]) -> list[bytes]:
    return sorted(orjson.dumps(orjson.loads(x), option=orjson.OPT_SORT_KEYS) for x in lines)


def single(paths: list[str], **options: Any) -> tuple[list[bytes], dict[str, Any], list[bytes]]:
    dead = io.BytesIO()
    pipeline = AccessPipeline(paths, deadletter=DeadLetter(stream=dead), **options)
    docs = [orjson.dumps(d) for d in pipeline.documents()]
    return canonical(docs), pipeline.summary(), sorted(dead.getvalue().splitlines())


def sharded(tmp_path: Path, paths: list[str], workers: int, engine: str,
            **options: Any) -> tuple[list[bytes], dict[str, Any], list[bytes]]:
    out = tmp_path / f"out-{engine}-{workers}.ndjson"
    dead = tmp_path / f"dead-{engine}-{workers}.ndjson"
    with open(out, "wb") as f:
        summary = run_parallel(paths, workers, f.fileno(), deadletter_path=str(dead), engine=engine, **options)
    assert not list(tmp_path.glob(f"{dead.name}.w*")), "dead-letter parts left behind"
    lines = out.read_bytes().splitlines()
    return canonical(lines), summary, sorted(dead.read_bytes().splitlines()) if dead.exists() else []


def assert_same(tmp_path: Path, paths: list[str], workers: int, engine: str, **options: Any) -> int:
    docs1, sum1, dead1 = single(paths, **options)
    docs2, sum2, dead2 = sharded(tmp_path, paths, workers, engine, **options)
    assert len(docs2) == len(docs1)
    if docs2 != docs1:
        only1, only2 = sorted(set(docs1) - set(docs2)), sorted(set(docs2) - set(docs1))
        raise AssertionError(f"{len(only1)} documents differ; single: {only1[:1]}\nsharded: {only2[:1]}")
    assert {k: sum2[k] for k in COMPARED} == {k: sum1[k] for k in COMPARED}
    assert sum2["documents"] == len(docs1)
    assert sum2["engine"] == engine and sum2["workers"] == workers
    assert dead2 == dead1
    return len(docs1)


# ------------------------------------------------------------------------------ inputs

@pytest.fixture(scope="module")
def golden_concatenated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every golden log in one file: banners, JSON headers, restarts and junk in mid-file."""
    path = tmp_path_factory.mktemp("golden") / "access"
    path.write_bytes(b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in GOLDEN))
    return str(path)


@pytest.fixture(scope="module")
def synthetic_with_restart(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two synthetic logs (real connections replayed) one after the other: the second starts
    again at conn=1, a server restart; the verbose one has internal operations and STAT lines."""
    d = tmp_path_factory.mktemp("synth")
    first, second = d / "a.log", d / "b.log"
    synth.synthesize(str(first), 1_200_000, 3, synth.DEFAULT_SOURCE, False, rate=400.0)
    synth.synthesize(str(second), 800_000, 4, synth.DEFAULT_SOURCE, True, rate=900.0)
    path = d / "access"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    return str(path)


# ------------------------------------------------------------------------------ equal output

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("workers", [2, 3])
def test_real_sample(tmp_path: Path, engine: str, workers: int) -> None:
    assert assert_same(tmp_path, [str(SAMPLE)], workers, engine, **OPTIONS) > 5000


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("workers", [2, 3])
def test_golden_logs_concatenated(tmp_path: Path, golden_concatenated: str, engine: str, workers: int) -> None:
    assert assert_same(tmp_path, [golden_concatenated], workers, engine, **OPTIONS) > 300


@pytest.mark.parametrize("engine", ENGINES)
def test_golden_logs_as_many_files(tmp_path: Path, engine: str) -> None:
    paths = [str(p) for p in GOLDEN] + [str(tmp_path / "missing.log")]
    assert_same(tmp_path, paths, 2, engine, connections=False, with_ids=False, host_name=None,
                service_name="slapd-x")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("workers", [2, 3])
def test_synthetic_log_with_a_restart(tmp_path: Path, synthetic_with_restart: str, engine: str,
                                      workers: int) -> None:
    n = assert_same(tmp_path, [synthetic_with_restart], workers, engine, **OPTIONS)
    assert n > 3000
    _, summary, _ = single([synthetic_with_restart], connections=False)
    assert summary["server_restarts"] == 1


def _pool() -> list[bytes]:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)[:4000]
    for p in GOLDEN:
        lines += p.read_bytes().splitlines(keepends=True)
    return lines


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seed", range(12))
def test_random_damaged_mixes(tmp_path: Path, engine: str, seed: int) -> None:
    """Consecutive or shuffled real lines, cut, with junk bytes, out-of-order stamps, CRLF."""
    rnd = random.Random(seed)
    pool = _pool()
    n = rnd.randrange(200, 1500)
    start = rnd.randrange(0, len(pool) - n)
    lines = pool[start:start + n] if seed % 3 else [rnd.choice(pool) for _ in range(n)]
    out = []
    for line in lines:
        r = rnd.random()
        if r < 0.05:
            line = line[:rnd.randrange(len(line))] + b"\n"
        elif r < 0.1:
            pos = rnd.randrange(len(line))
            line = line[:pos] + bytes([rnd.randrange(256)]) + line[pos:]
        elif r < 0.13:
            line = line.rstrip(b"\n") + b"\r\n"
        out.append(line if line.endswith(b"\n") else line + b"\n")
    path = tmp_path / "access"
    path.write_bytes(b"".join(out))
    try:
        single([str(path)], **OPTIONS)
    except (ValueError, TypeError, AttributeError, OverflowError):
        pytest.skip("the reference dies on this input (see test_fast_equivalence.PYTHON_STILL_DIES)")
    assert_same(tmp_path, [str(path)], 2 + seed % 2, engine, **OPTIONS)


# ------------------------------------------------------------------------------ the command

def _cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dirsrvbeat", "access", "parse", *args], capture_output=True,
                          timeout=300, **kwargs)


def test_cli_workers_equal_one_process(tmp_path: Path) -> None:
    one = _cli("--connections", str(SAMPLE))
    two = _cli("--connections", "--workers", "2", "-o", str(tmp_path / "out.ndjson"), str(SAMPLE))
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert canonical((tmp_path / "out.ndjson").read_bytes().splitlines()) == canonical(one.stdout.splitlines())


def test_workers_refuse_stdin(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stdin"):
        run_parallel(["-"], 2, 1, deadletter_path=None)


def test_strict_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "access"
    path.write_bytes(SAMPLE.read_bytes()[:20000] + b"junk line\n" + SAMPLE.read_bytes()[20000:40000])
    with open(tmp_path / "out", "wb") as f, pytest.raises(MalformedLine, match="junk line"):
        run_parallel([str(path)], 2, f.fileno(), deadletter_path=None, strict=True)


# ------------------------------------------------------------------------------ failures, Ctrl-C

class _FailingStream:
    """A log that breaks after some reads (a disk or NFS mount going away)."""

    def __init__(self, path: str) -> None:
        self.f = open(path, "rb")  # noqa: SIM115
        self.reads = 0

    def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if self.reads > 3:
            raise RuntimeError("the disk went away")
        return self.f.read(min(n, 30000) if n > 0 else 30000)

    def __iter__(self) -> Any:
        for i, line in enumerate(self.f):
            if i > 500:
                raise RuntimeError("the disk went away")
            yield line

    def close(self) -> None:
        self.f.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failing_worker_fails_the_run_promptly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 engine: str) -> None:
    monkeypatch.setattr(parallel, "open_log", _FailingStream)
    monkeypatch.setattr(fast, "open_log", _FailingStream)
    dead = tmp_path / "dead"
    started = time.monotonic()
    with open(tmp_path / "out", "wb") as f, pytest.raises(WorkerError, match="disk went away"):
        run_parallel([str(SAMPLE)], 2, f.fileno(), deadletter_path=str(dead), engine=engine, **OPTIONS)
    assert time.monotonic() - started < 20
    assert not list(tmp_path.glob("dead.w*"))


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _start_blocked_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    """`access parse --workers 2` writing into a pipe nobody reads: the workers block in write."""
    big = tmp_path / "access"
    big.write_bytes(SAMPLE.read_bytes() * 3)
    proc = subprocess.Popen([sys.executable, "-m", "dirsrvbeat", "access", "parse", "--connections",
                             "--workers", "2", str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.1)
        workers = _children(proc.pid)
    assert len(workers) == 2, "the workers did not start"
    time.sleep(1.0)  # let them fill the pipe and block
    assert proc.poll() is None
    return proc, workers


def _wait(proc: subprocess.Popen[bytes], seconds: float) -> int:
    try:
        return proc.wait(timeout=seconds)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_killed_worker_stops_everything(tmp_path: Path) -> None:
    proc, workers = _start_blocked_run(tmp_path)
    started = time.monotonic()
    os.kill(workers[1], signal.SIGKILL)
    code = _wait(proc, 10)
    assert code != 0
    assert time.monotonic() - started < 10
    assert b"worker 1 died" in proc.stderr.read()  # type: ignore[union-attr]
    time.sleep(0.2)
    assert not any(_alive(w) for w in workers)


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    proc, workers = _start_blocked_run(tmp_path)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert _wait(proc, 10) == 130
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert not any(_alive(w) for w in workers)
