"""dirsrvbeat.yml loading: schema, clear errors with key paths, secrets, CLI overrides."""

from __future__ import annotations

import argparse
import textwrap

import pytest

from dirsrvbeat import config as cfgmod
from dirsrvbeat.config import (
    ConfigError,
    Secret,
    add_config_argument,
    add_elasticsearch_arguments,
    client_options,
    load_config,
    overrides_from_args,
    parse_size,
)

FULL = """\
elasticsearch:
  hosts: ["https://es1:9200", "https://es2:9200"]
  username: writer
  password_file: secrets/es.pw
  ca_file: ca.pem
  verify: true
  timeout: 45s
  http_compress: true
  index_prefix: ldap-prod
  index_mode: rollover
  ilm: {enabled: true, delete_after_days: 14, rollover_max_size: 10gb}
  bulk: {chunk_bytes: 2MiB, chunk_docs: 1000, max_retries: 3, initial_backoff: 500ms, max_backoff: 1m}
access:
  paths: logs/access*
  state_dir: state
  dead_letter: "-"
  host_name: ldap1.example.com
  service_name: slapd-ldap1
  close_grace_seconds: 2.5
monitor:
  url: ldap://127.0.0.1:389
  interval: 10s
kibana:
  url: http://127.0.0.1:5601
  space: ops
"""


def write(tmp_path, text: str, name: str = "dirsrvbeat.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(tmp_path, text: str, **kw) -> list[str]:
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, text), env={}, **kw)
    return ei.value.errors


def test_defaults_without_a_file():
    cfg = load_config(None, env={})
    es = cfg.elasticsearch
    assert es.hosts == ["http://127.0.0.1:9200"] and es.verify is True and es.timeout == 30.0
    assert es.index_prefix == "dirsrvbeat" and es.index_mode == "daily"
    assert es.ilm.enabled is None and es.ilm.delete_after_days == 30
    assert es.bulk.chunk_bytes == 5 * 1024 * 1024 and es.bulk.chunk_docs == 5000
    assert es.password is None and es.api_key is None
    assert cfg.access.close_grace_seconds == 5.0 and cfg.monitor == {} and cfg.kibana.url is None
    assert cfg.source is None


def test_full_file(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "es.pw").write_text("pw-from-file\n")
    cfg = load_config(write(tmp_path, FULL), env={})
    es = cfg.elasticsearch
    assert es.hosts == ["https://es1:9200", "https://es2:9200"]
    assert es.username == "writer" and es.password.reveal() == "pw-from-file"
    assert es.ca_file == str(tmp_path / "ca.pem")  # relative to the file's folder
    assert es.timeout == 45.0 and es.http_compress is True
    assert es.index_prefix == "ldap-prod" and es.index_mode == "rollover"
    assert (es.ilm.enabled, es.ilm.delete_after_days, es.ilm.rollover_max_size) == (True, 14, "10gb")
    assert (es.bulk.chunk_bytes, es.bulk.chunk_docs, es.bulk.max_retries) == (2 * 1024 * 1024, 1000, 3)
    assert (es.bulk.initial_backoff, es.bulk.max_backoff) == (0.5, 60.0)
    assert cfg.access.paths == [str(tmp_path / "logs/access*")]
    assert cfg.access.state_dir == str(tmp_path / "state") and cfg.access.dead_letter == "-"
    assert cfg.access.close_grace_seconds == 2.5
    assert cfg.monitor == {"url": "ldap://127.0.0.1:389", "interval": "10s"}  # free mapping, untouched
    assert cfg.kibana.url == "http://127.0.0.1:5601" and cfg.kibana.space == "ops"
    # Kibana inherits the Elasticsearch credentials
    assert cfg.kibana.username == "writer" and cfg.kibana.password is es.password


def test_chunk_bytes_error_names_the_key(tmp_path):
    errs = errors_of(tmp_path, "elasticsearch:\n  bulk:\n    chunk_bytes: 5 parsecs\n")
    assert errs == ['elasticsearch.bulk.chunk_bytes: expected an integer or a size like "5MiB", got "5 parsecs"']


@pytest.mark.parametrize(("text", "size"), [(1048576, 1048576), ("5MiB", 5 * 2**20), ("5MB", 5_000_000),
                                            ("512KiB", 512 * 1024), ("1.5 GiB", int(1.5 * 2**30)), ("100", 100),
                                            ("2mb", 2_000_000)])
def test_sizes(text, size):
    assert parse_size(text) == size


def test_unknown_keys_and_many_errors_at_once(tmp_path):
    errs = errors_of(tmp_path, """\
        elasticsearch:
          host: http://x:9200
          timeout: soon
          index_mode: weekly
          bulk: {chunk_size: 5}
        acces: {}
        access:
          paths: 42
    """)
    joined = "\n".join(errs)
    assert "elasticsearch.host: unknown key (known: api_key_env, api_key_file, bulk, ca_file, hosts," in joined
    assert 'elasticsearch.timeout: expected seconds or a duration like "30s", got "soon"' in joined
    assert 'elasticsearch.index_mode: expected one of daily, rollover, got "weekly"' in joined
    assert "elasticsearch.bulk.chunk_size: unknown key" in joined
    assert "acces: unknown key" in joined
    assert "access.paths: expected a string or a list of strings, got 42" in joined
    assert len(errs) == 6


def test_error_message_lists_all(tmp_path):
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, "elasticsearch: {verify: maybe, timeout: -1}\n"), env={})
    text = str(ei.value)
    assert "2 configuration errors" in text and "elasticsearch.verify: expected true or false" in text
    assert str(tmp_path) in text


def test_literal_password_is_refused(tmp_path):
    errs = errors_of(tmp_path, "elasticsearch:\n  username: u\n  password: hunter2\n")
    assert errs == ["elasticsearch.password: unknown key (put the password in password_file or in the "
                    "environment variable named by password_env)"]


def test_bad_yaml_and_bad_shapes(tmp_path):
    errs = errors_of(tmp_path, "elasticsearch:\n  hosts: [a\n")
    assert errs[0].startswith("invalid YAML: line ")
    assert errors_of(tmp_path, "- a\n- b\n") == ["the file must hold a mapping of sections, got list"]
    assert errors_of(tmp_path, "elasticsearch: 3\n") == ["elasticsearch: expected a mapping, got 3"]
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path / "missing.yml", env={})


def test_types(tmp_path):
    errs = errors_of(tmp_path, """\
        elasticsearch:
          hosts: []
          index_prefix: Upper
          ilm: {enabled: sometimes, delete_after_days: 0}
          bulk: {chunk_docs: 1.5, max_retries: -1, initial_backoff: 10, max_backoff: 1}
    """)
    joined = "\n".join(errs)
    assert "elasticsearch.hosts: expected at least one host" in joined
    assert "elasticsearch.index_prefix: expected a lower-case index name prefix" in joined
    assert 'elasticsearch.ilm.enabled: expected true, false or auto, got "sometimes"' in joined
    assert "elasticsearch.ilm.delete_after_days: expected an integer >= 1, got 0" in joined
    assert "elasticsearch.bulk.chunk_docs: expected an integer, got 1.5" in joined
    assert "elasticsearch.bulk.max_retries: expected an integer >= 0, got -1" in joined
    assert "elasticsearch.bulk.max_backoff: must be >= initial_backoff" in joined


def test_hosts_scheme(tmp_path):
    errs = errors_of(tmp_path, "elasticsearch: {hosts: ['ftp://u:secret@x']}\n")
    assert errs == ["elasticsearch.hosts: host 'x': scheme must be http or https"]
    assert "secret" not in errs[0]


def test_secrets_from_env_and_file(tmp_path):
    env = {"DIRSRVBEAT_ES_PASSWORD": "pw-env", "DIRSRVBEAT_ES_API_KEY": "id:key-env", "MY_PW": "mine"}
    cfg = load_config(write(tmp_path, "elasticsearch: {username: u}\n"), env=env)
    assert cfg.elasticsearch.password.reveal() == "pw-env"
    assert cfg.elasticsearch.api_key.reveal() == "id:key-env"
    cfg = load_config(write(tmp_path, "elasticsearch: {username: u, password_env: MY_PW}\n"), env=env)
    assert cfg.elasticsearch.password.reveal() == "mine"
    # an ambient password without a user name is ignored
    assert load_config(None, env={"DIRSRVBEAT_ES_PASSWORD": "x"}).elasticsearch.password is None
    (tmp_path / "pw").write_text("")
    errs = errors_of(tmp_path, "elasticsearch: {username: u, password_file: pw}\n")
    assert errs == [f"elasticsearch.password_file: {tmp_path / 'pw'} is empty"]
    errs = errors_of(tmp_path, "elasticsearch: {password_file: nope}\n")
    assert any("cannot read" in e for e in errs) and any("set elasticsearch.username too" in e for e in errs)


def test_secrets_never_shown(tmp_path):
    (tmp_path / "pw").write_text("s3cr3t\n")
    cfg = load_config(write(tmp_path, "elasticsearch: {username: u, password_file: pw}\n"),
                      env={"DIRSRVBEAT_ES_API_KEY": "k3y"})
    text = repr(cfg) + str(cfg) + repr(client_options(cfg.elasticsearch))
    assert "s3cr3t" not in text and "k3y" not in text
    assert "Secret(<from file" in text
    assert str(Secret("x", "here")) == "Secret(<from here>)"


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_config_argument(p)
    add_elasticsearch_arguments(p)
    return p.parse_args(argv)


def test_cli_overrides_the_file(tmp_path):
    path = write(tmp_path, "elasticsearch:\n  hosts: [http://file:9200]\n  index_prefix: fromfile\n  verify: true\n")
    (tmp_path / "cli.pw").write_text("cli-pw")
    args = _parse(["-c", str(path), "--es-url", "http://a:9200", "--es-url", "https://b:9200",
                   "--username", "cli", "--password-file", str(tmp_path / "cli.pw"), "--insecure",
                   "--index-mode", "rollover"])
    cfg = load_config(args.config, overrides_from_args(args), env={})
    es = cfg.elasticsearch
    assert es.hosts == ["http://a:9200", "https://b:9200"]
    assert es.username == "cli" and es.password.reveal() == "cli-pw" and es.verify is False
    assert es.index_prefix == "fromfile" and es.index_mode == "rollover"
    assert overrides_from_args(_parse([])) == {}


def test_cli_values_are_validated_with_key_paths():
    args = _parse(["--index-prefix", "Bad"])
    with pytest.raises(ConfigError, match=r"elasticsearch\.index_prefix"):
        load_config(None, overrides_from_args(args), env={})


def test_env_config_path(tmp_path):
    path = write(tmp_path, "elasticsearch: {index_prefix: viaenv}\n")
    assert load_config(None, env={"DIRSRVBEAT_CONFIG": str(path)}).elasticsearch.index_prefix == "viaenv"


def test_register_section_and_key(tmp_path, monkeypatch):
    monkeypatch.setattr(cfgmod, "SCHEMA", {**cfgmod.SCHEMA, "access": dict(cfgmod.ACCESS_SCHEMA)})
    cfgmod.register_section("classify")
    cfgmod.register_section("classify")  # idempotent
    cfgmod.register_key("access", "workers", cfgmod.c_pos_int, 1)
    cfg = load_config(write(tmp_path, "classify: {rules: []}\naccess: {workers: 4}\n"), env={})
    assert cfg.sections["classify"] == {"rules": []}
    assert cfg.access.extra == {"workers": 4}
    errs = errors_of(tmp_path, "access: {workers: lots}\n")
    assert errs == ['access.workers: expected an integer, got "lots"']
    with pytest.raises(ValueError):
        cfgmod.register_section("classify", cfgmod.c_str)


def test_kibana_own_credentials(tmp_path):
    cfg = load_config(write(tmp_path, "elasticsearch: {username: es}\nkibana: {url: 'http://k:5601', "
                                      "username: kb, password_env: KB}\n"),
                      env={"KB": "kbpw", "DIRSRVBEAT_ES_PASSWORD": "espw"})
    assert cfg.kibana.username == "kb" and cfg.kibana.password.reveal() == "kbpw"
    assert cfg.elasticsearch.password.reveal() == "espw"
