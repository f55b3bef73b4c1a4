#!/bin/sh
# One-shot, in the 389 DS image, after the dirsrv service is healthy: the suffix and its sample
# entries, the collector's account with its password and the cn=monitor ACI, and an access log that
# the shipper (another user, another container) may read. Idempotent: a second run changes nothing.
set -eu
URI=${DIRSRV_URI:-ldap://dirsrv:3389}
SUFFIX=${DS_SUFFIX_NAME:-dc=example,dc=com}
DM="cn=Directory Manager"
DMPW=/run/secrets/ds_dm_password
MONITOR_DN="uid=svc-monitor,ou=services,$SUFFIX"

dsconf_() { dsconf -D "$DM" -y "$DMPW" "$URI" "$@"; }
ldapmodify_() { ldapmodify -x -H "$URI" -D "$DM" -y "$DMPW" "$@"; }

if ! dsconf_ backend suffix list 2>/dev/null | grep -qi "$SUFFIX"; then
    echo "dirsrv-init: creating $SUFFIX"
    dsconf_ backend create --suffix "$SUFFIX" --be-name userRoot --create-suffix --create-entries
fi

echo "dirsrv-init: ou=services and $MONITOR_DN"
ldapmodify_ -a -c <<LDIF || true
dn: ou=services,$SUFFIX
objectClass: top
objectClass: organizationalUnit
ou: services

dn: $MONITOR_DN
objectClass: top
objectClass: nsPerson
objectClass: nsAccount
objectClass: nsOrgPerson
uid: svc-monitor
cn: svc-monitor
displayName: dirsrvbeat cn=monitor collector
LDIF
ldapmodify_ <<LDIF
dn: $MONITOR_DN
changetype: modify
replace: userPassword
userPassword: $(cat /run/secrets/monitor_password)
LDIF

echo "dirsrv-init: cn=monitor ACI for $MONITOR_DN"
sed "s/dc=example,dc=com/$SUFFIX/g" /deploy/ldif/monitor-aci.ldif | ldapmodify_ -c || true

echo "dirsrv-init: access log readable by the shipper, unbuffered"
dsconf_ config replace nsslapd-accesslog-mode=644 nsslapd-accesslog-logbuffering=off
chmod 0755 /data/logs 2>/dev/null || true
chmod 0644 /data/logs/access* 2>/dev/null || true
echo "dirsrv-init: done"
