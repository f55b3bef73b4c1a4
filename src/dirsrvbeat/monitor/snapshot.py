"""One reading of the server: the monitor entries and the tuning values, as plain strings.

The LDAP reader (monitor.reader) and the LDIF loader (`load_ldif`, for dumps and tests) both
produce a `Snapshot`; everything after that (parse, classify, histograms, documents, Prometheus)
is the same code.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

Attrs = dict[str, list[str]]  # lower-cased attribute name -> values

MONITOR_DN = "cn=monitor"
SNMP_DN = "cn=snmp,cn=monitor"
DISK_DN = "cn=disk space,cn=monitor"
LDBM_DN = "cn=ldbm database,cn=plugins,cn=config"
DATABASE_MONITOR_DN = f"cn=monitor,{LDBM_DN}"
CONFIG_DN = "cn=config"
LDBM_CONFIG_DN = f"cn=config,{LDBM_DN}"

# cn=config values read for the documents (anything else is ignored)
CONFIG_ATTRS = ("nsslapd-threadnumber", "nsslapd-maxthreadsperconn", "nsslapd-maxdescriptors",
                "nsslapd-reservedescriptors", "nsslapd-conntablesize", "nsslapd-numlisteners",
                "nsslapd-idletimeout", "nsslapd-ioblocktimeout", "nsslapd-listen-backlog-size",
                "nsslapd-maxbersize", "nsslapd-enable-turbo-mode", "nsslapd-sizelimit",
                "nsslapd-timelimit")
LDBM_CONFIG_ATTRS = ("nsslapd-idlistscanlimit", "nsslapd-lookthroughlimit")


def norm_dn(dn: str) -> str:
    return ",".join(part.strip() for part in dn.strip().lower().split(","))


@dataclass
class Snapshot:
    monitor: Attrs
    snmp: Attrs | None = None
    disk: Attrs | None = None
    database: Attrs | None = None
    backends: dict[str, Attrs] = field(default_factory=dict)  # backend name -> monitor attrs
    config: Attrs | None = None
    ldbm_config: Attrs | None = None
    source: str = ""
    bind_dn: str | None = None        # DN the collector bound as (None = anonymous)
    self_ops: int | None = None       # operations the collector had sent when cn=monitor was read
    read_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def get(self, name: str, attrs: Attrs | None = None) -> str | None:
        values = (self.monitor if attrs is None else attrs).get(name)
        return values[0] if values else None

    @property
    def connection_values(self) -> list[str]:
        return self.monitor.get("connection", [])

    @property
    def version(self) -> str | None:
        return self.get("version")

    def add_entry(self, dn: str, attrs: Attrs) -> None:
        """Route one entry by its DN (used by the LDAP reader and the LDIF loader)."""
        n = norm_dn(dn)
        if n == MONITOR_DN:
            self.monitor = attrs
        elif n == SNMP_DN:
            self.snmp = attrs
        elif n == DISK_DN:
            self.disk = attrs
        elif n == DATABASE_MONITOR_DN:
            self.database = attrs
        elif n == CONFIG_DN:
            self.config = attrs
        elif n == LDBM_CONFIG_DN:
            self.ldbm_config = attrs
        elif n.startswith("cn=monitor,cn=") and n.endswith("," + LDBM_DN):
            backend = n[len("cn=monitor,cn="):-len(LDBM_DN) - 1]
            if "," not in backend:
                self.backends[backend] = attrs


def backend_name(monitor_dn: str) -> str | None:
    """`cn=monitor,cn=userroot,cn=ldbm database,...` -> `userroot`."""
    n = norm_dn(monitor_dn)
    if n.startswith("cn=monitor,cn=") and n.endswith("," + LDBM_DN):
        name = n[len("cn=monitor,cn="):-len(LDBM_DN) - 1]
        return name if "," not in name else None
    return None


# ----------------------------------------------------------------------------------- LDIF
def iter_ldif(lines: Iterable[str]) -> Iterator[tuple[str, Attrs]]:
    """Minimal LDIF content reader: folded lines, `::` base64, comments, blank-line separators."""
    entry: list[str] = []

    def flush() -> Iterator[tuple[str, Attrs]]:
        if not entry:
            return
        dn = None
        attrs: Attrs = {}
        for line in entry:
            name, sep, rest = line.partition(":")
            if not sep:
                continue
            if rest.startswith(":"):
                value = base64.b64decode(rest[1:].strip()).decode("utf-8", "replace")
            else:
                value = rest[1:] if rest.startswith(" ") else rest
            key = name.strip().lower()
            if key == "dn":
                dn = value
            else:
                attrs.setdefault(key.split(";", 1)[0], []).append(value)
        entry.clear()
        if dn is not None:
            yield dn, attrs

    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            yield from flush()
        elif line.startswith(" ") and entry:
            entry[-1] += line[1:]
        else:
            entry.append(line)
    yield from flush()


def load_ldif(paths: Iterable[str]) -> Snapshot:
    """A snapshot from LDIF dumps (e.g. `ldapsearch -b cn=monitor`); later files win."""
    snap = Snapshot(monitor={})
    sources = []
    for path in paths:
        sources.append(str(path))
        with open(path, encoding="utf-8") as f:
            for dn, attrs in iter_ldif(f):
                snap.add_entry(dn, attrs)
    snap.source = "file://" + os.path.abspath(sources[0]) if sources else ""
    if not snap.monitor:
        raise ValueError(f"no cn=monitor entry in {', '.join(sources)}")
    return snap
