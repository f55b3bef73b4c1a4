"""Which index a document goes to.

daily (default): `<prefix>-<dataset>-<YYYY.MM.DD>` from the document's own `@timestamp` (UTC day).
  A re-sent document (same `_id` = `event.id`) always lands in the same index, so a crash between
  "bulk acknowledged" and "state saved" cannot create a duplicate: the retry overwrites it.
  Documents without a usable `@timestamp` go to `<prefix>-<dataset>-undated`.

rollover: `<prefix>-<dataset>` (a write alias, bootstrapped by `dirsrvbeat setup`, rolled over by
  ILM). Trade-off: a retry that crosses a rollover goes to the new backing index, where the
  `_id` is not known, so that document is stored twice.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from .templates import DATASETS

_DATASET_SUFFIX = {v: k for k, v in DATASETS.items()}
_UNSAFE = re.compile(r"[^a-z0-9_]+")


def dataset_suffix(dataset: Any) -> str:
    """`dirsrv.access` → `access`; other datasets → their last dotted part, sanitised."""
    if not isinstance(dataset, str) or not dataset:
        return "other"
    known = _DATASET_SUFFIX.get(dataset)
    if known:
        return known
    tail = dataset.rsplit(".", 1)[-1].lower()
    return _UNSAFE.sub("_", tail).strip("_") or "other"


def utc_day(ts: Any) -> str | None:
    """`2026-12-04T23:30:00.000-02:00` → `2026.12.05`; epoch milliseconds accepted; None if unusable."""
    if isinstance(ts, str):
        n = len(ts)
        if n >= 10 and ts[4] == "-" and ts[7] == "-":
            if n == 10 or ts.endswith(("Z", "+00:00", "z")) or (n <= 23 and ts[-6] not in "+-"):
                # date only, UTC, or no offset at all (Elasticsearch reads it as UTC)
                if ts[0:4].isdigit() and ts[5:7].isdigit() and ts[8:10].isdigit():
                    return f"{ts[0:4]}.{ts[5:7]}.{ts[8:10]}"
                return None
            try:
                dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
            except ValueError:
                return None
            if dt.tzinfo is not None:
                dt = dt.astimezone(timezone.utc)
            return dt.strftime("%Y.%m.%d")
        return None
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        try:
            return datetime.fromtimestamp(ts / 1000.0, tz=timezone.utc).strftime("%Y.%m.%d")
        except (OverflowError, OSError, ValueError):
            return None
    return None


class IndexNamer:
    """`index_for(doc) -> str` for a prefix and an index mode."""

    def __init__(self, prefix: str = "dirsrvbeat", mode: str = "daily") -> None:
        if mode not in ("daily", "rollover"):
            raise ValueError(f"index mode must be daily or rollover, not {mode!r}")
        self.prefix = prefix
        self.mode = mode
        self._day_cache: dict[str, str | None] = {}

    def __repr__(self) -> str:
        return f"IndexNamer(prefix={self.prefix!r}, mode={self.mode!r})"

    def __call__(self, doc: dict[str, Any]) -> str:
        return self.index_for(doc)

    def index_for(self, doc: dict[str, Any]) -> str:
        event = doc.get("event")
        suffix = dataset_suffix(event.get("dataset") if isinstance(event, dict) else None)
        if self.mode == "rollover":
            return f"{self.prefix}-{suffix}"
        ts = doc.get("@timestamp")
        if isinstance(ts, str):
            key = ts[:10] if (len(ts) > 10 and ts.endswith(("+00:00", "Z"))) else ts
            day = self._day_cache.get(key)
            if day is None and key not in self._day_cache:
                day = utc_day(ts)
                if len(self._day_cache) > 10_000:
                    self._day_cache.clear()
                self._day_cache[key] = day
        else:
            day = utc_day(ts)
        return f"{self.prefix}-{suffix}-{day or 'undated'}"
