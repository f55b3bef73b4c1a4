#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian bookworm machine and run them:
# unit tests, and integration tests against a real 389 DS and the real Elasticsearch matrix
# (started on demand by the pytest fixtures, on 127.0.0.1). Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m unit` for the unit tests alone (seconds, no server).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv || { apt-get update -qq && apt-get install -y -qq python3-venv && "$PY" -m venv .venv; }
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
backend=${DIRSRVBEAT_BACKEND:-local}
case " $* " in *" --backend testcontainers "*|*" --backend=testcontainers "*) backend=testcontainers ;; esac
if [ "$backend" = testcontainers ]; then
    .venv/bin/pip install -q -e '.[dev,testcontainers]'
else
    .venv/bin/pip install -q -e '.[dev]'
fi

# the optional compiled engine (rust/): its equivalence tests skip with a reason when it is absent
if command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ]; then
    bash rust/build.sh || echo "scripts/test.sh: rust/build.sh failed: the Python engine alone is tested" >&2
fi

wants_integration=1
[ "$backend" = testcontainers ] && wants_integration=0  # Docker provides the servers
case " $* " in *" -m unit "*|*"-m unit"*) wants_integration=0 ;; esac
if [ "$wants_integration" = 1 ]; then
    if [ "${DIRSRVBEAT_DS:-}" != none ]; then
        bash scripts/ds/ds.sh install
    fi
    # headless Chromium renders the HTML report in its integration test
    command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || true
    if [ "${DIRSRVBEAT_ES_VERSIONS:-}" != none ] && [ -x scripts/es/install-prereqs.sh ]; then
        bash scripts/es/install-prereqs.sh
        # fetch the matrix once (Maven cache in ~/.m2); the fixtures start each server on demand
        versions=${DIRSRVBEAT_ES_VERSIONS:-all}
        if [ "$versions" = all ]; then
            bash scripts/es/es.sh fetch all
        else
            for key in ${versions//,/ }; do bash scripts/es/es.sh fetch "$key"; done
        fi
    fi
fi

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when a selection holds no tests: not a failure of the suite
[ "$rc" = 5 ] && rc=0
exit "$rc"
