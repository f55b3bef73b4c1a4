"""Every visualisation of the shipped Kibana dashboards, run for real against the Elasticsearch matrix.

Per Elasticsearch version: `dirsrvbeat setup` installs the real templates under a prefix of this
test's own, real documents are indexed (`dirsrvbeat access parse --ids --connections` over the
recorded 389 DS access log, `dirsrvbeat monitor collect --ldif` over recorded cn=monitor dumps), then
each visualisation's `visState` is translated into the request Kibana sends
(`dirsrvbeat.kibana.query`) and must return non-empty buckets with values, through the project's
own client (`EsClient`). The data views' field lists are compared with the live mappings too.
"""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import orjson
import pytest

from dirsrvbeat.es.client import EsClient
from dirsrvbeat.kibana import demo, objects, query

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data"
ACCESS_LOG = DATA / "samples" / "access.full.log"
MONITOR_TAGS = ["t20", "t50", "t80", "t110", "bench-120s", "bench-240s", "bench-360s", "bench-480s", "bench-600s"]
VISUALISATIONS = [v.id for v in objects.visualisations()]
# metrics that are legitimately all zero in the recorded data (no connection reached maxthreadsperconn
# while the bench scrapes were recorded); their buckets must still exist
ZERO_OK = {"maxthreadsperconn-hits"}


@functools.lru_cache(maxsize=1)
def documents() -> tuple[dict, ...]:
    docs = demo.access_documents([ACCESS_LOG])
    docs += demo.monitor_documents(demo.monitor_scrapes(DATA / "monitor" / "samples", MONITOR_TAGS))
    return tuple(docs)


@pytest.fixture(scope="module")
def loaded(es):
    """(client, prefix, saved objects by id) with every document indexed on this server."""
    prefix = f"dkq-{uuid.uuid4().hex[:8]}"
    client = EsClient([es.url])
    try:
        demo.install_templates(es.url, prefix)
        result = demo.index_documents(client, prefix, list(documents()))
        assert not result.errors, result.errors[:5]
        assert set(result.counts) == {"dirsrv.access", "dirsrv.connection", "dirsrv.monitor"}, result.counts
        objs = {o["id"]: o for o in objects.build(prefix)}
        yield client, prefix, objs
    finally:
        demo.remove(client, prefix)
        client.close()


@pytest.mark.parametrize("vis_id", VISUALISATIONS)
def test_visualisation_returns_buckets(loaded, es, vis_id):
    client, prefix, objs = loaded
    vis = objs[f"{prefix}-{vis_id}"]
    pattern = objs[vis["references"][0]["id"]]
    dataset = "dirsrv." + objects.dataset_of(pattern["attributes"]["title"], prefix)
    time_from, time_to = demo.time_range(documents(), dataset)
    req, response, rows = query.run(client, vis, pattern, time_from=time_from, time_to=time_to)
    assert not response.get("timed_out"), response
    assert not (response.get("_shards") or {}).get("failures"), response["_shards"]
    outer = req.buckets[0].id
    assert response["aggregations"][outer]["buckets"], f"ES {es.version}: no buckets for {vis_id}: " \
                                                       f"{orjson.dumps(req.body).decode()}"
    assert rows, f"ES {es.version}: {vis_id} gave no rows"
    values = [v for r in rows for v in r.values.values()]
    assert values and all(v is None or isinstance(v, (int, float)) for v in values)
    assert any(v is not None for v in values), f"{vis_id}: every metric is empty"
    if vis_id not in ZERO_OK:
        assert any(v for v in values), f"ES {es.version}: {vis_id}: every value is 0"
    for r in rows:
        assert len(r.keys) == len(req.buckets)


def test_specific_answers(loaded, es):
    """A few numbers checked against the documents themselves (the translation is not just non-empty)."""
    client, prefix, objs = loaded
    docs = documents()
    access = [d for d in docs if d["event"]["dataset"] == "dirsrv.access"]
    frm, to = demo.time_range(docs, "dirsrv.access")

    def run(vis_id):
        vis = objs[f"{prefix}-{vis_id}"]
        req, _, rows = query.run(client, vis, objs[vis["references"][0]["id"]], time_from=frm, time_to=to)
        return req, rows

    _, rows = run("result-codes")
    want = {}
    for d in access:
        name = (d["dirsrv"].get("result") or {}).get("name")
        if name:
            want[name] = want.get(name, 0) + 1
    got = {r.keys[0]: r.values["operations"] for r in rows}
    top = sorted(want.items(), key=lambda kv: -kv[1])[:len(got)]
    assert {k: v for k, v in top} == {k: got[k] for k, _ in top}

    _, rows = run("unindexed-searches")
    unindexed = [d for d in access if (d["dirsrv"].get("search") or {}).get("unindexed")]
    assert sum(r.values["searches"] for r in rows) <= len(unindexed)
    assert {r.keys[0] for r in rows} <= {"full", "partial"}

    req, rows = run("ops-per-second")
    client_ops = [d for d in access if not d["dirsrv"]["op"].get("internal")]
    # scaled to seconds: summing value * bucket seconds gives back every operation (12 types < size 12+)
    per_bucket = sum(r.values["operations / s"] for r in rows) * req.interval_ms / 1000
    assert abs(per_bucket - len(client_ops)) < 1e-6 * len(client_ops) + 1


def test_data_view_fields_match_the_live_mapping(loaded, es):
    """Every field the data views list is mapped in the live indices with the same aggregatable type."""
    client, prefix, objs = loaded
    for ds in ("access", "connection", "monitor"):
        pattern = objs[objects.index_pattern_id(prefix, ds)]
        listed = {f["name"]: f for f in orjson.loads(pattern["attributes"]["fields"]) if not f["name"].startswith("_")}
        caps = client.request("GET", f"/{prefix}-{ds}-*/_field_caps", params={"fields": "*"}).body["fields"]
        for name, f in listed.items():
            if name not in caps:
                continue  # defined but never present in these documents: nothing to compare
            kinds = {k for k in caps[name] if k != "unmapped"}
            assert kinds == set(f["esTypes"]), (ds, name, kinds, f["esTypes"])
            assert all(caps[name][k]["aggregatable"] == f["aggregatable"] for k in kinds), (ds, name)
        used = {a["params"]["field"] for v in objects.visualisations() if v.dataset == ds
                for a in v.aggs if a["params"].get("field")}
        missing = sorted(u for u in used if u not in caps)
        assert not missing, f"ES {es.version}: {ds}: fields used by visualisations are not mapped: {missing}"
