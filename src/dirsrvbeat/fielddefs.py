"""Field definitions (Beats-style `fields/*.yml`): the one source for templates and docs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    group: str
    datasets: tuple[str, ...] | None = None
    ignore_above: int | None = None
    extra: tuple[tuple[str, Any], ...] = ()


AGGREGATABLE_TYPES = frozenset({"keyword", "long", "integer", "short", "byte", "double", "float",
                                "scaled_float", "half_float", "date", "ip", "boolean"})


@lru_cache(maxsize=1)
def load_fields() -> tuple[Field, ...]:
    """Every field from every `fields/*.yml` of the package, in file order."""
    out: list[Field] = []
    seen: set[str] = set()
    folder = resources.files("dirsrvbeat") / "fields"
    for entry in sorted(folder.iterdir(), key=lambda p: (p.name != "ecs.yml", p.name)):
        if not entry.name.endswith(".yml"):
            continue
        groups = yaml.safe_load(entry.read_text(encoding="utf-8")) or []
        for group in groups:
            group_sets = tuple(group["datasets"]) if group.get("datasets") else None
            for f in group.get("fields", []):
                name = f["name"]
                if name in seen:
                    raise ValueError(f"{entry.name}: field {name} defined twice")
                seen.add(name)
                known = {"name", "type", "description", "datasets", "ignore_above"}
                out.append(Field(
                    name=name, type=f["type"], description=str(f.get("description", "")).strip(),
                    group=group["key"],
                    datasets=tuple(f["datasets"]) if f.get("datasets") else group_sets,
                    ignore_above=f.get("ignore_above"),
                    extra=tuple(sorted((k, v) for k, v in f.items() if k not in known)),
                ))
    return tuple(out)


def field_map() -> dict[str, Field]:
    return {f.name: f for f in load_fields()}


def mapping_properties(keyword_ignore_above: int = 1024) -> dict[str, Any]:
    """Nested `properties` for an Elasticsearch mapping of every field (types valid from 6.x to 9.x)."""
    from .es.templates import properties

    return properties(load_fields(), keyword_ignore_above)
