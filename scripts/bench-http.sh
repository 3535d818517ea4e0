#!/usr/bin/env bash
# Throughput of endpoints on a running release server, measured with wrk from a
# second process on loopback, each as a fraction of GET /healthz in the same run.
#
# Usage: scripts/bench-http.sh sqlite|postgres [SECONDS]
# Needs wrk (apt-get install wrk) and, for postgres, the server at
# LOCUS_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test; a
# fresh schema is made for the run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
BACKEND=${1:?usage: $0 sqlite|postgres [SECONDS]}
SECONDS_EACH=${2:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-32}

# LOCUS_BIN=path/to/locus measures another build (say, an older commit's).
if [[ -z ${LOCUS_BIN:-} ]]; then
  cargo build --release --locked -p locus >/dev/null
fi
BIN=${LOCUS_BIN:-target/release/locus}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/locus-bench.XXXXXX")
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start_bench_server "$BACKEND" "$WORK" "$BIN"
PROJECT=$(curl -sf -X POST "$BASE/rest/projects" -H "Authorization: Bearer $BEARER" -H 'content-type: application/json' \
  -d '{"title":"Bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

rps() { # path [auth]
  local args=(-t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency)
  [[ ${2:-} == auth ]] && args+=(-H "Authorization: Bearer $BEARER")
  wrk "${args[@]}" "$BASE$1" | tee -a "$WORK/wrk.log" | awk '/Requests\/sec/ {print $2}'
}

echo "backend=$BACKEND connections=$CONNECTIONS seconds=$SECONDS_EACH"
HEALTH=$(rps /healthz)
echo "GET /healthz                    $HEALTH req/s"
CURRENT=$(rps /rest/accounts/current auth)
echo "GET /rest/accounts/current  $CURRENT req/s  ratio $(python3 -c "print(round($CURRENT/$HEALTH, 3))")"
for path in "/rest/projects/$PROJECT" ${BENCH_PATHS:-}; do
  R=$(rps "$path" auth)
  echo "GET $path  $R req/s  ratio $(python3 -c "print(round($R/$HEALTH, 3))")"
done
grep -E 'Latency|50%|99%' "$WORK/wrk.log" | sed 's/^/  /'
