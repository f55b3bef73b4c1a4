"""Splitting the input anywhere and carrying the joiner state over gives the same documents."""

from __future__ import annotations

from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.inputs.access_file import iter_lines

SAMPLE = Path(__file__).parent.parent / "data" / "samples" / "access.full.log"
with open(SAMPLE, "rb") as _f:
    LINES = list(iter_lines(str(SAMPLE), _f))[:6000]


def canon(docs):
    return sorted(orjson.dumps(d, option=orjson.OPT_SORT_KEYS) for d in docs)


def one_pass():
    return canon(AccessPipeline(lines=LINES, connections=True).documents())


BASELINE = one_pass()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(LINES) - 1), min_size=1, max_size=3, unique=True))
def test_split_runs_with_exported_state_equal_one_pass(cuts):
    bounds = [0, *sorted(cuts), len(LINES)]
    state = None
    docs = []
    for i in range(len(bounds) - 1):
        last = i == len(bounds) - 2
        p = AccessPipeline(lines=LINES[bounds[i]:bounds[i + 1]], connections=True, flush_at_end=last)
        if state is not None:
            p.import_state(orjson.loads(orjson.dumps(state)))  # through JSON, as on disk
        docs.extend(p.documents())
        state = p.export_state()
    assert canon(docs) == BASELINE
