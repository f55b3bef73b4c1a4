"""`dirsrvbeat setup` without a server: --dry-run with --es-version, --export-templates, errors."""

from __future__ import annotations

import orjson
import pytest

from dirsrvbeat.cli import main
from dirsrvbeat.commands.setup import _is_subset
from dirsrvbeat.es import templates

# A closed port: proves that --dry-run --es-version never connects.
NOWHERE = "http://127.0.0.1:9"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["setup", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize(("version", "variant"), [("6.8.23", "es6"), ("7.5", "es7-legacy"),
                                                  ("7.17.29", "es7.8+"), ("9.5.3", "es7.8+")])
def test_dry_run_json_lists_every_request(capsys, monkeypatch, version, variant):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    rc, out, _ = _run(capsys, "--dry-run", "--es-version", version, "--es-url", NOWHERE, "--json")
    assert rc == 0
    doc = orjson.loads(out)
    assert doc["variant"] == variant
    expected = [(r.method, r.path, r.body) for r in templates.plan(variant)]
    got = [(r["method"], r["path"], r["body"]) for r in doc["requests"] if r["method"] == "PUT"]
    assert got == expected
    deletes = [r["path"] for r in doc["requests"] if r["method"] == "DELETE"]
    assert deletes == (["/_template/dirsrvbeat-access", "/_template/dirsrvbeat-connection",
                        "/_template/dirsrvbeat-monitor"] if variant == "es7.8+" else [])


def test_dry_run_text(capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    rc, out, _ = _run(capsys, "--dry-run", "--es-version", "6.8", "--es-url", NOWHERE, "--no-ilm")
    assert rc == 0
    assert "# dry run: nothing is changed" in out
    assert "PUT /_template/dirsrvbeat-access\n{" in out
    assert "_ilm" not in out and "lifecycle" not in out
    body = out.split("PUT /_template/dirsrvbeat-access\n", 1)[1].split("\n\n", 1)[0]
    assert orjson.loads(body)["mappings"]["_doc"]["properties"]["source"]["properties"]["ip"] == {"type": "ip"}


def test_dry_run_rollover_with_prefix(capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    rc, out, _ = _run(capsys, "--dry-run", "--es-version", "8.19", "--es-url", NOWHERE, "--index-prefix", "ldap",
                      "--index-mode", "rollover", "--json")
    assert rc == 0
    paths = [r["path"] for r in orjson.loads(out)["requests"]]
    assert "/_index_template/ldap-access" in paths and "/ldap-access-000001" in paths
    assert "/_ilm/policy/ldap" in paths


def test_dry_run_without_server_or_version_fails_clearly(capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    rc, _, err = _run(capsys, "--dry-run", "--es-url", NOWHERE)
    assert rc == 1
    assert "cannot connect to http://127.0.0.1:9" in err


def test_export_templates(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    rc, _, err = _run(capsys, "--export-templates", str(tmp_path))
    assert rc == 0 and "wrote" in err
    files = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*.json")}
    assert files == templates.exported_files()
    manifest = orjson.loads(files["es7.8+/manifest.json"])
    assert manifest["requests"][0]["path"] == "/_ilm/policy/dirsrvbeat"
    for req in manifest["requests"]:
        assert f"es7.8+/{req['file']}" in files


def test_config_error_exit_2(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    cfg = tmp_path / "dirsrvbeat.yml"
    cfg.write_text("elasticsearch:\n  bulk:\n    chunk_bytes: 5 parsecs\n")
    rc, _, err = _run(capsys, "--config", str(cfg), "--dry-run", "--es-version", "8.0")
    assert rc == 2
    assert 'elasticsearch.bulk.chunk_bytes: expected an integer or a size like "5MiB", got "5 parsecs"' in err


def test_config_ilm_enabled_true_needs_ilm_in_dry_run_assumption(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    cfg = tmp_path / "dirsrvbeat.yml"
    cfg.write_text("elasticsearch:\n  index_prefix: custom\n  ilm: {enabled: false}\n")
    rc, out, _ = _run(capsys, "--config", str(cfg), "--dry-run", "--es-version", "6.8", "--json")
    assert rc == 0
    paths = [r["path"] for r in orjson.loads(out)["requests"]]
    assert paths == ["/_template/custom-access", "/_template/custom-connection", "/_template/custom-monitor"]


def test_kibana_hook_calls_the_module(capsys, monkeypatch):
    import sys
    import types

    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    calls = []
    fake = types.ModuleType("dirsrvbeat.kibana")
    fake.setup = lambda kibana, **kw: calls.append((kibana, kw)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dirsrvbeat.kibana", fake)
    rc, _, _ = _run(capsys, "--dry-run", "--es-version", "8.19.3", "--es-url", NOWHERE,
                    "--kibana", "http://127.0.0.1:5601", "--index-prefix", "kbx")
    assert rc == 0
    ((kibana, kw),) = calls
    assert kibana.url == "http://127.0.0.1:5601"
    assert kw["dry_run"] is True and kw["es_version"] == "8.19.3"
    assert kw["config"].elasticsearch.index_prefix == "kbx"


def test_is_subset_tolerates_server_defaults():
    ours = templates.ilm_policy(templates.TemplateOptions())["policy"]
    stored = {"phases": {"hot": {"min_age": "0ms", "actions": {}},
                         "delete": {"min_age": "30d", "actions": {"delete": {"delete_searchable_snapshot": True}}}}}
    assert _is_subset(ours, stored)
    stored["phases"]["delete"]["min_age"] = "60d"
    assert not _is_subset(ours, stored)
