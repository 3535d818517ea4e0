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

DB_ARGS=()
if [[ $BACKEND == postgres ]]; then
  BASE_URL=${LOCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
  SCHEMA=locus_bench_$(date +%s)
  psql -q "$BASE_URL" -c "CREATE SCHEMA $SCHEMA"
  DB_ARGS=(--database-url "$BASE_URL?options=-c%20search_path%3D$SCHEMA")
fi

printf 'Bench-operator-1\n' | "$BIN" admin --data-dir "$WORK" "${DB_ARGS[@]}" create-account --email bench@example.org --name "Bench Operator" --password-stdin >/dev/null 2>&1
TOKEN=$("$BIN" admin --data-dir "$WORK" "${DB_ARGS[@]}" create-token --email bench@example.org --name bench 2>/dev/null)
LOCUS_LOG=warn,locus=info "$BIN" serve --data-dir "$WORK" "${DB_ARGS[@]}" --listen 127.0.0.1:0 2>"$WORK/server.log" &
SERVER_PID=$!
ADDR=$(listening_address "$WORK/server.log" "$SERVER_PID")
BASE="http://$ADDR"
BEARER=$(bearer_for "$BASE" "$TOKEN")
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
