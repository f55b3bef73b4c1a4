"""Every Elasticsearch of the matrix (scripts/es/versions.env) takes a real index template and applies it.

Runs on each selected version (DIRSRVBEAT_ES_VERSIONS, default all that work here) through the ``es``
fixture of tests/services/es.py (imported by tests/conftest.py). Talks HTTP through elastic_transport
(never the ``elasticsearch`` package: its product check refuses ES < 7.14) or plain urllib.
"""
from __future__ import annotations

import uuid

import pytest

from services.es import COMPOSABLE_TEMPLATES, GET_ROOT, ILM, PRODUCT_HEADER, TYPELESS, EsServer

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]

PROPS = {
    "host": {"type": "keyword"},
    "client_ip": {"type": "ip"},
    "@timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
    "msg": {"type": "text"},
    "etime": {"type": "double"},
}
DOC = {"host": "ldap1.example.test", "client_ip": "192.0.2.10", "@timestamp": "2024-05-01T12:34:56.789Z",
       "msg": "conn=1 op=0 BIND", "etime": 0.000123}


def _name(prefix: str) -> str:
    return f"dirsrvbeat-test-{prefix}-{uuid.uuid4().hex[:8]}"


def _props(es: EsServer, index: str) -> dict:
    m = es.ok("GET", f"/{index}/_mapping")[index]["mappings"]
    if not es.has(TYPELESS):      # 6.x: {"_doc": {"properties": ...}}
        (m,) = m.values()
    return m["properties"]


def _assert_types(es: EsServer, index: str) -> None:
    props = _props(es, index)
    got = {f: props[f]["type"] for f in PROPS}
    assert got == {f: p["type"] for f, p in PROPS.items()}, f"ES {es.version}: template not applied: {props}"


def _index_and_read(es: EsServer, index: str) -> None:
    # /_doc/ is the typeless endpoint on 7.x+ and the type name of our 6.x mappings
    es.ok("PUT", f"/{index}/_doc/1", DOC, params={"refresh": "true"})
    src = es.ok("GET", f"/{index}/_doc/1")["_source"]
    assert src == DOC
    # the ip and keyword mappings are real: CIDR term query on ip, exact term on keyword
    hits = es.ok("POST", f"/{index}/_search", {"query": {"bool": {"filter": [
        {"term": {"client_ip": "192.0.2.0/24"}}, {"term": {"host": DOC["host"]}},
        {"range": {"@timestamp": {"gte": "2024-05-01T00:00:00Z", "lt": "2024-05-02T00:00:00Z"}}}]}}})["hits"]
    total = hits["total"]["value"] if isinstance(hits["total"], dict) else hits["total"]
    assert total == 1, f"ES {es.version}: {hits}"


def test_server_identity(es: EsServer) -> None:
    """The server on the port is the version we asked for; GET / exactly where it should exist."""
    nodes = es.ok("GET", "/_nodes/_local", params={"filter_path": "nodes.*.version"})["nodes"]
    assert [n["version"] for n in nodes.values()] == [es.version]
    code, root = es.request("GET", "/")
    if es.has(GET_ROOT):
        assert code == 200 and root["version"]["number"] == es.version
    else:
        assert code in (400, 404, 405), (code, root)
    health = es.ok("GET", "/_cluster/health")
    assert health["status"] in ("green", "yellow")


def test_product_header_via_elastic_transport(es: EsServer) -> None:
    """elastic_transport talks to every version; X-Elastic-Product only from 7.14 on."""
    t = es.transport()
    try:
        resp = t.perform_request("GET", "/_cluster/health", headers={"accept": "application/json"})
        assert resp.meta.status == 200
        assert resp.body["status"] in ("green", "yellow")
        product = resp.meta.headers.get("x-elastic-product")
        if es.has(PRODUCT_HEADER):
            assert product == "Elasticsearch"
        else:
            assert product is None
    finally:
        t.close()


def test_legacy_template(es: EsServer) -> None:
    """PUT _template: typed on 6.x, typeless on 7.x/8.x/9.x; the mapping types apply to a new index."""
    name = _name("legacy")
    body = {"index_patterns": [f"{name}-*"], "order": 5,
            "settings": {"number_of_shards": 1, "number_of_replicas": 0}}
    if es.has(TYPELESS):
        body["mappings"] = {"properties": PROPS}
    else:
        body["mappings"] = {"_doc": {"properties": PROPS}}
    es.ok("PUT", f"/_template/{name}", body)
    index = f"{name}-2024.05.01"
    try:
        _index_and_read(es, index)
        _assert_types(es, index)
    finally:
        es.delete_indices(f"{name}-*")
        es.request("DELETE", f"/_template/{name}")


def test_legacy_template_typeless_on_6x(es: EsServer) -> None:
    """6.7+ accepts a typeless template body with ?include_type_name=false (the 6.8 -> 9.x common form)."""
    if es.has(TYPELESS):
        pytest.skip(f"ES {es.version}: typeless is the default (8.x rejects include_type_name)")
    name = _name("legacy6tl")
    es.ok("PUT", f"/_template/{name}", {"index_patterns": [f"{name}-*"],
                                         "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                                         "mappings": {"properties": PROPS}},
          params={"include_type_name": "false"})
    index = f"{name}-a"
    try:
        _index_and_read(es, index)
        _assert_types(es, index)
    finally:
        es.delete_indices(f"{name}-*")
        es.request("DELETE", f"/_template/{name}")


def test_composable_template(es: EsServer) -> None:
    """PUT _component_template + _index_template (7.8+): wins over a legacy template for the same pattern."""
    if not es.has(COMPOSABLE_TEMPLATES):
        code, _ = es.request("PUT", "/_index_template/dirsrvbeat-probe",
                             {"index_patterns": ["dirsrvbeat-probe-*"], "template": {}})
        assert code in (400, 404, 405), f"ES {es.version} accepted a composable template"
        pytest.skip(f"ES {es.version}: no composable index templates (7.8+)")
    name = _name("composable")
    # a legacy template that would map host as text: the composable one must win for this index.
    # (Created first: 8.x/9.x refuse a NEW legacy template overlapping an existing composable one.)
    es.ok("PUT", f"/_template/{name}-legacy",
          {"index_patterns": [f"{name}-*"], "order": 99, "mappings": {"properties": {"host": {"type": "text"}}}})
    es.ok("PUT", f"/_component_template/{name}-base",
          {"template": {"mappings": {"properties": {"@timestamp": PROPS["@timestamp"], "host": PROPS["host"]}}}})
    es.ok("PUT", f"/_index_template/{name}",
          {"index_patterns": [f"{name}-*"], "priority": 200, "composed_of": [f"{name}-base"],
           "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                        "mappings": {"properties": {k: v for k, v in PROPS.items()
                                                    if k not in ("@timestamp", "host")}}},
           "_meta": {"managed_by": "dirsrvbeat-tests"}})
    index = f"{name}-2024.05.01"
    try:
        _index_and_read(es, index)
        _assert_types(es, index)
        got = es.ok("GET", f"/_index_template/{name}")["index_templates"][0]
        assert got["name"] == name and got["index_template"]["composed_of"] == [f"{name}-base"]
    finally:
        es.delete_indices(f"{name}-*")
        es.request("DELETE", f"/_index_template/{name}")
        es.request("DELETE", f"/_component_template/{name}-base")
        es.request("DELETE", f"/_template/{name}-legacy")


def test_ilm_where_available(es: EsServer) -> None:
    """ILM only exists in the default distribution (6.8 here); elsewhere the endpoint is missing."""
    name = _name("ilm")
    code, out = es.request("PUT", f"/_ilm/policy/{name}",
                           {"policy": {"phases": {"hot": {"actions": {"rollover": {"max_size": "1gb"}}}}}})
    if es.has(ILM):
        assert code == 200, out
        es.ok("DELETE", f"/_ilm/policy/{name}")
    else:
        assert code in (400, 404, 405), (code, out)
