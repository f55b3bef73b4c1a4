"""Per-interval series for the charts, in at most `max_buckets` buckets whatever the time span.

Buckets start 1 s wide. When the span outgrows `max_buckets`, the width steps up to the next of
WIDTHS (each a multiple of the previous one, so old buckets nest exactly into new ones) and the
buckets merge. Each bucket holds counters and a coarse latency histogram (4 bins per octave,
±12 %), enough for p50/p95/p99 lines.
"""

from __future__ import annotations

from typing import Any

from .sketch import LogHistogram

WIDTHS = (1, 2, 10, 20, 60, 120, 600, 1200, 3600, 7200, 21600, 43200, 86400)


def _next_width(width: int) -> int:
    for w in WIDTHS:
        if w > width:
            return w
    return width * 2


class Bucket:
    __slots__ = ("by_type", "conc_last", "conc_max", "conns_opened", "errors", "etime", "ops", "unindexed", "wtime")

    def __init__(self) -> None:
        self.ops = 0
        self.by_type: dict[str, int] = {}
        self.errors = 0
        self.unindexed = 0
        self.conns_opened = 0
        self.conc_max = -1  # most connections open at once in the bucket (-1: no open/close in it)
        self.conc_last = -1  # connections open after the bucket's last open/close
        self.etime = LogHistogram(sub=4)
        self.wtime = LogHistogram(sub=4)

    def merge(self, other: Bucket) -> None:
        self.ops += other.ops
        for k, n in other.by_type.items():
            self.by_type[k] = self.by_type.get(k, 0) + n
        self.errors += other.errors
        self.unindexed += other.unindexed
        self.conns_opened += other.conns_opened
        self.conc_max = max(self.conc_max, other.conc_max)
        if other.conc_last >= 0:  # merged in time order
            self.conc_last = other.conc_last
        self.etime.merge(other.etime)
        self.wtime.merge(other.wtime)


class Timeline:
    def __init__(self, max_buckets: int = 720) -> None:
        self.max_buckets = max_buckets
        self.width = WIDTHS[0]
        self.buckets: dict[int, Bucket] = {}
        self.lo: int | None = None
        self.hi: int | None = None

    def _bucket(self, epoch: float) -> Bucket:
        idx = int(epoch // self.width)
        b = self.buckets.get(idx)
        if b is not None:
            return b
        lo = idx if self.lo is None or idx < self.lo else self.lo
        hi = idx if self.hi is None or idx > self.hi else self.hi
        if hi - lo + 1 > self.max_buckets:
            self._coarsen(lo * self.width, (hi + 1) * self.width)
            return self._bucket(epoch)
        self.lo, self.hi = lo, hi
        b = self.buckets[idx] = Bucket()
        return b

    def _coarsen(self, start: float, end: float) -> None:
        width = self.width
        while (int(end // width) - int(start // width) + 1) > self.max_buckets:
            width = _next_width(width)
        merged: dict[int, Bucket] = {}
        for idx, b in self.buckets.items():
            new = (idx * self.width) // width
            into = merged.get(new)
            if into is None:
                merged[new] = b
            else:
                into.merge(b)
        self.width = width
        self.buckets = merged
        if merged:
            self.lo, self.hi = min(merged), max(merged)
        else:
            self.lo = self.hi = None

    # ------------------------------------------------------------------ feeding
    def op(self, epoch: float, op_type: str, etime: float | None, wtime: float | None, error: bool,
           unindexed: bool) -> None:
        b = self._bucket(epoch)
        b.ops += 1
        b.by_type[op_type] = b.by_type.get(op_type, 0) + 1
        if etime is not None:
            b.etime.add(etime)
        if wtime is not None:
            b.wtime.add(wtime)
        if error:
            b.errors += 1
        if unindexed:
            b.unindexed += 1

    def conn_opened(self, epoch: float) -> None:
        self._bucket(epoch).conns_opened += 1

    def concurrency(self, epoch: float, open_now: int) -> None:
        b = self._bucket(epoch)
        if open_now > b.conc_max:
            b.conc_max = open_now
        b.conc_last = open_now

    # ------------------------------------------------------------------ output
    def points(self) -> dict[str, Any]:
        if self.lo is None or self.hi is None:
            return {"bucket_seconds": self.width, "points": []}
        width = self.width
        points = []
        last_conc = 0
        for idx in range(self.lo, self.hi + 1):
            b = self.buckets.get(idx)
            t = idx * width
            if b is None:
                points.append({"t": t, "ops": 0, "ops_per_second": 0.0, "by_type": {}, "errors": 0,
                               "unindexed": 0, "conns_opened": 0, "connections_max": last_conc})
                continue
            p50, p95, p99 = b.etime.quantiles((0.5, 0.95, 0.99))
            point: dict[str, Any] = {
                "t": t, "ops": b.ops, "ops_per_second": b.ops / width, "by_type": dict(b.by_type),
                "errors": b.errors, "unindexed": b.unindexed, "conns_opened": b.conns_opened,
                "connections_max": b.conc_max if b.conc_max >= 0 else last_conc,
            }
            if b.conc_last >= 0:
                last_conc = b.conc_last
            if b.etime.count:
                point.update({"etime_p50": p50, "etime_p95": p95, "etime_p99": p99, "etime_max": b.etime.max})
            if b.wtime.count:
                point["wtime_p95"] = b.wtime.quantile(0.95)
            points.append(point)
        return {"bucket_seconds": width, "points": points}
