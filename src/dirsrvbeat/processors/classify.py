"""Workload classification: ordered CEL rules, first match wins.

    rules:
      - {workload: large-long,  rule: 'bind_dn in ["uid=svc-sync,ou=services,dc=example,dc=com"]'}
      - {workload: small-long,  rule: 'connection_age_seconds > 120'}
      - {workload: unknown,     rule: 'bind_dn == "NULLDN"'}
      - {workload: small-short, rule: 'true'}

The same rules classify the open connections of cn=monitor (the monitor collector) and the
operations and connections of the access log (the `classify` processor below), over the same
variables (`VARIABLES`). Where a value does not exist in a source it has a neutral default
(see `VARIABLES` and docs/monitor.md) and `source` tells the two apart.

Rules are compiled once, at start-up, with the `common-expression-language` package (module
`cel`). That library has no type checker, so start-up also evaluates every rule against a few
typed sample connections: a rule that does not compile, names an unknown variable, hits a
type error or returns something other than a boolean fails start-up with its name and the CEL
error. At run time a rule that errors for one connection counts as "no match" for that
connection (the next rule is tried); the error is counted per rule and logged once per rule.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import cel

from ..plugins import register

log = logging.getLogger("dirsrvbeat.classify")

DEFAULT_WORKLOAD = "unclassified"
WORKLOAD_FIELD = "workload"  # written as dirsrv.workload

# name -> (python type, description). The sample contexts below must give every one a value.
VARIABLES: dict[str, tuple[type, str]] = {
    "bind_dn": (str, "bound DN as the server shows it; NULLDN when anonymous"),
    "bind_dn_norm": (str, "bind_dn lower-cased, spaces around `,` and `=` removed"),
    "anonymous": (bool, "bind_dn == \"NULLDN\""),
    "connection_age_seconds": (int, "seconds since the connection opened (server clock); -1 unknown"),
    "ip": (str, "client address: IPv4/IPv6, `local` (LDAPI)"),
    "ldapi": (bool, "connection over the LDAPI socket"),
    "tls": (bool, "TLS (LDAPS or StartTLS); false when unknown (see tls_known)"),
    "tls_known": (bool, "tls is known: cn=monitor does not say, the access log does"),
    "ops_initiated": (int, "operations received on the connection"),
    "ops_completed": (int, "operations completed on the connection"),
    "ops_pending": (int, "ops_initiated - ops_completed"),
    "threads_blocked": (int, "times an operation waited because the connection was at "
                             "nsslapd-maxthreadsperconn (maxblocked)"),
    "max_threads_hits": (int, "times the connection reached nsslapd-maxthreadsperconn"),
    "at_max_threads": (bool, "the connection is at nsslapd-maxthreadsperconn now"),
    "blocked_ratio": (float, "threads_blocked / ops_initiated (0.0 without operations)"),
    "read_waiting": (bool, "a thread is reading a PDU from the connection (`r` flag)"),
    "conn_id": (int, "connection id (conn= in the access log); -1 unknown"),
    "slot": (int, "connection-table slot; -1 unknown"),
    "is_self": (bool, "the collector's own connection"),
    "source": (str, "monitor or access"),
}

# variables with few distinct values across connections (see Classifier's memo)
MEMO_VARIABLES = frozenset({"bind_dn", "bind_dn_norm", "anonymous", "ip", "ldapi", "tls", "tls_known",
                            "at_max_threads", "read_waiting", "is_self", "source"})

_SAMPLES: tuple[dict[str, Any], ...] = (
    {"bind_dn": "uid=svc-sync,ou=services,dc=example,dc=com",
     "bind_dn_norm": "uid=svc-sync,ou=services,dc=example,dc=com", "anonymous": False,
     "connection_age_seconds": 7200, "ip": "192.0.2.10", "ldapi": False, "tls": True, "tls_known": True,
     "ops_initiated": 1500, "ops_completed": 1490, "ops_pending": 10, "threads_blocked": 30,
     "max_threads_hits": 4, "at_max_threads": True, "blocked_ratio": 0.02, "read_waiting": True,
     "conn_id": 4502, "slot": 4502, "is_self": False, "source": "monitor"},
    {"bind_dn": "NULLDN", "bind_dn_norm": "nulldn", "anonymous": True, "connection_age_seconds": 1,
     "ip": "2001:db8::1", "ldapi": False, "tls": False, "tls_known": False, "ops_initiated": 2,
     "ops_completed": 2, "ops_pending": 0, "threads_blocked": 0, "max_threads_hits": 0,
     "at_max_threads": False, "blocked_ratio": 0.0, "read_waiting": False, "conn_id": 7, "slot": 7,
     "is_self": False, "source": "access"},
    {"bind_dn": "cn=Directory Manager", "bind_dn_norm": "cn=directory manager", "anonymous": False,
     "connection_age_seconds": 0, "ip": "local", "ldapi": True, "tls": False, "tls_known": True,
     "ops_initiated": 0, "ops_completed": 0, "ops_pending": 0, "threads_blocked": 0,
     "max_threads_hits": 0, "at_max_threads": False, "blocked_ratio": 0.0, "read_waiting": False,
     "conn_id": -1, "slot": -1, "is_self": True, "source": "monitor"},
)
assert all(set(s) == set(VARIABLES) for s in _SAMPLES)

_EXT_FUNCTIONS: dict[str, Any] | None = None


def _ext_functions() -> dict[str, Any]:
    """The cel-go style extension functions of `cel.stdlib` (lowerAscii, split, math.*, ...)."""
    global _EXT_FUNCTIONS
    if _EXT_FUNCTIONS is None:
        from cel.stdlib import EXTENSIONS

        # `contains` is native for strings; the lists version would shadow it
        _EXT_FUNCTIONS = {name: fn for lib in EXTENSIONS.values() for name, fn in lib.items()
                          if name != "contains"}
    return _EXT_FUNCTIONS


@lru_cache(maxsize=16384)
def normalise_dn(dn: str) -> str:
    """Lower case, no blanks around `,` `=` `+` (good enough to compare DNs in rules)."""
    out = dn.strip().lower()
    if " " in out:
        for sep in (",", "=", "+"):
            while f" {sep}" in out or f"{sep} " in out:
                out = out.replace(f" {sep}", sep).replace(f"{sep} ", sep)
    return out


class RuleError(ValueError):
    """A rule that cannot be used; the message names the rule and carries the CEL error."""


@dataclass(frozen=True)
class RuleSpec:
    workload: str
    rule: str
    name: str

    @classmethod
    def from_obj(cls, obj: Any, index: int, where: str = "rules") -> RuleSpec:
        if not isinstance(obj, Mapping):
            raise RuleError(f"{where}[{index}]: must be a mapping with `workload` and `rule`, got {obj!r}")
        unknown = set(obj) - {"workload", "rule", "name"}
        if unknown:
            raise RuleError(f"{where}[{index}]: unknown key(s) {', '.join(sorted(unknown))} "
                            "(known: workload, rule, name)")
        workload = obj.get("workload")
        if not isinstance(workload, str) or not workload.strip():
            raise RuleError(f"{where}[{index}].workload: must be a non-empty string, got {workload!r}")
        rule = obj.get("rule")
        if isinstance(rule, bool):  # YAML `rule: true`
            rule = "true" if rule else "false"
        if not isinstance(rule, str) or not rule.strip():
            raise RuleError(f"{where}[{index}].rule: must be a CEL expression (string), got {rule!r}")
        name = obj.get("name") or f"{where}[{index}] ({workload})"
        return cls(workload=workload.strip(), rule=rule.strip(), name=str(name))


class CompiledRule:
    __slots__ = ("errors", "logged", "name", "names", "needs_ext", "program", "rule", "variables", "workload")

    def __init__(self, spec: RuleSpec, program: Any, variables: frozenset[str], needs_ext: bool) -> None:
        self.name = spec.name
        self.workload = spec.workload
        self.rule = spec.rule
        self.program = program
        self.variables = variables
        self.names = tuple(sorted(variables))
        self.needs_ext = needs_ext
        self.errors = 0
        self.logged = False


def _first_line(text: str) -> str:
    return " ".join(str(text).split())


# CEL standard functions and macros (the `cel` crate); operators (`_+_`, `@in`, `!_`) are not listed
NATIVE_FUNCTIONS = frozenset((
    "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double", "string", "bytes",
    "bool", "timestamp", "duration", "has", "all", "exists", "exists_one", "map", "filter", "type", "dyn",
    "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours",
    "getMinutes", "getSeconds", "getMilliseconds", "max", "min"))
_LOOP_VAR = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")


def compile_rule(spec: RuleSpec, known: Iterable[str] = VARIABLES) -> CompiledRule:
    """Compile and type-check one rule (see the module docstring); raises RuleError."""
    try:
        program = cel.compile(spec.rule)
    except Exception as exc:  # the library raises ValueError for syntax errors
        raise RuleError(f"rule {spec.name}: CEL does not compile: {_first_line(str(exc))}") from None
    refs = program.references() or {}
    variables = frozenset(refs.get("variables") or ())
    functions = {f.rsplit(".", 1)[-1] for f in refs.get("functions") or ()}
    # dotted ext functions (math.abs) show up as a variable `math` plus a function `abs`;
    # comprehension macros (`list.exists(x, ...)`) report their loop variable as a variable
    ext = _ext_functions()
    ext_roots = {name.split(".", 1)[0] for name in ext if "." in name}
    ext_short = {name.rsplit(".", 1)[-1] for name in ext} - NATIVE_FUNCTIONS
    loop_vars = set(_LOOP_VAR.findall(spec.rule))
    unknown = sorted(v for v in variables if v not in known and v not in ext_roots and v not in loop_vars)
    if unknown:
        raise RuleError(f"rule {spec.name}: unknown variable(s) {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(known))})")
    bad = sorted(f for f in functions if f[:1].isalpha() and f not in NATIVE_FUNCTIONS and f not in ext_short)
    if bad:
        raise RuleError(f"rule {spec.name}: unknown function(s) {', '.join(bad)}")
    needs_ext = bool(functions & ext_short) or bool(variables & ext_roots)
    rule = CompiledRule(spec, program, frozenset(v for v in variables if v in known), needs_ext)
    _type_check(rule)
    return rule


def _type_check(rule: CompiledRule) -> None:
    value_errors: list[str] = []
    checked = 0
    for sample in _SAMPLES:
        try:
            result = _execute(rule, sample)
        except (TypeError, RuntimeError) as exc:  # no such overload / undefined function or variable
            raise RuleError(f"rule {rule.name}: CEL error on a sample connection: "
                            f"{_first_line(str(exc))}") from None
        except Exception as exc:  # division by zero, overflow, bad conversion: depends on the values
            value_errors.append(f"{exc.__class__.__name__}: {_first_line(str(exc))}")
            continue
        if not isinstance(result, bool):
            raise RuleError(f"rule {rule.name}: must return a boolean, returned "
                            f"{type(result).__name__} {result!r} for a sample connection")
        checked += 1
    if not checked:
        raise RuleError(f"rule {rule.name}: could not be checked, it fails on every sample connection "
                        f"({value_errors[0]})")


_local = threading.local()


def _ext_context() -> Any:
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = cel.Context()
        for name, fn in _ext_functions().items():
            ctx.add_function(name, fn)
        _local.ctx = ctx
    return ctx


def _execute(rule: CompiledRule, variables: Mapping[str, Any]) -> Any:
    # Only the variables the rule reads: converting all twenty into CEL values costs ~25 us a
    # call, the two or three a rule needs ~0.5 us.
    names = rule.names
    values = {name: variables[name] for name in names} if names else {}
    if rule.needs_ext:
        ctx = _ext_context()
        ctx.update(values)
        return rule.program.execute(ctx)
    return rule.program.execute(values)


def compile_rules(specs: Sequence[Any], where: str = "rules") -> list[CompiledRule]:
    """Validate and compile a rule list from YAML (list of {workload, rule, name?})."""
    if not isinstance(specs, (list, tuple)):
        raise RuleError(f"{where}: must be a list of {{workload, rule}} mappings")
    out = []
    for i, obj in enumerate(specs):
        spec = obj if isinstance(obj, RuleSpec) else RuleSpec.from_obj(obj, i, where)
        out.append(compile_rule(spec))
    return out


@dataclass
class ClassifyStats:
    evaluated: int = 0
    errors: int = 0
    cache_hits: int = 0


class Classifier:
    """First-match-wins classifier over compiled rules; thread-safe for reading, stats approximate."""

    def __init__(self, rules: Sequence[CompiledRule] | Sequence[Mapping[str, Any]],
                 default_workload: str = DEFAULT_WORKLOAD, cache_size: int = 65536) -> None:
        if rules and not isinstance(rules[0], CompiledRule):
            rules = compile_rules(list(rules))
        self.rules: list[CompiledRule] = list(rules)  # type: ignore[arg-type]
        self.default_workload = default_workload
        self.stats = ClassifyStats()
        # Memo on the values of the variables the rules read - only when those are few-valued
        # (DN, address, flags): with an age or a counter in the key nearly every lookup misses
        # and the memo costs more than it saves.
        keys = set().union(*(r.variables for r in self.rules)) if self.rules else set()
        self._keys = tuple(sorted(keys))
        self._cache: dict[tuple[Any, ...], str] = {}
        self._cache_size = cache_size if keys <= MEMO_VARIABLES else 0

    @property
    def workloads(self) -> list[str]:
        """Every workload a rule can produce, in rule order, then the default."""
        out = list(dict.fromkeys(r.workload for r in self.rules))
        catch_all = any(r.rule == "true" for r in self.rules)  # the default is then unreachable
        if self.default_workload not in out and not catch_all:
            out.append(self.default_workload)
        return out

    def rule_errors(self) -> dict[str, int]:
        return {r.name: r.errors for r in self.rules}

    def classify(self, variables: Mapping[str, Any]) -> str:
        if not self._cache_size:
            return self._evaluate(variables)
        key = tuple(variables[k] for k in self._keys)
        hit = self._cache.get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            return hit
        workload = self._evaluate(variables)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[key] = workload
        return workload

    def _evaluate(self, variables: Mapping[str, Any]) -> str:
        self.stats.evaluated += 1
        for rule in self.rules:
            try:
                result = _execute(rule, variables)
            except Exception as exc:  # one connection's error never stops the others
                self._error(rule, f"{exc.__class__.__name__}: {_first_line(str(exc))}")
                continue
            if result is True:
                return rule.workload
            if result is not False:
                self._error(rule, f"returned {type(result).__name__} {result!r}, not a boolean")
        return self.default_workload

    def _error(self, rule: CompiledRule, message: str) -> None:
        rule.errors += 1
        self.stats.errors += 1
        if not rule.logged:
            rule.logged = True
            log.warning("rule %s (workload %s) failed and was skipped: %s; further errors of this rule "
                        "are only counted", rule.name, rule.workload, message)


# ------------------------------------------------------------------------------ contexts
def monitor_variables(conn: Any, server_epoch: int | None, is_self: bool = False) -> dict[str, Any]:
    """CEL variables of one parsed cn=monitor `connection` value (monitor.connection)."""
    age = conn.age(server_epoch)
    ops_i = conn.ops_initiated
    blocked = conn.threads_blocked or 0
    ip = conn.ip or ""
    dn = conn.bind_dn
    return {
        "bind_dn": dn, "bind_dn_norm": normalise_dn(dn), "anonymous": dn == "NULLDN",
        "connection_age_seconds": -1 if age is None else age, "ip": ip,
        "ldapi": ip == "local" or ip.startswith("/"), "tls": False, "tls_known": False,
        "ops_initiated": ops_i, "ops_completed": conn.ops_completed,
        "ops_pending": max(0, ops_i - conn.ops_completed), "threads_blocked": blocked,
        "max_threads_hits": conn.max_threads_hits or 0, "at_max_threads": bool(conn.at_max_threads),
        "blocked_ratio": blocked / ops_i if ops_i > 0 else 0.0, "read_waiting": conn.read_waiting,
        "conn_id": -1 if conn.conn_id is None else conn.conn_id, "slot": conn.slot,
        "is_self": is_self, "source": "monitor",
    }


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def access_variables(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """CEL variables of an access-log document (dirsrv.access operation or dirsrv.connection).

    From the log: bind_dn ("" -> NULLDN, as cn=monitor shows it), ip, ldapi, tls, conn_id and the
    age at the operation (its time minus the open time in dirsrv.conn.key, seconds or milliseconds).
    Operation documents:
    ops_initiated = op number + 1, ops_completed = op number, ops_pending = 1, threads_blocked = 1
    and at_max_threads when the op carries notes=B. Connection documents: their op count and
    duration. max_threads_hits, read_waiting, slot and is_self have their neutral defaults.
    """
    d = doc.get("dirsrv")
    if not isinstance(d, Mapping):
        return None
    conn = d.get("conn") or {}
    bind = d.get("bind") or {}
    dn = bind.get("dn") or "NULLDN"
    source = doc.get("source") or {}
    ip = source.get("ip") or source.get("address") or ""
    transport = conn.get("transport") or ""
    tls = bool((doc.get("tls") or {}).get("established")) or transport in ("ldaps", "starttls")
    dataset = (doc.get("event") or {}).get("dataset")
    key = str(conn.get("key") or "")
    opened: float | None = None
    if key[:1].isdigit() and "-" in key:
        opened = int(key.split("-", 1)[0])
        if opened > 100_000_000_000:  # the key's open time in milliseconds
            opened /= 1000.0
    blocked = 0
    if dataset == "dirsrv.connection":
        ops_i = ops_c = int(conn.get("ops") or 0)
        pending = 0
        duration = (doc.get("event") or {}).get("duration")
        age = int(duration // 1_000_000_000) if isinstance(duration, int) else -1
    else:
        op = d.get("op") or {}
        op_id = op.get("id")
        op_id = op_id if isinstance(op_id, int) and op_id >= 0 else 0
        ops_i, ops_c, pending = op_id + 1, op_id, 1
        if "B" in (d.get("notes") or ()):
            blocked = 1
        at = _epoch(doc.get("@timestamp"))
        age = max(0, int(at - opened)) if at is not None and opened is not None else -1
    conn_id = conn.get("id")
    return {
        "bind_dn": dn, "bind_dn_norm": normalise_dn(dn), "anonymous": dn == "NULLDN",
        "connection_age_seconds": age, "ip": ip, "ldapi": transport == "ldapi" or ip == "local",
        "tls": tls, "tls_known": True, "ops_initiated": ops_i, "ops_completed": ops_c,
        "ops_pending": pending, "threads_blocked": blocked, "max_threads_hits": 0,
        "at_max_threads": bool(blocked), "blocked_ratio": blocked / ops_i if ops_i else 0.0,
        "read_waiting": False, "conn_id": conn_id if isinstance(conn_id, int) else -1, "slot": -1,
        "is_self": False, "source": "access",
    }


def load_rules_file(path: str) -> list[dict[str, Any]]:
    """A YAML file holding a rule list, or a mapping with `rules:` (or `monitor: {rules: ...}`)."""
    import yaml

    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if isinstance(data, Mapping):
        if "monitor" in data and isinstance(data["monitor"], Mapping):
            data = data["monitor"]
        data = data.get("rules", data.get("classifiers"))
    if not isinstance(data, list):
        raise RuleError(f"{path}: no rule list found (expected a list or a `rules:` key)")
    return data


@register("processor", "classify")
class Classify:
    """Access-log processor: adds `dirsrv.workload` to operation and connection documents.

    Options: `rules` (list of {workload, rule}) or `rules_file`, `default_workload`.
    Documents of other datasets pass through unchanged.
    """

    DATASETS = frozenset({"dirsrv.access", "dirsrv.connection"})

    def __init__(self, rules: Sequence[Mapping[str, Any]] | None = None, rules_file: str | None = None,
                 default_workload: str = DEFAULT_WORKLOAD) -> None:
        if rules is None and rules_file is None:
            raise RuleError("classify: give `rules` or `rules_file`")
        specs = list(rules) if rules is not None else load_rules_file(rules_file)  # type: ignore[arg-type]
        self.classifier = Classifier(compile_rules(specs), default_workload=default_workload)

    def process(self, items: Iterator[Any]) -> Iterator[Any]:
        classify = self.classifier.classify
        datasets = self.DATASETS
        for doc in items:
            if isinstance(doc, dict) and (doc.get("event") or {}).get("dataset") in datasets:
                variables = access_variables(doc)
                if variables is not None:
                    doc["dirsrv"][WORKLOAD_FIELD] = classify(variables)
            yield doc
