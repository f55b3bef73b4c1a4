#!/usr/bin/python3
"""Offline edit of `dn: cn=config` in dse.ldif (the server must be stopped).

Usage: dse_tune.py /etc/dirsrv/slapd-NAME/dse.ldif
"""
import re
import sys

WANT = {
    "nsslapd-listenhost": "127.0.0.1",
    "nsslapd-securelistenhost": "127.0.0.1",
    "nsslapd-accesslog-logbuffering": "off",        # lines reach the file at once
    "nsslapd-accesslog-maxlogsize": "2048",         # MB: no size rotation unless asked
    "nsslapd-accesslog-logmaxdiskspace": "8192",    # MB, must be >= maxlogsize
    "nsslapd-accesslog-logrotationtime": "-1",      # no time-based rotation
    "nsslapd-accesslog-logexpirationtime": "-1",
    "nsslapd-errorlog-logrotationtime": "-1",
}


def main(path):
    with open(path) as f:
        text = f.read()
    blocks = text.split("\n\n")
    for bi, block in enumerate(blocks):
        lines = block.split("\n")
        if lines and lines[0].strip().lower() == "dn: cn=config":
            out, skip = [], False
            for ln in lines:
                if ln.startswith(" ") and skip:
                    continue                     # continuation of a replaced value
                skip = False
                m = re.match(r"([A-Za-z0-9-]+):", ln)
                if m and m.group(1).lower() in WANT:
                    skip = True
                    continue
                out.append(ln)
            out += ["{}: {}".format(*kv) for kv in WANT.items()]
            blocks[bi] = "\n".join(out)
            break
    else:
        sys.exit(f"dn: cn=config not found in {path}")
    new = "\n\n".join(blocks)
    if new != text:
        with open(path + ".dirsrvbeat-tmp", "w") as f:
            f.write(new)
        import os
        import shutil
        shutil.copystat(path, path + ".dirsrvbeat-tmp")
        st = os.stat(path)
        os.chown(path + ".dirsrvbeat-tmp", st.st_uid, st.st_gid)
        os.replace(path + ".dirsrvbeat-tmp", path)


if __name__ == "__main__":
    main(sys.argv[1])
