#!/bin/sh
# every SECONDS COMMAND [ARG...]: run COMMAND, wait SECONDS, again, forever (the compose shipper's
# schedule). A failing run is logged and retried at the next tick; exit 75 (another run holds the
# lock) is not a failure. SIGTERM stops the loop between runs.
set -u
interval=$1
shift
trap 'exit 0' TERM INT
while :; do
    "$@"
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 75 ]; then
        echo "every: '$*' exited $rc; next try in ${interval}s" >&2
    fi
    sleep "$interval" &
    wait $!
done
