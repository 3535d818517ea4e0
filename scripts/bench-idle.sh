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
DB_ARGS=()
if [[ $BACKEND == postgres ]]; then
  BASE_URL=${LOCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
  SCHEMA=locus_idle_$(date +%s)
  psql -q "$BASE_URL" -c "CREATE SCHEMA $SCHEMA"
  DB_ARGS=(--database-url "$BASE_URL?options=-c%20search_path%3D$SCHEMA")
fi
printf 'Idle-operator-1\n' | "$BIN" admin --data-dir "$WORK" "${DB_ARGS[@]}" create-account --email idle@example.org --name "Idle Operator" --password-stdin >/dev/null 2>&1
TOKEN=$("$BIN" admin --data-dir "$WORK" "${DB_ARGS[@]}" create-token --email idle@example.org --name idle 2>/dev/null)
LOCUS_LOG=warn,locus=info "$BIN" serve --data-dir "$WORK" "${DB_ARGS[@]}" --listen 127.0.0.1:0 2>"$WORK/server.log" &
SERVER_PID=$!
ADDR=$(listening_address "$WORK/server.log" "$SERVER_PID")
BEARER=$(bearer_for "http://$ADDR" "$TOKEN")
curl -sf -X POST "http://$ADDR/rest/projects" -H "Authorization: Bearer $BEARER" -H 'content-type: application/json' -d '{"title":"Idle"}' >/dev/null
sleep 1
ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
HZ=$(getconf CLK_TCK)
BEFORE=$(ticks)
sleep "$IDLE"
AFTER=$(ticks)
python3 -c "t=($AFTER-$BEFORE)/$HZ; print(f'backend=$BACKEND idle {$IDLE} s: {t:.2f} CPU s, {t*60/$IDLE:.3f} CPU s per minute')"
