"""Per-workload histograms of the open connections (snapshot histograms, one per scrape).

A histogram observes one number per open connection: a variable of the classifier context
(`value: ops_initiated`) or a CEL expression over those variables (`expr: '...'`, int/double,
or null to skip the connection). Buckets are upper bounds (`le`), cumulative as in Prometheus;
+Inf is always added.

    histograms:
      - {name: ops_per_connection, value: ops_initiated, buckets: [1, 5, 10, 100, 1000]}
      - {name: pending, expr: 'ops_pending > 0 ? ops_pending : null', buckets: [1, 2, 5]}
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cel

from ..processors.classify import _SAMPLES, VARIABLES, RuleError

# +Inf is stored as the largest float32 (`le_label` says "+Inf"): it fits a `double` field and also
# a dynamically mapped `float` one (an index created without the template), where a larger number
# becomes Infinity and the document is rejected.
INF_LE = 3.4028234663852886e38
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

DEFAULT_HISTOGRAMS: tuple[dict[str, Any], ...] = (
    {"name": "ops_per_connection", "value": "ops_initiated",
     "description": "Operations received per open connection.",
     "buckets": [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000, 100000]},
    {"name": "connection_age_seconds", "value": "connection_age_seconds",
     "description": "Age of the open connections, by the server's clock (seconds).",
     "buckets": [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400, 604800]},
    {"name": "blocked_ratio", "value": "blocked_ratio",
     "description": "threads_blocked / ops_initiated per connection (connections without operations "
                    "are not counted).",
     "buckets": [0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1]},
)


class HistogramConfigError(ValueError):
    pass


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    buckets: tuple[float, ...]
    value: str | None = None
    expr: str | None = None
    description: str = ""
    program: Any = field(default=None, compare=False, repr=False)

    def observe_value(self, variables: Mapping[str, Any]) -> float | None:
        """The number this histogram observes for one connection (None = not observed)."""
        if self.program is not None:
            result = self.program.execute(variables)
            if result is None or isinstance(result, bool):
                return None
            return result if isinstance(result, (int, float)) else None
        v = self.value
        if v == "blocked_ratio":
            if variables["ops_initiated"] <= 0:
                return None
            return variables["blocked_ratio"]
        if v == "connection_age_seconds" and variables[v] < 0:
            return None
        value = variables[v]  # type: ignore[index]
        return float(value) if isinstance(value, bool) else value

    @property
    def le_labels(self) -> list[str]:
        return [format_le(b) for b in self.buckets] + ["+Inf"]


def format_le(bound: float) -> str:
    """Prometheus-style bound label: 1 -> "1.0", 0.05 -> "0.05"."""
    if math.isinf(bound):
        return "+Inf"
    return repr(float(bound))


def parse_histograms(specs: Any, where: str = "histograms") -> list[HistogramSpec]:
    if specs is None:
        specs = DEFAULT_HISTOGRAMS
    if not isinstance(specs, (list, tuple)):
        raise HistogramConfigError(f"{where}: must be a list of {{name, value|expr, buckets}} mappings")
    out: list[HistogramSpec] = []
    seen: set[str] = set()
    numeric = sorted(k for k, (t, _) in VARIABLES.items() if t in (int, float, bool))
    for i, obj in enumerate(specs):
        at = f"{where}[{i}]"
        if not isinstance(obj, Mapping):
            raise HistogramConfigError(f"{at}: must be a mapping, got {obj!r}")
        unknown = set(obj) - {"name", "value", "expr", "buckets", "description"}
        if unknown:
            raise HistogramConfigError(f"{at}: unknown key(s) {', '.join(sorted(unknown))} "
                                       "(known: name, value, expr, buckets, description)")
        name = obj.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise HistogramConfigError(f"{at}.name: must match {NAME_RE.pattern}, got {name!r}")
        if name in seen:
            raise HistogramConfigError(f"{at}.name: histogram {name!r} defined twice")
        seen.add(name)
        value, expr = obj.get("value"), obj.get("expr")
        if (value is None) == (expr is None):
            raise HistogramConfigError(f"{at}: give exactly one of `value` (a variable) or `expr` (CEL)")
        if value is not None and value not in numeric:
            raise HistogramConfigError(f"{at}.value: {value!r} is not a numeric variable "
                                       f"(one of: {', '.join(numeric)})")
        buckets = obj.get("buckets")
        if not isinstance(buckets, (list, tuple)) or not buckets:
            raise HistogramConfigError(f"{at}.buckets: must be a non-empty list of numbers")
        try:
            bounds = [float(b) for b in buckets if not (isinstance(b, str) and b.strip() in ("+Inf", "inf"))]
        except (TypeError, ValueError):
            raise HistogramConfigError(f"{at}.buckets: must be numbers, got {buckets!r}") from None
        if any(math.isnan(b) or math.isinf(b) for b in bounds):
            raise HistogramConfigError(f"{at}.buckets: NaN/Inf bounds are not allowed (+Inf is implicit)")
        if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:])):
            raise HistogramConfigError(f"{at}.buckets: must be strictly increasing, got {buckets!r}")
        program = None
        if expr is not None:
            program = _compile_expr(str(expr), f"{at}.expr ({name})")
        out.append(HistogramSpec(name=name, buckets=tuple(bounds), value=value,
                                 expr=str(expr) if expr is not None else None,
                                 description=str(obj.get("description") or ""), program=program))
    return out


def _compile_expr(expr: str, where: str) -> Any:
    try:
        program = cel.compile(expr)
    except Exception as exc:
        raise RuleError(f"{where}: CEL does not compile: {' '.join(str(exc).split())}") from None
    unknown = sorted(set((program.references() or {}).get("variables") or ()) - set(VARIABLES))
    if unknown:
        raise RuleError(f"{where}: unknown variable(s) {', '.join(unknown)}")
    for sample in _SAMPLES:
        try:
            result = program.execute(sample)
        except (TypeError, RuntimeError) as exc:
            raise RuleError(f"{where}: CEL error on a sample connection: {' '.join(str(exc).split())}") \
                from None
        except Exception:
            continue
        if result is not None and (isinstance(result, bool) or not isinstance(result, (int, float))):
            raise RuleError(f"{where}: must return a number or null, returned {type(result).__name__}")
    return program


class Histogram:
    """Counts for one (histogram, workload): non-cumulative per bucket, +Inf last."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # value <= bound lands in that bucket
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[int]:
        out = []
        total = 0
        for c in self.counts:
            total += c
            out.append(total)
        return out

    def buckets(self) -> list[tuple[float, int, int]]:
        """[(le, cumulative count, bucket count)], +Inf as math.inf."""
        les = [*self.bounds, math.inf]
        return list(zip(les, self.cumulative(), self.counts))

    def midpoints(self) -> tuple[list[float], list[int]]:
        """Native ES `histogram` form: (values, counts) with a representative value per non-empty
        bucket (the middle of the bucket; the last finite bound for +Inf)."""
        values: list[float] = []
        counts: list[int] = []
        lower = None
        for i, c in enumerate(self.counts):
            upper = self.bounds[i] if i < len(self.bounds) else None
            if c:
                if upper is None:
                    v = self.bounds[-1] if self.bounds else 0.0
                elif lower is None:
                    v = upper
                else:
                    v = (lower + upper) / 2
                values.append(float(v))
                counts.append(c)
            lower = upper
        return values, counts
