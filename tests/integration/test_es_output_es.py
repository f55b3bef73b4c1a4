"""The Elasticsearch output on every server of the matrix, with real documents.

The documents are what `dirsrvbeat access parse --ids --connections` makes of
tests/data/samples/access.full.log (a real 389 DS 2.3.1 log): ~7.3 k operations + ~1.2 k connections.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest

from dirsrvbeat.cli import main
from dirsrvbeat.commands.setup import uninstall
from dirsrvbeat.es.client import EsClient
from dirsrvbeat.es.templates import TemplateOptions
from dirsrvbeat.outputs.elasticsearch import DeliveryError, ElasticsearchOutput

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data" / "samples" / "access.full.log"
CHUNK = 1 << 20


@pytest.fixture(scope="module")
def access_docs(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("docs") / "docs.ndjson"
    subprocess.run([sys.executable, "-m", "dirsrvbeat", "access", "parse", "--ids", "--connections",
                    "--host-name", "ldap1.example.test", "-o", str(out), "--dead-letter", str(out) + ".dl",
                    str(SAMPLE)], check=True, cwd=REPO, capture_output=True)
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(docs) > 8000
    assert all(d["event"].get("id") for d in docs)
    return docs


@pytest.fixture
def installed(es, capsys, monkeypatch):
    """(client, prefix) with the templates installed by `dirsrvbeat setup` under a unique prefix."""
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    prefix = f"dbt-{uuid.uuid4().hex[:8]}"
    client = EsClient([es.url], timeout=120)
    assert main(["setup", "--es-url", es.url, "--index-prefix", prefix]) == 0
    capsys.readouterr()
    yield client, prefix
    cleanup(client, prefix)
    client.close()


def cleanup(client: EsClient, prefix: str) -> None:
    uninstall(client, TemplateOptions(prefix=prefix), indices=True)


def _field_type(mapping: dict, path: str) -> str | None:
    (index_mapping,) = mapping.values()
    m = index_mapping["mappings"]
    if "_doc" in m:  # 6.x typed
        m = m["_doc"]
    node = m
    for part in path.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return None
    return node.get("type", "object")


def test_ship_count_types_resend_and_reject(es, installed, access_docs, tmp_path):
    client, prefix = installed
    dead = tmp_path / "dead-letter.ndjson"
    out = ElasticsearchOutput(client, index_prefix=prefix, chunk_bytes=CHUNK, dead_letter=str(dead),
                              max_retries=3, initial_backoff=0.2)
    n = len(access_docs)
    by_dataset = Counter(d["event"]["dataset"] for d in access_docs)

    res = out.send(access_docs)
    assert (res.acknowledged, res.created, len(res.rejected)) == (n, n, 0), res.summary()
    assert res.requests >= res.bytes // CHUNK and res.requests > 5  # byte-bounded chunks
    client.refresh(f"{prefix}-*")
    assert client.count(f"{prefix}-*") == n
    assert client.count(f"{prefix}-access-*") == by_dataset["dirsrv.access"]
    assert client.count(f"{prefix}-connection-*") == by_dataset["dirsrv.connection"]
    # daily index from @timestamp
    assert set(res.by_index) == {f"{prefix}-access-2026.12.04", f"{prefix}-connection-2026.12.04"}

    # the template's types, not dynamic guesses
    mapping = client.get_mapping(f"{prefix}-access-2026.12.04")
    expected = {"@timestamp": "date", "event.ingested": "date", "source.ip": "ip", "destination.ip": "ip",
                "dirsrv.op.type": "keyword", "dirsrv.bind.dn": "keyword", "dirsrv.conn.id": "long",
                "dirsrv.result.code": "long", "event.duration": "long", "dirsrv.timing.etime": "double",
                "dirsrv.op.internal": "boolean", "tls.established": "boolean"}
    got = {f: _field_type(mapping, f) for f in expected}
    assert got == expected
    conn_mapping = client.get_mapping(f"{prefix}-connection-2026.12.04")
    assert _field_type(conn_mapping, "dirsrv.close.code") == "keyword"
    assert _field_type(conn_mapping, "dirsrv.conn.etime_total") == "double"

    # stored as sent, _id = event.id, plus event.ingested
    first = next(d for d in access_docs if d["event"]["dataset"] == "dirsrv.access" and "source" in d)
    stored = client.get(f"{prefix}-access-2026.12.04", first["event"]["id"])
    assert stored is not None and stored["found"]
    src = stored["_source"]
    assert src["event"].pop("ingested").endswith("Z")
    assert src == first

    # sending everything again (a crash before the state was saved) changes nothing: exactly once
    again = out.send(access_docs)
    assert (again.acknowledged, again.updated, again.created) == (n, n, 0)
    client.refresh(f"{prefix}-*")
    assert client.count(f"{prefix}-*") == n

    # a conflicting field type is rejected and dead-lettered with its reason; the rest is acknowledged
    base = [copy.deepcopy(d) for d in access_docs[:4]]
    for i, d in enumerate(base):
        d["event"]["id"] = f"conflict-test-{i}"
    bad = base[1]
    bad["dirsrv"]["conn"]["id"] = "not-a-number"
    base[2]["labels"] = {"site": "paris"}  # unknown string field -> keyword (dynamic template)
    res = out.send(base)
    out.close()
    assert res.acknowledged == 3 and len(res.rejected) == 1, res.summary()
    rej = res.rejected[0]
    assert rej.id == "conflict-test-1" and rej.status == 400
    assert rej.error_type in ("mapper_parsing_exception", "document_parsing_exception")
    assert "dirsrv.conn.id" in rej.reason
    (line,) = dead.read_bytes().splitlines()
    record = orjson.loads(line)
    assert record["document"] == bad and record["error"]["reason"] == rej.reason
    client.refresh(f"{prefix}-*")
    assert client.count(f"{prefix}-*") == n + 3
    index = f"{prefix}-{base[2]['event']['dataset'].split('.')[1]}-2026.12.04"
    assert _field_type(client.get_mapping(index), "labels.site") == "keyword"


def test_rollover_mode_writes_through_the_alias(es, access_docs, capsys, monkeypatch):
    monkeypatch.delenv("DIRSRVBEAT_CONFIG", raising=False)
    prefix = f"dbt-{uuid.uuid4().hex[:8]}"
    client = EsClient([es.url], timeout=120)
    try:
        assert main(["setup", "--es-url", es.url, "--index-prefix", prefix, "--index-mode", "rollover"]) == 0
        capsys.readouterr()
        docs = access_docs[:2000]
        out = ElasticsearchOutput(client, index_prefix=prefix, index_mode="rollover")
        res = out.send(docs)
        assert res.acknowledged == len(docs) and not res.rejected
        assert set(res.by_index) <= {f"{prefix}-access-000001", f"{prefix}-connection-000001"}
        client.refresh(f"{prefix}-*")
        assert client.count(f"{prefix}-access") + client.count(f"{prefix}-connection") == len(docs)
    finally:
        cleanup(client, prefix)
        client.close()


def test_write_streams_an_iterator(es, installed, access_docs):
    client, prefix = installed
    out = ElasticsearchOutput(client, index_prefix=prefix, chunk_docs=500)
    stats = out.write(iter(access_docs[:1800]))
    assert stats.acknowledged == 1800 and stats.requests == 4
    client.refresh(f"{prefix}-*")
    assert client.count(f"{prefix}-*") == 1800


def test_gzip_requests(es, installed, access_docs):
    client, prefix = installed
    gz = EsClient([es.url], http_compress=True)
    try:
        res = ElasticsearchOutput(gz, index_prefix=prefix).send(access_docs[:500])
    finally:
        gz.close()
    assert res.acknowledged == 500
    client.refresh(f"{prefix}-*")
    assert client.count(f"{prefix}-*") == 500


def test_closed_index_is_a_delivery_error_not_a_dead_letter(es, installed, access_docs, tmp_path):
    """An index problem (here: closed) is not the documents' fault: DeliveryError, nothing dead-lettered."""
    client, prefix = installed
    dead = tmp_path / "dl.ndjson"
    client.create_index(f"{prefix}-access-closed")
    client.request("POST", f"/{prefix}-access-closed/_close")
    out = ElasticsearchOutput(client, index_for=lambda d: f"{prefix}-access-closed", dead_letter=str(dead),
                              max_retries=1, initial_backoff=0.05)
    with pytest.raises(DeliveryError, match="index_closed_exception") as ei:
        out.send(access_docs[:10])
    out.close()
    assert ei.value.undelivered == 10
    assert not dead.exists() or dead.read_bytes() == b""
