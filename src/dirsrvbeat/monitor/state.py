"""State kept between scrapes (and between cron runs): counter values for per-interval deltas.

One small JSON file per monitored server in `state_dir`, written atomically (temp file + rename)
under an advisory lock, so overlapping cron runs never corrupt it. A server restart (a new
`starttime`, or any counter going backwards) resets cleanly: the delta of that interval is the
value counted since the restart, and the documents say `restarted: true`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

log = logging.getLogger("dirsrvbeat.monitor.state")

STATE_VERSION = 1


def default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "dirsrvbeat")


@dataclass
class MonitorState:
    starttime: str | None = None
    currenttime: int | None = None
    counters: dict[str, float] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)  # connection key -> ops_initiated

    def to_json(self) -> bytes:
        return orjson.dumps({"version": STATE_VERSION, "starttime": self.starttime,
                             "currenttime": self.currenttime, "counters": self.counters,
                             "connections": self.connections})

    @classmethod
    def from_json(cls, data: bytes) -> MonitorState | None:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or obj.get("version") != STATE_VERSION:
            return None
        return cls(starttime=obj.get("starttime"), currenttime=obj.get("currenttime"),
                   counters=dict(obj.get("counters") or {}), connections=dict(obj.get("connections") or {}))


@dataclass
class Deltas:
    counters: dict[str, float]
    connections: dict[str, int]
    restarted: bool
    interval: float | None
    first: bool


def compute_deltas(prev: MonitorState | None, cur: MonitorState) -> Deltas:
    """Increase of every counter since `prev` (empty on the first scrape)."""
    if prev is None:
        return Deltas({}, {}, restarted=False, interval=None, first=True)
    restarted = bool(prev.starttime and cur.starttime and prev.starttime != cur.starttime)
    if not restarted:  # a counter going backwards is a restart too (e.g. start time unreadable)
        restarted = any(v < prev.counters[k] for k, v in cur.counters.items()
                        if k in prev.counters and isinstance(v, (int, float)))
    deltas: dict[str, float] = {}
    for key, value in cur.counters.items():
        before = prev.counters.get(key)
        if before is None:
            continue
        deltas[key] = value if restarted or value < before else value - before
    conns: dict[str, int] = {}
    for key, ops in cur.connections.items():
        before_ops = None if restarted else prev.connections.get(key)
        if before_ops is not None:
            conns[key] = ops if ops < before_ops else ops - before_ops
        elif restarted or _opened_since(key, prev.currenttime):
            conns[key] = ops  # a new connection: all its operations fall in this interval
        # else: open before the previous scrape but not seen then (hidden, excluded): unknown
    interval = None
    if prev.currenttime is not None and cur.currenttime is not None and cur.currenttime >= prev.currenttime:
        interval = float(cur.currenttime - prev.currenttime)
    return Deltas(deltas, conns, restarted=restarted, interval=interval, first=False)


def _opened_since(key: str, epoch: int | None) -> bool:
    from .connection import generalized_time

    if epoch is None:
        return False
    opened = generalized_time(key.split("|", 1)[0])
    return opened is not None and opened >= epoch


class StateStore:
    """Load/save `MonitorState` for one server; `state_dir=None` keeps it in memory only."""

    def __init__(self, state_dir: str | None, instance_key: str) -> None:
        self.state_dir = state_dir
        digest = hashlib.sha256(instance_key.encode()).hexdigest()[:16]
        self.path = os.path.join(state_dir, f"monitor-{digest}.json") if state_dir else None
        self.memory: MonitorState | None = None
        self.warned = False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        if not self.path:
            yield
            return
        try:
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)  # type: ignore[arg-type]
            fd = os.open(self.path + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            self._warn(f"state directory {self.state_dir} unusable ({exc.strerror}); "
                       "deltas are kept in memory only")
            yield
            return
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def load(self) -> MonitorState | None:
        if self.path:
            try:
                with open(self.path, "rb") as f:
                    state = MonitorState.from_json(f.read())
                if state is None:
                    self._warn(f"state file {self.path} unreadable; starting without deltas")
                return state
            except FileNotFoundError:
                return self.memory
            except OSError as exc:
                self._warn(f"cannot read state file {self.path}: {exc.strerror}")
        return self.memory

    def save(self, state: MonitorState) -> None:
        self.memory = state
        if not self.path:
            return
        try:
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)  # type: ignore[arg-type]
            fd, tmp = tempfile.mkstemp(prefix=".monitor-", dir=self.state_dir)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(state.to_json())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self._warn(f"cannot write state file in {self.state_dir}: {exc.strerror}")

    def _warn(self, message: str) -> None:
        if not self.warned:
            self.warned = True
            log.warning("%s", message)


def flatten_counters(prefix: str, values: Mapping[str, Any], counters: set[str]) -> dict[str, float]:
    return {f"{prefix}.{k}": v for k, v in values.items() if k in counters}
