"""The testcontainers backend offers what the local backend offers (fixture names, handle attributes),
and without a Docker engine it says so with one clear reason instead of failing. No server needed."""

from __future__ import annotations

import dataclasses
import inspect

from services import containers, dirsrv, es


def test_same_fixture_names_and_handles():
    assert callable(containers.dirsrv) and callable(containers.es)
    assert issubclass(containers.ContainerDirSrv, dirsrv.DirSrv)
    local_fields = {f.name for f in dataclasses.fields(dirsrv.DirSrv)}
    assert local_fields <= {f.name for f in dataclasses.fields(containers.ContainerDirSrv)}
    # every server-side action the local handle runs through ds.sh has a docker exec version
    for name in ("grant_monitor_read", "rotate_access_log", "restart", "stop", "start", "is_running"):
        assert getattr(containers.ContainerDirSrv, name) is not getattr(dirsrv.DirSrv, name), name
    for name, _member in inspect.getmembers(dirsrv.DirSrv, inspect.isfunction):
        assert hasattr(containers.ContainerDirSrv, name)
    # the es handle is the local backend's class
    assert "EsServer" in inspect.getsource(containers.es)
    assert set(es.MATRIX and [v.key for v in es.MATRIX]) <= set(containers.CONTAINER_MATRIX)
    assert containers.CONTAINER_MATRIX["7.5"] == "7.5.2"


def test_no_engine_is_one_clear_skip_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    monkeypatch.setattr(containers, "_CHECKED", False)
    monkeypatch.setattr(containers, "_REASON", None)
    reason = containers.docker_unavailable()
    assert reason is not None and reason.startswith("testcontainers backend: ")
    assert "no Docker engine" in reason or "not installed" in reason
    assert "\n" not in reason


def test_limitations_follow_the_version():
    lim = containers._limitations
    assert es.COMPOSABLE_TEMPLATES in lim("7.5.2") and es.COMPOSABLE_TEMPLATES not in lim("7.10.2")
    assert es.TYPELESS in lim("6.8.23") and not lim("8.19.21") - {es.PRODUCT_HEADER}
