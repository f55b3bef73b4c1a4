#!/usr/bin/env bash
# Re-record logconv.pl's reports on the real sample log (needs 389-ds-base: bash scripts/ds/ds.sh install).
# tests/unit/test_report_logconv.py compares dirsrvbeat's report with these files, so it needs no logconv.
set -euo pipefail
cd "$(dirname "$0")/../samples"
out=../logconv
logconv access.full.log > "$out/access.full.logconv.txt" 2>&1
logconv -V access.full.log > "$out/access.full.logconv-V.txt" 2>&1
{ logconv -v 2>&1 | head -1; dpkg-query -W -f '389-ds-base ${Version}\n' 389-ds-base; } > "$out/VERSION"
