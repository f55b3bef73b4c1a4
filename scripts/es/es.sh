#!/usr/bin/env bash
# Real Elasticsearch servers for dirsrvbeat's tests, without Docker: everything comes from Maven Central.
#
# usage: scripts/es/es.sh COMMAND [KEY|all]
#   fetch   KEY|all  download (mvn -q, cached in ~/.m2) and unpack under the work dir; idempotent
#   start   KEY      fetch if needed, start on 127.0.0.1:<port>, wait for _cluster/health yellow (no-op if running);
#                    prints the URL on stdout
#   stop    KEY|all  SIGTERM by pid, SIGKILL after DIRSRVBEAT_ES_STOP_TIMEOUT (60 s); no-op if not running
#   restart KEY
#   acquire KEY OWNER_PID       start (as start) and take a lease for OWNER_PID (the test session's pid)
#   release KEY OWNER_PID [keep] drop the lease; stop the server when no live lease remains and a lease
#                               launched it (a server started with `start` is never stopped by release)
#   status  KEY|all  exit 0 = running and healthy, 3 = stopped, 1 = running but not healthy
#   url     KEY      print http://127.0.0.1:<port>
#   wipe    KEY|all  stop, then delete data and logs (keeps the fetched server)
#   logs    KEY      tail of the console and server logs
#   java    KEY      print the JAVA_HOME that KEY would use
#   list             print the matrix (scripts/es/versions.env) with the Java found for each key
# KEY is a key of scripts/es/versions.env (6.8, 7.10, 7.17, 8, 9).
#
# Environment:
#   DIRSRVBEAT_ES_WORK           work root (default /var/tmp/dirsrvbeat-es); per key: <root>/<key>/{dist,lib,config,data,logs,tmp,run}
#   DIRSRVBEAT_ES_USER           system user that runs the distributions when invoked as root (default dirsrvbeat-es)
#   DIRSRVBEAT_ES_HEAP           heap size (default 512m -> -Xms512m -Xmx512m)
#   DIRSRVBEAT_ES_START_TIMEOUT  seconds to wait for health yellow (default 180)
#   DIRSRVBEAT_ES_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 60)
#   DIRSRVBEAT_ES_JAVA_HOMES     extra JDK homes to consider first (colon-separated)
#   DIRSRVBEAT_ES_MVN_OPTS       extra Maven options, e.g. -Dmaven.repo.local=/tmp/m2-fresh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSIONS_FILE="$HERE/versions.env"
WORK_ROOT=${DIRSRVBEAT_ES_WORK:-/var/tmp/dirsrvbeat-es}
ES_USER=${DIRSRVBEAT_ES_USER:-dirsrvbeat-es}
HEAP=${DIRSRVBEAT_ES_HEAP:-512m}
START_TIMEOUT=${DIRSRVBEAT_ES_START_TIMEOUT:-180}
STOP_TIMEOUT=${DIRSRVBEAT_ES_STOP_TIMEOUT:-60}
MVN=${DIRSRVBEAT_MVN:-mvn}
read -r -a MVN_OPTS <<<"${DIRSRVBEAT_ES_MVN_OPTS:-}"

KEY=""
die() { echo "es.sh${KEY:+[$KEY]}: ERROR: $*" >&2; exit 1; }
say() { echo "es.sh${KEY:+[$KEY]}: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

all_keys() { awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$VERSIONS_FILE"; }

load_key() {
  KEY=$1
  local line
  line=$(awk -v k="$KEY" '!/^[[:space:]]*(#|$)/ && $1 == k' "$VERSIONS_FILE")
  [ -n "$line" ] || { local k=$KEY; KEY=""; die "unknown key '$k' (known: $(all_keys | tr '\n' ' '))"; }
  read -r _ VERSION ROUTE PORT JAVA_RANGE WORKS <<<"$line"
  TPORT=$((PORT + 100))
  URL="http://127.0.0.1:$PORT"
  W="$WORK_ROOT/$KEY"
  CONF="$W/config"; DATA="$W/data"; LOGS="$W/logs"; TMPD="$W/tmp"; RUN="$W/run"
  PIDFILE="$RUN/es.pid"; CONSOLE="$LOGS/console.log"
  CLUSTER="dirsrvbeat-es-${KEY//./}"
  case $ROUTE in
    dist)   DIST_GROUP=org.elasticsearch.distribution.zip ;;
    itz)    DIST_GROUP=org.elasticsearch.distribution.integ-test-zip ;;
    runner) DIST_GROUP="" ;;
    *) die "bad route '$ROUTE' in $VERSIONS_FILE" ;;
  esac
  ES_HOME_DIR="$W/dist/elasticsearch-$VERSION"
  LIB="$W/lib/runner-$VERSION"
}

# ---------------------------------------------------------------- java
java_major() {  # JAVA_HOME -> feature release (8, 11, 17, 21, 25 ...)
  local h=$1 v=""
  [ -x "$h/bin/java" ] || return 1
  if [ -f "$h/release" ]; then v=$(sed -n 's/^JAVA_VERSION="\(.*\)"/\1/p' "$h/release"); fi
  [ -n "$v" ] || v=$("$h/bin/java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -1)
  case $v in 1.*) v=${v#1.} ;; esac
  echo "${v%%[.+-]*}"
}

java_candidates() {
  local IFS=:
  for h in ${DIRSRVBEAT_ES_JAVA_HOMES:-}; do [ -n "$h" ] && echo "$h"; done
  [ -n "${JAVA_HOME:-}" ] && echo "$JAVA_HOME"
  unset IFS
  for h in /usr/lib/jvm/* "$WORK_ROOT"/jdk/*; do [ -d "$h" ] && echo "$h"; done
  return 0
}

find_java() {  # echo the JAVA_HOME with the lowest feature release inside JAVA_RANGE
  local min=${JAVA_RANGE%-*} max=${JAVA_RANGE#*-} best="" bestm=999 h m r seen=" "
  [ -n "$max" ] || max=999
  while read -r h; do
    r=$(readlink -f "$h" 2>/dev/null) || continue
    case $seen in *" $r "*) continue ;; esac
    seen="$seen$r "
    m=$(java_major "$r" 2>/dev/null) || continue
    [ -n "$m" ] || continue
    if [ "$m" -ge "$min" ] && [ "$m" -le "$max" ] && [ "$m" -lt "$bestm" ]; then best=$r; bestm=$m; fi
  done < <(java_candidates)
  [ -n "$best" ] || return 1
  echo "$best"
}

java_range_text() { case $JAVA_RANGE in *-) echo "${JAVA_RANGE%-} or later" ;; *) echo "${JAVA_RANGE/-/ to }" ;; esac; }

need_java() {
  JH=$(find_java) || die "Elasticsearch $VERSION needs Java $(java_range_text); none found in \
DIRSRVBEAT_ES_JAVA_HOMES, JAVA_HOME, /usr/lib/jvm/*, $WORK_ROOT/jdk/*. Run scripts/es/install-prereqs.sh"
  JMAJOR=$(java_major "$JH")
}

# ---------------------------------------------------------------- fetch
no_ansi() { sed 's/\x1b\[[0-9;]*m//g'; }
fetch() {
  mkdir -p "$W"; chmod 755 "$WORK_ROOT" "$W" 2>/dev/null || true
  local t0; t0=$(now)
  if [ "$ROUTE" = runner ]; then
    if [ -f "$LIB/.ok" ] && [ -f "$W/lib/launcher/DirsrvbeatEsRunner.class" ] \
       && [ "$W/lib/launcher/DirsrvbeatEsRunner.class" -nt "$HERE/runner/DirsrvbeatEsRunner.java" ]; then
      return 0
    fi
    command -v "$MVN" >/dev/null || die "maven not found; run scripts/es/install-prereqs.sh"
    need_java
    if [ ! -f "$LIB/.ok" ]; then
      say "fetching org.codelibs:elasticsearch-cluster-runner:$VERSION.0 (Maven Central)"
      rm -rf "$LIB.tmp"
      "$MVN" -q -B -Dstyle.color=never "${MVN_OPTS[@]}" -f "$HERE/maven/es-runner.xml" dependency:copy-dependencies \
        -Drunner.version="$VERSION.0" -Des.lib="$LIB.tmp" 2>&1 | no_ansi >&2 || die "mvn failed for runner $VERSION.0"
      [ -f "$LIB.tmp/elasticsearch-$VERSION.jar" ] || die "runner deps lack elasticsearch-$VERSION.jar"
      rm -rf "$LIB"; mv "$LIB.tmp" "$LIB"; touch "$LIB/.ok"
    fi
    # the launcher: fixed HTTP port (see runner/DirsrvbeatEsRunner.java)
    rm -rf "$W/lib/launcher"; mkdir -p "$W/lib/launcher"
    if [ -x "$JH/bin/javac" ]; then
      "$JH/bin/javac" -nowarn -d "$W/lib/launcher" -cp "$LIB/*" "$HERE/runner/DirsrvbeatEsRunner.java" >&2 \
        || die "javac failed for the runner launcher"
    else
      die "no javac in $JH (install openjdk-17-jdk-headless: scripts/es/install-prereqs.sh)"
    fi
  else
    [ -f "$ES_HOME_DIR/.ok" ] && return 0
    command -v "$MVN" >/dev/null || die "maven not found; run scripts/es/install-prereqs.sh"
    say "fetching $DIST_GROUP:elasticsearch:$VERSION:zip (Maven Central)"
    rm -rf "$W/dist.tmp"
    "$MVN" -q -B -Dstyle.color=never "${MVN_OPTS[@]}" -f "$HERE/maven/es-dist.xml" dependency:unpack-dependencies \
      -Ddist.group="$DIST_GROUP" -Ddist.version="$VERSION" -Dout.dir="$W/dist.tmp" \
      -DmarkersDirectory="$W/dist.tmp/.markers" 2>&1 | no_ansi >&2 \
      || die "mvn failed for $DIST_GROUP:elasticsearch:$VERSION:zip"
    [ -x "$W/dist.tmp/elasticsearch-$VERSION/bin/elasticsearch" ] || die "unpacked zip has no bin/elasticsearch"
    mkdir -p "$W/dist"
    # keep only the current version
    find "$W/dist" -mindepth 1 -maxdepth 1 -name 'elasticsearch-*' -exec rm -rf {} +
    mv "$W/dist.tmp/elasticsearch-$VERSION" "$ES_HOME_DIR"; rm -rf "$W/dist.tmp"
    chmod -R go+rX "$ES_HOME_DIR"
    touch "$ES_HOME_DIR/.ok"
  fi
  say "fetched in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------- process helpers
read_pid() { [ -f "$PIDFILE" ] && tr -dc '0-9' <"$PIDFILE" || true; }

ours() {  # pid is alive and is the JVM we started for this key
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$W/" || return 1
}

running_pid() { local p; p=$(read_pid); if ours "$p"; then echo "$p"; else return 1; fi; }

port_open() { # 0 if something accepts connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

healthy() {
  curl -fsS --max-time 40 "$URL/_cluster/health?wait_for_status=yellow&timeout=${1:-1s}" >/dev/null 2>&1
}

rss_mb() { awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

log_tail() {  # last N lines of the console and server logs, long lines cut at 600 characters
  local f
  for f in "$CONSOLE" "$LOGS/$CLUSTER.log"; do
    [ -s "$f" ] || continue
    echo "----- tail -n ${1:-40} $f" >&2
    tail -n "${1:-40}" "$f" | cut -c1-600 >&2
  done
}

with_lock() {  # serialise start/stop/wipe for one key (parallel pytest workers, several shells)
  mkdir -p "$W"; chmod 755 "$WORK_ROOT" "$W" 2>/dev/null || true
  exec 9>"$W/.lock"
  flock -w "$((START_TIMEOUT + STOP_TIMEOUT + 600))" 9 || die "could not lock $W/.lock"
}

ensure_user() {
  RUN_AS=()
  [ "$(id -u)" -eq 0 ] || return 0
  if ! id "$ES_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER" \
      || die "could not create system user $ES_USER"
    say "created system user $ES_USER"
  fi
  RUN_AS=(runuser -u "$ES_USER" --)
}

# ---------------------------------------------------------------- config
write_config() {
  mkdir -p "$CONF" "$DATA" "$LOGS" "$TMPD" "$RUN"
  if [ "$ROUTE" != runner ]; then
    # pristine copy of the distribution's config (once: ES writes its keystore there), then our files
    if [ ! -f "$CONF/.from-$VERSION" ]; then
      rm -rf "$CONF"; cp -r "$ES_HOME_DIR/config" "$CONF"; touch "$CONF/.from-$VERSION"
    fi
    # jvm.options: relative log/heap-dump paths resolve against ES_HOME or the cwd -> make them absolute
    sed -e "s#file=logs/gc.log#file=$LOGS/gc.log#; s#file=gc.log#file=$LOGS/gc.log#" \
        -e "s#^\([0-9-]*:\)\{0,1\}-Xloggc:logs/gc.log#\1-Xloggc:$LOGS/gc.log#" \
        -e "s#HeapDumpPath=data#HeapDumpPath=$TMPD#" \
        -e "s#ErrorFile=logs/hs_err#ErrorFile=$LOGS/hs_err#; s#ErrorFile=hs_err#ErrorFile=$LOGS/hs_err#" \
        -e "s#^-Xms.*#-Xms$HEAP#; s#^-Xmx.*#-Xmx$HEAP#" \
        "$ES_HOME_DIR/config/jvm.options" >"$CONF/jvm.options"
  fi
  {
    echo "# written by scripts/es/es.sh on every start"
    echo "cluster.name: $CLUSTER"
    echo "node.name: es-$KEY"
    echo "network.host: 127.0.0.1"
    echo "http.port: $PORT"
    echo "transport.port: $TPORT"
    echo "discovery.type: single-node"
    echo "path.data: $DATA"
    echo "path.logs: $LOGS"
    echo "cluster.routing.allocation.disk.threshold_enabled: false"
    case $ROUTE in
      dist)   echo "xpack.security.enabled: false"
              echo "xpack.ml.enabled: false"      # no native controller process
              echo "xpack.watcher.enabled: false" ;;
      itz)    echo "xpack.security.enabled: false" ;;
      runner) : ;;
    esac
  } >"$CONF/elasticsearch.yml"
  if [ "${#RUN_AS[@]}" -gt 0 ]; then
    chown -R "$ES_USER:" "$CONF" "$DATA" "$LOGS" "$TMPD" "$RUN"
    chown root: "$W"; chmod 755 "$W"
    "${RUN_AS[@]}" test -x "$ES_HOME_DIR/bin/elasticsearch" -a -w "$DATA" 2>/dev/null \
      || die "user $ES_USER cannot reach $W (every parent directory must be world-traversable); \
set DIRSRVBEAT_ES_WORK to e.g. /var/tmp/dirsrvbeat-es"
  fi
}

# ---------------------------------------------------------------- start / stop
launch() {
  : >"$CONSOLE"
  [ "${#RUN_AS[@]}" -gt 0 ] && chown "$ES_USER:" "$CONSOLE"
  rm -f "$PIDFILE"
  if [ "$ROUTE" = runner ]; then
    # in-process node; the root check lives in Bootstrap, which the runner bypasses -> may run as root
    cd "$W"
    setsid "$JH/bin/java" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
      -Des.distribution.flavor=default -Des.distribution.type=tar -Djava.locale.providers=SPI,COMPAT \
      -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0 \
      -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
      -Djava.io.tmpdir="$TMPD" -Ddirsrvbeat.es.work="$W/" \
      -cp "$W/lib/launcher:$LIB/*" DirsrvbeatEsRunner \
      -basePath "$W/home" -confPath "$CONF" -dataPath "$DATA" -logsPath "$LOGS" \
      -numOfNode 1 -baseHttpPort $((PORT - 1)) -clusterName "$CLUSTER" -printOnFailure \
      </dev/null >>"$CONSOLE" 2>&1 9>&- &
    echo $! >"$PIDFILE"
  else
    cd "$W"
    # bin/elasticsearch refuses root -> RUN_AS (runuser) when we are root
    if ! "${RUN_AS[@]}" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME="$TMPD" LANG=C.UTF-8 JAVA_HOME="$JH" ES_JAVA_HOME="$JH" ES_PATH_CONF="$CONF" ES_TMPDIR="$TMPD" \
        ES_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP" \
        "$ES_HOME_DIR/bin/elasticsearch" -d -p "$PIDFILE" </dev/null >>"$CONSOLE" 2>&1 9>&-; then
      say "bin/elasticsearch -d failed"
      log_tail 40
      return 1
    fi
  fi
}

start() { with_lock; start_locked manual; }

# mode manual: `es.sh start` -- the server stays up until `es.sh stop`
# mode lease : `es.sh acquire` -- stopped by the last `es.sh release` if this call launched it
start_locked() {
  local mode=$1 pid
  need_java
  if pid=$(running_pid); then
    [ "$mode" = manual ] && rm -f "$RUN/auto-stop"
    if healthy 30s; then say "already running (pid $pid) at $URL"; echo "$URL"; return 0; fi
    say "running (pid $pid) but not healthy yet; waiting"
  else
    if port_open "$PORT" || port_open "$TPORT"; then
      die "port $PORT or $TPORT on 127.0.0.1 is taken by a process that es.sh did not start from $W"
    fi
    fetch
    if [ "$ROUTE" = runner ]; then RUN_AS=(); else ensure_user; fi
    write_config
    if [ "$mode" = lease ]; then touch "$RUN/auto-stop"; else rm -f "$RUN/auto-stop"; fi
    rm -rf "$RUN/leases"
    say "starting Elasticsearch $VERSION ($ROUTE) on $URL with Java $JMAJOR ($JH), heap $HEAP"
    T0=$(now)
    launch || { stop_pid; exit 1; }
  fi
  local deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    pid=$(read_pid)
    if healthy 1s; then break; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      say "process $pid died during start-up"; log_tail 40; rm -f "$PIDFILE"; exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "not healthy after $START_TIMEOUT s"; log_tail 40; stop_pid; exit 1
    fi
    sleep 0.5
  done
  pid=$(read_pid)
  # the node on the port must be the version we meant (GET / is missing on >= 8.9 integ-test-zip)
  local got
  got=$(curl -fsS --max-time 10 "$URL/_nodes/_local?filter_path=nodes.*.version" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p')
  if [ "$got" != "$VERSION" ]; then
    say "node on $URL reports version '$got', expected $VERSION"; stop_pid; exit 1
  fi
  local secs="?"; [ -n "${T0:-}" ] && secs=$(elapsed "$T0")
  echo "key=$KEY version=$VERSION pid=$pid java=$JMAJOR start_seconds=$secs rss_mb=$(rss_mb "$pid") at=$(date -Is)" \
    >"$RUN/last-start"
  say "up: Elasticsearch $VERSION pid $pid, $secs s to health yellow, RSS $(rss_mb "$pid") MB, $URL"
  echo "$URL"
}

stop_pid() {
  local pid; pid=$(read_pid)
  if ! ours "$pid"; then
    rm -f "$PIDFILE"
    if port_open "$PORT"; then say "not running from $W, but something answers on port $PORT (left alone)"; fi
    return 0
  fi
  local t0; t0=$(now)
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$(( $(date +%s) + STOP_TIMEOUT ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "pid $pid still alive after $STOP_TIMEOUT s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    sleep 0.2
  done
  rm -f "$PIDFILE"
  say "stopped pid $pid in $(elapsed "$t0") s"
}

stop() { with_lock; stop_pid; rm -rf "$RUN/leases" "$RUN/auto-stop"; }

# leases: several test sessions may share one server; the last release stops it, but only if a lease
# (not a manual `es.sh start`) launched it. OWNER is a pid (pytest's); leases of dead pids are ignored.
live_leases() {
  local f n=0
  for f in "$RUN"/leases/*; do
    [ -e "$f" ] || continue
    if kill -0 "${f##*/}" 2>/dev/null; then n=$((n + 1)); else rm -f "$f"; fi
  done
  echo "$n"
}

acquire() {
  local owner=$1
  with_lock
  start_locked lease
  mkdir -p "$RUN/leases"; : >"$RUN/leases/$owner"
}

release() {
  local owner=$1 keep=${2:-}
  with_lock
  rm -f "$RUN/leases/$owner"
  local n; n=$(live_leases)
  if [ "$n" -gt 0 ]; then say "still leased by $n other session(s): left running"; return 0; fi
  if [ ! -f "$RUN/auto-stop" ]; then say "started by hand (es.sh start): left running"; return 0; fi
  if [ "$keep" = keep ]; then say "DIRSRVBEAT_ES_KEEP: left running"; rm -f "$RUN/auto-stop"; return 0; fi
  stop_pid; rm -f "$RUN/auto-stop"
}

status() {
  local pid
  if pid=$(running_pid); then
    local h
    h=$(curl -fsS --max-time 5 "$URL/_cluster/health?filter_path=status" 2>/dev/null | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
    echo "$KEY $VERSION running pid=$pid rss_mb=$(rss_mb "$pid") health=${h:-none} url=$URL"
    [ -n "$h" ] && [ "$h" != red ] && return 0 || return 1
  fi
  echo "$KEY $VERSION stopped url=$URL"
  return 3
}

wipe() {
  with_lock; stop_pid
  rm -rf "$DATA" "$LOGS" "$TMPD" "$RUN" "$CONF" "$W/home"
  say "wiped data/logs/config under $W"
}

list() {
  printf '%-5s %-8s %-6s %-6s %-6s %-5s %-8s %s\n' key version route port java works fetched java_home
  local k
  for k in $(all_keys); do
    load_key "$k"
    local jh fetched=no
    jh=$(find_java) || jh="(none for $JAVA_RANGE)"
    if [ "$ROUTE" = runner ]; then [ -f "$LIB/.ok" ] && fetched=yes; else [ -f "$ES_HOME_DIR/.ok" ] && fetched=yes; fi
    printf '%-5s %-8s %-6s %-6s %-6s %-5s %-8s %s\n' "$k" "$VERSION" "$ROUTE" "$PORT" "$JAVA_RANGE" "$WORKS" "$fetched" "$jh"
  done
  KEY=""
}

# ---------------------------------------------------------------- main
CMD=${1:-}; ARG=${2:-}
case $CMD in
  list) list; exit 0 ;;
  fetch|start|stop|restart|status|url|wipe|logs|java|acquire|release) ;;
  ""|-h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown command '$CMD' (fetch|start|stop|restart|status|url|wipe|logs|java|list|acquire|release)" ;;
esac
[ -n "$ARG" ] || die "usage: es.sh $CMD KEY (keys: $(all_keys | tr '\n' ' '))"

if [ "$ARG" = all ]; then
  case $CMD in fetch|stop|status|wipe) ;; *) die "'all' only for fetch|stop|status|wipe" ;; esac
  rc=0
  for k in $(all_keys); do
    "$0" "$CMD" "$k" || rc=$?
  done
  exit $rc
fi

load_key "$ARG"
case $CMD in
  fetch)   fetch ;;
  start)   start ;;
  stop)    stop ;;
  restart) stop; exec 9>&-; exec "$0" start "$KEY" ;;
  acquire) acquire "${3:?owner pid}" ;;
  release) release "${3:?owner pid}" "${4:-}" ;;
  status)  status ;;
  url)     echo "$URL" ;;
  wipe)    wipe ;;
  logs)    log_tail 100 ;;
  java)    need_java; echo "$JH" ;;
esac
