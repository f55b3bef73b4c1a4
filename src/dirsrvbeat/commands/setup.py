"""`dirsrvbeat setup`: index templates + ILM policy for the server's version (and Kibana objects).

  dirsrvbeat setup --es-url http://127.0.0.1:9200            install (idempotent)
  dirsrvbeat setup --dry-run [--es-version 8.15]             print method, path and body of each request
  dirsrvbeat setup --export-templates index_templates        write every variant to files (no server)
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from ..config import (
    Config,
    ConfigError,
    add_config_argument,
    add_elasticsearch_arguments,
    client_options,
    load_config,
    overrides_from_args,
)

if TYPE_CHECKING:  # the client (elastic_transport) is imported when a command runs, not to build the CLI
    from ..es import templates
    from ..es.client import EsClient, ServerInfo

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "setup", help="install index templates and the ILM policy (and Kibana objects)",
        description="Detect the Elasticsearch version (6.8 → 9.x) and install the matching index templates "
                    "(legacy typed / legacy typeless / composable) and, where the server has ILM, the "
                    "lifecycle policy. Running it again changes nothing unless the templates changed.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 1)[1])
    add_config_argument(p)
    add_elasticsearch_arguments(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be installed (method, path, body) and change nothing")
    p.add_argument("--es-version", metavar="X.Y[.Z]",
                   help="assume this server version (with --dry-run: do not contact the server at all)")
    p.add_argument("--export-templates", metavar="DIR",
                   help="write the templates of every server variant to DIR and exit (no server needed)")
    p.add_argument("--no-ilm", action="store_true", help="do not install or reference an ILM policy")
    p.add_argument("--force", action="store_true", help="PUT everything, even what is up to date")
    p.add_argument("--remove", action="store_true",
                   help="delete dirsrvbeat's index templates and ILM policy for this prefix (not the indices)")
    p.add_argument("--json", action="store_true", help="print the plan / results as JSON")
    p.add_argument("--kibana", metavar="URL",
                   help="also set up Kibana saved objects at URL (overrides kibana.url)")
    p.set_defaults(func=cmd_setup)


def _template_options(cfg: Config, no_ilm: bool) -> templates.TemplateOptions:
    from ..es import templates

    es = cfg.elasticsearch
    return templates.TemplateOptions(
        prefix=es.index_prefix, index_mode=es.index_mode,
        ilm=not no_ilm and es.ilm.enabled is not False, ilm_policy=es.ilm.policy_name,
        delete_after_days=es.ilm.delete_after_days, rollover_max_size=es.ilm.rollover_max_size,
        rollover_max_age=es.ilm.rollover_max_age)


def _parse_version(text: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"\s*(\d+)\.(\d+)(?:\.(\d+))?\S*\s*", text)
    if not m:
        raise ValueError(f"--es-version: expected X.Y or X.Y.Z, got {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _err(msg: str) -> None:
    print(f"dirsrvbeat setup: {msg}", file=sys.stderr)


def cmd_setup(args: argparse.Namespace) -> int:
    from ..es import templates
    from ..es.client import EsClient, EsError

    overrides = overrides_from_args(args)
    if args.kibana:
        overrides.setdefault("kibana", {})["url"] = args.kibana
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    try:
        opts = _template_options(cfg, args.no_ilm)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE

    if args.export_templates:
        written = templates.export(args.export_templates, opts)
        print(f"wrote {len(written)} files to {args.export_templates} "
              f"({', '.join(templates.VARIANTS)})", file=sys.stderr)
        return EXIT_OK

    client: EsClient | None = None
    info: ServerInfo | None = None
    try:
        if args.es_version:
            try:
                version = _parse_version(args.es_version)
            except ValueError as exc:
                _err(str(exc))
                return EXIT_USAGE
            has_ilm = opts.ilm
            server = f"Elasticsearch {args.es_version} (assumed, not asked)"
            if not args.dry_run:
                client = EsClient(**client_options(cfg.elasticsearch))
                has_ilm = opts.ilm and client.has_ilm()
        else:
            client = EsClient(**client_options(cfg.elasticsearch))
            info = client.check_supported()
            version = info.version
            has_ilm = opts.ilm and client.has_ilm()
            server = f"{info} at {', '.join(client.hosts)} (version from {info.source})"
        if cfg.elasticsearch.ilm.enabled is True and not has_ilm and not args.no_ilm:
            _err("elasticsearch.ilm.enabled is true but the server has no ILM "
                 "(OSS or integ-test build); set it to auto or false")
            return EXIT_ERROR
        if args.remove:
            if args.dry_run or client is None:
                _err("--remove needs a server and cannot be combined with --dry-run")
                return EXIT_USAGE
            for path in uninstall(client, opts):
                print(f"  removed   DELETE {path}")
            return EXIT_OK
        variant, resources = templates.plan_for_server(version, has_ilm, opts)
        notes = _notes(opts, has_ilm, variant)
        if args.dry_run:
            _print_plan(sys.stdout, server, variant, has_ilm, resources,
                        templates.stale_legacy_templates(variant, opts), notes, as_json=args.json)
            rc = EXIT_OK
        else:
            assert client is not None
            results = install(client, resources, variant, opts, force=args.force)
            _print_results(sys.stdout, server, variant, has_ilm, results, notes, as_json=args.json)
            rc = EXIT_OK
    except EsError as exc:
        _err(str(exc))
        return EXIT_ERROR
    finally:
        if client is not None:
            client.close()

    if cfg.kibana.url:
        rc = max(rc, _kibana(cfg, args, info))
    return rc


def _notes(opts: templates.TemplateOptions, has_ilm: bool, variant: str) -> list[str]:
    notes = []
    if opts.ilm and not has_ilm:
        notes.append("the server has no ILM (OSS/integ-test build): no lifecycle policy, indices are kept "
                     "until deleted by hand")
    if opts.index_mode == "rollover" and not has_ilm:
        notes.append("rollover mode without ILM: nothing rolls the write aliases over; "
                     "call POST /<alias>/_rollover yourself")
    return notes


# ------------------------------------------------------------------------------------------ install
def _is_subset(ours: Any, theirs: Any) -> bool:
    """Every key/value of `ours` is in `theirs` (servers add defaults to stored ILM policies)."""
    if isinstance(ours, Mapping):
        return isinstance(theirs, Mapping) and all(k in theirs and _is_subset(v, theirs[k])
                                                   for k, v in ours.items())
    return ours == theirs


def install(client: EsClient, resources: list[templates.Resource], variant: str,
            opts: templates.TemplateOptions, *, force: bool = False) -> list[dict[str, Any]]:
    """PUT what is missing or outdated; returns one `{action, method, path}` per resource."""
    from ..es import templates

    results: list[dict[str, Any]] = []
    for r in resources:
        action = _install_one(client, r, force)
        results.append({"action": action, "kind": r.kind, "method": r.method, "path": r.path})
    for name in templates.stale_legacy_templates(variant, opts):
        if client.get_legacy_template(name) is not None:
            client.delete_legacy_template(name)
            results.append({"action": "removed", "kind": "legacy_template", "method": "DELETE",
                            "path": f"/_template/{name}"})
    return results


def uninstall(client: EsClient, opts: templates.TemplateOptions, *, indices: bool = False) -> list[str]:
    """Delete what `install` may have created for these options (both template kinds, the ILM policy,
    and with indices=True every `<prefix>-<dataset>-*` index). Returns the DELETE paths that existed."""
    from ..es import templates

    done: list[str] = []
    if indices:
        for ds in opts.datasets:
            names = client.list_indices(opts.pattern(ds))
            if names:
                client.delete_index(names)
                done.extend(f"/{n}" for n in names)
    info = client.info()
    paths = []
    if info.at_least(7, 8):
        paths += [f"/_index_template/{opts.template_name(ds)}" for ds in opts.datasets]
        paths += [f"/_component_template/{r.name}" for r in templates.plan("es7.8+", opts)
                  if r.kind == "component_template"]
    paths += [f"/_template/{opts.template_name(ds)}" for ds in opts.datasets]
    if client.has_ilm():
        paths.append(f"/_ilm/policy/{opts.policy_name}")
    for path in paths:
        if client.request("DELETE", path, allow=(404,)).status < 300:
            done.append(path)
    return done


def _install_one(client: EsClient, r: templates.Resource, force: bool) -> str:
    if r.kind == "write_index":
        alias = next(iter(r.body["aliases"]))
        if client.alias_exists(alias):
            return "exists"
        client.create_index(r.name, r.body)
        return "created"
    getter, putter = {
        "ilm_policy": (client.get_ilm_policy, client.put_ilm_policy),
        "legacy_template": (client.get_legacy_template, client.put_legacy_template),
        "component_template": (client.get_component_template, client.put_component_template),
        "index_template": (client.get_index_template, client.put_index_template),
    }[r.kind]
    existing = getter(r.name)
    if existing is not None and not force:
        if r.kind == "ilm_policy":
            if _is_subset(r.body["policy"], existing):
                return "unchanged"
        elif existing.get("version") == r.body.get("version"):
            return "unchanged"
    putter(r.name, r.body)
    return "created" if existing is None else "updated"


# ------------------------------------------------------------------------------------------ output
def _print_plan(out: TextIO, server: str, variant: str, has_ilm: bool, resources: list[templates.Resource],
                stale: list[str], notes: list[str], *, as_json: bool) -> None:
    from ..es import templates

    if as_json:
        doc = {"server": server, "variant": variant, "ilm": has_ilm, "notes": notes,
               "requests": [{"kind": r.kind, "name": r.name, "method": r.method, "path": r.path, "body": r.body}
                            for r in resources]
               + [{"kind": "legacy_template", "name": n, "method": "DELETE", "path": f"/_template/{n}",
                   "body": None, "only_if_present": True} for n in stale]}
        out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    out.write(f"# dry run: nothing is changed\n# server: {server}\n# variant: {variant} - "
              f"{templates.VARIANTS[variant]}\n# ILM: {'yes' if has_ilm else 'no'}\n")
    for note in notes:
        out.write(f"# note: {note}\n")
    for r in resources:
        what = " (only if the alias does not exist yet)" if r.kind == "write_index" else ""
        out.write(f"\n# {r.kind} {r.name}{what}\n{r.method} {r.path}\n")
        out.write(orjson.dumps(r.body, option=orjson.OPT_INDENT_2).decode() + "\n")
    for name in stale:
        out.write(f"\n# stale legacy template from a 7.0-7.7 setup (only if present)\nDELETE /_template/{name}\n")


def _print_results(out: TextIO, server: str, variant: str, has_ilm: bool, results: list[dict[str, Any]],
                   notes: list[str], *, as_json: bool) -> None:
    from ..es import templates

    if as_json:
        out.write(orjson.dumps({"server": server, "variant": variant, "ilm": has_ilm, "notes": notes,
                                "results": results}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    out.write(f"server: {server}\nvariant: {variant} - {templates.VARIANTS[variant]}\n"
              f"ILM: {'yes' if has_ilm else 'no'}\n")
    for note in notes:
        out.write(f"note: {note}\n")
    for r in results:
        out.write(f"  {r['action']:<9} {r['method']} {r['path']}\n")


# ------------------------------------------------------------------------------------------ Kibana hook
def _kibana(cfg: Config, args: argparse.Namespace, info: ServerInfo | None) -> int:
    """Call `dirsrvbeat.kibana.setup(kibana, *, config, dry_run, es_version)` when that module exists."""
    try:
        module = importlib.import_module("dirsrvbeat.kibana")
    except ModuleNotFoundError as exc:
        if exc.name in ("dirsrvbeat.kibana",):
            _err(f"Kibana setup ({cfg.kibana.url}) is not available in this build (no dirsrvbeat.kibana)")
            return EXIT_ERROR
        raise
    fn = getattr(module, "setup", None)
    if fn is None:
        _err("dirsrvbeat.kibana has no setup() function")
        return EXIT_ERROR
    version = info.number if info is not None else args.es_version
    return int(fn(cfg.kibana, config=replace(cfg), dry_run=args.dry_run, es_version=version) or 0)
