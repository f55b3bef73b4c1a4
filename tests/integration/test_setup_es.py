"""`dirsrvbeat setup` against every Elasticsearch of the matrix (real servers, `es` fixture).

Each test uses its own index prefix (`dbt-<random>`), so template, policy and index names never clash
with other tests running on the same shared servers, and removes everything it created.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from dirsrvbeat.cli import main
from dirsrvbeat.commands.setup import install, uninstall
from dirsrvbeat.es.client import EsClient
from dirsrvbeat.es.templates import DATASETS, TemplateOptions, plan

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]


def cleanup(client: EsClient, prefix: str) -> None:
    uninstall(client, TemplateOptions(prefix=prefix), indices=True)


@pytest.fixture
def prefix(es):
    name = f"dbt-{uuid.uuid4().hex[:8]}"
    client = EsClient([es.url])
    yield name
    cleanup(client, name)
    client.close()


@pytest.fixture
def client(es):
    c = EsClient([es.url])
    yield c
    c.close()


def setup_json(capsys, *argv: str) -> tuple[int, dict]:
    rc = main(["setup", *argv, "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return rc, orjson.loads(out)


def expected_variant(es) -> str:
    if es.major == 6:
        return "es6"
    return "es7-legacy" if (es.major, es.minor) < (7, 8) else "es7.8+"


def test_setup_installs_and_is_idempotent(es, client, prefix, capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    _, first = setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix)
    assert first["variant"] == expected_variant(es)
    assert first["ilm"] is es.has("ilm") is client.has_ilm()
    actions = {r["path"]: r["action"] for r in first["results"]}
    assert set(actions.values()) == {"created"}, actions
    n_templates = sum(1 for r in first["results"] if "template" in r["kind"])
    assert n_templates == (3 if es.major == 6 else 8)
    assert (f"/_ilm/policy/{prefix}" in actions) is es.has("ilm")

    _, second = setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix)
    assert {r["action"] for r in second["results"]} == {"unchanged"}, second["results"]
    assert [r["path"] for r in second["results"]] == [r["path"] for r in first["results"]]

    _, forced = setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix, "--force")
    assert {r["action"] for r in forced["results"]} == {"updated"}

    # what is installed is the variant the server needs
    if es.major == 6:
        tmpl = client.get_legacy_template(f"{prefix}-access")
        assert tmpl["index_patterns"] == [f"{prefix}-access-*"]
        assert "_doc" in tmpl["mappings"]
    else:
        tmpl = client.get_index_template(f"{prefix}-access")
        assert tmpl["index_patterns"] == [f"{prefix}-access-*"] and tmpl["priority"] == 200
        assert client.get_component_template(f"{prefix}-access-mappings") is not None
    if es.has("ilm"):
        policy = client.get_ilm_policy(prefix)
        assert policy["phases"]["delete"]["min_age"] == "30d"


def test_settings_reach_a_new_index(es, client, prefix, capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix)
    index = f"{prefix}-monitor-2026.12.04"
    client.create_index(index)
    settings = client.request("GET", f"/{index}/_settings").body[index]["settings"]["index"]
    assert settings["number_of_shards"] == "1"
    assert settings["codec"] == "best_compression"
    assert settings["auto_expand_replicas"] == "0-1"
    assert settings["mapping"]["total_fields"]["limit"] == "2000"
    assert ("lifecycle" in settings) is es.has("ilm")
    if es.has("ilm"):
        assert settings["lifecycle"]["name"] == prefix


def test_outdated_template_is_updated(es, client, prefix, capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix)
    name = f"{prefix}-connection"
    if es.major == 6:
        client.put_legacy_template(name, {"index_patterns": [f"{name}-*"], "version": 1})
        path = f"/_template/{name}"
    else:
        old = client.get_index_template(name)
        keep = ("index_patterns", "priority", "composed_of", "template", "_meta")  # 9.x adds created_date ...
        client.put_index_template(name, {**{k: old[k] for k in keep if k in old}, "version": 1})
        path = f"/_index_template/{name}"
    _, again = setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix)
    actions = {r["path"]: r["action"] for r in again["results"]}
    assert actions.pop(path) == "updated"
    assert set(actions.values()) == {"unchanged"}


def test_dry_run_against_the_server_changes_nothing(es, client, prefix, capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    rc = main(["setup", "--es-url", es.url, "--index-prefix", prefix, "--dry-run", "--json"])
    out, _ = capsys.readouterr()
    assert rc == 0
    plan = orjson.loads(out)
    assert plan["variant"] == expected_variant(es) and plan["ilm"] is es.has("ilm")
    assert es.version in plan["server"]
    assert client.get_legacy_template(f"{prefix}-access") is None
    if es.major >= 7:
        assert client.get_index_template(f"{prefix}-access") is None
    if es.has("ilm"):
        assert client.get_ilm_policy(prefix) is None


def test_rollover_mode_bootstraps_write_alias(es, client, prefix, capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    _, first = setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix, "--index-mode", "rollover")
    writes = {r["path"]: r["action"] for r in first["results"] if r["kind"] == "write_index"}
    assert writes == {f"/{prefix}-{ds}-000001": "created" for ds in DATASETS}
    assert client.alias_exists(f"{prefix}-access")
    aliases = client.request("GET", f"/_alias/{prefix}-access").body
    assert aliases == {f"{prefix}-access-000001": {"aliases": {f"{prefix}-access": {"is_write_index": True}}}}
    if not es.has("ilm"):
        assert any("rollover mode without ILM" in n for n in first["notes"])
    else:
        settings = client.request("GET", f"/{prefix}-access-000001/_settings").body
        lifecycle = settings[f"{prefix}-access-000001"]["settings"]["index"]["lifecycle"]
        assert lifecycle == {"name": prefix, "rollover_alias": f"{prefix}-access"}
    _, second = setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix, "--index-mode", "rollover")
    assert {r["action"] for r in second["results"] if r["kind"] == "write_index"} == {"exists"}


def test_stale_legacy_templates_removed_on_composable_servers(es, client, prefix, capsys, monkeypatch):
    if es.major == 6:
        pytest.skip("6.x has only legacy templates")
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    client.put_legacy_template(f"{prefix}-access", {"index_patterns": [f"{prefix}-access-*"], "order": 1})
    _, res = setup_json(capsys, "--es-url", es.url, "--index-prefix", prefix)
    removed = [r["path"] for r in res["results"] if r["action"] == "removed"]
    assert removed == [f"/_template/{prefix}-access"]
    assert client.get_legacy_template(f"{prefix}-access") is None


def test_unreachable_and_wrong_credentials_are_clear(es, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    rc = main(["setup", "--es-url", "http://127.0.0.1:9", "--dry-run"])
    _, err = capsys.readouterr()
    assert rc == 1 and "cannot connect to http://127.0.0.1:9" in err
    # these servers run without security: credentials are sent and ignored, never printed
    pw = tmp_path / "pw"
    pw.write_text("n0t-pr1nted\n")
    rc = main(["setup", "--es-url", es.url, "--username", "u", "--password-file", str(pw), "--dry-run"])
    out, err = capsys.readouterr()
    assert rc == 0 and "n0t-pr1nted" not in out + err


def test_legacy_typeless_variant_where_accepted(es, client, prefix):
    """The es7-legacy variant (for 7.0-7.7, not in the matrix) applied for real on every >= 7 server:
    legacy typeless templates are still accepted by 7.8 → 9.x (deprecated), so its body is checked."""
    if es.major == 6:
        pytest.skip("6.x takes the typed es6 variant")
    opts = TemplateOptions(prefix=prefix, ilm=client.has_ilm())
    results = install(client, plan("es7-legacy", opts), "es7-legacy", opts)
    assert {r["action"] for r in results} == {"created"}
    index = f"{prefix}-connection-2026.12.04"
    client.create_index(index)
    props = client.get_mapping(index)[index]["mappings"]["properties"]
    assert props["dirsrv"]["properties"]["close"]["properties"]["code"]["type"] == "keyword"
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["@timestamp"]["type"] == "date"


def test_ilm_enabled_true_without_ilm_is_an_error(es, prefix, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    cfg = tmp_path / "dirsrvbeat.yml"
    cfg.write_text(f"elasticsearch:\n  hosts: [{es.url}]\n  index_prefix: {prefix}\n  ilm: {{enabled: true}}\n")
    rc = main(["setup", "--config", str(cfg)])
    out, err = capsys.readouterr()
    if es.has("ilm"):
        assert rc == 0 and f"/_ilm/policy/{prefix}" in out
    else:
        assert rc == 1 and "elasticsearch.ilm.enabled is true but the server has no ILM" in err
