"""Parse the values of cn=monitor's `connection` attribute, for every release line.

One value per open connection (`conntable.c connection_table_as_entry()`):

    1.2.11 - 1.3.1.x     slot:start:opsinit:opsdone:FLAG:binddn                     FLAG = `r` or empty
    1.3.2.0 - 1.3.7.1    slot:start:opsinit:opsdone:FLAG:binddn:atmax:hits:blocked  FLAG = `r` or `-`
    1.3.7.2 - 3.x        ...:binddn:atmax:hits:blocked:connid:ip=ADDR

The bind DN may contain `:` and so may the address (IPv6), so the value is cut from both ends:
the address after the *last* `:ip=`, five fixed fields from the left, the numeric fields from
the right of what remains; the DN is whatever is left in the middle. Without `:ip=` the layout is
told apart by the flag (`-` exists only from 1.3.2) and, for the ambiguous `r`, by the server
version when known, else by whether the last three fields are numbers.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache

LAYOUT_12 = "1.2"        # slot:start:init:done:FLAG:dn
LAYOUT_132 = "1.3.2"     # + atmax:hits:blocked
LAYOUT_1372 = "1.3.7.2"  # + connid:ip=

ANONYMOUS_DN = "NULLDN"
MIN_VALID_EPOCH = 946684800  # 2000-01-01: builds with the 2020-11 monotonic-clock bug print ~1970


class ConnectionFormatError(ValueError):
    """A `connection` value that fits no known layout."""


class MonitorConnection:
    """One parsed `connection` value. Fields a layout lacks are None."""

    __slots__ = ("at_max_threads", "bind_dn", "conn_id", "ip", "layout", "max_threads_hits",
                 "ops_completed", "ops_initiated", "raw", "read_waiting", "slot", "start",
                 "start_epoch", "threads_blocked")

    def __init__(self, raw: str, layout: str, slot: int, start: str, start_epoch: int | None,
                 ops_initiated: int, ops_completed: int, read_waiting: bool, bind_dn: str,
                 at_max_threads: bool | None = None, max_threads_hits: int | None = None,
                 threads_blocked: int | None = None, conn_id: int | None = None,
                 ip: str | None = None) -> None:
        self.raw = raw
        self.layout = layout
        self.slot = slot
        self.start = start
        self.start_epoch = start_epoch
        self.ops_initiated = ops_initiated
        self.ops_completed = ops_completed
        self.read_waiting = read_waiting
        self.bind_dn = bind_dn
        self.at_max_threads = at_max_threads
        self.max_threads_hits = max_threads_hits
        self.threads_blocked = threads_blocked
        self.conn_id = conn_id
        self.ip = ip

    @property
    def anonymous(self) -> bool:
        return self.bind_dn == ANONYMOUS_DN

    @property
    def ops_pending(self) -> int:
        return max(0, self.ops_initiated - self.ops_completed)

    @property
    def start_valid(self) -> bool:
        return self.start_epoch is not None and self.start_epoch >= MIN_VALID_EPOCH

    @property
    def ldapi(self) -> bool:
        ip = self.ip
        return ip is not None and (ip == "local" or ip.startswith("/"))

    def age(self, server_epoch: int | None) -> int | None:
        """Seconds open at the server's `currenttime` (None when either time is unusable)."""
        if server_epoch is None or not self.start_valid:
            return None
        return max(0, server_epoch - self.start_epoch)  # type: ignore[operator]

    def key(self) -> str:
        """Identity across scrapes: (open time, conn id or slot)."""
        return f"{self.start}|{self.conn_id if self.conn_id is not None else 's' + str(self.slot)}"

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__ if k != "raw"} | {"raw": self.raw}

    def __repr__(self) -> str:
        return f"MonitorConnection({self.raw!r})"


_GT = re.compile(r"^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:[.,]\d+)?Z$")


@lru_cache(maxsize=8192)
def generalized_time(value: str) -> int | None:
    """`20261204195300Z` -> epoch seconds (UTC); None when unparsable."""
    if len(value) == 15 and value[14] == "Z" and value[:14].isdigit():
        y, mo, d = int(value[0:4]), int(value[4:6]), int(value[6:8])
        h, mi, s = int(value[8:10]), int(value[10:12]), int(value[12:14])
    else:
        m = _GT.match(value)
        if m is None:
            return None
        y, mo, d, h, mi, s = (int(g) for g in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def generalized_time_iso(value: str) -> str | None:
    """`20261204195300Z` -> `2026-12-04T19:53:00.000+00:00` (the format of the access documents)."""
    if generalized_time(value) is None:
        return None
    return f"{value[0:4]}-{value[4:6]}-{value[6:8]}T{value[8:10]}:{value[10:12]}:{value[12:14]}.000+00:00"


_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?")


def version_tuple(version: str | None) -> tuple[int, ...] | None:
    """`389-Directory/1.3.9.1 B2019.305.1445` -> (1, 3, 9, 1)."""
    if not version:
        return None
    m = _VERSION.search(version)
    if m is None:
        return None
    return tuple(int(g) for g in m.groups(default="0"))


def layout_for_version(version: str | None) -> str | None:
    """The `connection` layout a server version writes (None = unknown version)."""
    v = version_tuple(version)
    if v is None:
        return None
    if v < (1, 3, 2, 0):
        return LAYOUT_12
    if v < (1, 3, 7, 2):
        return LAYOUT_132
    return LAYOUT_1372


def _int(text: str, what: str, raw: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConnectionFormatError(f"{what} is not a number in {raw!r}") from None


def parse_connection(raw: str, layout_hint: str | None = None) -> MonitorConnection:
    """Parse one `connection` value; `layout_hint` comes from `layout_for_version()`."""
    value = raw.rstrip("\r\n")
    ip: str | None = None
    cut = value.rfind(":ip=")
    if cut >= 0:
        ip = value[cut + 4:]
        value = value[:cut]
    head = value.split(":", 5)
    if len(head) != 6:
        raise ConnectionFormatError(f"fewer than 6 fields in {raw!r}")
    slot_s, start, init_s, done_s, flag, rest = head
    if flag not in ("-", "r", ""):
        raise ConnectionFormatError(f"unknown state flag {flag!r} in {raw!r}")
    slot = _int(slot_s, "slot", raw)
    ops_i = _int(init_s, "opsinitiated", raw)
    ops_c = _int(done_s, "opscompleted", raw)
    start_epoch = generalized_time(start)
    if start_epoch is None:
        raise ConnectionFormatError(f"open time {start!r} is not GeneralizedTime in {raw!r}")
    read_waiting = flag == "r"
    if ip is not None:
        tail = rest.rsplit(":", 4)
        if len(tail) != 5:
            raise ConnectionFormatError(f"missing max-thread fields before ip= in {raw!r}")
        dn, atmax, hits, blocked, connid = tail
        return MonitorConnection(raw, LAYOUT_1372, slot, start, start_epoch, ops_i, ops_c, read_waiting,
                                 dn, _int(atmax, "atmax", raw) != 0, _int(hits, "maxhits", raw),
                                 _int(blocked, "maxblocked", raw), _int(connid, "connid", raw),
                                 _normalise_ip(ip))
    # no `:ip=`: 1.3.2 - 1.3.7.1 (max-thread fields) or 1.2.11 - 1.3.1 (DN last)
    if flag == "":
        layout = LAYOUT_12
    elif flag == "-" or layout_hint == LAYOUT_132:
        layout = LAYOUT_132
    elif layout_hint == LAYOUT_12:
        layout = LAYOUT_12
    else:  # `r` from an unknown version: numeric tail means 1.3.2
        tail = rest.rsplit(":", 3)
        layout = LAYOUT_132 if len(tail) == 4 and all(t.isdigit() for t in tail[1:]) else LAYOUT_12
    if layout == LAYOUT_12:
        return MonitorConnection(raw, LAYOUT_12, slot, start, start_epoch, ops_i, ops_c, read_waiting, rest)
    tail = rest.rsplit(":", 3)
    if len(tail) != 4:
        raise ConnectionFormatError(f"missing max-thread fields in {raw!r}")
    dn, atmax, hits, blocked = tail
    return MonitorConnection(raw, LAYOUT_132, slot, start, start_epoch, ops_i, ops_c, read_waiting, dn,
                             _int(atmax, "atmax", raw) != 0, _int(hits, "maxhits", raw),
                             _int(blocked, "maxblocked", raw))


@lru_cache(maxsize=4096)
def _normalise_ip(ip: str) -> str:
    """IPv4-mapped IPv6 (`::ffff:10.1.2.3`) -> `10.1.2.3`; everything else unchanged."""
    if ip[:7].lower() == "::ffff:" and ip.count(".") == 3:
        return ip[7:]
    return ip


def parse_connections(values: list[str], version: str | None = None
                      ) -> tuple[list[MonitorConnection], list[tuple[str, str]]]:
    """Parse every value; returns (connections, [(value, reason)] for values that did not parse)."""
    hint = layout_for_version(version)
    good: list[MonitorConnection] = []
    bad: list[tuple[str, str]] = []
    for value in values:
        try:
            good.append(parse_connection(value, hint))
        except ConnectionFormatError as exc:
            bad.append((value, str(exc)))
    return good, bad


_WORKER = re.compile(r"(\w+)=(\S*)")


def parse_threadpoolworker(value: str) -> dict[str, str]:
    """`worker=3 state=busy op=SRCH duration_ns=1200` (389 DS main, 2026-07) -> dict."""
    return dict(_WORKER.findall(value))
