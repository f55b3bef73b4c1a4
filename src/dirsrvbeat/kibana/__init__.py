"""Kibana saved objects for dirsrvbeat: build, export, validate and import them.

    import_saved_objects(url, space=..., username=..., password=...)   the saved objects API
    setup(kibana_cfg, config=..., dry_run=..., es_version=...)          what `dirsrvbeat setup --kibana` calls
    export(directory)                                                   write kibana/7/dirsrvbeat.ndjson

The objects (`objects.build(prefix)`) are one set in Kibana 7.4 saved-object form that every Kibana
from 7.4 to 8.x imports (Kibana migrates them on import); see `objects` for the details and
`validate` for the offline checks. `python -m dirsrvbeat.kibana --help` has the command line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import objects
from .client import KibanaClient, KibanaError, parse_version

__all__ = ["ImportReport", "KibanaError", "export", "exported_files", "import_saved_objects", "setup"]

EXPORT_FILE = "dirsrvbeat.ndjson"


@dataclass
class ImportReport:
    url: str
    space: str
    kibana_version: str | None
    format: str
    total: int
    success: bool = False
    success_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)     # dashboards whose panels do not resolve
    dashboards: list[str] = field(default_factory=list)     # ids of the imported dashboards
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.dry_run or (self.success and not self.errors and not self.unresolved
                                and self.success_count == self.total)

    def lines(self) -> list[str]:
        where = f"{self.url} (space {self.space})"
        version = f"Kibana {self.kibana_version}" if self.kibana_version else "Kibana (version not asked)"
        if self.dry_run:
            return [f"kibana: dry run: would import {self.total} saved objects ({objects.SUPPORTED} format) "
                    f"into {where}"]
        out = [f"kibana: {version} at {where}: {self.success_count}/{self.total} saved objects imported"]
        for e in self.errors:
            err = e.get("error") or {}
            out.append(f"kibana:   error {e.get('type')} {e.get('id')} ({e.get('title', '')}): "
                       f"{err.get('type')} {err.get('message') or err.get('reason') or ''}".rstrip())
        for d in self.unresolved:
            out.append(f"kibana:   dashboard does not resolve: {d}")
        if self.ok:
            out.append(f"kibana:   dashboards: {', '.join(self.dashboards)}")
        return out


def check_supported(version: tuple[int, ...]) -> None:
    if tuple(version[:3]) < objects.MIN_KIBANA:
        raise KibanaError(f"Kibana {'.'.join(map(str, version))} is too old: the saved objects need "
                          f"{'.'.join(map(str, objects.MIN_KIBANA))} or newer ({objects.SUPPORTED})")
    if version[0] > objects.MAX_KIBANA_MAJOR:
        raise KibanaError(f"Kibana {'.'.join(map(str, version))} is not supported: it only imports saved "
                          f"objects exported by 8.x, and these are in 7.x form ({objects.SUPPORTED}); import "
                          f"them into an 8.x Kibana and export from there")


def import_saved_objects(url: str, *, space: str | None = None, username: str | None = None,
                         password: Any = None, api_key: Any = None, ca_file: str | None = None,
                         verify: bool = True, overwrite: bool = True, kibana_major: int | None = None,
                         prefix: str = "dirsrvbeat", timeout: float = 30.0, check_dashboards: bool = True,
                         dry_run: bool = False) -> ImportReport:
    """Import every saved object through the saved objects API and check that the dashboards resolve.

    kibana_major: skip the version question (`GET /api/status` needs privileges on some setups);
    otherwise the version is asked and checked against the supported range first.
    Raises KibanaError when Kibana cannot be reached or refuses the request as a whole; per-object
    failures are in the report (`report.ok` is False)."""
    objs = objects.build(prefix)
    data = objects.to_ndjson(objs)
    report = ImportReport(url=url, space=space or "default", kibana_version=None, format=objects.FORMAT,
                          total=len(objs), dry_run=dry_run,
                          dashboards=[o["id"] for o in objs if o["type"] == "dashboard"])
    if dry_run:
        return report
    client = KibanaClient(url, username=username, password=password, api_key=api_key, ca_file=ca_file,
                          verify=verify, timeout=timeout)
    if kibana_major is None:
        report.kibana_version = client.version()
        check_supported(parse_version(report.kibana_version))
    else:
        if not objects.MIN_KIBANA[0] <= kibana_major <= objects.MAX_KIBANA_MAJOR:
            raise KibanaError(f"Kibana {kibana_major}.x is not supported ({objects.SUPPORTED})")
    answer = client.import_objects(data, space=space, overwrite=overwrite)
    report.success = bool(answer.get("success"))
    report.success_count = int(answer.get("successCount", 0))
    report.errors = list(answer.get("errors") or [])
    if check_dashboards and report.success:
        new_ids = {(r.get("type"), r.get("id")): r.get("destinationId") or r.get("id")
                   for r in answer.get("successResults") or []}
        report.dashboards = [new_ids.get(("dashboard", d), d) for d in report.dashboards]
        report.unresolved = unresolved_dashboards(client, report.dashboards, space)
    return report


def unresolved_dashboards(client: KibanaClient, dashboard_ids: Iterable[str], space: str | None) -> list[str]:
    """Dashboards that are missing, or one of whose references (panels, data views) is missing."""
    bad = []
    for dash_id in dashboard_ids:
        found = client.bulk_get([("dashboard", dash_id)], space=space)
        if not found or found[0].get("error"):
            bad.append(f"{dash_id}: not found")
            continue
        refs = [(r["type"], r["id"]) for r in found[0].get("references", [])]
        seen: set[tuple[str, str]] = set()
        while refs:
            items = [r for r in refs if r not in seen]
            seen.update(items)
            if not items:
                break
            refs = []
            for item, obj in zip(items, client.bulk_get(items, space=space)):
                if obj.get("error"):
                    bad.append(f"{dash_id}: {item[0]} {item[1]}: {obj['error'].get('message', obj['error'])}")
                else:
                    refs += [(r["type"], r["id"]) for r in obj.get("references", [])]
    return bad


def setup(kibana: Any, *, config: Any = None, dry_run: bool = False, es_version: str | None = None) -> int:
    """`dirsrvbeat setup --kibana URL`: import the saved objects; 0 ok, 1 failed.

    kibana: the `kibana:` section (dirsrvbeat.config.KibanaConfig: url, space, username, password,
    api_key, ca_file, verify, timeout); config: the whole Config (the index prefix comes from
    `elasticsearch.index_prefix`)."""
    prefix = "dirsrvbeat"
    if config is not None and getattr(config, "elasticsearch", None) is not None:
        prefix = config.elasticsearch.index_prefix or prefix
    try:
        report = import_saved_objects(
            kibana.url, space=kibana.space, username=kibana.username, password=kibana.password,
            api_key=kibana.api_key, ca_file=kibana.ca_file, verify=kibana.verify, timeout=kibana.timeout,
            prefix=prefix, dry_run=dry_run)
    except (KibanaError, ValueError) as exc:
        print(f"dirsrvbeat setup: kibana: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


# ------------------------------------------------------------------------------------------ export
def exported_files(prefix: str = "dirsrvbeat") -> dict[str, bytes]:
    """{relative path: content} of an export: `<format>/dirsrvbeat.ndjson`."""
    return {f"{objects.FORMAT}/{EXPORT_FILE}": objects.to_ndjson(objects.build(prefix))}


def export(directory: str | Path, prefix: str = "dirsrvbeat") -> list[Path]:
    root = Path(directory)
    out = []
    for rel, data in exported_files(prefix).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        out.append(path)
    return out
