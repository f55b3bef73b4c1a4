"""The ACIs a non-root collector DN needs (see docs/monitor.md, "Permissions").

389 DS lets anyone read cn=monitor and cn=snmp,cn=monitor except the `connection` attribute
(built-in ACI `(targetattr != "aci || connection")`). Only Directory Manager bypasses that. A
dedicated collector account needs:

1. `connection` on cn=monitor: the per-connection data behind every workload and histogram;
2. the ldbm monitors (entry/DN/page cache): not readable by ordinary users at all;
3. the tuning values of cn=config and of the ldbm configuration (on 2.3.1 nsslapd-threadnumber
   cannot be granted safely: see GRANTABLE_CONFIG_ATTRS).

Without (1) the collector says so on every scrape (`connections_readable: false`, a warning, no
workload documents), it never reports zero connections. Without (2) or (3) those documents are
simply left out, with a warning on the scrape document.
"""

from __future__ import annotations

ACL_PREFIX = "dirsrvbeat monitor"

# An ACI may only name attributes of the schema. On 389 DS 2.3.1 nsslapd-threadnumber,
# -sizelimit, -timelimit, -conntablesize and -numlisteners are not in it, and `targetattr = "*"`
# on cn=config would also expose nsslapd-rootpw (the Directory Manager password hash), so those
# values stay readable by Directory Manager only (their fields are then absent).
GRANTABLE_CONFIG_ATTRS = ("objectClass", "nsslapd-maxthreadsperconn", "nsslapd-maxdescriptors",
                          "nsslapd-reservedescriptors", "nsslapd-idletimeout", "nsslapd-ioblocktimeout",
                          "nsslapd-listen-backlog-size", "nsslapd-maxbersize", "nsslapd-enable-turbo-mode")


def acis(dn: str) -> list[tuple[str, str]]:
    """[(entry DN, aci value)] granting `dn` read access to what the collector reads."""
    who = f'userdn = "ldap:///{dn}"'
    config_attrs = " || ".join(GRANTABLE_CONFIG_ATTRS)
    return [
        ("cn=monitor",
         f'(targetattr = "connection")(version 3.0; acl "{ACL_PREFIX}: connection"; '
         f"allow (read, search, compare) {who};)"),
        ("cn=ldbm database,cn=plugins,cn=config",
         f'(targetfilter = "(cn=monitor)")(targetattr = "*")(version 3.0; acl "{ACL_PREFIX}: ldbm monitors"; '
         f"allow (read, search, compare) {who};)"),
        ("cn=ldbm database,cn=plugins,cn=config",
         # the ldbm tuning attributes are not in the schema (no attribute list possible); this
         # entry and its children (cn=bdb) hold database settings only, no secrets
         f'(target = "ldap:///cn=config,cn=ldbm database,cn=plugins,cn=config")(targetattr = "*")'
         f'(version 3.0; acl "{ACL_PREFIX}: ldbm tuning"; allow (read, search, compare) {who};)'),
        ("cn=config",
         f'(target = "ldap:///cn=config")(targetfilter = "(cn=config)")(targetattr = "{config_attrs}")'
         f'(version 3.0; acl "{ACL_PREFIX}: tuning"; allow (read, search, compare) {who};)'),
    ]


def aci_ldif(dn: str) -> str:
    """LDIF for `ldapmodify -D "cn=Directory Manager" -W -H ldap://... -f THIS`."""
    parts = [f"# dirsrvbeat monitor: read access for {dn}\n"
             "# apply as Directory Manager: ldapmodify -D 'cn=Directory Manager' -W -H ldaps://HOST -f FILE\n"]
    for target, value in acis(dn):
        parts.append(f"dn: {target}\nchangetype: modify\nadd: aci\naci: {value}\n")
    return "\n".join(parts)
