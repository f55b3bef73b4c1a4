"""Every key the access pipeline writes is defined in fields/*.yml (the template's single source)."""

from __future__ import annotations

from pathlib import Path

from dirsrvbeat.access.pipeline import AccessPipeline
from dirsrvbeat.fielddefs import field_map, load_fields

SAMPLE = Path(__file__).parent.parent / "data" / "samples" / "access.full.log"


def leaf_paths(doc, prefix=""):
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaf_paths(value, path + ".")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                yield from leaf_paths(item, path + ".")
        else:
            yield path, value


def test_every_emitted_field_is_defined():
    fields = field_map()
    pipeline = AccessPipeline([str(SAMPLE)], connections=True, with_ids=True)
    undefined = set()
    for doc in pipeline.documents():
        for path, _ in leaf_paths(doc):
            if path not in fields:
                undefined.add(path)
    assert not undefined, f"fields missing from fields/*.yml: {sorted(undefined)}"


def test_field_types_are_known():
    allowed = {"keyword", "long", "double", "date", "ip", "boolean", "object", "text", "float", "integer",
               "scaled_float"}
    bad = [(f.name, f.type) for f in load_fields() if f.type not in allowed]
    assert not bad
