#!/bin/bash
# scripts/ds/ds.sh - a real, throw-away 389 Directory Server (389-ds-base 2.3.1 on
# Debian bookworm) for dirsrvbeat's integration tests, on hosts WITHOUT systemd.
#
#   ds.sh install             apt-get install the server + tools if missing
#   ds.sh create              install + create the instance if missing + load sample data
#                             (leaves the server running)
#   ds.sh start               create (if needed) + start ns-slapd, wait until it answers LDAP
#   ds.sh stop                SIGTERM the pid from the pid file, wait, SIGKILL after a timeout
#   ds.sh restart             stop + start
#   ds.sh status              prints RUNNING/STOPPED (exit 0 only when running)
#   ds.sh remove              stop + delete config, database, logs
#   ds.sh logpath             the access log path (only that)
#   ds.sh env                 shell-sourceable DIRSRVBEAT_DS_* variables
#   ds.sh loglevel N          nsslapd-accesslog-level (256 default, 260 +internal ops,
#                             772 = 256+4+512 adds ENTRY lines) - online, via ldapmodify as DM
#   ds.sh statlog N           nsslapd-statlog-level (1 = STAT index-read lines)
#   ds.sh grant-monitor [DN]  ACI on cn=monitor letting DN read `connection`
#                             (default uid=svc-monitor,ou=services,SUFFIX)
#   ds.sh rotate              force a real size-based rotation of the access log
#
# Env overrides: DIRSRVBEAT_DS_INST (dirsrvbeat) DIRSRVBEAT_DS_PORT (13389)
#   DIRSRVBEAT_DS_SPORT (13636) DIRSRVBEAT_DS_DM_PW (Secret123!)
#   DIRSRVBEAT_DS_NUSERS (500) DIRSRVBEAT_DS_STOP_TIMEOUT (60 s)
# Everything listens on 127.0.0.1 only.  Must run as root.  Progress goes to stderr,
# with the time each step took.
set -euo pipefail

INST=${DIRSRVBEAT_DS_INST:-dirsrvbeat}
PORT=${DIRSRVBEAT_DS_PORT:-13389}
SPORT=${DIRSRVBEAT_DS_SPORT:-13636}
SUFFIX=dc=example,dc=com
DM_DN="cn=Directory Manager"
DM_PW=${DIRSRVBEAT_DS_DM_PW:-Secret123!}
NUSERS=${DIRSRVBEAT_DS_NUSERS:-500}
STOP_TIMEOUT=${DIRSRVBEAT_DS_STOP_TIMEOUT:-60}
MONITOR_DN="uid=svc-monitor,ou=services,$SUFFIX"

CONF=/etc/dirsrv/slapd-$INST
PIDFILE=/run/dirsrv/slapd-$INST.pid
LOGDIR=/var/log/dirsrv/slapd-$INST
ACCESS=$LOGDIR/access
ERRORS=$LOGDIR/errors
CA_CERT=$CONF/ca.crt
LDAPI=/run/slapd-$INST.socket
LDAPI_URI="ldapi://$(printf %s "$LDAPI" | sed 's|/|%2F|g')"
LDAP_URI="ldap://127.0.0.1:$PORT"
LDAPS_URI="ldaps://127.0.0.1:$SPORT"
WORK=/var/lib/dirsrvbeat-ds/$INST    # generated INF/LDIF, start output, markers
PY=/usr/bin/python3                  # Debian's python: python3-lib389 lives there
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[ds.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
took() { echo "$(( $(now_ms) - $1 ))ms"; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (ns-slapd, /etc/dirsrv, apt-get)"; }

# ---------------------------------------------------------------- install
have_packages() {
    [ -x /usr/sbin/ns-slapd ] && dpkg -s python3-lib389 >/dev/null 2>&1 \
        && command -v ldapsearch >/dev/null 2>&1 && command -v certutil >/dev/null 2>&1 \
        && command -v openssl >/dev/null 2>&1
}

do_install() {
    need_root
    have_packages && return 0
    local t0; t0=$(now_ms)
    log "installing 389-ds-base python3-lib389 ldap-utils libnss3-tools openssl (no recommends)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        389-ds-base python3-lib389 ldap-utils libnss3-tools openssl >/dev/null
    have_packages || die "packages installed but ns-slapd/lib389/ldapsearch/certutil still missing"
    log "step install: $(took "$t0")"
}

# ---------------------------------------------------------------- host prerequisites
ensure_shm() {
    # ns-slapd creates the POSIX semaphore /dev/shm/sem.slapd-NAME.stats after dropping
    # to user dirsrv and dies ("snmp_collator_create_semaphore ... Error 13") unless
    # /dev/shm is world-writable + sticky.
    local m
    m=$(stat -c %a /dev/shm 2>/dev/null || echo missing)
    [ "$m" = 1777 ] && return 0
    log "/dev/shm mode is '$m', fixing"
    if [ "$m" = missing ]; then mkdir -p /dev/shm; fi
    chmod 1777 /dev/shm 2>/dev/null || true
    m=$(stat -c %a /dev/shm 2>/dev/null || echo missing)
    if [ "$m" != 1777 ]; then
        mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm 2>/dev/null || true
        m=$(stat -c %a /dev/shm 2>/dev/null || echo missing)
    fi
    [ "$m" = 1777 ] || die "/dev/shm is '$m' and could not be made mode 1777 (mount -t tmpfs -o mode=1777 tmpfs /dev/shm)"
}

ensure_rundirs() {
    # /run is a tmpfs on real machines (gone after a reboot); systemd-tmpfiles would make these.
    install -d -o dirsrv -g dirsrv -m 0770 /run/dirsrv /run/lock/dirsrv "/run/lock/dirsrv/slapd-$INST"
    mkdir -p "$WORK"; chmod 700 "$WORK"
}

# ---------------------------------------------------------------- create
write_inf() {
    cat > "$WORK/instance.inf" <<EOF
[general]
full_machine_name = localhost
strict_host_checking = False
selinux = False
systemd = False
start = False

[slapd]
instance_name = $INST
port = $PORT
secure_port = $SPORT
root_dn = $DM_DN
root_password = $DM_PW
self_sign_cert = True
# keep the BDB environment next to the db instead of /dev/shm/slapd-NAME
db_home_dir = /var/lib/dirsrv/slapd-$INST/db

[backend-userroot]
suffix = $SUFFIX
sample_entries = yes
EOF
}

tune_dse_offline() {
    "$PY" "$HERE/dse_tune.py" "$CONF/dse.ldif"
}

do_create_instance() {
    local t0; t0=$(now_ms)
    log "creating instance slapd-$INST (ldap $PORT / ldaps $SPORT on 127.0.0.1, suffix $SUFFIX)"
    ensure_shm
    ensure_rundirs
    write_inf
    # lib389's own installer with its systemd code path switched off (see dscreate_nosystemd.py)
    if ! "$PY" "$HERE/dscreate_nosystemd.py" "$WORK/instance.inf" >"$WORK/dscreate.log" 2>&1; then
        tail -30 "$WORK/dscreate.log" >&2
        [ -f "$ERRORS" ] && { echo "--- tail of $ERRORS" >&2; tail -20 "$ERRORS" >&2; }
        cp "$WORK/dscreate.log" "/tmp/dirsrvbeat-ds-$INST-dscreate.log" 2>/dev/null || true
        remove_files      # no half-made instance left behind: the next run starts over
        die "instance creation failed (log: /tmp/dirsrvbeat-ds-$INST-dscreate.log)"
    fi
    # the installer started and stopped ns-slapd itself; make sure it is down
    if is_running; then do_stop; fi
    tune_dse_offline
    touch "$WORK/created"
    log "step create-instance: $(took "$t0")"
}

# ---------------------------------------------------------------- run state
pid_of() { if [ -s "$PIDFILE" ]; then cat "$PIDFILE"; fi; }
is_running() {
    local pid; pid=$(pid_of)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qx ns-slapd "/proc/$pid/comm" 2>/dev/null
}
answers() {
    ldapsearch -LLL -x -H "$LDAP_URI" -b "" -s base -o nettimeout=2 vendorVersion >/dev/null 2>&1
}

start_server() {
    ensure_shm
    ensure_rundirs
    if is_running; then
        answers && return 0
    else
        # stale pid file (crash, kill -9, "reboot"): ns-slapd refuses nothing, but we do
        rm -f "$PIDFILE"
        local t0; t0=$(now_ms)
        # ns-slapd daemonises itself and drops privileges to nsslapd-localuser (dirsrv)
        /usr/sbin/ns-slapd -D "$CONF" -i "$PIDFILE" >"$WORK/ns-slapd.start.out" 2>&1 || {
            cat "$WORK/ns-slapd.start.out" >&2; tail -20 "$ERRORS" >&2 || true
            die "ns-slapd failed to start"; }
        local i
        for i in $(seq 1 600); do answers && break; is_running || [ "$i" -lt 50 ] || break; sleep 0.1; done
        answers || { tail -30 "$ERRORS" >&2 || true; die "server did not answer on $LDAP_URI"; }
        log "step start: pid $(pid_of) answered after $(took "$t0")"
    fi
}

ldm()  { ldapmodify -x -H "$LDAP_URI" -D "$DM_DN" -w "$DM_PW" "$@"; }
ldsb() { ldapsearch -LLL -o ldif-wrap=no -x -H "$LDAP_URI" -D "$DM_DN" -w "$DM_PW" "$@"; }

# ---------------------------------------------------------------- sample data
data_loaded() {
    ldsb -b "uid=svc-monitor,ou=services,$SUFFIX" -s base dn >/dev/null 2>&1 \
        && [ -f "$WORK/data-loaded" ]
}

load_sample_data() {
    data_loaded && return 0
    local t0; t0=$(now_ms)
    log "loading sample data ($NUSERS users, 30 groups, 7 service accounts, ACIs, VLV, password policy)"
    ldm >/dev/null <<EOF
dn: cn=config
changetype: modify
replace: passwordLockout
passwordLockout: on
-
replace: passwordMaxFailure
passwordMaxFailure: 5
-
replace: passwordLockoutDuration
passwordLockoutDuration: 30
-
replace: passwordResetFailureCount
passwordResetFailureCount: 30

# idlistscanlimit below the number of users, as in big production directories:
# broad filters such as (objectClass=inetOrgPerson) become ALLIDS -> notes=A
dn: cn=config,cn=ldbm database,cn=plugins,cn=config
changetype: modify
replace: nsslapd-idlistscanlimit
nsslapd-idlistscanlimit: 200
EOF
    # VLV search + index on ou=people sorted by uid (defined before the users are added)
    ldm -a -c >/dev/null 2>&1 <<EOF || true
dn: cn=peopleByUid,cn=userRoot,cn=ldbm database,cn=plugins,cn=config
objectClass: top
objectClass: vlvSearch
cn: peopleByUid
vlvBase: ou=people,$SUFFIX
vlvScope: 1
vlvFilter: (objectclass=inetOrgPerson)
aci: (targetattr="*")(version 3.0; acl "dirsrvbeat: VLV for everyone"; allow (read, search, compare) userdn="ldap:///anyone";)

dn: cn=peopleByUidIdx,cn=peopleByUid,cn=userRoot,cn=ldbm database,cn=plugins,cn=config
objectClass: top
objectClass: vlvIndex
cn: peopleByUidIdx
vlvSort: uid
EOF
    "$PY" "$HERE/gen_data.py" "$SUFFIX" "$NUSERS" > "$WORK/data.ldif"
    ldm -a -c -f "$WORK/data.ldif" >/dev/null 2>"$WORK/load.err" || true
    if grep -v '^$' "$WORK/load.err" | grep -iv "already exists" | grep -q .; then
        grep -v '^$' "$WORK/load.err" | grep -iv "already exists" | head -5 >&2
    fi
    # build the VLV index (vlvEnabled stays 0 until it is (re)built)
    ldapdelete -x -H "$LDAP_URI" -D "$DM_DN" -w "$DM_PW" \
        "cn=dirsrvbeat-vlv-reindex,cn=index,cn=tasks,cn=config" >/dev/null 2>&1 || true
    ldm -a >/dev/null <<EOF
dn: cn=dirsrvbeat-vlv-reindex,cn=index,cn=tasks,cn=config
objectClass: top
objectClass: extensibleObject
cn: dirsrvbeat-vlv-reindex
nsInstance: userRoot
nsIndexVLVAttribute: peopleByUidIdx
EOF
    local i
    for i in $(seq 1 240); do
        ldsb -b "cn=dirsrvbeat-vlv-reindex,cn=index,cn=tasks,cn=config" -s base nsTaskExitCode 2>/dev/null \
            | grep -q "^nsTaskExitCode:" && break
        sleep 0.25
    done
    do_grant_monitor "$MONITOR_DN" >/dev/null
    touch "$WORK/data-loaded"
    log "step load-data: $(took "$t0")"
}

# ---------------------------------------------------------------- online config helpers
do_loglevel() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: ds.sh loglevel N   (256, 260, 772, ...)"
    ldm >/dev/null <<EOF
dn: cn=config
changetype: modify
replace: nsslapd-accesslog-level
nsslapd-accesslog-level: $1
EOF
    log "nsslapd-accesslog-level: $1"
}

do_statlog() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: ds.sh statlog N   (0 or 1)"
    ldm >/dev/null <<EOF
dn: cn=config
changetype: modify
replace: nsslapd-statlog-level
nsslapd-statlog-level: $1
EOF
    log "nsslapd-statlog-level: $1"
}

# cn=monitor carries a built-in ACI (fedse.c) that allows read/search/compare to anyone
# for every attribute except `aci` and `connection`.  An extra ACI on cn=monitor itself
# grants `connection` to one DN.  The modify is written to dse.ldif (checked: it survives
# a restart); start re-applies it anyway when missing (idempotent).
monitor_aci() {
    printf '(targetattr = "connection")(version 3.0; acl "dirsrvbeat: %s reads monitor connections"; allow (read, search, compare) userdn = "ldap:///%s";)' "$1" "$1"
}

do_grant_monitor() {
    local dn=${1:-$MONITOR_DN} aci
    aci=$(monitor_aci "$dn")
    if ldsb -b cn=monitor -s base aci 2>/dev/null | grep -qF "$aci"; then
        echo "$aci"; return 0
    fi
    ldm >/dev/null <<EOF
dn: cn=monitor
changetype: modify
add: aci
aci: $aci
EOF
    log "granted read of cn=monitor connection to $dn"
    echo "$aci"
}

# Force a real rotation: the server renames access -> access.YYYYMMDD-HHMMSS (creation
# time of the file) when the file is >= nsslapd-accesslog-maxlogsize (MB) at the next
# write.  Set maxlogsize to 1 MB, write until the file is past 1 MB, and restore.
do_rotate() {
    ensure_running
    "$PY" "$HERE/rotate.py"
}

ensure_running() { is_running && answers || die "slapd-$INST is not running (ds.sh start)"; }

# ---------------------------------------------------------------- commands
do_stop() {
    local pid; pid=$(pid_of)
    if ! is_running; then
        [ -n "$pid" ] && rm -f "$PIDFILE"
        log "slapd-$INST not running"; return 0
    fi
    local t0; t0=$(now_ms)
    kill -TERM "$pid"
    local i n=$((STOP_TIMEOUT * 10))
    for i in $(seq 1 "$n"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still alive after ${STOP_TIMEOUT}s, SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$PIDFILE"
    log "step stop: pid $pid gone after $(took "$t0")"
}

do_create() {
    need_root
    do_install
    local fresh=0
    if [ -f "$CONF/dse.ldif" ] && [ ! -f "$WORK/created" ]; then
        log "slapd-$INST exists but was not completely created by ds.sh: removing it first"
        do_remove
    fi
    if [ ! -f "$CONF/dse.ldif" ]; then do_create_instance; fresh=1; fi
    if [ "$fresh" = 1 ] || ! data_loaded; then
        start_server
        load_sample_data
    fi
}

do_start() {
    do_create
    start_server
    # idempotent: adds the svc-monitor ACI only if it is missing
    do_grant_monitor "$MONITOR_DN" >/dev/null
    do_status
}

do_status() {
    if is_running; then
        echo "slapd-$INST: RUNNING pid=$(pid_of) $LDAP_URI $LDAPS_URI $LDAPI_URI"
        return 0
    fi
    echo "slapd-$INST: STOPPED"
    return 3
}

do_remove() {
    need_root
    do_stop
    log "removing instance slapd-$INST"
    remove_files
}

remove_files() {
    rm -rf "$CONF" "/var/lib/dirsrv/slapd-$INST" "$LOGDIR" "/run/lock/dirsrv/slapd-$INST" \
        "/dev/shm/slapd-$INST" "/dev/shm/sem.slapd-$INST.stats" "/dev/shm/slapd-$INST.stats" \
        "$LDAPI" "$WORK" "/etc/sysconfig/dirsrv-$INST" "/etc/default/dirsrv-$INST" \
        "/var/run/dirsrv/slapd-$INST.pid"
}

do_env() {
    local p=DIRSRVBEAT_DS_
    cat <<EOF
${p}INST=$INST
${p}LDAP_URL=$LDAP_URI
${p}LDAPS_URL=$LDAPS_URI
${p}LDAPI_URL='$LDAPI_URI'
${p}LDAPI_SOCKET=$LDAPI
${p}HOST=127.0.0.1
${p}PORT=$PORT
${p}SPORT=$SPORT
${p}SUFFIX='$SUFFIX'
${p}DM_DN='$DM_DN'
${p}DM_PW='$DM_PW'
${p}ACCESS_LOG=$ACCESS
${p}ERRORS_LOG=$ERRORS
${p}LOG_DIR=$LOGDIR
${p}CA_CERT=$CA_CERT
${p}CONFIG_DIR=$CONF
${p}PID_FILE=$PIDFILE
${p}MONITOR_DN='$MONITOR_DN'
${p}MONITOR_PW='svc-monitor-Pass1'
export ${p}INST ${p}LDAP_URL ${p}LDAPS_URL ${p}LDAPI_URL ${p}LDAPI_SOCKET ${p}HOST ${p}PORT ${p}SPORT ${p}SUFFIX ${p}DM_DN ${p}DM_PW ${p}ACCESS_LOG ${p}ERRORS_LOG ${p}LOG_DIR ${p}CA_CERT ${p}CONFIG_DIR ${p}PID_FILE ${p}MONITOR_DN ${p}MONITOR_PW
EOF
}

export DIRSRVBEAT_DS_INST=$INST DIRSRVBEAT_DS_PORT=$PORT DIRSRVBEAT_DS_SPORT=$SPORT \
       DIRSRVBEAT_DS_DM_PW=$DM_PW

case "${1:-}" in
    install)       do_install ;;
    create)        do_create ;;
    start)         do_start ;;
    stop)          need_root; do_stop ;;
    restart)       need_root; do_stop; do_start ;;
    status)        do_status ;;
    remove)        do_remove ;;
    logpath)       echo "$ACCESS" ;;
    env)           do_env ;;
    loglevel)      ensure_running; do_loglevel "${2:-}" ;;
    statlog)       ensure_running; do_statlog "${2:-}" ;;
    grant-monitor) ensure_running; do_grant_monitor "${2:-$MONITOR_DN}" ;;
    rotate)        do_rotate ;;
    *) echo "usage: $0 {install|create|start|stop|restart|status|remove|logpath|env|loglevel N|statlog N|grant-monitor [DN]|rotate}" >&2
       exit 2 ;;
esac
