#!/usr/bin/env python3
"""Record real output of the dirsrvbeat test 389 DS into tests/data/live/.

Run from the repository root with the project venv (needs ldap3), as root:
    .venv/bin/python scripts/ds/record_live.py [--out tests/data/live] [--seconds 60]
        [--only default,verbose,rotation,monitor]

Makes:
  access.default-level.log        ~60 s of Traffic.mixed_workload at level 256
  access.level772-statlog1.log    ~12 s of the same at level 772 + statlog 1
  rotation/access.before          the file the server renamed (access.YYYYMMDD-HHMMSS)
  rotation/access.after           the new access file, ~5 s of traffic after the rename
  rotation/access.rotationinfo    the server's rotation bookkeeping file after it
  monitor/*.ldif                  cn=monitor & friends while many connections are open
  *.summary.json                  what the traffic helpers sent (ops per verb / bind DN)
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from services.dirsrv import get_dirsrv  # noqa: E402
from services.traffic import Traffic  # noqa: E402

MAX_BYTES = 2 * 1024 * 1024 - 1


def write_lines(path: Path, lines, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (header + "\n".join(lines) + "\n").encode()
    if len(data) > MAX_BYTES:
        raise SystemExit(f"{path} would be {len(data)} bytes (> 2 MB): shorten the run")
    path.write_bytes(data)
    print(f"wrote {path}: {len(lines)} lines, {len(data)} bytes")


def capture_workload(ds, seconds: float, seed: int, think: float = 1.0):
    with ds.capture_access_log() as cap:
        summary = Traffic(ds, seed=seed).mixed_workload(seconds=seconds, seed=seed, think=think)
    return cap.lines, summary


def record_default(ds, out: Path, seconds: float) -> None:
    ds.reset_log_levels()
    lines, summary = capture_workload(ds, seconds, seed=1)
    write_lines(out / "access.default-level.log", lines)
    (out / "access.default-level.summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))


def record_verbose(ds, out: Path, seconds: float) -> None:
    with ds.log_levels(access=772, statlog=1):
        lines, summary = capture_workload(ds, seconds, seed=2)
    write_lines(out / "access.level772-statlog1.log", lines)
    (out / "access.level772-statlog1.summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))


def record_rotation(ds, out: Path) -> None:
    ds.reset_log_levels()
    ds.rotate_access_log()                       # start from a fresh, small active file
    t = Traffic(ds, seed=3)
    bg = threading.Thread(target=lambda: t.mixed_workload(seconds=25, seed=3, think=1.0), daemon=True)
    bg.start()
    time.sleep(5)
    r = ds.rotate_access_log()                   # workload keeps running across the rename
    time.sleep(5)
    ds.wait_for_log_flush()
    d = out / "rotation"
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(r.rotated, d / "access.before")
    shutil.copyfile(r.active, d / "access.after")
    shutil.copyfile(Path(ds.log_dir) / "access.rotationinfo", d / "access.rotationinfo")
    (d / "rotation.json").write_text(json.dumps({
        "rotated_name": r.rotated.name, "padding_ops": r.padding_ops, "seconds": r.seconds,
        "before_bytes": (d / "access.before").stat().st_size,
        "after_bytes": (d / "access.after").stat().st_size}, indent=1))
    for f in sorted(d.iterdir()):
        print(f"wrote {f}: {f.stat().st_size} bytes")
    bg.join(timeout=60)


def ldif(ds, base: str, scope: str = "base", *attrs: str, who: str = "dm") -> str:
    cmd = ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-x", "-H", ds.ldap_url]
    if who == "dm":
        cmd += ["-D", ds.dm_dn, "-w", ds.dm_password]
    elif who != "anonymous":
        dn, pw = ds.service_accounts[who]
        cmd += ["-D", dn, "-w", pw]
    cmd += ["-b", base, "-s", scope, "(objectClass=*)", *(attrs or ("*", "+"))]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30).stdout


def dump_monitor(ds, d: Path, tag: str) -> None:
    ldbm = "cn=ldbm database,cn=plugins,cn=config"
    files = {
        "cn=monitor": ldif(ds, "cn=monitor"),
        "cn=monitor.subtree": ldif(ds, "cn=monitor", "sub"),
        "cn=snmp,cn=monitor": ldif(ds, "cn=snmp,cn=monitor"),
        "cn=monitor,cn=ldbm database": ldif(ds, "cn=monitor," + ldbm),
        "cn=monitor,cn=userRoot,cn=ldbm database": ldif(ds, "cn=monitor,cn=userRoot," + ldbm),
        "cn=monitor.as-svc-monitor": ldif(ds, "cn=monitor", "base", "*", who="svc-monitor"),
        "cn=monitor.as-svc-sync": ldif(ds, "cn=monitor", "base", "*", who="svc-sync"),
        "cn=monitor.anonymous": ldif(ds, "cn=monitor", "base", "*", who="anonymous"),
    }
    for name, text in files.items():
        p = d / (f"{tag}-{name}.ldif")
        p.write_text(text)
    n = files["cn=monitor"].count("\nconnection: ")
    print(f"wrote {d}/{tag}-*.ldif ({n} connection values)")


def record_monitor(ds, out: Path) -> None:
    d = out / "monitor"
    d.mkdir(parents=True, exist_ok=True)
    ldbm = "cn=ldbm database,cn=plugins,cn=config"
    cfg = ldif(ds, "cn=config", "base", "nsslapd-threadnumber", "nsslapd-maxthreadsperconn",
               "nsslapd-maxdescriptors", "nsslapd-reservedescriptors", "nsslapd-idletimeout",
               "nsslapd-ioblocktimeout", "nsslapd-listen-backlog-size", "nsslapd-maxbersize",
               "nsslapd-sizelimit", "nsslapd-timelimit", "nsslapd-enable-turbo-mode",
               "nsslapd-ndn-cache-max-size", "nsslapd-maxsimplepaged-per-conn",
               "nsslapd-accesslog-level", "nsslapd-statlog-level", "nsslapd-accesslog-logbuffering",
               "nsslapd-accesslog-maxlogsize", "nsslapd-accesslog-maxlogsperdir",
               "nsslapd-accesslog-logrotationtime", "nsslapd-accesslog", "nsslapd-counters",
               "nsslapd-listenhost", "nsslapd-port", "nsslapd-secureport", "nsslapd-security",
               "nsslapd-ldapilisten", "nsslapd-ldapifilepath", "nsslapd-ldapiautobind",
               "nsslapd-versionstring", "nsslapd-conntablesize", "nsslapd-numlisteners")
    (d / "cn=config.tuning.ldif").write_text(cfg)
    (d / "cn=config,cn=ldbm database.ldif").write_text(ldif(ds, "cn=config," + ldbm, "base"))
    (d / "cn=userRoot,cn=ldbm database.ldif").write_text(ldif(ds, "cn=userRoot," + ldbm, "base"))

    t = Traffic(ds, seed=4)
    pools = [t.long_lived_pool("svc-portal", 4), t.long_lived_pool("svc-sync", 2),
             t.long_lived_pool("svc-mail", 2, transport="starttls"),
             t.long_lived_pool("svc-backup", 1, transport="ldaps"),
             t.long_lived_pool("svc-report", 2)]
    anon = t.connect(None, bind=False)
    ldapi = t.ldapi_connection()
    t.indexed_search(ldapi, 1)
    for p in pools:
        for c in p:
            t.indexed_search(c, 1 + t.rng.randrange(5))
    ps_thread = threading.Thread(target=lambda: t.persistent_search("svc-sync", seconds=12), daemon=True)
    ps_thread.start()
    bg = threading.Thread(target=lambda: Traffic(ds, seed=5).mixed_workload(seconds=12, seed=5, think=0.5),
                          daemon=True)
    bg.start()
    time.sleep(3)
    dump_monitor(ds, d, "busy")                 # many connections, workload running
    burst = threading.Thread(target=lambda: t.pipelined_burst("svc-sync", n=400), daemon=True)
    burst.start()
    time.sleep(0.8)
    dump_monitor(ds, d, "pipelining")           # a connection at maxthreadsperconn
    burst.join(timeout=60)
    bg.join(timeout=60)
    ps_thread.join(timeout=60)
    for p in pools:
        p.close()
    t.unbind(anon)
    t.unbind(ldapi)
    time.sleep(0.5)
    dump_monitor(ds, d, "quiet")                # after everything closed
    (d / "traffic.summary.json").write_text(json.dumps(t.summary(), indent=1, sort_keys=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "live"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--verbose-seconds", type=float, default=12)
    ap.add_argument("--only", default="default,verbose,rotation,monitor")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = get_dirsrv()
    only = set(a.only.split(","))
    if "default" in only:
        record_default(ds, out, a.seconds)
    if "verbose" in only:
        record_verbose(ds, out, a.verbose_seconds)
    if "rotation" in only:
        record_rotation(ds, out)
    if "monitor" in only:
        record_monitor(ds, out)
    ds.reset_log_levels()


if __name__ == "__main__":
    main()
