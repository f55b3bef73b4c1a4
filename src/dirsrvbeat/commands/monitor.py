"""`dirsrvbeat monitor collect|serve|check-rules|aci`: the cn=monitor workload collector."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

log = logging.getLogger("dirsrvbeat.monitor")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_DOWN = 3          # the server could not be read (an up=0 document was still written)
EXIT_UNDELIVERED = 69  # the output refused or could not take the documents

_MONITOR_PATH_KEYS = ("password_file", "ca_file", "state_dir", "rules_file")


def add_parser(sub: Any) -> None:
    mon = sub.add_parser("monitor", help="cn=monitor collector: workloads, histograms, Prometheus",
                         description="Reads cn=monitor over LDAP, classifies every open connection into "
                                     "a workload with CEL rules and emits per-workload histograms as "
                                     "bucketed-gauge documents (and Prometheus metrics).")
    msub = mon.add_subparsers(dest="monitor_command", metavar="SUBCOMMAND")
    msub.required = True

    c = msub.add_parser("collect", help="one scrape, documents to NDJSON or Elasticsearch (for cron)",
                        description="One scrape. Exit codes: 0 ok, 1 error, 2 configuration error, 3 the "
                                    "server could not be read (an up=0 document is still written), "
                                    "69 the output did not take the documents.")
    _common(c)
    c.add_argument("--ldif", nargs="+", metavar="FILE",
                   help="read the monitor entries from LDIF dumps instead of LDAP (replay, tests)")
    c.add_argument("--connections", action="store_true",
                   help="print every open connection and its workload to stderr (table)")
    c.set_defaults(func=cmd_collect)

    s = msub.add_parser("serve", help="daemon: scrape every --interval, serve /metrics / /healthz "
                                      "/connections",
                        description="Scrapes every interval (backing off while the server is down), "
                                    "ships documents to the output and serves HTTP endpoints.")
    _common(s)
    s.add_argument("--interval", type=float, help="seconds between scrapes (default 30)")
    s.add_argument("--listen", metavar="HOST:PORT", help="HTTP address (default 127.0.0.1:9396)")
    s.add_argument("--max-scrapes", type=int, help=argparse.SUPPRESS)  # tests
    s.set_defaults(func=cmd_serve)

    r = msub.add_parser("check-rules", help="compile and type-check the workload rules and histograms",
                        description="Exit 0 when every rule compiles, uses known variables and returns a "
                                    "boolean; 2 otherwise (with the rule's name and the CEL error).")
    r.add_argument("-c", "--config", metavar="FILE", help="dirsrvbeat.yml (monitor: section)")
    r.add_argument("--rules", metavar="FILE", help="YAML rule list (overrides the config)")
    r.set_defaults(func=cmd_check_rules)

    a = msub.add_parser("aci", help="print the LDIF granting a DN what the collector reads",
                        description="The ACIs (as LDIF for ldapmodify, to apply as Directory Manager) "
                                    "letting a non-root DN read cn=monitor's `connection` attribute, the "
                                    "ldbm monitors and the cn=config tuning values.")
    a.add_argument("dn", help="the collector's bind DN")
    a.set_defaults(func=cmd_aci)


def _common(p: argparse.ArgumentParser) -> None:
    from ..config import add_elasticsearch_arguments

    p.add_argument("-c", "--config", metavar="FILE",
                   help="dirsrvbeat.yml (monitor: and elasticsearch: sections; default $DIRSRVBEAT_CONFIG)")
    g = p.add_argument_group("LDAP (override monitor: in the configuration file)")
    g.add_argument("--ldap-url", metavar="URL", help="ldap://, ldaps:// or ldapi:// (default ldap://127.0.0.1:389)")
    g.add_argument("--bind-dn", metavar="DN", help="DN to bind as (default: anonymous)")
    g.add_argument("--bind-password-file", metavar="FILE", help="file holding the bind password")
    g.add_argument("--bind-password-env", metavar="VAR", help="environment variable holding the bind password")
    g.add_argument("--ldap-ca-file", metavar="FILE", help="CA certificate(s) to verify the LDAP server")
    g.add_argument("--starttls", action="store_const", const=True, help="StartTLS on an ldap:// URL")
    g.add_argument("--no-tls-verify", action="store_const", const=False, dest="tls_verify",
                   help="do not verify the LDAP server certificate (not recommended)")
    g.add_argument("--sasl-external", action="store_const", const=True,
                   help="SASL/EXTERNAL bind (LDAPI autobind)")
    g.add_argument("--timeout", type=float, help="scrape timeout in seconds (default 10)")
    g.add_argument("--retries", type=int, help="retries of a failed read within a scrape (default 2)")
    k = p.add_argument_group("collector")
    k.add_argument("--rules", metavar="FILE", help="YAML workload rules (overrides monitor.rules)")
    k.add_argument("--state-dir", metavar="DIR", help="where counter values are kept for deltas "
                                                       "('none': no state)")
    k.add_argument("--service-name", help="service.name (instance name) on every document")
    k.add_argument("--host-name", help="host.name on every document")
    k.add_argument("--native-histograms", action="store_const", const=True,
                   help="also emit native Elasticsearch histogram documents (ES >= 7.6, default distribution)")
    k.add_argument("--include-self", action="store_const", const=False, dest="exclude_self",
                   help="count the collector's own connection in the histograms")
    o = p.add_argument_group("output")
    o.add_argument("--output", choices=("ndjson", "elasticsearch", "none"),
                   help="where documents go (default ndjson)")
    o.add_argument("--ndjson-file", metavar="FILE", help="with --output ndjson: append here (default stdout)")
    add_elasticsearch_arguments(p)


# ---------------------------------------------------------------------------------------- config
def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    get = lambda name: getattr(args, name, None)  # noqa: E731
    return {"url": get("ldap_url"), "bind_dn": get("bind_dn"), "password_file": get("bind_password_file"),
            "password_env": get("bind_password_env"), "ca_file": get("ldap_ca_file"),
            "starttls": get("starttls"), "tls_verify": get("tls_verify"), "sasl_external": get("sasl_external"),
            "timeout": get("timeout"), "retries": get("retries"), "rules_file": get("rules"),
            "state_dir": get("state_dir"), "service_name": get("service_name"), "host_name": get("host_name"),
            "native_histograms": get("native_histograms"), "exclude_self": get("exclude_self"),
            "interval": get("interval"), "listen": get("listen")}


def load(args: argparse.Namespace, need_password: bool = True) -> tuple[Any, Any]:
    """(MonitorConfig, shared dirsrvbeat Config); raises ConfigError (ours or the shared one)."""
    from ..config import load_config, overrides_from_args
    from ..monitor.config import build_config

    shared = load_config(getattr(args, "config", None), overrides=overrides_from_args(args))
    raw = dict(shared.monitor or {})
    if shared.source:
        base = os.path.dirname(os.path.abspath(shared.source))
        for key in _MONITOR_PATH_KEYS:
            value = raw.get(key)
            if isinstance(value, str) and value not in ("", "-", "none") and not os.path.isabs(value):
                raw[key] = os.path.join(base, os.path.expanduser(value))
    overrides = _overrides(args)
    if overrides.get("rules_file"):
        raw.pop("rules", None)
    if getattr(args, "output", None):
        output = dict(raw.get("output") or {})
        output["type"] = args.output
        overrides["output"] = output
    if getattr(args, "ndjson_file", None):
        output = dict(overrides.get("output") or raw.get("output") or {"type": "ndjson"})
        output["path"] = args.ndjson_file
        overrides["output"] = output
    return build_config(raw, overrides, need_password=need_password), shared


def _config_error(exc: Exception) -> int:
    errors = getattr(exc, "errors", None)
    source = getattr(exc, "source", None)
    if errors:
        for e in errors:
            print(f"dirsrvbeat: configuration error{f' in {source}' if source else ''}: {e}", file=sys.stderr)
    else:
        print(f"dirsrvbeat: configuration error: {exc}", file=sys.stderr)
    return EXIT_CONFIG


class _Output:
    """ndjson (append to a file or stdout), elasticsearch (the shipper's output plugin) or none."""

    def __init__(self, cfg: Any, shared: Any) -> None:
        spec = dict(cfg.output or {})
        self.kind = spec.get("type", "ndjson")
        self._out: Any = None
        self._file: Any = None
        if self.kind == "ndjson":
            from ..outputs.ndjson import NdjsonOutput

            path = spec.get("path", "-")
            if path in (None, "-"):
                self._out = NdjsonOutput("-")
            else:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                self._file = open(path, "ab")  # noqa: SIM115 - closed in close()
                self._out = NdjsonOutput(stream=self._file)
        elif self.kind == "elasticsearch":
            try:
                from ..outputs.elasticsearch import ElasticsearchOutput
            except ImportError as exc:
                raise RuntimeError(f"--output elasticsearch: the Elasticsearch output is not available "
                                   f"({exc}); use --output ndjson") from None
            self._out = ElasticsearchOutput(config=shared.elasticsearch)
        elif self.kind != "none":
            raise ValueError(f"monitor.output.type: must be ndjson, elasticsearch or none, got {self.kind!r}")

    def __call__(self, docs: list[dict[str, Any]]) -> Any:
        if self._out is None:
            return None
        if self.kind == "elasticsearch":
            return self._out.send(docs)
        return self._out.write(iter(docs))

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
        if self._file is not None:
            self._file.close()


# ---------------------------------------------------------------------------------------- commands
def cmd_collect(args: argparse.Namespace) -> int:
    from ..config import ConfigError as SharedConfigError
    from ..monitor.collector import Collector
    from ..monitor.config import ConfigError
    from ..monitor.documents import DocumentBuilder
    from ..monitor.service import connections_table
    from ..monitor.snapshot import load_ldif

    try:
        cfg, shared = load(args, need_password=not args.ldif)
    except (ConfigError, SharedConfigError) as exc:
        return _config_error(exc)
    try:
        output = _Output(cfg, shared)
    except (RuntimeError, ValueError) as exc:
        print(f"dirsrvbeat: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        if args.ldif:
            try:
                snap = load_ldif(args.ldif)
            except (OSError, ValueError) as exc:
                print(f"dirsrvbeat: --ldif: {exc}", file=sys.stderr)
                return EXIT_ERROR
            if args.ldap_url:
                snap.source = cfg.url
            scrape = Collector(cfg, reader=object()).process(snap)
        else:
            collector = Collector(cfg)
            scrape = collector.scrape()
            collector.close()
        docs = DocumentBuilder(cfg).documents(scrape)
        try:
            output(docs)
        except Exception as exc:
            print(f"dirsrvbeat: output failed, {len(docs)} document(s) not delivered: "
                  f"{exc.__class__.__name__}: {exc}", file=sys.stderr)
            return EXIT_UNDELIVERED
    finally:
        output.close()
    if args.connections:
        sys.stderr.write(connections_table(scrape, DocumentBuilder.connection_rows(scrape)))
    if not scrape.ok:
        print(f"dirsrvbeat: {scrape.error}", file=sys.stderr)
        return EXIT_DOWN
    for warning in scrape.warnings:
        log.info("%s", warning)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from ..config import ConfigError as SharedConfigError
    from ..monitor.collector import Collector
    from ..monitor.config import ConfigError, listen_address
    from ..monitor.documents import DocumentBuilder
    from ..monitor.service import BackgroundSink, MonitorService

    try:
        cfg, shared = load(args)
    except (ConfigError, SharedConfigError) as exc:
        return _config_error(exc)
    try:
        output = _Output(cfg, shared)
    except (RuntimeError, ValueError) as exc:
        print(f"dirsrvbeat: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sink = BackgroundSink(output) if output.kind != "none" else None
    service = MonitorService(Collector(cfg, keep_open=True), DocumentBuilder(cfg), sink)
    host, port = listen_address(cfg)
    try:
        httpd = service.make_server(host, port)
    except OSError as exc:
        print(f"dirsrvbeat: cannot listen on {cfg.listen}: {exc.strerror}", file=sys.stderr)
        output.close()
        return EXIT_ERROR
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, _stop)
        except ValueError:  # not the main thread (tests)
            pass
    http_thread = threading.Thread(target=httpd.serve_forever, name="monitor-http", daemon=True)
    http_thread.start()
    log.warning("monitor serve: %s every %gs, http://%s:%d/", cfg.url, cfg.interval, *httpd.server_address[:2])
    try:
        service.run(stop, max_scrapes=args.max_scrapes)
    finally:
        httpd.shutdown()
        httpd.server_close()
        if sink is not None:
            sink.close(timeout=max(30.0, cfg.timeout))
        output.close()
    return EXIT_OK


def cmd_check_rules(args: argparse.Namespace) -> int:
    import orjson

    from ..config import ConfigError as SharedConfigError
    from ..monitor.config import ConfigError
    from ..processors.classify import VARIABLES

    try:
        cfg, _ = load(args, need_password=False)
    except (ConfigError, SharedConfigError) as exc:
        return _config_error(exc)
    out = {"rules": [{"name": r.name, "workload": r.workload, "rule": r.rule,
                      "variables": sorted(r.variables)} for r in cfg.compiled_rules],
           "histograms": [{"name": h.name, "value": h.value, "expr": h.expr, "buckets": list(h.buckets)}
                          for h in cfg.histogram_specs],
           "variables": {k: v[1] for k, v in VARIABLES.items()}}
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    return EXIT_OK


def cmd_aci(args: argparse.Namespace) -> int:
    from ..monitor.aci import aci_ldif

    sys.stdout.write(aci_ldif(args.dn))
    return EXIT_OK
