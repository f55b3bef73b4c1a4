#!/usr/bin/python3
"""Sample data for the dirsrvbeat test instance, as LDIF for `ldapmodify -a -c`.

Usage: gen_data.py SUFFIX NUSERS > data.ldif

* NUSERS users uid=userNNNN,ou=people (password userNNNN-Pass1), deterministic (seed 389)
* 30 groupOfNames cn=teamNN,ou=groups
* service accounts uid=svc-{sync,portal,mail,backup,report,idle,monitor},ou=services
  (password <name>-Pass1); svc-report has nsSizeLimit 25 / nsLookThroughLimit 200,
  svc-idle has nsIdleTimeout 5; svc-monitor only reads cn=monitor (ACI added by ds.sh)
* ACIs: svc-* (not svc-monitor) full access, anonymous read of a few attributes,
  svc-portal may proxy, users write their own password/phone/mail
"""
import random
import sys

SERVICES = {
    "svc-sync": ["description: directory sync agent"],
    "svc-portal": ["description: web portal"],
    "svc-mail": ["description: MTA lookups"],
    "svc-backup": ["description: backup/export"],
    "svc-report": ["description: reporting, limited", "nsSizeLimit: 25", "nsLookThroughLimit: 200"],
    "svc-idle": ["description: idle-timeout demo", "nsIdleTimeout: 5"],
    "svc-monitor": ["description: monitoring agent (reads cn=monitor)"],
}


def main(suffix, n):
    random.seed(389)
    first = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
             "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
             "Yvonne"]
    last = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
            "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
            "Wood", "Jackson", "Clarke"]
    depts = ["Engineering", "Sales", "Finance", "HR", "Support", "Legal", "Marketing", "Ops"]
    cities = ["Paris", "Berlin", "London", "Madrid", "Rome", "Brno", "Raleigh", "Boston"]
    types = ["employee", "contractor", "intern", "external"]
    out = []
    P = out.append
    for ou in ("services", "people", "groups"):
        P(f"dn: ou={ou},{suffix}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {ou}\n")
    full = " || ".join(f"ldap:///uid={s},ou=services,{suffix}" for s in SERVICES if s != "svc-monitor")
    full_aci = (f'(targetattr="*")(version 3.0; acl "dirsrvbeat: service accounts full access"; '
                f'allow (all) userdn="{full}";)')
    anon_attrs = ("cn || sn || uid || mail || givenName || objectClass || telephoneNumber || l || "
                  "title || departmentNumber || employeeType || description || member || uidNumber || "
                  "gidNumber || displayName")
    anon_filter = ("(|(objectClass=person)(objectClass=groupOfNames)(objectClass=organizationalUnit)"
                   "(objectClass=domain))")
    anon_aci = (f'(targetattr="{anon_attrs}")(targetfilter="{anon_filter}")(version 3.0; '
                'acl "dirsrvbeat: anonymous read"; allow (read, search, compare) userdn="ldap:///anyone";)')
    P(f"""dn: {suffix}
changetype: modify
add: aci
aci: {full_aci}
-
add: aci
aci: {anon_aci}
-
add: aci
aci: (targetattr="*")(version 3.0; acl "dirsrvbeat: svc-portal may proxy"; allow (proxy) userdn="ldap:///uid=svc-portal,ou=services,{suffix}";)
-
add: aci
aci: (targetattr="userPassword || telephoneNumber || mail")(version 3.0; acl "dirsrvbeat: self write"; allow (write) userdn="ldap:///self";)
""")
    for s, extra in SERVICES.items():
        P(f"dn: uid={s},ou=services,{suffix}\nobjectClass: top\nobjectClass: account\n"
          f"objectClass: simpleSecurityObject\nobjectClass: extensibleObject\nuid: {s}\n"
          f"userPassword: {s}-Pass1\n" + "\n".join(extra) + "\n")
    for i in range(1, n + 1):
        fn, ln = random.choice(first), random.choice(last)
        uid = f"user{i:04d}"
        P(f"""dn: uid={uid},ou=people,{suffix}
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: inetOrgPerson
objectClass: posixAccount
uid: {uid}
cn: {fn} {ln}
sn: {ln}
givenName: {fn}
displayName: {fn} {ln} ({uid})
mail: {uid}@example.com
telephoneNumber: +1 555 {random.randint(1000000, 9999999)}
title: {random.choice(['Engineer', 'Manager', 'Analyst', 'Director', 'Clerk'])}
departmentNumber: {random.choice(depts)}
employeeType: {random.choice(types)}
l: {random.choice(cities)}
description: {random.choice(depts)} staff member number {i}
uidNumber: {10000 + i}
gidNumber: {10000 + (i % 20)}
homeDirectory: /home/{uid}
loginShell: /bin/bash
userPassword: {uid}-Pass1
""")
    for g in range(1, 31):
        members = sorted(random.sample(range(1, n + 1), min(n, random.randint(3, 40))))
        P(f"dn: cn=team{g:02d},ou=groups,{suffix}\nobjectClass: top\nobjectClass: groupOfNames\n"
          f"cn: team{g:02d}\ndescription: team {g}\n"
          + "\n".join(f"member: uid=user{m:04d},ou=people,{suffix}" for m in members) + "\n")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
