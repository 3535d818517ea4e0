#!/usr/bin/env bash
# What the audit event adds to the latency of the change it records, as a
# client sees it: `PUT /rest/projects/{id}/members/{membershipId}` (a role
# change, VIEWER and EDITOR in turn) against two release servers on the same
# backend: the same binary, but the second one's database drops every event
# (a trigger on SQLite, a rule on PostgreSQL, installed here: no switch for
# benchmarks lives in the server). So the difference is what the event's rows
# cost in the database; building and sending the INSERT is in both. One connection (latency, not
# throughput), the two servers measured alternately for MEASURE_ROUNDS rounds of
# MEASURE_SECONDS each, after a warm-up; the table gives the median of the
# rounds' mean and p50 latency, and the ratio with/without.
#
# Usage: scripts/bench-audit-http.sh sqlite|postgres|all
# Environment: MEASURE_SECONDS (5), MEASURE_ROUNDS (6), LOCUS_BENCH_POSTGRES_URL,
# LOCUS_BIN (a prebuilt server to measure instead of this tree's release build).
# Needs wrk, curl, python3, psql (postgres).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
MODE=${1:-all}
case $MODE in
  sqlite) BACKENDS=(sqlite) ;;
  postgres) BACKENDS=(postgres) ;;
  all) BACKENDS=(sqlite postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|all]" >&2; exit 2 ;;
esac
SECONDS_EACH=${MEASURE_SECONDS:-5}
ROUNDS=${MEASURE_ROUNDS:-6}
PG_URL=${LOCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

# LOCUS_BIN=path/to/locus measures another build (say, an older commit's).
if [[ -z ${LOCUS_BIN:-} ]]; then
  cargo build --release --locked -p locus >/dev/null
fi
declare -A BIN=([with]=${LOCUS_BIN:-target/release/locus} [without]=${LOCUS_BIN:-target/release/locus})

WORK=$(mktemp -d "${TMPDIR:-/tmp}/locus-audit-http.XXXXXX")
PIDS=()
SCHEMAS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for s in "${SCHEMAS[@]}"; do psql -q "$PG_URL" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS=$WORK/results.tsv
: >"$RESULTS"

cat >"$WORK/put.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local role = (n % 2 == 0) and "EDITOR" or "VIEWER"
  return wrk.format("PUT", nil, nil, '{"role":"' .. role .. '","status":"ENABLED"}')
end
LUA

for BACKEND in "${BACKENDS[@]}"; do
  declare -A URL=() BEARER=() LOG=()
  for kind in with without; do
    data=$WORK/$BACKEND-$kind
    mkdir -p "$data"
    db=()
    if [[ $BACKEND == postgres ]]; then
      schema=locus_audit_http_$$_$kind
      SCHEMAS+=("$schema")
      psql -q "$PG_URL" -c "CREATE SCHEMA $schema" >/dev/null
      db=(--database-url "$PG_URL?options=-c%20search_path%3D$schema")
    fi
    printf 'Bench-operator-1\n' | "${BIN[$kind]}" admin --data-dir "$data" "${db[@]}" create-account \
      --email bench@example.org --name "Bench Operator" --password-stdin >/dev/null 2>&1
    token=$("${BIN[$kind]}" admin --data-dir "$data" "${db[@]}" create-token --email bench@example.org --name bench 2>/dev/null)
    printf 'Bench-member-1\n' | "${BIN[$kind]}" admin --data-dir "$data" "${db[@]}" create-account \
      --email member@example.org --name "Bench Member" --password-stdin >/dev/null 2>&1
    if [[ $kind == without ]]; then
      if [[ $BACKEND == postgres ]]; then
        psql -q "$PG_URL?options=-c%20search_path%3D$schema" -c "CREATE RULE bench_drop_events AS ON INSERT TO audit_events DO INSTEAD NOTHING" >/dev/null
      else
        python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("CREATE TRIGGER bench_drop_events BEFORE INSERT ON audit_events BEGIN SELECT RAISE(IGNORE); END"); c.commit()' "$data/locus.db"
      fi
    fi
    LOCUS_LOG=warn,locus=info "${BIN[$kind]}" serve --data-dir "$data" "${db[@]}" --listen 127.0.0.1:0 2>"$data/server.log" &
    PIDS+=($!)
    addr=$(listening_address "$data/server.log" "${PIDS[-1]}")
    base=http://$addr
    bearer=$(bearer_for "$base" "$token")
    pid=$(curl -sf -X POST "$base/rest/projects" -H "Authorization: Bearer $bearer" -H 'content-type: application/json' -d '{"title":"Bench"}' |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    mid=$(curl -sf -X POST "$base/rest/projects/$pid/members" -H "Authorization: Bearer $bearer" -H 'content-type: application/json' \
      -d '{"email":"member@example.org","role":"VIEWER"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    URL[$kind]="$base/rest/projects/$pid/members/$mid"
    LOG[$kind]="$base/rest/auditlog?projectId=$pid&eventTypes=update_membership"
    BEARER[$kind]=$bearer
  done
  # Sanity: the normal server writes the event, the other does not.
  for kind in with without; do
    wrk -t1 -c1 -d2s -s "$WORK/put.lua" -H "Authorization: Bearer ${BEARER[$kind]}" -H 'content-type: application/json' "${URL[$kind]}" >/dev/null
    events=$(curl -sf -H "Authorization: Bearer ${BEARER[$kind]}" "${LOG[$kind]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["content"]))')
    echo "$BACKEND $kind: $events update_membership events after the warm-up" >&2
    if [[ $kind == with ]]; then (( events > 0 )) || exit 1; else (( events == 0 )) || exit 1; fi
  done
  for round in $(seq 1 "$ROUNDS"); do
    for kind in with without; do
      out=$(wrk -t1 -c1 -d"${SECONDS_EACH}s" --latency -s "$WORK/put.lua" -H "Authorization: Bearer ${BEARER[$kind]}" \
        -H 'content-type: application/json' "${URL[$kind]}")
      non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
      [[ -z $non2xx ]] || { echo "$BACKEND $kind: $non2xx non-2xx answers" >&2; exit 1; }
      mean=$(awk '$1 == "Latency" {print $2; exit}' <<<"$out")
      p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      printf '%s\t%s\t%s\t%s\t%s\n' "$BACKEND" "$kind" "$mean" "$p50" "$rps" >>"$RESULTS"
      echo "$BACKEND $kind round $round: mean $mean p50 $p50 $rps req/s" >&2
    done
  done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
def ms(v):
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)
rows = {}
for line in open(sys.argv[1]):
    backend, kind, mean, p50, rps = line.rstrip("\n").split("\t")
    rows.setdefault(backend, {}).setdefault(kind, []).append((ms(mean), ms(p50), float(rps)))
print(f"{'backend':9} {'mean with':>10} {'mean w/o':>9} {'p50 with':>9} {'p50 w/o':>8} {'added (mean)':>13} {'added (p50)':>12} {'round pairs (p50)':>18}")
for backend, kinds in rows.items():
    w = [statistics.median(v[i] for v in kinds["with"]) for i in range(3)]
    wo = [statistics.median(v[i] for v in kinds["without"]) for i in range(3)]
    # Each round measures the two servers back to back: the median of those
    # pairs' ratios is less moved by the machine drifting over the run.
    pairs = statistics.median(a[1] / b[1] - 1 for a, b in zip(kinds["with"], kinds["without"]))
    print(f"{backend:9} {w[0]:9.3f}ms {wo[0]:8.3f}ms {w[1]:8.3f}ms {wo[1]:7.3f}ms {100 * (w[0] / wo[0] - 1):12.1f}% {100 * (w[1] / wo[1] - 1):11.1f}% {100 * pairs:17.1f}%")
PY
