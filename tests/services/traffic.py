"""Drive real LDAP traffic (ldap3 only) against the test 389 DS and report what was done.

Every helper records what it sent in ``Traffic.ops`` (per access-log verb: BIND, SRCH,
MOD, ADD, DEL, MODRDN, CMP, EXT, ABANDON, UNBIND, plus CONNECT for new connections) and
``Traffic.by_dn`` (operations per bind DN, "" = anonymous), and returns a :class:`Done`
with the count and the result codes, so tests can assert exact numbers against the
access log.  Every loop is bounded in count and in time.

    t = Traffic(dirsrv)
    c = t.bind_as("svc-sync")
    done = t.unindexed_search(c, 3)          # 3 SRCH -> notes=A in the log
    t.unbind(c)
    summary = Traffic(dirsrv).mixed_workload(seconds=20, seed=1)
"""
from __future__ import annotations

import random
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import ldap3
from ldap3 import ASYNC, BASE, LEVEL, MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, SUBTREE

PAGED_OID = "1.2.840.113556.1.4.319"
SORT_OID = "1.2.840.113556.1.4.473"
VLV_OID = "2.16.840.1.113730.3.4.9"
PSEARCH_OID = "2.16.840.1.113730.3.4.3"
PROXYAUTH_OID = "2.16.840.1.113730.3.4.18"
STARTTLS_OID = "1.3.6.1.4.1.1466.20037"

# filters whose index behaviour was checked against the 2.3.1 instance built by ds.sh
# (500 users, nsslapd-idlistscanlimit 200; employeeType/l/title are not indexed)
UNINDEXED_FULL = ["(employeeType=contractor)", "(l=Paris)", "(title=Manager)",
                  "(employeeType=intern)", "(l=Berlin)"]                     # notes=A
UNINDEXED_PARTIAL = ["(&(sn=Smith)(title=Manager))", "(&(givenName=Alice)(l=Paris))",
                     "(&(sn=Jones)(employeeType=contractor))", "(&(mail=user01*)(l=Rome))"]  # notes=U
# NB: (&(uid=user00*)(l=Paris)) is notes=A, not U: every substring key of "user00*"
# matches all 500 users (> idlistscanlimit), so the indexed branch is ALLIDS too.


# ------------------------------------------------------------------ BER for controls
def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def _int(v: int, tag: int = 0x02) -> bytes:
    return _tlv(tag, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def _bool(v: bool, tag: int = 0x01) -> bytes:
    return _tlv(tag, b"\xff" if v else b"\x00")


def _oct(s, tag: int = 0x04) -> bytes:
    return _tlv(tag, s.encode() if isinstance(s, str) else s)


def _seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def sort_control(*keys: str, critical: bool = False):
    """Server-side sort (RFC 2891); a key "-attr" sorts in reverse."""
    ks = [_seq(_oct(k.lstrip("-")), *([_bool(True, 0x81)] if k.startswith("-") else []))
          for k in keys]
    return (SORT_OID, critical, _seq(*ks))


def vlv_control(before: int, after: int, offset: int | None = None, count: int = 0,
                gte: str | None = None):
    target = _oct(gte, 0x81) if gte is not None else _tlv(0xA0, _int(offset or 1) + _int(count))
    return (VLV_OID, True, _seq(_int(before), _int(after), target))


def psearch_control(change_types: int = 15, changes_only: bool = True, return_ecs: bool = True):
    return (PSEARCH_OID, True, _seq(_int(change_types), _bool(changes_only), _bool(return_ecs)))


def proxyauth_control(authzid: str):
    return (PROXYAUTH_OID, True, authzid.encode())


# ------------------------------------------------------------------ results
@dataclass
class Done:
    """What one helper did: ``count`` operations of kind ``op`` with these result codes."""
    op: str
    count: int = 0
    results: Counter = field(default_factory=Counter)
    bind_dn: str = ""
    msgids: List[int] = field(default_factory=list)
    extra: Dict[str, object] = field(default_factory=dict)

    def add(self, rc) -> None:
        self.count += 1
        self.results[rc] += 1


def _rc(conn) -> int | None:
    r = conn.result or {}
    return r.get("result")


def _bound_dn(conn) -> str:
    return getattr(conn, "_dirsrvbeat_dn", "") or ""


def close_abruptly(conn, rst: bool = False) -> None:
    """Drop the TCP connection without an UnbindRequest (server logs B1/"reset by peer")."""
    try:
        s = conn.socket
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    except Exception:
        pass
    try:
        conn.closed = True
        conn.bound = False
    except Exception:
        pass


class Traffic:
    """Traffic generator bound to a :class:`services.dirsrv.DirSrv`."""

    def __init__(self, ds, seed: int | None = None, max_seconds: float = 300.0):
        self.ds = ds
        self.rng = random.Random(seed)
        self.max_seconds = max_seconds           # hard cap for any single helper
        self.ops: Counter = Counter()            # verb -> count
        self.by_dn: Counter = Counter()          # bind DN ("" anonymous) -> operations
        self.results: Counter = Counter()        # (verb, rc) -> count
        self._lock = threading.Lock()
        self._fail_pool = 0
        self.people = "ou=people," + ds.suffix
        self.groups = "ou=groups," + ds.suffix
        self.services = "ou=services," + ds.suffix

    # -------------------------------------------------------------- bookkeeping
    def record(self, verb: str, dn: str = "", rc=None, n: int = 1) -> None:
        with self._lock:
            self.ops[verb] += n
            if verb != "CONNECT":
                self.by_dn[dn or ""] += n
            if rc is not None:
                self.results[(verb, rc)] += n

    def summary(self) -> Dict[str, Dict]:
        with self._lock:
            return {"ops": dict(self.ops), "by_bind_dn": dict(self.by_dn),
                    "results": {"{}:{}".format(*k): v for k, v in self.results.items()}}

    def _deadline(self, seconds: float | None = None) -> float:
        return time.monotonic() + min(seconds or self.max_seconds, self.max_seconds)

    # -------------------------------------------------------------- connections
    def connect(self, who: str | None = None, password: str | None = None, *,
                transport: str = "ldap", bind: bool = True, strategy=None):
        """Open a connection (CONNECT, EXT StartTLS, BIND are recorded)."""
        conn = self.ds.connect(who, password, transport=transport, bind=False, strategy=strategy)
        self.record("CONNECT")
        if transport == "starttls":
            self.record("EXT", "", 0)
        conn._dirsrvbeat_dn = ""
        if transport == "ldapi":
            conn.bind()
            conn._dirsrvbeat_dn = self.ds.dm_dn if conn.bound else ""
            self.record("BIND", conn._dirsrvbeat_dn, _rc(conn))
        elif bind:
            dn, _ = self.ds.credentials(who, password)
            conn.bind()
            if strategy == ASYNC:
                ok = conn.bound
                rc = 0 if ok else (conn.result or {}).get("result")
            else:
                rc = _rc(conn)
                ok = rc == 0
            conn._dirsrvbeat_dn = (dn or "") if ok else ""
            self.record("BIND", dn or "", rc)
        return conn

    def bind_as(self, name: str | None, transport: str = "ldap", password: str | None = None):
        """Bound SYNC connection as a service account name, "dm", a userNNNN, a DN or None."""
        return self.connect(name, password, transport=transport)

    def starttls_connection(self, name: str | None = "svc-mail"):
        return self.connect(name, transport="starttls")

    def ldaps_connection(self, name: str | None = "svc-backup"):
        return self.connect(name, transport="ldaps")

    def ldapi_connection(self):
        """LDAPI + SASL/EXTERNAL: autobind as root -> cn=Directory Manager."""
        return self.connect(transport="ldapi")

    def unbind(self, conn) -> None:
        if conn.closed:
            return
        self.record("UNBIND", _bound_dn(conn))
        conn.unbind()

    # -------------------------------------------------------------- searches
    def _search(self, conn, base, flt, scope=SUBTREE, attrs=("uid",), **kw) -> int | None:
        conn.search(base, flt, scope, attributes=list(attrs), **kw)
        rc = _rc(conn)
        self.record("SRCH", _bound_dn(conn), rc)
        return rc

    def indexed_search(self, conn, n: int = 1) -> Done:
        """n equality searches on uid (indexed, 1 entry each)."""
        d = Done("SRCH", bind_dn=_bound_dn(conn))
        deadline = self._deadline()
        for _i in range(n):
            if time.monotonic() > deadline:
                break
            uid = f"user{1 + self.rng.randrange(400):04d}"
            d.add(self._search(conn, self.people, f"(uid={uid})", attrs=("uid", "cn", "mail")))
        return d

    def unindexed_search(self, conn, n: int = 1, partial: bool = False,
                         filters: Sequence[str] | None = None) -> Done:
        """n searches that the server logs as unindexed: full (notes=A, ALLIDS
        candidate list) or ``partial=True`` (notes=U, one AND branch unindexed)."""
        pool = list(filters or (UNINDEXED_PARTIAL if partial else UNINDEXED_FULL))
        d = Done("SRCH", bind_dn=_bound_dn(conn), extra={"notes": "U" if partial else "A"})
        deadline = self._deadline()
        for i in range(n):
            if time.monotonic() > deadline:
                break
            d.add(self._search(conn, self.people, pool[i % len(pool)], attrs=("uid",)))
        return d

    def paged_search(self, conn, page_size: int = 100, base: str | None = None,
                     flt: str = "(objectClass=inetOrgPerson)", max_pages: int = 100,
                     stop_after: int | None = None) -> Done:
        """Simple paged results (notes=P, pr_idx/pr_cookie in the log).  One SRCH per
        page.  ``stop_after=k`` gives up after k pages by sending page size 0 with the
        cookie (one more SRCH)."""
        d = Done("SRCH", bind_dn=_bound_dn(conn), extra={"pages": 0, "entries": 0})
        cookie = None
        deadline = self._deadline()
        while d.count < max_pages and time.monotonic() < deadline:
            conn.search(base or self.people, flt, SUBTREE, attributes=["uid"],
                        paged_size=page_size, paged_cookie=cookie)
            rc = _rc(conn)
            self.record("SRCH", _bound_dn(conn), rc)
            d.add(rc)
            d.extra["pages"] += 1
            d.extra["entries"] += sum(1 for e in conn.response or [] if e.get("type") == "searchResEntry")
            cookie = (conn.result.get("controls", {}).get(PAGED_OID, {}).get("value", {})
                      .get("cookie"))
            if not cookie:
                break
            if stop_after and d.extra["pages"] >= stop_after:
                conn.search(base or self.people, flt, SUBTREE, attributes=["uid"],
                            paged_size=0, paged_cookie=cookie)
                rc = _rc(conn)
                self.record("SRCH", _bound_dn(conn), rc)
                d.add(rc)
                break
        return d

    def sorted_search(self, conn, n: int = 1, keys: Sequence[str] = ("-sn", "givenName")) -> Done:
        """Server-side sort without VLV."""
        d = Done("SRCH", bind_dn=_bound_dn(conn))
        for _ in range(min(n, 10000)):
            d.add(self._search(conn, self.people, "(&(objectClass=inetOrgPerson)(sn=W*))",
                               attrs=("cn", "sn"), controls=[sort_control(*keys)]))
        return d

    def vlv_search(self, conn, n: int = 1) -> Done:
        """VLV window on ou=people sorted by uid (uses the peopleByUid VLV index)."""
        d = Done("SRCH", bind_dn=_bound_dn(conn))
        for i in range(min(n, 10000)):
            vc = (vlv_control(0, 9, offset=1 + self.rng.randrange(480), count=0) if i % 2 == 0
                  else vlv_control(2, 7, gte=f"user{1 + self.rng.randrange(480):04d}"))
            d.add(self._search(conn, self.people, "(objectclass=inetOrgPerson)", LEVEL,
                               attrs=("uid", "cn"),
                               controls=[sort_control("uid", critical=True), vc]))
        return d

    def anonymous_search(self, n: int = 1, explicit_bind: bool = True) -> Done:
        """A new connection; optional anonymous BIND (dn=""), n searches, UNBIND."""
        conn = self.connect(None, bind=False)
        if explicit_bind:
            conn.bind()
            self.record("BIND", "", _rc(conn))
        d = Done("SRCH", bind_dn="")
        for i in range(min(n, 10000)):
            d.add(self._search(conn, self.people, "(&(objectClass=person)(cn={}*))".format("AJW"[i % 3]),
                               attrs=("cn", "mail"), size_limit=50))
        self.unbind(conn)
        return d

    # -------------------------------------------------------------- writes
    def add(self, conn, n: int = 1, prefix: str = "tmp") -> Done:
        """Add n inetOrgPerson entries under ou=people; their DNs are in ``extra['dns']``."""
        d = Done("ADD", bind_dn=_bound_dn(conn), extra={"dns": []})
        for _ in range(min(n, 10000)):
            uid = f"{prefix}-{uuid.uuid4().hex[:10]}"
            dn = f"uid={uid},{self.people}"
            conn.add(dn, ["top", "person", "organizationalPerson", "inetOrgPerson"],
                     {"uid": uid, "cn": f"Test {uid}", "sn": "Test", "employeeType": "external",
                      "mail": f"{uid}@example.com"})
            rc = _rc(conn)
            self.record("ADD", _bound_dn(conn), rc)
            d.add(rc)
            if rc == 0:
                d.extra["dns"].append(dn)
        return d

    def modify(self, conn, n: int = 1, dns: Sequence[str] | None = None) -> Done:
        """n MODs replacing telephoneNumber/description of users (or of ``dns``)."""
        d = Done("MOD", bind_dn=_bound_dn(conn))
        for i in range(min(n, 10000)):
            dn = dns[i % len(dns)] if dns else self.ds.user_dn(f"user{1 + self.rng.randrange(400):04d}")
            conn.modify(dn, {"telephoneNumber": [(MODIFY_REPLACE, [f"+1 555 {self.rng.randrange(10**7):07d}"])],
                             "description": [(MODIFY_REPLACE, [f"modified at {time.time():f}"])]})
            rc = _rc(conn)
            self.record("MOD", _bound_dn(conn), rc)
            d.add(rc)
        return d

    def delete(self, conn, dns: Sequence[str]) -> Done:
        d = Done("DEL", bind_dn=_bound_dn(conn))
        for dn in list(dns)[:10000]:
            conn.delete(dn)
            rc = _rc(conn)
            self.record("DEL", _bound_dn(conn), rc)
            d.add(rc)
        return d

    def modrdn(self, conn, dn: str, new_rdn: str | None = None) -> Done:
        """Rename ``dn``; the new DN is in ``extra['dn']``."""
        new_rdn = new_rdn or "uid={}-r".format(dn.split(",", 1)[0].split("=", 1)[1])
        conn.modify_dn(dn, new_rdn)
        rc = _rc(conn)
        self.record("MODRDN", _bound_dn(conn), rc)
        d = Done("MODRDN", bind_dn=_bound_dn(conn), extra={"dn": "{},{}".format(new_rdn, dn.split(",", 1)[1])})
        d.add(rc)
        return d

    def compare(self, conn, n: int = 1) -> Done:
        """n compares of employeeType (result 6 compareTrue or 5 compareFalse)."""
        d = Done("CMP", bind_dn=_bound_dn(conn))
        for _ in range(min(n, 10000)):
            conn.compare(self.ds.user_dn(f"user{1 + self.rng.randrange(400):04d}"),
                         "employeeType", "employee")
            rc = _rc(conn)
            self.record("CMP", _bound_dn(conn), rc)
            d.add(rc)
        return d

    def whoami(self, conn) -> Done:
        conn.extend.standard.who_am_i()
        rc = _rc(conn)
        self.record("EXT", _bound_dn(conn), rc)
        d = Done("EXT", bind_dn=_bound_dn(conn))
        d.add(rc)
        return d

    def abandon(self, name: str | None = "svc-backup", n: int = 1) -> Done:
        """n times: a new ASYNC connection sends a big subtree search and ABANDONs it.
        ABANDON's log line is ``ABANDON targetop=<op> msgid=<id> nentries=... `` or
        ``targetop=NOTFOUND`` when the search already finished."""
        d = Done("ABANDON", extra={"search_msgids": []})
        for _ in range(min(n, 1000)):
            conn = self.connect(name, strategy=ASYNC)
            dn = _bound_dn(conn)
            d.bind_dn = dn
            mid = conn.search(self.ds.suffix, "(|(description=*staff*)(cn=*a*)(objectClass=*))",
                              SUBTREE, attributes=[ldap3.ALL_ATTRIBUTES, "+"])
            self.record("SRCH", dn)
            conn.abandon(mid)
            self.record("ABANDON", dn)
            d.add(None)
            d.msgids.append(mid)
            d.extra["search_msgids"].append(mid)
            time.sleep(0.05)
            self.unbind(conn)
        return d

    # -------------------------------------------------------------- binds
    def failed_bind(self, n: int = 1, who: str | None = None) -> Done:
        """n simple binds with a wrong password (err=49), each on its own connection.
        Without ``who`` the users come from the pool user0451..user0500 in turn, so no
        account reaches the lockout (5 failures -> err=19) unless n > 200 in 30 s."""
        d = Done("BIND", extra={"dns": []})
        for _ in range(min(n, 1000)):
            if who is None:
                uid = f"user{451 + self._fail_pool % 50:04d}"
                self._fail_pool += 1
                dn = self.ds.user_dn(uid)
            else:
                dn = self.ds.credentials(who)[0]
            conn = self.ds.connect(dn, f"wrong-{self.rng.randrange(1000)}", bind=False)
            self.record("CONNECT")
            conn.bind()
            rc = _rc(conn)
            self.record("BIND", dn, rc)
            d.add(rc)
            d.extra["dns"].append(dn)
            self.record("UNBIND", "")
            conn.unbind()
        return d

    def persistent_search(self, name: str = "svc-sync", seconds: float = 2.0,
                          trigger_changes: int = 0) -> Done:
        """Open a persistent search (SRCH ... options=persistent), optionally make
        ``trigger_changes`` MODs on another connection, hold it ``seconds``, abandon it."""
        d = Done("SRCH", extra={"changes_seen": 0})
        conn = self.connect(name, strategy=ASYNC)
        dn = _bound_dn(conn)
        d.bind_dn = dn
        mid = conn.search(self.people, "(objectClass=inetOrgPerson)", SUBTREE,
                          attributes=["uid", "modifyTimestamp"], controls=[psearch_control()])
        self.record("SRCH", dn)
        d.add(None)
        if trigger_changes:
            w = self.bind_as("svc-sync")
            self.modify(w, trigger_changes)
            self.unbind(w)
        time.sleep(min(seconds, self.max_seconds))
        try:
            resp = conn.strategy._responses.get(mid, []) if hasattr(conn.strategy, "_responses") else []
            d.extra["changes_seen"] = sum(1 for r in resp if r.get("type") == "searchResEntry")
        except Exception:
            pass
        conn.abandon(mid)
        self.record("ABANDON", dn)
        time.sleep(0.1)
        self.unbind(conn)
        return d

    def pipelined_burst(self, name: str = "svc-sync", n: int = 60,
                        filters: Sequence[str] | None = None, timeout: float = 60) -> Done:
        """Send n unindexed subtree searches on ONE ASYNC connection without waiting,
        then collect every result.  With nsslapd-maxthreadsperconn (5) the connection
        hits the per-connection thread cap: cn=monitor's maxthreadsperconnhits /
        the connection's atmax/hits/blocked fields move."""
        pool = list(filters or ["(description=*staff*)", "(employeeType=contractor)",
                                "(l=Paris)", "(title=*ire*)"])
        conn = self.connect(name, strategy=ASYNC)
        dn = _bound_dn(conn)
        d = Done("SRCH", bind_dn=dn)
        mids = []
        for i in range(min(n, 5000)):
            mids.append(conn.search(self.ds.suffix, pool[i % len(pool)], SUBTREE,
                                    attributes=["uid", "cn", "description"]))
            self.record("SRCH", dn)
        d.msgids = mids
        deadline = time.monotonic() + min(timeout, self.max_seconds)
        for m in mids:
            left = max(0.1, deadline - time.monotonic())
            try:
                _resp, result = conn.get_response(m, timeout=left)
                d.add((result or {}).get("result"))
            except Exception as e:          # timeout: count it, keep collecting
                d.add(type(e).__name__)
        self.unbind(conn)
        return d

    def long_lived_pool(self, name: str, n: int = 4, transport: str = "ldap") -> Pool:
        """n bound connections that stay open until ``Pool.close()`` (or the with-block
        ends): what an application connection pool looks like in cn=monitor."""
        return Pool(self, [self.connect(name, transport=transport) for _ in range(min(n, 500))])

    def short_bursts(self, name: str | None, n: int = 10, searches: int = 1,
                     transport: str = "ldap") -> Done:
        """n short-lived connections: connect, bind, ``searches`` indexed searches, UNBIND."""
        d = Done("CONNECT")
        deadline = self._deadline()
        for _ in range(min(n, 5000)):
            if time.monotonic() > deadline:
                break
            c = self.connect(name, transport=transport)
            d.bind_dn = _bound_dn(c)
            self.indexed_search(c, searches)
            self.unbind(c)
            d.add(0)
        return d

    # -------------------------------------------------------------- mixed workload
    def mixed_workload(self, seconds: float = 30.0, seed: int = 1, scale: int = 1,
                       think: float = 1.0) -> Dict[str, Dict]:
        """A realistic mix for ``seconds`` (adapted from the lab's personas): svc-sync
        (long-lived: paged sync, deltas, add/mod/modrdn/delete churn), svc-portal
        (lookups, end-user binds incl. wrong passwords, group checks, compares, WhoAmI),
        svc-mail (short connections, some StartTLS), svc-report (sort, VLV, unindexed,
        size limits, abandon), svc-backup (LDAPS paged export), svc-idle (idle timeout,
        T1), anonymous clients, and svc-monitor polling cn=monitor over LDAPS plus a DM
        over LDAPI.  ``think`` scales the pauses (0 = as fast as possible).
        Returns ``summary()`` plus ``seconds`` and ``errors``."""
        seconds = min(seconds, self.max_seconds)
        stop = threading.Event()
        errors: Counter = Counter()
        personas = [_SyncAgent, _Portal, _Portal, _Mail, _Report, _Backup, _Idler,
                    _Anonymous, _Monitor]
        threads = []
        for i, cls in enumerate(personas * max(1, scale)):
            p = cls(self, random.Random(seed * 1000 + i), stop, errors, think)
            threads.append(threading.Thread(target=p.run, name=f"{cls.name}-{i}", daemon=True))
        t0 = time.monotonic()
        for t in threads:
            t.start()
            time.sleep(0.02)
        while time.monotonic() - t0 < seconds:
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        out = self.summary()
        out["seconds"] = round(time.monotonic() - t0, 2)
        out["errors"] = dict(errors)
        out["threads_alive"] = sum(t.is_alive() for t in threads)
        return out


class Pool:
    """Open connections from :meth:`Traffic.long_lived_pool`."""

    def __init__(self, traffic: Traffic, conns):
        self.traffic = traffic
        self.conns = conns

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        return iter(self.conns)

    def __len__(self):
        return len(self.conns)

    def close(self) -> None:
        for c in self.conns:
            try:
                self.traffic.unbind(c)
            except Exception:
                pass


# ------------------------------------------------------------------ personas
class _Persona:
    name = "persona"
    ops_cap = 100000     # bound on steps per thread, on top of the time bound

    def __init__(self, t: Traffic, rng: random.Random, stop: threading.Event, errors: Counter,
                 think: float):
        self.t, self.rng, self.stop, self.errors, self.think_factor = t, rng, stop, errors, think
        self.c = None

    def think(self, lo=0.05, hi=0.6):
        if self.think_factor > 0:
            self.stop.wait(self.rng.uniform(lo, hi) * self.think_factor)

    def run(self):
        steps = 0
        while not self.stop.is_set() and steps < self.ops_cap:
            steps += 1
            try:
                self.step()
            except Exception as e:
                self.errors[f"{self.name}:{type(e).__name__}"] += 1
                if self.c is not None:
                    close_abruptly(self.c)
                    self.c = None
                self.stop.wait(0.2)
        try:
            if self.c is not None and not self.c.closed:
                self.t.unbind(self.c)
        except Exception:
            pass

    def conn(self, who, transport="ldap"):
        if self.c is None or self.c.closed:
            self.c = self.t.connect(who, transport=transport)
        return self.c


class _SyncAgent(_Persona):
    name = "svc-sync"

    def __init__(self, *a):
        super().__init__(*a)
        self.n = 0
        self.created: List[str] = []

    def step(self):
        t, c = self.t, self.conn("svc-sync")
        self.n += 1
        k = self.n % 10
        if k == 1:
            t.paged_search(c, page_size=200, stop_after=2 if self.rng.random() < 0.3 else None)
        elif k == 2:
            ts = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() - 300))
            t._search(c, t.ds.suffix, "(&(|(objectClass=inetOrgPerson)(objectClass=groupOfNames))"
                      f"(modifyTimestamp>={ts}))", attrs=("*", "+"))
        elif k in (3, 4):
            self.created += t.add(c, 1, prefix="sync").extra["dns"]
        elif k == 5:
            t.modify(c, 1)
        elif k == 6 and self.created:
            d = t.modrdn(c, self.created.pop(0))
            if d.results.get(0):
                self.created.append(d.extra["dn"])
        elif k == 7 and len(self.created) > 3:
            t.delete(c, [self.created.pop(0)])
        elif k == 8:
            g = f"cn=team{self.rng.randint(1, 30):02d},{t.groups}"
            m = t.ds.user_dn(f"user{self.rng.randint(1, 400):04d}")
            c.modify(g, {"member": [(MODIFY_ADD, [m])]})
            rc = _rc(c)
            t.record("MOD", _bound_dn(c), rc)
            if rc == 0:
                c.modify(g, {"member": [(MODIFY_DELETE, [m])]})
                t.record("MOD", _bound_dn(c), _rc(c))
        elif k == 9 and self.rng.random() < 0.2:
            t.unbind(c)
            self.c = None
        else:
            t._search(c, t.groups, "(objectClass=groupOfNames)", LEVEL, attrs=("cn", "member"))
        self.think(0.1, 0.8)

    def run(self):
        super().run()
        if self.created:
            try:
                c = self.t.connect("svc-sync")
                self.t.delete(c, self.created)
                self.t.unbind(c)
            except Exception as e:
                self.errors[f"{self.name}-cleanup:{type(e).__name__}"] += 1


class _Portal(_Persona):
    name = "svc-portal"

    def step(self):
        t, c = self.t, self.conn("svc-portal")
        r = self.rng.random()
        if r < 0.8:
            uid = f"user{self.rng.randint(1, 450):04d}"
            t._search(c, t.people, f"(&(objectClass=inetOrgPerson)(uid={uid}))",
                      attrs=("uid", "cn", "mail"))
            good = self.rng.random() < 0.9
            u = t.connect(uid, None if good else f"wrong-{self.rng.randint(0, 99)}")
            if _rc(u) == 0:
                if self.rng.random() < 0.3:
                    t.whoami(u)
                t._search(u, t.ds.user_dn(uid), "(objectClass=*)", BASE, attrs=("*",))
            if self.rng.random() < 0.1:
                close_abruptly(u)
            else:
                t.unbind(u)
            t._search(c, t.groups, f"(&(objectClass=groupOfNames)(member={t.ds.user_dn(uid)}))",
                      attrs=("cn",))
            if self.rng.random() < 0.2:
                t.compare(c, 1)
        elif r < 0.9:
            uid = f"user{self.rng.randint(1, 450):04d}"
            t._search(c, t.people, f"(uid={uid})", attrs=("cn", "mail"),
                      controls=[proxyauth_control("dn:" + t.ds.user_dn(uid))])
        else:
            t.indexed_search(c, self.rng.randint(1, 5))
        self.think(0.05, 0.5)


class _Mail(_Persona):
    name = "svc-mail"

    def step(self):
        t = self.t
        tr = "starttls" if self.rng.random() < 0.3 else "ldap"
        c = t.connect("svc-mail", transport=tr)
        for _ in range(self.rng.randint(1, 4)):
            uid = f"user{self.rng.randint(1, 500):04d}"
            t._search(c, t.people, f"(|(mail={uid}@example.com)(uid={uid}))",
                      attrs=("mail", "uid"))
        t.unbind(c)
        self.think(0.1, 0.7)


class _Report(_Persona):
    name = "svc-report"

    def step(self):
        t, c = self.t, self.conn("svc-report")
        r = self.rng.random()
        if r < 0.2:
            t.vlv_search(c, 1)
        elif r < 0.35:
            t.sorted_search(c, 1)
        elif r < 0.6:
            t.unindexed_search(c, 1, partial=self.rng.random() < 0.5)
        elif r < 0.75:
            t._search(c, t.people, "(objectClass=inetOrgPerson)", attrs=("uid",),
                      size_limit=self.rng.choice([0, 5, 50]))        # nsSizeLimit 25 -> err=4
        elif r < 0.85:
            t.abandon("svc-report", 1)         # usually targetop=NOTFOUND (nsSizeLimit 25)
        else:
            t._search(c, "cn=monitor,cn=userRoot,cn=ldbm database,cn=plugins,cn=config",
                      "(objectClass=*)", BASE, attrs=("*",))
        self.think(0.2, 1.2)


class _Backup(_Persona):
    name = "svc-backup"

    def step(self):
        t = self.t
        c = t.connect("svc-backup", transport="ldaps")
        t.paged_search(c, page_size=250, base=t.ds.suffix, flt="(objectClass=*)")
        t.unbind(c)
        self.think(5, 10)


class _Idler(_Persona):
    name = "svc-idle"

    def step(self):
        t = self.t
        c = t.connect("svc-idle")
        t._search(c, t.services, "(uid=svc-idle)", attrs=("uid",))
        # nsIdleTimeout 5: the server closes the connection (Disconnect ... T1)
        self.stop.wait(self.rng.uniform(6.0, 8.0))
        close_abruptly(c)


class _Anonymous(_Persona):
    name = "anonymous"

    def step(self):
        t = self.t
        c = t.connect(None, bind=self.rng.random() < 0.6)
        if _rc(c) is not None:
            pass
        for _ in range(self.rng.randint(1, 4)):
            q = self.rng.random()
            if q < 0.15:
                t._search(c, "", "(objectClass=*)", BASE, attrs=("namingContexts", "vendorVersion"))
            elif q < 0.45:
                a, b = self.rng.choice([("A", "W"), ("J", "S")])
                t._search(c, t.people, f"(&(objectClass=person)(|(cn={a}*)(sn={b}*)))", attrs=("cn", "mail"))
            elif q < 0.55:
                t._search(c, t.people, "(telephoneNumber=*)", attrs=("cn",), size_limit=10)
            elif q < 0.65:
                t._search(c, "ou=nowhere," + t.ds.suffix, "(objectClass=*)")       # err=32
            elif q < 0.75:
                c.modify(t.ds.user_dn("user0001"), {"description": [(MODIFY_REPLACE, ["anon"])]})
                t.record("MOD", "", _rc(c))                                        # err=50
            elif q < 0.85:
                t._search(c, t.people, "(sn~=Smyth)", attrs=("sn",))
            else:
                t._search(c, t.ds.suffix, "(objectClass=organizationalUnit)", LEVEL, attrs=("ou",))
        if self.rng.random() < 0.15:
            close_abruptly(c, rst=self.rng.random() < 0.3)
        else:
            t.unbind(c)
        self.think(0.1, 0.8)


class _Monitor(_Persona):
    name = "svc-monitor"

    def step(self):
        t, c = self.t, self.conn("svc-monitor", transport="ldaps")
        for base in ("cn=monitor", "cn=snmp,cn=monitor",
                     "cn=monitor,cn=userRoot,cn=ldbm database,cn=plugins,cn=config"):
            t._search(c, base, "(objectClass=*)", BASE, attrs=("*",))
        if self.rng.random() < 0.3:
            x = t.ldapi_connection()
            t._search(x, "cn=monitor", "(objectClass=*)", BASE,
                      attrs=("currentconnections", "threads"))
            t.unbind(x)
        self.stop.wait(2.0 * max(self.think_factor, 0.25))
