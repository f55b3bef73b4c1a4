"""`dirsrvbeat setup --kibana` / `import_saved_objects` against a recording stand-in for Kibana's HTTP API.

There is no Kibana on this machine: this checks what we send (path, space, overwrite, kbn-xsrf,
authorisation, multipart ndjson body) and how we read the answers (version gate, per-object errors,
dashboards that do not resolve). The real import runs in tests/integration/test_containers_kibana.py.
"""

from __future__ import annotations

import base64
import json
import threading
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from dirsrvbeat.cli import main as dirsrvbeat_main
from dirsrvbeat.config import KibanaConfig, Secret, load_config
from dirsrvbeat.kibana import KibanaError, import_saved_objects, objects, setup


class FakeKibana:
    """Keeps imported objects per space; answers /api/status, _import and _bulk_get like Kibana 7/8."""

    def __init__(self, version: str = "8.19.2", *, fail_ids: tuple[str, ...] = (), drop_on_get: tuple[str, ...] = (),
                 status_code: int = 200) -> None:
        self.version = version
        self.fail_ids = fail_ids
        self.drop_on_get = drop_on_get
        self.status_code = status_code
        self.requests: list[dict] = []
        self.store: dict[str, dict[tuple[str, str], dict]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append({"method": self.command, "path": self.path, "headers": self.headers,
                                      "body": body})
                path, _, query = self.path.partition("?")
                space = "default"
                if path.startswith("/s/"):
                    _, _, space, path = path.split("/", 3)
                    path = "/" + path
                if self.command != "GET" and self.headers.get("kbn-xsrf") is None:
                    return self._send(400, {"statusCode": 400, "message": "Request must contain a kbn-xsrf header."})
                if path == "/api/status":
                    if fake.status_code != 200:
                        return self._send(fake.status_code, {"statusCode": fake.status_code,
                                                             "message": "Unauthorized"})
                    return self._send(200, {"version": {"number": fake.version}})
                if path == "/api/saved_objects/_import":
                    msg = BytesParser(policy=email_policy).parsebytes(
                        b"content-type: " + self.headers["content-type"].encode() + b"\r\n\r\n" + body)
                    part = next(msg.iter_parts())
                    assert part.get_param("name", header="content-disposition") == "file"
                    data = part.get_payload(decode=True)
                    store = fake.store.setdefault(space, {})
                    errors, ok = [], []
                    for line in data.splitlines():
                        o = json.loads(line)
                        if o["id"] in fake.fail_ids:
                            errors.append({"id": o["id"], "type": o["type"], "title": o["attributes"].get("title"),
                                           "error": {"type": "unknown", "message": "boom"}})
                            continue
                        if (o["type"], o["id"]) in store and "overwrite=true" not in query:
                            errors.append({"id": o["id"], "type": o["type"], "error": {"type": "conflict"}})
                            continue
                        store[(o["type"], o["id"])] = o
                        ok.append({"id": o["id"], "type": o["type"]})
                    return self._send(200, {"success": not errors, "successCount": len(ok), "successResults": ok,
                                            **({"errors": errors} if errors else {})})
                if path == "/api/saved_objects/_bulk_get":
                    store = fake.store.get(space, {})
                    out = []
                    for item in json.loads(body):
                        o = store.get((item["type"], item["id"]))
                        if o is None or item["id"] in fake.drop_on_get:
                            out.append({"id": item["id"], "type": item["type"],
                                        "error": {"statusCode": 404, "message": "Not found"}})
                        else:
                            out.append(o)
                    return self._send(200, {"saved_objects": out})
                return self._send(404, {"statusCode": 404, "message": "Not Found"})

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_import_into_a_space_with_basic_auth():
    with FakeKibana("8.19.2") as kb:
        report = import_saved_objects(kb.url, space="ldap-team", username="kb-admin", password=Secret("s3cret", "t"))
        assert report.ok, report.lines()
        assert report.kibana_version == "8.19.2"
        assert report.success_count == report.total == len(objects.build())
        assert report.dashboards == ["dirsrvbeat-access", "dirsrvbeat-monitor"]
        imp = next(r for r in kb.requests if "_import" in r["path"])
        assert imp["path"] == "/s/ldap-team/api/saved_objects/_import?overwrite=true"
        assert imp["headers"]["kbn-xsrf"]
        assert imp["headers"]["Authorization"] == "Basic " + base64.b64encode(b"kb-admin:s3cret").decode()
        assert set(kb.store["ldap-team"]) == {(o["type"], o["id"]) for o in objects.build()}
        assert "s3cret" not in "\n".join(report.lines())
        # running it again overwrites instead of failing on conflicts
        assert import_saved_objects(kb.url, space="ldap-team", username="kb-admin", password="s3cret").ok


def test_api_key_default_space_and_no_version_question():
    with FakeKibana(status_code=401) as kb:
        report = import_saved_objects(kb.url, api_key="id:key", kibana_major=8)
        assert report.ok
        assert report.kibana_version is None
        assert all(r["path"].startswith("/api/") for r in kb.requests)
        assert not any(r["path"] == "/api/status" for r in kb.requests)
        assert kb.requests[0]["headers"]["Authorization"] == "ApiKey " + base64.b64encode(b"id:key").decode()
        with pytest.raises(KibanaError, match="HTTP 401 authentication"):
            import_saved_objects(kb.url, api_key="id:key")


@pytest.mark.parametrize("version, ok", [("7.3.2", False), ("7.4.0", True), ("7.10.2", True), ("8.0.0", True),
                                         ("9.1.0", False)])
def test_version_gate(version, ok):
    with FakeKibana(version) as kb:
        if ok:
            assert import_saved_objects(kb.url).ok
        else:
            with pytest.raises(KibanaError, match=r"too old|not supported"):
                import_saved_objects(kb.url)
            assert not any("_import" in r["path"] for r in kb.requests)


def test_per_object_errors_and_unresolved_dashboards_fail_the_report():
    with FakeKibana(fail_ids=("dirsrvbeat-top-clients",)) as kb:
        report = import_saved_objects(kb.url)
        assert not report.ok
        assert report.errors[0]["id"] == "dirsrvbeat-top-clients"
        assert any("dirsrvbeat-top-clients" in line and "boom" in line for line in report.lines())
    with FakeKibana(drop_on_get=("dirsrvbeat-monitor-*",)) as kb:
        report = import_saved_objects(kb.url)
        assert not report.ok
        assert report.unresolved and all("dirsrvbeat-monitor" in u for u in report.unresolved)
        assert not any("dirsrvbeat-access:" in u for u in report.unresolved)


def test_unreachable_kibana():
    with pytest.raises(KibanaError, match="cannot connect"):
        import_saved_objects("http://127.0.0.1:9", timeout=2)


def test_setup_hook_reads_the_kibana_section(tmp_path, capsys):
    pw = tmp_path / "kb.pw"
    pw.write_text("pw-from-file\n")
    cfg_file = tmp_path / "dirsrvbeat.yml"
    with FakeKibana("7.10.2") as kb:
        cfg_file.write_text(f"elasticsearch: {{index_prefix: acme}}\n"
                            f"kibana: {{url: '{kb.url}', space: ops, username: kb, password_file: kb.pw}}\n")
        cfg = load_config(cfg_file, env={})
        assert setup(cfg.kibana, config=cfg) == 0
        out = capsys.readouterr().out
        assert "Kibana 7.10.2" in out and "imported" in out and "acme-access" in out
        assert ("index-pattern", "acme-access-*") in kb.store["ops"]
        auth = next(r for r in kb.requests if "_import" in r["path"])["headers"]["Authorization"]
        assert base64.b64decode(auth.split()[1]) == b"kb:pw-from-file"
        assert setup(KibanaConfig(url="http://127.0.0.1:9", timeout=2), config=cfg) == 1


def test_dirsrvbeat_setup_dry_run_contacts_nothing(capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    with FakeKibana() as kb:
        rc = dirsrvbeat_main(["setup", "--dry-run", "--es-version", "8.15", "--kibana", kb.url])
        out = capsys.readouterr().out
        assert rc == 0
        assert f"would import {len(objects.build())} saved objects" in out
        assert kb.requests == []


def test_ndjson_sent_is_the_export():
    with FakeKibana() as kb:
        import_saved_objects(kb.url)
        sent = {(o["type"], o["id"]): o for o in kb.store["default"].values()}
        assert sent == {(o["type"], o["id"]): orjson.loads(orjson.dumps(o)) for o in objects.build()}
