#!/usr/bin/python3
"""Force a real size-based rotation of the access log (389 DS 2.3.1) and print JSON
{"rotated": "<dir>/access.YYYYMMDD-HHMMSS", "active": "<dir>/access", "padding_ops": N,
 "seconds": S}.

How: log.c `log__needrotation()` renames the active file at the next write once its
size is >= nsslapd-accesslog-maxlogsize (in MB; 1 is the smallest value).  We set
maxlogsize to 1, pad the log with cheap indexed searches (long filters, ~0.8 kB per
op at level 256) until the renamed file appears, then restore the old maxlogsize.
Needs Debian's python3-ldap (a dependency of python3-lib389).  Env: as ds.sh.
"""
import glob
import json
import os
import sys
import time

import ldap

INST = os.environ.get("DIRSRVBEAT_DS_INST", "dirsrvbeat")
PORT = os.environ.get("DIRSRVBEAT_DS_PORT", "13389")
DM_PW = os.environ.get("DIRSRVBEAT_DS_DM_PW", "Secret123!")
LOGDIR = f"/var/log/dirsrv/slapd-{INST}"
ACCESS = os.path.join(LOGDIR, "access")
MAX_SECONDS = float(os.environ.get("DIRSRVBEAT_DS_ROTATE_TIMEOUT", "60"))
MAX_OPS = 20000


def rotated_files():
    return {p for p in glob.glob(ACCESS + ".2*") if not p.endswith(".rotationinfo")}


def main():
    t0 = time.time()
    c = ldap.initialize(f"ldap://127.0.0.1:{PORT}")
    c.set_option(ldap.OPT_NETWORK_TIMEOUT, 10)
    c.simple_bind_s("cn=Directory Manager", DM_PW)
    cfg = c.search_s("cn=config", ldap.SCOPE_BASE, "(objectClass=*)",
                     ["nsslapd-accesslog-maxlogsize", "nsslapd-accesslog-maxlogsperdir"])[0][1]
    old_max = cfg["nsslapd-accesslog-maxlogsize"][0]
    if int(cfg.get("nsslapd-accesslog-maxlogsperdir", [b"10"])[0]) < 2:
        c.modify_s("cn=config", [(ldap.MOD_REPLACE, "nsslapd-accesslog-maxlogsperdir", [b"10"])])
    before = rotated_files()
    c.modify_s("cn=config", [(ldap.MOD_REPLACE, "nsslapd-accesslog-maxlogsize", [b"1"])])
    ops = 0
    new = set()
    base = "ou=people,dc=example,dc=com"
    pad = "(|" + "".join(f"(uid=rotate-pad-{k:03d})" for k in range(22)) + ")"
    attrs = ["uid", "cn", "mail", "telephoneNumber", "description", "departmentNumber"]
    try:
        while time.time() - t0 < MAX_SECONDS and ops < MAX_OPS:
            msgids = [c.search_ext(base, ldap.SCOPE_SUBTREE, pad, attrs) for _ in range(50)]
            for m in msgids:
                c.result3(m, all=1, timeout=30)
            ops += len(msgids)
            new = rotated_files() - before
            if new:
                break
    finally:
        c.modify_s("cn=config", [(ldap.MOD_REPLACE, "nsslapd-accesslog-maxlogsize", [old_max])])
        c.unbind_s()
    if not new:
        print(json.dumps({"error": f"no rotation after {ops} ops / {time.time() - t0:.1f}s"}))
        sys.exit(1)
    print(json.dumps({"rotated": sorted(new)[-1], "active": ACCESS, "padding_ops": ops,
                      "seconds": round(time.time() - t0, 3)}))


if __name__ == "__main__":
    main()
