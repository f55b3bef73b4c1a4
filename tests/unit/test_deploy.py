"""deploy/: systemd units (systemd-analyze verify when present), cron.d, the example configuration, the
monitor ACI, the Elasticsearch roles. Every dirsrvbeat command line in them parses with the real CLI."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dirsrvbeat.cli import build_parser
from dirsrvbeat.config import load_config
from dirsrvbeat.es import templates
from dirsrvbeat.monitor.config import build_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))
MONITOR_DN = "uid=svc-monitor,ou=services,dc=example,dc=com"


def unit(path: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(path.read_text())
    return cp


def parse_cli(argv: list[str]) -> None:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`dirsrvbeat {' '.join(argv)}` does not parse (exit {exc.code})")
    assert callable(args.func)


def test_units_name_the_right_commands():
    cmds = {}
    for path in UNITS:
        if path.suffix == ".service":
            argv = shlex.split(unit(path)["Service"]["ExecStart"])
            assert argv[0].endswith("/dirsrvbeat")
            parse_cli(argv[1:])
            cmds[path.stem] = argv[1:3]
    assert cmds == {"dirsrvbeat-monitor": ["monitor", "serve"], "dirsrvbeat-ship": ["access", "ship"],
                    "dirsrvbeat-collect": ["monitor", "collect"]}
    assert unit(DEPLOY / "systemd/dirsrvbeat-monitor.service")["Service"]["Restart"] == "on-failure"
    for oneshot in ("dirsrvbeat-ship", "dirsrvbeat-collect"):
        assert unit(DEPLOY / f"systemd/{oneshot}.service")["Service"]["Type"] == "oneshot"
        timer = unit(DEPLOY / f"systemd/{oneshot}.timer")
        assert "Timer" in timer and timer["Install"]["WantedBy"] == "timers.target"
    # exit 75 = the previous run still holds the lock: not a failure of the unit
    assert "75" in unit(DEPLOY / "systemd/dirsrvbeat-ship.service")["Service"]["SuccessExitStatus"].split()


def test_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    exe = Path(sys.executable).parent / "dirsrvbeat"
    for path in UNITS:
        (tmp_path / path.name).write_text(path.read_text().replace("/usr/local/bin/dirsrvbeat", str(exe)))
    proc = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=120)
    noise = re.compile(r"(Failed to|Cannot) (open|connect|create).*bus|not running|system has not been booted|"
                       r"Unknown (user|group)|No such process", re.I)
    problems = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip() and not noise.search(ln)]
    assert not problems, "\n".join(problems)


def test_cron_lines():
    lines = [ln for ln in (DEPLOY / "cron.d/dirsrvbeat").read_text().splitlines()
             if ln.strip() and not ln.startswith("#") and "=" not in ln.split()[0]]
    seen = []
    for ln in lines:
        fields = ln.split(None, 6)
        assert len(fields) == 7, ln
        minute, hour, dom, month, dow, user, command = fields
        assert user == "dirsrvbeat"
        for f in (minute, hour, dom, month, dow):
            assert f == "*" or re.fullmatch(r"(\*/\d+|\d+(-\d+)?(,\d+(-\d+)?)*)", f), f
        argv = shlex.split(command.split("|")[0].replace("2>&1", ""))
        assert argv[0] == "dirsrvbeat"
        parse_cli(argv[1:])
        seen.append(argv[1:3])
    assert seen == [["access", "ship"], ["monitor", "collect"]]


def test_example_configuration_loads(tmp_path):
    text = (DEPLOY / "dirsrvbeat.yml").read_text()
    for name in re.findall(r"/etc/dirsrvbeat/[\w.-]+", text):
        (tmp_path / Path(name).name).write_text("secret\n")
        text = text.replace(name, str(tmp_path / Path(name).name))
    cfg_file = tmp_path / "dirsrvbeat.yml"
    cfg_file.write_text(text)
    cfg = load_config(cfg_file, env={})
    assert cfg.elasticsearch.username == "dirsrvbeat_writer" and cfg.elasticsearch.password is not None
    assert cfg.access.paths == ["/var/log/dirsrv/slapd-ldap1/access*"]
    monitor = build_config(cfg.monitor)
    assert monitor.bind_dn == MONITOR_DN and monitor.password is not None
    assert [r.workload for r in monitor.compiled_rules][-1] == "small-short"
    assert [h.name for h in monitor.histogram_specs] == ["ops_per_connection", "connection_age_seconds",
                                                         "blocked_ratio"]
    assert cfg.kibana.url and cfg.kibana.password is not None
    assert "password:" not in (DEPLOY / "dirsrvbeat.yml").read_text().replace("password_", "")


def test_monitor_aci_is_the_collectors_and_the_verified_one():
    text = (DEPLOY / "ldif/monitor-aci.ldif").read_text()
    out = subprocess.run([sys.executable, "-m", "dirsrvbeat", "monitor", "aci", MONITOR_DN], capture_output=True,
                         text=True, check=True).stdout
    assert text == out, "deploy/ldif/monitor-aci.ldif is stale: dirsrvbeat monitor aci DN > that file"
    # the ACI verified on the real server (docs/dirsrv-lab.md): on cn=monitor itself, targetattr connection,
    # read/search/compare for exactly the collector's DN
    block = text.split("dn: cn=monitor\n", 1)[1].split("\n\n", 1)[0]
    assert "changetype: modify" in block and "add: aci" in block
    aci = next(ln for ln in block.splitlines() if ln.startswith("aci:"))
    assert '(targetattr = "connection")' in aci
    assert "allow (read, search, compare)" in aci
    assert f'userdn = "ldap:///{MONITOR_DN}"' in aci
    lab = (ROOT / "docs" / "dirsrv-lab.md").read_text()
    assert '(targetattr = "connection")' in lab and "allow (read, search, compare)" in lab


ES_CLUSTER_PRIVILEGES = {"monitor", "manage_index_templates", "manage_ilm", "read_ilm", "manage"}
ES_INDEX_PRIVILEGES = {"create_index", "index", "create", "create_doc", "view_index_metadata", "manage", "write",
                       "read"}


def test_elasticsearch_roles_are_least_privilege():
    writer = orjson.loads((DEPLOY / "elasticsearch/role-dirsrvbeat-writer.json").read_bytes())
    setup = orjson.loads((DEPLOY / "elasticsearch/role-dirsrvbeat-setup.json").read_bytes())
    patterns = {templates.TemplateOptions().pattern(ds) for ds in templates.DATASETS}
    for role in (writer, setup):
        assert set(role["cluster"]) <= ES_CLUSTER_PRIVILEGES
        assert len(role["indices"]) == 1
        assert set(role["indices"][0]["names"]) == patterns
        assert set(role["indices"][0]["privileges"]) <= ES_INDEX_PRIVILEGES
    assert writer["cluster"] == ["monitor"]
    assert set(writer["indices"][0]["privileges"]) == {"create_index", "index", "view_index_metadata"}
    assert not {"manage", "manage_index_templates", "manage_ilm", "delete", "read"} & (
        set(writer["cluster"]) | set(writer["indices"][0]["privileges"]))
    assert {"manage_index_templates", "manage_ilm"} <= set(setup["cluster"])
    kibana = orjson.loads((DEPLOY / "kibana/role-dirsrvbeat-setup.json").read_bytes())
    assert kibana["kibana"][0]["feature"]["savedObjectsManagement"] == ["all"]


def test_compose_scripts_and_every_helper():
    for script in (DEPLOY / "compose").glob("*.sh"):
        shell = "bash" if script.read_text().startswith("#!/bin/bash") else "sh"
        proc = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"
    # every.sh really repeats, and survives a failing run
    proc = subprocess.run(["timeout", "3", "sh", str(DEPLOY / "compose/every.sh"), "1", "sh", "-c",
                           "echo tick; exit 1"], capture_output=True, text=True)
    assert proc.stdout.count("tick") >= 2 and "exited 1" in proc.stderr
