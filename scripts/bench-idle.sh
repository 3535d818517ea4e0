#!/usr/bin/env bash
# CPU time an idle server uses: starts a release `locus serve` on a fresh SQLite
# data directory (or PostgreSQL), makes one change so that every background
# thread has started, then reads the process's user+system CPU time from
# /proc over SECONDS_IDLE seconds in which nothing talks to it.
#
# Usage: scripts/bench-idle.sh [sqlite|postgres] [SECONDS_IDLE]   (default sqlite 60)
# LOCUS_BIN=path/to/locus skips the build (to measure another build of the server).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
BACKEND=${1:-sqlite}
IDLE=${2:-60}
if [[ -z ${LOCUS_BIN:-} ]]; then
  cargo build --release --locked -p locus >/dev/null
fi
BIN=${LOCUS_BIN:-target/release/locus}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/locus-idle.XXXXXX")
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
start_bench_server "$BACKEND" "$WORK" "$BIN"
curl -sf -X POST "$BASE/rest/projects" -H "Authorization: Bearer $BEARER" -H 'content-type: application/json' -d '{"title":"Idle"}' >/dev/null
sleep 1
ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
HZ=$(getconf CLK_TCK)
BEFORE=$(ticks)
sleep "$IDLE"
AFTER=$(ticks)
python3 -c "t=($AFTER-$BEFORE)/$HZ; print(f'backend=$BACKEND idle {$IDLE} s: {t:.2f} CPU s, {t*60/$IDLE:.3f} CPU s per minute')"
