"""The bulk output's logic with a scripted client replaying *recorded real* `_bulk` answers.

The per-item answers below were recorded from the real servers of the test matrix (6.8.23 and
8.19.21, `scripts/es/es.sh`); the 429/503 items use the same shape with the status/error of
`es_rejected_execution_exception` (a real 429 cannot be provoked on a shared test server without
starving the other tests). Everything that needs a server (mappings, counts, dead-lettering a real
mapping conflict) is in tests/integration/test_es_output_es.py, on every version.
"""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import orjson
import pytest

from dirsrvbeat import plugins
from dirsrvbeat.deadletter import DeadLetter
from dirsrvbeat.es.client import (
    EsAuthError,
    EsClient,
    EsConnectionError,
    EsRequestError,
    EsServerError,
    EsTooManyRequests,
    ServerInfo,
)
from dirsrvbeat.outputs.elasticsearch import BulkResult, DeliveryError, ElasticsearchOutput

# --------------------------------------------------------------------------- recorded answers
# 8.19.21: created / updated / document_parsing_exception
REC8_CREATED = {"index": {"_index": "X", "_id": "a1", "_version": 1, "result": "created",
                          "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0,
                          "_primary_term": 1, "status": 201}}
REC8_UPDATED = {"index": {"_index": "X", "_id": "a1", "_version": 2, "result": "updated",
                          "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 1,
                          "_primary_term": 1, "status": 200}}
REC8_PARSE_ERROR = {"index": {"_index": "X", "_id": "a2", "status": 400, "error": {
    "type": "document_parsing_exception",
    "reason": "[1:7] failed to parse field [n] of type [long] in document with id 'a2'. Preview of field's value: 'x'",
    "caused_by": {"type": "illegal_argument_exception", "reason": "For input string: \"x\""}}}}
REC8_CLOSED = {"index": {"_index": "X", "_id": "a1", "status": 400, "error": {
    "type": "index_closed_exception", "reason": "closed", "index_uuid": "6_IsQNhCRVyUZQOBJ2crQQ", "index": "X"}}}
# 6.8.23
REC6_CREATED = {"index": {"_index": "X", "_type": "_doc", "_id": "a2", "_version": 1, "result": "created",
                          "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0,
                          "_primary_term": 1, "status": 201}}
REC6_MAPPER_ERROR = {"index": {"_index": "X", "_type": "_doc", "_id": "a1", "status": 400, "error": {
    "type": "illegal_argument_exception",
    "reason": "mapper [n] of different type, current_type [text], merged_type [long]"}}}
ITEM_429 = {"index": {"_index": "X", "_id": "a1", "status": 429, "error": {
    "type": "es_rejected_execution_exception",
    "reason": "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
              "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=100, max_coordinating_and_primary_bytes=1]"}}}
ITEM_503 = {"index": {"_index": "X", "_id": "a1", "status": 503, "error": {
    "type": "unavailable_shards_exception", "reason": "[X][0] primary shard is not active Timeout: [1m]"}}}


def _item(template: dict[str, Any], index: str, doc_id: str | None) -> dict[str, Any]:
    inner = dict(template["index"], _index=index)
    if doc_id is not None:
        inner["_id"] = doc_id
    return {"index": inner}


def _actions(body: bytes) -> list[tuple[dict, dict]]:
    lines = body.split(b"\n")
    assert lines[-1] == b"", "bulk body must end with a newline"
    lines = lines[:-1]
    assert len(lines) % 2 == 0
    return [(orjson.loads(lines[i])["index"], orjson.loads(lines[i + 1])) for i in range(0, len(lines), 2)]


Answer = Callable[[list[tuple[dict, dict]]], Any]


class ScriptedClient:
    """Stands in for EsClient: records every bulk body, answers from a script (default: all created)."""

    def __init__(self, major: int = 8, script: list[Answer | Exception] | None = None) -> None:
        self.major = major
        self.script = list(script or [])
        self.bodies: list[bytes] = []

    def info(self) -> ServerInfo:
        return ServerInfo(number=f"{self.major}.19.21" if self.major > 6 else "6.8.23")

    def bulk(self, body: bytes, filter_path: str | None = None) -> Any:
        self.bodies.append(body)
        actions = _actions(body)
        step = self.script.pop(0) if self.script else all_created
        if isinstance(step, Exception):
            raise step
        return step(actions)

    def close(self) -> None:
        pass


def all_created(actions: list[tuple[dict, dict]]) -> dict:
    rec = REC6_CREATED if any("_type" in a for a, _ in actions) else REC8_CREATED
    return {"took": 3, "errors": False, "items": [_item(rec, a["_index"], a.get("_id")) for a, _ in actions]}


def per_item(rule: Callable[[dict, dict], dict]) -> Answer:
    def answer(actions: list[tuple[dict, dict]]) -> dict:
        items = [_item(rule(a, s), a["_index"], a.get("_id")) for a, s in actions]
        return {"took": 3, "errors": any(i["index"]["status"] >= 300 for i in items), "items": items}
    return answer


def doc(i: int, dataset: str = "dirsrv.access", ts: str = "2026-12-04T19:52:45.430+00:00", **extra: Any) -> dict:
    d = {"@timestamp": ts, "event": {"dataset": dataset, "id": f"id-{i}"}, "dirsrv": {"op": {"id": i}}}
    d.update(extra)
    return d


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(client: ScriptedClient, **kw: Any) -> tuple[ElasticsearchOutput, Sleeps]:
    sleeps = Sleeps()
    kw.setdefault("max_retries", 3)
    kw.setdefault("initial_backoff", 0.5)
    kw.setdefault("max_backoff", 4)
    return ElasticsearchOutput(client, sleep=sleeps, **kw), sleeps  # type: ignore[arg-type]


# --------------------------------------------------------------------------- serialisation / chunking
def test_actions_ids_indices_and_ingested():
    client = ScriptedClient(8)
    out, _ = make(client)
    docs = [doc(1), doc(2, "dirsrv.connection", "2026-12-04T23:30:00.000-02:00"), {"message": "no event"}]
    before = orjson.dumps(docs)
    res = out.send(docs)
    assert res.acknowledged == 3 and res.created == 3 and not res.rejected
    (body,) = client.bodies
    acts = _actions(body)
    assert acts[0][0] == {"_index": "dirsrvbeat-access-2026.12.04", "_id": "id-1"}
    assert acts[1][0] == {"_index": "dirsrvbeat-connection-2026.12.05", "_id": "id-2"}
    assert acts[2][0] == {"_index": "dirsrvbeat-other-undated"}  # no event.id: server-assigned id
    for _, src in acts:
        assert src["event"]["ingested"].endswith("Z")
    assert orjson.dumps(docs) == before  # the caller's documents are not modified
    assert res.by_index == {"dirsrvbeat-access-2026.12.04": 1, "dirsrvbeat-connection-2026.12.05": 1,
                            "dirsrvbeat-other-undated": 1}


def test_type_only_for_6x():
    c6 = ScriptedClient(6)
    make(c6)[0].send([doc(1)])
    assert _actions(c6.bodies[0])[0][0]["_type"] == "_doc"
    c7 = ScriptedClient(7)
    make(c7)[0].send([doc(1)])
    assert "_type" not in _actions(c7.bodies[0])[0][0]


def test_chunks_are_bounded_by_bytes():
    client = ScriptedClient()
    out, _ = make(client, chunk_bytes=4096, chunk_docs=10_000)
    docs = [doc(i, payload="x" * 300) for i in range(100)]
    res = out.send(docs)
    assert res.acknowledged == 100
    assert len(client.bodies) > 5
    assert all(len(b) <= 4096 for b in client.bodies)
    assert sum(len(_actions(b)) for b in client.bodies) == 100
    assert res.bytes == sum(len(b) for b in client.bodies) and res.requests == len(client.bodies)


def test_chunks_are_bounded_by_docs_and_oversized_doc_goes_alone():
    client = ScriptedClient()
    out, _ = make(client, chunk_bytes=2000, chunk_docs=3)
    docs = [doc(0), doc(1, payload="y" * 5000), doc(2), doc(3), doc(4), doc(5)]
    out.send(docs)
    sizes = [len(_actions(b)) for b in client.bodies]
    assert sizes == [1, 1, 3, 1]


def test_write_streams_chunk_by_chunk():
    client = ScriptedClient()
    out, _ = make(client, chunk_docs=10)
    seen_when_first_request: list[int] = []
    produced = 0

    def gen():
        nonlocal produced
        for i in range(35):
            if client.bodies and not seen_when_first_request:
                seen_when_first_request.append(produced)
            produced += 1
            yield doc(i)

    res = out.write(gen())
    assert res.acknowledged == 35 and len(client.bodies) == 4
    assert seen_when_first_request and seen_when_first_request[0] <= 11  # did not read everything first
    assert out.stats.acknowledged == 35


# --------------------------------------------------------------------------- rejected items / dead letter
def test_rejected_items_go_to_dead_letter_with_reason(tmp_path):
    dl = tmp_path / "dl.ndjson"
    client = ScriptedClient(8, [per_item(lambda a, s: REC8_PARSE_ERROR if a["_id"] == "id-1" else REC8_CREATED)])
    out, _ = make(client, dead_letter=str(dl))
    res = out.send([doc(0), doc(1), doc(2)])
    out.close()
    assert res.acknowledged == 2 and len(res.rejected) == 1 and res.documents == 3
    rej = res.rejected[0]
    assert (rej.status, rej.error_type, rej.id) == (400, "document_parsing_exception", "id-1")
    assert "failed to parse field [n]" in rej.reason and "For input string" in rej.reason
    (line,) = dl.read_bytes().splitlines()
    rec = orjson.loads(line)
    assert rec["document"] == doc(1)
    assert rec["error"]["type"] == "document_parsing_exception"
    assert rec["status"] == 400 and rec["index"] == "dirsrvbeat-access-2026.12.04" and rec["id"] == "id-1"


def test_6x_mapper_conflict_is_rejected():
    client = ScriptedClient(6, [per_item(lambda a, s: REC6_MAPPER_ERROR if a["_id"] == "id-0" else REC6_CREATED)])
    dl = DeadLetter(None)  # counting only
    out, _ = make(client, dead_letter=dl)
    res = out.send([doc(0), doc(1)])
    assert res.acknowledged == 1 and dl.count == 1
    assert res.rejected[0].error_type == "illegal_argument_exception"


def test_unserialisable_document_is_rejected_not_fatal(tmp_path):
    client = ScriptedClient()
    dl = tmp_path / "dl.ndjson"
    out, _ = make(client, dead_letter=str(dl))
    bad = doc(1)
    bad["weird"] = {1: "int key"}
    res = out.send([doc(0), bad, doc(2)])
    out.close()
    assert res.acknowledged == 2 and res.rejected[0].error_type == "serialization_error"
    assert orjson.loads(dl.read_bytes().splitlines()[0])["error"]["type"] == "serialization_error"


def test_closed_index_is_not_dead_lettered_but_undelivered(tmp_path):
    dl = tmp_path / "dl.ndjson"
    client = ScriptedClient(8, [per_item(lambda a, s: REC8_CLOSED if a["_id"] == "id-1" else REC8_CREATED)])
    out, _ = make(client, dead_letter=str(dl))
    with pytest.raises(DeliveryError, match="index_closed_exception") as ei:
        out.send([doc(0), doc(1), doc(2)])
    assert ei.value.undelivered == 1 and ei.value.result.acknowledged == 2
    assert not dl.exists() or dl.read_bytes() == b""


# --------------------------------------------------------------------------- retries
def test_item_429_is_retried_alone_with_backoff():
    calls = {"n": 0}

    def rule(a, s):
        if a["_id"] == "id-1" and calls["n"] < 2:
            calls["n"] += 1
            return ITEM_429
        return REC8_CREATED

    client = ScriptedClient(8, [per_item(rule), per_item(rule), per_item(rule)])
    out, sleeps = make(client)
    res = out.send([doc(0), doc(1), doc(2)])
    assert res.acknowledged == 3 and res.retries == 2 and res.retried_items == 2
    assert [len(_actions(b)) for b in client.bodies] == [3, 1, 1]
    assert _actions(client.bodies[1])[0][0]["_id"] == "id-1"
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and sleeps[1] >= sleeps[0] * 0.5


def test_item_503_retried_then_delivery_error():
    client = ScriptedClient(8, [per_item(lambda a, s: ITEM_503 if a["_id"] == "id-1" else REC8_CREATED)] * 10)
    out, sleeps = make(client, max_retries=2)
    with pytest.raises(DeliveryError) as ei:
        out.send([doc(0), doc(1)])
    assert ei.value.undelivered == 1 and ei.value.result.acknowledged == 1
    assert "unavailable_shards_exception" in str(ei.value)
    assert len(client.bodies) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("exc", [
    EsConnectionError("POST /_bulk: cannot connect to http://127.0.0.1:9200: refused"),
    EsServerError("POST /_bulk: HTTP 503 unavailable", status=503),
    EsTooManyRequests("POST /_bulk: HTTP 429 circuit_breaking_exception: [parent] Data too large", status=429),
])
def test_whole_request_retried(exc):
    client = ScriptedClient(8, [exc, exc])
    out, sleeps = make(client)
    res = out.send([doc(0), doc(1)])
    assert res.acknowledged == 2 and res.retries == 2 and len(client.bodies) == 3 and len(sleeps) == 2
    assert client.bodies[0] == client.bodies[2]  # same documents, same ids: idempotent


def test_server_down_raises_delivery_error_after_retries():
    err = EsConnectionError("POST /_bulk: cannot connect to http://127.0.0.1:9200: refused")
    client = ScriptedClient(8, [err] * 10)
    out, sleeps = make(client, max_retries=3, chunk_docs=2)
    with pytest.raises(DeliveryError) as ei:
        out.send([doc(i) for i in range(5)])
    assert ei.value.undelivered == 2 and ei.value.result.acknowledged == 0
    assert isinstance(ei.value.cause, EsConnectionError)
    assert len(client.bodies) == 4  # 1 + 3 retries, then stop: later chunks are not tried
    assert sleeps == sorted(sleeps) or len(sleeps) == 3


def test_partial_success_then_failure_reports_what_was_acknowledged():
    err = EsServerError("POST /_bulk: HTTP 500 boom", status=500)
    client = ScriptedClient(8, [all_created, err, err])
    out, _ = make(client, max_retries=1, chunk_docs=2)
    with pytest.raises(DeliveryError) as ei:
        out.send([doc(i) for i in range(4)])
    assert ei.value.result.acknowledged == 2 and ei.value.undelivered == 2
    assert out.stats.acknowledged == 2


def test_auth_error_is_not_retried():
    client = ScriptedClient(8, [EsAuthError("POST /_bulk: HTTP 401 authentication/authorization failed", status=401)])
    out, sleeps = make(client)
    with pytest.raises(DeliveryError, match="401"):
        out.send([doc(0)])
    assert len(client.bodies) == 1 and sleeps == []


def test_413_splits_the_request():
    too_big = EsRequestError("POST /_bulk: HTTP 413", status=413)
    client = ScriptedClient(8, [too_big, all_created, too_big, all_created, too_big])
    out, _ = make(client)
    res = out.send([doc(0), doc(1), doc(2), doc(3)])
    assert res.acknowledged == 3 and len(res.rejected) == 1 and res.rejected[0].status == 413
    assert [len(_actions(b)) for b in client.bodies] == [4, 2, 2, 1, 1]


def test_updated_counts_resends():
    client = ScriptedClient(8, [per_item(lambda a, s: REC8_UPDATED)])
    res = make(client)[0].send([doc(0)])
    assert res.updated == 1 and res.created == 0 and res.acknowledged == 1


def test_result_merge():
    a = BulkResult(acknowledged=1, created=1, requests=1, bytes=10, by_index={"i": 1})
    b = BulkResult(acknowledged=2, updated=2, requests=1, bytes=5, by_index={"i": 2, "j": 1})
    a.merge(b)
    assert a.summary()["acknowledged"] == 3 and a.by_index == {"i": 3, "j": 1}


# --------------------------------------------------------------------------- plugin + client secrets
def test_registered_plugin_builds_without_contacting_the_server():
    out = plugins.create("output", "elasticsearch", hosts=["http://127.0.0.1:9"], index_prefix="p")
    assert isinstance(out, ElasticsearchOutput)
    assert "127.0.0.1:9" in repr(out)
    out.close()


def test_plugin_from_config_mapping_validates():
    from dirsrvbeat.config import ConfigError

    with pytest.raises(ConfigError, match=r"elasticsearch\.bulk\.chunk_docs"):
        ElasticsearchOutput(config={"hosts": ["http://127.0.0.1:9"], "bulk": {"chunk_docs": "many"}})
    out = ElasticsearchOutput(config={"hosts": ["http://127.0.0.1:9"], "bulk": {"chunk_bytes": "1MiB"}})
    assert out.chunk_bytes == 1 << 20
    out.close()


def test_connection_refused_is_a_clear_delivery_error():
    client = EsClient(["http://127.0.0.1:9"], timeout=2)
    out = ElasticsearchOutput(client, max_retries=1, initial_backoff=0.01, sleep=lambda s: None)
    with pytest.raises(DeliveryError, match=r"cannot connect to http://127\.0\.0\.1:9"):
        out.send([doc(0)])


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"error":{"type":"security_exception","reason":"unable to authenticate user [u]"},"status":401}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder():
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Recorder.seen = []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_secrets_are_sent_but_never_shown(recorder, caplog):
    from dirsrvbeat.config import Secret

    caplog.set_level(logging.DEBUG)
    client = EsClient([recorder], username="u", password=Secret("s3cr3t-pw", "test"))
    assert "s3cr3t" not in repr(client)
    with pytest.raises(EsAuthError) as ei:
        client.info()
    assert "s3cr3t" not in str(ei.value) and "401" in str(ei.value)
    assert _Recorder.seen[0]["authorization"] == "Basic dTpzM2NyM3QtcHc="
    key_client = EsClient([recorder], api_key="id1:k3y-s3cret")
    with pytest.raises(EsAuthError):
        key_client.info()
    assert _Recorder.seen[-1]["authorization"].startswith("ApiKey ")
    assert "k3y" not in repr(key_client)
    assert "s3cr3t" not in caplog.text and "k3y" not in caplog.text


def test_credentials_in_url_are_moved_to_the_header(recorder):
    url = recorder.replace("http://", "http://u:pw%40x@")
    client = EsClient([url])
    assert client.hosts == [recorder] and "pw" not in repr(client)
    with pytest.raises(EsAuthError) as ei:
        client.info()
    assert "pw" not in str(ei.value)
    assert _Recorder.seen[0]["authorization"] == "Basic dTpwd0B4"


# --------------------------------------------------------------------------- framed documents (compiled engine)
def framed(docs: list[dict], index: str = "dirsrvbeat-access-2026.12.04") -> list[bytes]:
    lines = []
    for d in docs:
        lines.append(orjson.dumps({"index": {"_index": index, "_id": d["event"]["id"]}}))
        lines.append(orjson.dumps(d))
    return lines


def test_framed_documents_are_sent_as_given_and_rejections_are_read_back(tmp_path):
    dl = tmp_path / "dl.ndjson"
    client = ScriptedClient(8, [per_item(lambda a, s: REC8_PARSE_ERROR if a["_id"] == "id-1" else REC8_CREATED)])
    out, _ = make(client, dead_letter=str(dl))
    lines = framed([doc(0), doc(1), doc(2)])
    res = out.send_framed(lines)
    out.close()
    assert client.bodies == [b"\n".join(lines) + b"\n"]  # not re-serialised
    assert res.acknowledged == 2 and len(res.rejected) == 1
    rec = orjson.loads(dl.read_bytes())
    assert rec["document"] == doc(1) and rec["id"] == "id-1" and rec["index"] == "dirsrvbeat-access-2026.12.04"
    assert rec["error"]["type"] == "document_parsing_exception"


def test_framed_items_retried_alone_and_413_split():
    calls = {"n": 0}

    def rule(a, s):
        if a["_id"] == "id-2" and calls["n"] < 1:
            calls["n"] += 1
            return ITEM_429
        return REC8_CREATED

    too_big = EsRequestError("POST /_bulk: HTTP 413", status=413)
    client = ScriptedClient(8, [too_big, per_item(rule), per_item(rule), all_created])
    out, _ = make(client)
    res = out.send_framed(framed([doc(i) for i in range(4)]))
    assert res.acknowledged == 4 and res.retries == 1
    assert [[a["_id"] for a, _ in _actions(b)] for b in client.bodies] == [
        ["id-0", "id-1", "id-2", "id-3"], ["id-0", "id-1"], ["id-2", "id-3"], ["id-2"]]


def test_framed_lines_must_pair_and_framing_follows_the_server():
    out, _ = make(ScriptedClient(6), index_prefix="ldap")
    with pytest.raises(ValueError, match="pairs"):
        out.send_framed([b"{}"])
    assert out.framing() == ("ldap", "daily", "_doc")
    out8, _ = make(ScriptedClient(8), index_mode="rollover")
    assert out8.framing() == ("dirsrvbeat", "rollover", None)
