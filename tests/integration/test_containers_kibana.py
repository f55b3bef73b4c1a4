"""The real Kibana import of kibana/7 on every Kibana line we claim (testcontainers; skips without Docker).

Per Kibana version (with the Elasticsearch of the same version): `import_saved_objects` imports every
object without error and every dashboard resolves (its panels and their data views exist), again with
overwrite, into a second space, and end to end through `dirsrvbeat setup --es-url ... --kibana ...`;
Kibana's own copy of each object is then migrated to its version (its migrations accepted our form).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from dirsrvbeat.cli import main as dirsrvbeat_main
from dirsrvbeat.kibana import import_saved_objects, objects
from services.containers import KIBANA_MATRIX, kibana_stack, require_docker

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _kibana(url: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"kbn-xsrf": "test", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


@pytest.mark.parametrize("version", KIBANA_MATRIX)
def test_real_kibana_import(version, capsys, monkeypatch):
    require_docker()
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    want = {(o["type"], o["id"]) for o in objects.build()}
    with kibana_stack(version) as (kb_url, es_url):
        report = import_saved_objects(kb_url)
        assert report.ok, report.lines()
        assert report.kibana_version == version and report.success_count == len(want)
        assert report.unresolved == []
        # again: overwrite, no conflicts
        assert import_saved_objects(kb_url).ok
        # a second space
        _kibana(kb_url, "POST", "/api/spaces/space", {"id": "ldap-ops", "name": "LDAP ops"})
        spaced = import_saved_objects(kb_url, space="ldap-ops")
        assert spaced.ok, spaced.lines()
        # Kibana migrated every object to its own version
        found = {}
        for kind in ("index-pattern", "visualization", "dashboard", "search"):
            page = _kibana(kb_url, "GET", f"/api/saved_objects/_find?type={kind}&per_page=1000")
            found.update({(o["type"], o["id"]): o for o in page["saved_objects"]})
        assert want <= set(found)
        for key in want:
            o = found[key]
            assert not o.get("error"), o
            if version.startswith("8."):
                assert o.get("coreMigrationVersion", "").startswith("8.") or o.get("typeMigrationVersion"), o
        # end to end: templates + dashboards with the real CLI
        rc = dirsrvbeat_main(["setup", "--es-url", es_url, "--kibana", kb_url])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert f"{len(want)}/{len(want)} saved objects imported" in out
