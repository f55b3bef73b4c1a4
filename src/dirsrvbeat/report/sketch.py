"""Bounded streaming structures for the report: every one has a size limit fixed up front.

* `LogHistogram`: log-linear histogram (HDR-style): each power of two is split into `sub`
  equal-width bins, so a quantile is within 1/(2*sub) of the true value (±3 % at sub=16)
  whatever the range. Sparse, at most ~`sub` bins per octave actually hit.
* `FixedBuckets`: exact counts between fixed edges (the logconv.py latency groups).
* `TopN`: the N largest items by a score, through a min-heap; items are built only when admitted.
* `CappedMap`: per-key aggregates (bind DN, client, filter shape ...) with at most `cap` keys;
  later keys fold into one `(other)` entry, whose use is reported.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

OTHER = "(other)"


class LogHistogram:
    """Streaming distribution of non-negative values; bounded, mergeable."""

    __slots__ = ("bins", "count", "max", "min", "sub", "sum", "zeros")

    def __init__(self, sub: int = 16) -> None:
        self.sub = sub
        self.bins: dict[int, int] = {}
        self.count = 0
        self.zeros = 0  # values <= 0 (whole-second etimes of old servers: etime=0)
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, v: float) -> None:
        self.count += 1
        self.sum += v
        if v < self.min:
            self.min = v
        if v > self.max:
            self.max = v
        if v <= 0.0:
            self.zeros += 1
            return
        m, e = math.frexp(v)  # v = m * 2**e, 0.5 <= m < 1
        sub = self.sub
        idx = e * sub + int((m - 0.5) * 2 * sub)
        bins = self.bins
        bins[idx] = bins.get(idx, 0) + 1

    def merge(self, other: LogHistogram) -> None:
        if other.sub != self.sub:
            raise ValueError("cannot merge histograms of different resolution")
        for k, n in other.bins.items():
            self.bins[k] = self.bins.get(k, 0) + n
        self.count += other.count
        self.zeros += other.zeros
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def bin_bounds(self, idx: int) -> tuple[float, float]:
        e, j = divmod(idx, self.sub)
        base = math.ldexp(0.5, e)  # 2**(e-1)
        return base * (1 + j / self.sub), base * (1 + (j + 1) / self.sub)

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        return self.quantiles([q])[0]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Estimates (linear inside the bin), clamped to the exact min and max seen."""
        qs = list(qs)
        if not self.count:
            return [None] * len(qs)
        order = sorted(self.bins)
        out: list[float | None] = []
        for q in qs:
            rank = q * (self.count - 1) + 1  # 1-based rank of the wanted value
            if rank <= self.zeros:
                out.append(max(self.min, 0.0))
                continue
            seen = self.zeros
            value = self.max
            for idx in order:
                n = self.bins[idx]
                if seen + n >= rank:
                    lo, hi = self.bin_bounds(idx)
                    value = lo + (hi - lo) * ((rank - seen - 0.5) / n)
                    break
                seen += n
            out.append(min(max(value, self.min), self.max))
        return out

    def iter_bins(self) -> Iterator[tuple[float, float, int]]:
        """(lower, upper, count) for every non-empty bin, ascending; zeros as (0, 0, n)."""
        if self.zeros:
            yield 0.0, 0.0, self.zeros
        for idx in sorted(self.bins):
            lo, hi = self.bin_bounds(idx)
            yield lo, hi, self.bins[idx]

    def regroup(self, edges: list[float]) -> list[int]:
        """Counts between `edges` (len(edges)+1 groups; a bin goes where its midpoint falls)."""
        counts = [0] * (len(edges) + 1)
        for lo, hi, n in self.iter_bins():
            counts[bisect_left(edges, (lo + hi) / 2)] += n
        return counts

    def summary(self, quantiles: Iterable[float] = (0.5, 0.9, 0.95, 0.99, 0.999)) -> dict[str, Any]:
        qs = list(quantiles)
        if not self.count:
            return {"count": 0}
        values = self.quantiles(qs)
        out: dict[str, Any] = {"count": self.count, "sum": self.sum, "avg": self.sum / self.count,
                               "min": self.min, "max": self.max}
        for q, v in zip(qs, values):
            out[f"p{_qname(q)}"] = v
        return out


def _qname(q: float) -> str:
    text = f"{q * 100:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", "")


class FixedBuckets:
    """Exact counts in half-open-above groups: value <= edges[0], <= edges[1], ..., > edges[-1]."""

    __slots__ = ("counts", "edges", "labels")

    def __init__(self, edges: list[float], labels: list[str]) -> None:
        if len(labels) != len(edges) + 1:
            raise ValueError("need one label per group (len(edges) + 1)")
        self.edges = edges
        self.labels = labels
        self.counts = [0] * (len(edges) + 1)

    def add(self, v: float) -> None:
        self.counts[bisect_left(self.edges, v)] += 1

    def merge(self, other: FixedBuckets) -> None:
        for i, n in enumerate(other.counts):
            self.counts[i] += n

    def as_list(self) -> list[dict[str, Any]]:
        return [{"range": label, "count": n} for label, n in zip(self.labels, self.counts)]


# logconv.py LATENCY_GROUPS (seconds): `<= 1`, `== 2`, `== 3`, `4-5`, `6-10`, `11-15`, `> 15`.
# logconv.py feeds it whole seconds; with fractions, (1, 2] counts as 2 and so on.
LOGCONV_LATENCY_EDGES = [1.0, 2.0, 3.0, 5.0, 10.0, 15.0]
LOGCONV_LATENCY_LABELS = ["<= 1", "2", "3", "4-5", "6-10", "11-15", "> 15"]


def logconv_buckets() -> FixedBuckets:
    return FixedBuckets(LOGCONV_LATENCY_EDGES, LOGCONV_LATENCY_LABELS)


# Sub-second groups for operation latency, where logconv's whole seconds say nothing.
LATENCY_EDGES = [0.0001, 0.001, 0.01, 0.1, 1.0, 10.0]
LATENCY_LABELS = ["<= 0.1 ms", "0.1-1 ms", "1-10 ms", "10-100 ms", "0.1-1 s", "1-10 s", "> 10 s"]


def latency_buckets() -> FixedBuckets:
    return FixedBuckets(LATENCY_EDGES, LATENCY_LABELS)


class TopN(Generic[T]):
    """Keeps the `n` items with the largest score; ties keep the earlier item."""

    __slots__ = ("_heap", "_seq", "n")

    def __init__(self, n: int) -> None:
        self.n = n
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = 0

    def would_admit(self, score: float) -> bool:
        return len(self._heap) < self.n or score > self._heap[0][0]

    def offer(self, score: float, make: Callable[[], T]) -> None:
        heap = self._heap
        if len(heap) < self.n:
            self._seq -= 1
            heapq.heappush(heap, (score, self._seq, make()))
        elif score > heap[0][0]:
            self._seq -= 1
            heapq.heapreplace(heap, (score, self._seq, make()))

    def items(self) -> list[T]:
        """Largest first."""
        return [item for _, _, item in sorted(self._heap, reverse=True)]

    def __len__(self) -> int:
        return len(self._heap)


class CappedMap(Generic[T]):
    """key -> aggregate, at most `cap` distinct keys; further keys share the `(other)` entry."""

    __slots__ = ("_data", "cap", "factory", "folded_values")

    def __init__(self, cap: int, factory: Callable[[], T]) -> None:
        self.cap = cap
        self.factory = factory
        self._data: dict[str, T] = {}
        self.folded_values = 0  # look-ups that went to (other)

    def get(self, key: str) -> T:
        data = self._data
        value = data.get(key)
        if value is not None:
            return value
        if len(data) >= self.cap:
            self.folded_values += 1
            other = data.get(OTHER)
            if other is None:
                other = data[OTHER] = self.factory()
            return other
        value = data[key] = self.factory()
        return value

    def items(self) -> Iterable[tuple[str, T]]:
        return self._data.items()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    @property
    def capped(self) -> bool:
        return OTHER in self._data


class CappedCounter(CappedMap[list]):
    """A capped counter (key -> [count])."""

    def __init__(self, cap: int) -> None:
        super().__init__(cap, lambda: [0])

    def inc(self, key: str, n: int = 1) -> None:
        self.get(key)[0] += n

    def most_common(self, n: int | None = None) -> list[tuple[str, int]]:
        pairs = sorted(((k, v[0]) for k, v in self.items()), key=lambda kv: (-kv[1], kv[0]))
        return pairs if n is None else pairs[:n]

    def total(self) -> int:
        return sum(v[0] for _, v in self.items())
