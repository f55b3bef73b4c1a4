#!/usr/bin/python3
"""Run lib389's own installer (what `dscreate from-file FILE.inf` runs) on a host
without systemd as PID 1.

* lib389 2.3.1 reads `with_systemd = 1` from /usr/share/dirsrv/inf/defaults.inf and
  calls `systemctl start dirsrv@NAME`, which fails here.  `[general] systemd = False`
  does not change that.  Forcing `Paths.with_systemd` to False makes lib389 start and
  stop ns-slapd itself (`ns-slapd -D /etc/dirsrv/slapd-NAME -i /run/dirsrv/slapd-NAME.pid`).
* The self-signed server certificate only gets `DNS:<full_machine_name>` as SAN.
  Clients that connect to 127.0.0.1 and verify the host name need an IP SAN, so the
  certutil CSR command is rewritten to `--extSAN dns:localhost,ip:127.0.0.1`.

Must run with Debian's /usr/bin/python3 (python3-lib389 lives there).
Usage: dscreate_nosystemd.py FILE.inf
"""
import logging
import sys

import lib389.nss_ssl
import lib389.paths

lib389.paths.Paths.with_systemd = property(lambda self: False)

_check_output = lib389.nss_ssl.check_output


def _check_output_with_ip_san(cmd, *args, **kwargs):
    cmd = list(cmd)
    if cmd and cmd[0].endswith("certutil") and "-R" in cmd and "-8" in cmd:
        i = cmd.index("-8")
        names = [n for n in cmd[i + 1].split(",") if n]
        san = [f"dns:{n}" for n in names if n not in ("127.0.0.1",)]
        if "dns:localhost" not in san:
            san.append("dns:localhost")
        san.append("ip:127.0.0.1")
        cmd[i:i + 2] = ["--extSAN", ",".join(san)]
    return _check_output(cmd, *args, **kwargs)


lib389.nss_ssl.check_output = _check_output_with_ip_san

from lib389.instance.setup import SetupDs  # noqa: E402

logging.basicConfig(level=logging.INFO, format="dscreate: %(message)s")
log = logging.getLogger("dscreate-nosystemd")
ok = SetupDs(verbose=False, dryrun=False, log=log).create_from_inf(sys.argv[1])
sys.exit(0 if ok else 1)
