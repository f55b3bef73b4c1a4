"""Index templates and the ILM policy for every Elasticsearch version, generated from `fields/*.yml`.

Variants (chosen from the server version):

  es6         6.0 – 6.8   legacy `PUT _template/<name>`, typed body `{"mappings": {"_doc": {...}}}`
  es7-legacy  7.0 – 7.7   legacy `PUT _template/<name>`, typeless body
  es7.8+      7.8 – 9.x   composable: `PUT _component_template/...` (settings, shared mappings, one
                          mappings component per dataset) + `PUT _index_template/<prefix>-<dataset>`

One template per dataset, one index pattern per dataset: `<prefix>-access-*`, `<prefix>-connection-*`,
`<prefix>-monitor-*` (never `logs-*-*` / `metrics-*-*`, whose built-in composable templates exist on
7.9+ default distributions; our composable templates use priority 200 > their 100 anyway).

6.x uses the typed body without `include_type_name`: it is accepted by every 6.x (the parameter only
exists from 6.7), matches the `_type: _doc` the bulk output sends to 6.x, and the committed JSON file
is exactly what is PUT, with no query parameter that 7.x deprecates and 8.x removes.

Every template carries `version`: a hash of its own content, so `setup` can tell "unchanged" from
"outdated" with one GET. `index.lifecycle.*` settings and the policy are dropped for servers without ILM.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from .. import fielddefs

DATASETS: dict[str, str] = {"access": "dirsrv.access", "connection": "dirsrv.connection",
                            "monitor": "dirsrv.monitor"}
VARIANTS: dict[str, str] = {"es6": "Elasticsearch 6.0 – 6.8 (legacy _template, typed _doc mapping)",
                            "es7-legacy": "Elasticsearch 7.0 – 7.7 (legacy _template, typeless)",
                            "es7.8+": "Elasticsearch 7.8 – 9.x (composable _index_template + "
                                      "_component_template)"}
KEYWORD_IGNORE_ABOVE = 1024
COMPOSABLE_PRIORITY = 200
LEGACY_ORDER = 1
MANAGED_BY = "dirsrvbeat"


@dataclass(frozen=True)
class TemplateOptions:
    prefix: str = "dirsrvbeat"
    index_mode: str = "daily"  # daily | rollover
    ilm: bool = True
    ilm_policy: str | None = None  # default: the prefix
    delete_after_days: int = 30
    rollover_max_size: str = "50gb"
    rollover_max_age: str = "1d"
    shards: int = 1
    auto_expand_replicas: str = "0-1"
    refresh_interval: str = "5s"
    codec: str = "best_compression"
    total_fields_limit: int = 2000
    datasets: tuple[str, ...] = tuple(DATASETS)

    def __post_init__(self) -> None:
        if self.index_mode not in ("daily", "rollover"):
            raise ValueError(f"index_mode must be daily or rollover, not {self.index_mode!r}")
        if not self.prefix or self.prefix != self.prefix.lower() or any(c in self.prefix for c in ' "*\\<|,>/?'):
            raise ValueError(f"invalid index prefix {self.prefix!r} (lower case, no spaces or * , \" < > | / ?)")

    @property
    def policy_name(self) -> str:
        return self.ilm_policy or self.prefix

    def pattern(self, dataset: str) -> str:
        return f"{self.prefix}-{dataset}-*"

    def alias(self, dataset: str) -> str:
        """Write alias of a dataset in rollover mode."""
        return f"{self.prefix}-{dataset}"

    def template_name(self, dataset: str) -> str:
        return f"{self.prefix}-{dataset}"


@dataclass(frozen=True)
class Resource:
    """One thing `setup` installs: `PUT <path>` with `body`."""

    kind: str  # ilm_policy | legacy_template | component_template | index_template | write_index
    name: str
    body: dict[str, Any] = field(compare=False)
    needs_ilm: bool = False

    @property
    def method(self) -> str:
        return "PUT"

    @property
    def path(self) -> str:
        return {"ilm_policy": "/_ilm/policy/", "legacy_template": "/_template/",
                "component_template": "/_component_template/", "index_template": "/_index_template/",
                "write_index": "/"}[self.kind] + self.name

    @property
    def file(self) -> str:
        """Relative file name in an export (`_template/dirsrvbeat-access.json`)."""
        return self.path.lstrip("/") + ".json" if self.kind != "write_index" else f"write_index/{self.name}.json"


# ------------------------------------------------------------------------------------------ mappings
def dataset_fields(dataset: str, *, common: bool | None = None) -> list[fielddefs.Field]:
    """Fields of a dataset (`access`), in fields.yml order.

    common=None: every field the dataset's documents may carry; True: only fields without a
    dataset restriction (ECS, shared); False: only fields restricted to datasets incl. this one."""
    name = DATASETS.get(dataset, dataset)
    out = []
    for f in fielddefs.load_fields():
        shared = f.datasets is None
        if common is True and not shared:
            continue
        if common is False and shared:
            continue
        if shared or name in (f.datasets or ()):
            out.append(f)
    return out


def shared_fields() -> list[fielddefs.Field]:
    """Fields every dataset may carry (no `datasets:` restriction: ECS and friends)."""
    return [f for f in fielddefs.load_fields() if f.datasets is None]


def properties(fields: Iterable[fielddefs.Field], keyword_ignore_above: int = KEYWORD_IGNORE_ABOVE
               ) -> dict[str, Any]:
    """Nested mapping `properties` for some fields (same rules as `fielddefs.mapping_properties`)."""
    root: dict[str, Any] = {}
    for f in fields:
        parts = f.name.split(".")
        node = root
        for part in parts[:-1]:
            holder = node.setdefault(part, {})
            if holder.get("type") == "object":
                holder.pop("type")
            node = holder.setdefault("properties", {})
        leaf = node.setdefault(parts[-1], {})
        if f.type == "object":
            leaf.setdefault("properties", {})
            continue
        leaf["type"] = f.type
        if f.type == "keyword":
            leaf["ignore_above"] = f.ignore_above or keyword_ignore_above
        for key, value in f.extra:
            leaf[key] = value
    return root


DYNAMIC_TEMPLATES = [
    {"strings_as_keyword": {"match_mapping_type": "string",
                            "mapping": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}}},
]


def _mapping(props: dict[str, Any], dataset: str | None, *, dynamic_templates: bool) -> dict[str, Any]:
    m: dict[str, Any] = {}
    if dataset is not None:
        m["_meta"] = {"managed_by": MANAGED_BY, "dataset": DATASETS.get(dataset, dataset)}
    if dynamic_templates:
        m["dynamic_templates"] = DYNAMIC_TEMPLATES
        m["date_detection"] = False
    m["properties"] = props
    return m


def dataset_mapping(dataset: str) -> dict[str, Any]:
    """Complete typeless mapping of one dataset (legacy templates)."""
    return _mapping(properties(dataset_fields(dataset)), dataset, dynamic_templates=True)


# ------------------------------------------------------------------------------------------ settings
def common_settings(opts: TemplateOptions) -> dict[str, Any]:
    s: dict[str, Any] = {
        "index.number_of_shards": opts.shards,
        "index.auto_expand_replicas": opts.auto_expand_replicas,
        "index.refresh_interval": opts.refresh_interval,
        "index.codec": opts.codec,
        "index.mapping.total_fields.limit": opts.total_fields_limit,
    }
    if opts.ilm:
        s["index.lifecycle.name"] = opts.policy_name
    return s


def dataset_settings(opts: TemplateOptions, dataset: str) -> dict[str, Any]:
    if opts.ilm and opts.index_mode == "rollover":
        return {"index.lifecycle.rollover_alias": opts.alias(dataset)}
    return {}


def ilm_policy(opts: TemplateOptions) -> dict[str, Any]:
    hot_actions: dict[str, Any] = {}
    if opts.index_mode == "rollover":
        hot_actions["rollover"] = {"max_size": opts.rollover_max_size, "max_age": opts.rollover_max_age}
    return {"policy": {"phases": {
        "hot": {"min_age": "0ms", "actions": hot_actions},
        "delete": {"min_age": f"{opts.delete_after_days}d", "actions": {"delete": {}}},
    }}}


def _versioned(body: dict[str, Any]) -> dict[str, Any]:
    """Add `version`: 28 bits of the content hash (templates take an int)."""
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    out = dict(body)
    out["version"] = int(digest[:7], 16)
    return out


# ------------------------------------------------------------------------------------------ variants
def variant_for(version: tuple[int, ...]) -> str:
    major, minor = version[0], version[1] if len(version) > 1 else 0
    if major < 6:
        raise ValueError(f"Elasticsearch {major}.{minor} is not supported (need 6.x or newer)")
    if major == 6:
        return "es6"
    if major == 7 and minor < 8:
        return "es7-legacy"
    return "es7.8+"


def plan(variant: str, opts: TemplateOptions | None = None) -> list[Resource]:
    """What to PUT, in order, for a variant. ILM resources/settings only when `opts.ilm`."""
    opts = opts or TemplateOptions()
    if variant not in VARIANTS:
        raise ValueError(f"unknown template variant {variant!r} (have {', '.join(VARIANTS)})")
    out: list[Resource] = []
    if opts.ilm:
        out.append(Resource("ilm_policy", opts.policy_name, ilm_policy(opts), needs_ilm=True))
    if variant in ("es6", "es7-legacy"):
        for ds in opts.datasets:
            settings = {**common_settings(opts), **dataset_settings(opts, ds)}
            mapping = dataset_mapping(ds)
            body = {"index_patterns": [opts.pattern(ds)], "order": LEGACY_ORDER, "settings": settings,
                    "mappings": {"_doc": mapping} if variant == "es6" else mapping}
            out.append(Resource("legacy_template", opts.template_name(ds), _versioned(body)))
    else:
        settings_name = f"{opts.prefix}-settings"
        common_name = f"{opts.prefix}-mappings"
        out.append(Resource("component_template", settings_name, _versioned(
            {"template": {"settings": common_settings(opts)},
             "_meta": {"managed_by": MANAGED_BY, "description": "index settings of every dirsrvbeat index"}})))
        out.append(Resource("component_template", common_name, _versioned(
            {"template": {"mappings": _mapping(properties(shared_fields()), None, dynamic_templates=True)},
             "_meta": {"managed_by": MANAGED_BY, "description": "fields shared by every dataset (ECS)"}})))
        for ds in opts.datasets:
            out.append(Resource("component_template", f"{opts.prefix}-{ds}-mappings", _versioned(
                {"template": {"mappings": _mapping(properties(dataset_fields(ds, common=False)), ds,
                                                   dynamic_templates=False)},
                 "_meta": {"managed_by": MANAGED_BY, "description": f"fields of {DATASETS.get(ds, ds)}"}})))
        for ds in opts.datasets:
            body: dict[str, Any] = {
                "index_patterns": [opts.pattern(ds)], "priority": COMPOSABLE_PRIORITY,
                "composed_of": [settings_name, common_name, f"{opts.prefix}-{ds}-mappings"],
            }
            ds_settings = dataset_settings(opts, ds)
            if ds_settings:
                body["template"] = {"settings": ds_settings}
            body["_meta"] = {"managed_by": MANAGED_BY, "dataset": DATASETS.get(ds, ds)}
            out.append(Resource("index_template", opts.template_name(ds), _versioned(body)))
    if opts.index_mode == "rollover":
        for ds in opts.datasets:
            out.append(Resource("write_index", f"{opts.alias(ds)}-000001",
                                {"aliases": {opts.alias(ds): {"is_write_index": True}}}))
    return out


def plan_for_server(version: tuple[int, ...], has_ilm: bool, opts: TemplateOptions | None = None
                    ) -> tuple[str, list[Resource]]:
    """(variant, resources) for a server; ILM dropped when the server has none."""
    opts = opts or TemplateOptions()
    if opts.ilm and not has_ilm:
        opts = replace(opts, ilm=False)
    variant = variant_for(version)
    return variant, plan(variant, opts)


def stale_legacy_templates(variant: str, opts: TemplateOptions | None = None) -> list[str]:
    """Legacy template names a composable server should not keep (left from a 7.0–7.7 setup)."""
    opts = opts or TemplateOptions()
    return [opts.template_name(ds) for ds in opts.datasets] if variant == "es7.8+" else []


# ------------------------------------------------------------------------------------------ export
def to_json(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"


def exported_files(opts: TemplateOptions | None = None) -> dict[str, bytes]:
    """Every file of an export: `<variant>/<endpoint path>.json` and a `manifest.json` per variant."""
    opts = opts or TemplateOptions()
    files: dict[str, bytes] = {}
    for variant, title in VARIANTS.items():
        resources = plan(variant, opts)
        manifest = {
            "variant": variant, "servers": title,
            "note": "PUT each file to its path in this order. Without ILM (OSS builds, integ-test-zip), "
                    "skip the requests marked needs_ilm and remove the index.lifecycle.* settings "
                    "(`dirsrvbeat setup` does both).",
            "requests": [{"method": r.method, "path": r.path, "file": r.file, "needs_ilm": r.needs_ilm}
                         for r in resources],
        }
        files[f"{variant}/manifest.json"] = to_json(manifest)
        for r in resources:
            files[f"{variant}/{r.file}"] = to_json(r.body)
    return files


def export(directory: str | os.PathLike[str], opts: TemplateOptions | None = None) -> list[Path]:
    """Write the export to a directory; files of a previous export that are no longer generated are
    removed from the variant folders (so the folder always equals the generator)."""
    root = Path(directory)
    files = exported_files(opts)
    written: list[Path] = []
    for rel, data in sorted(files.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    for variant in VARIANTS:
        vdir = root / variant
        for old in vdir.rglob("*.json") if vdir.is_dir() else ():
            if old.relative_to(root).as_posix() not in files:
                old.unlink()
    return written
