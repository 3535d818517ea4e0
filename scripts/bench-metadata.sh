#!/usr/bin/env bash
# Metadata benchmark (issue: project content): with 10,000 metadata objects in
# one project, the latency of
#   name-metric  GET /md/metrics?name=…          (one object + ETag, as the SDK reads)
#   name-view    GET /md/views?name=…            (adds the personal-view visibility check)
#   page-metric  GET /md/metrics?page=20&size=100
#   page-view    GET /md/views?page=10&size=100  (default views first: the ordered list)
# on SQLite and/or PostgreSQL. Target: p99 under 5 ms each.
#
# The project holds 4,000 metrics, 2,000 indicators (each linking a metric),
# 2,000 dashboards, 2,000 views (each linking a dashboard; 200 of them are
# personal views of the benchmark account) and projectSettings whose
# defaultViews list 50 views: 10,001 objects, created through the REST API
# (validation, link resolution and audit events included) by the release server;
# on PostgreSQL a VACUUM (ANALYZE) follows, as on a server that has been running.
#
# Each measurement: a 2 s warm-up, then `wrk -t1 -c1 -d${MD_DURATION}s --latency`
# (one connection: latency, not throughput), repeated ${MD_ROUNDS} rounds; the
# table gives the median over the rounds of p50, p99 and req/s.
#
# Usage: scripts/bench-metadata.sh [sqlite|postgres|all]     (default all)
# Environment: LOCUS_BIN, LOCUS_BENCH_POSTGRES_URL, MD_DURATION (10), MD_ROUNDS (3).
# Needs wrk, curl, python3.
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
DURATION=${MD_DURATION:-10}
ROUNDS=${MD_ROUNDS:-3}
PG_URL=${LOCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
PASSWORD=Bench-operator-1
EMAIL=bench@metadata.example
STARTED=$(date +%s)

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
if [[ -n ${LOCUS_BIN:-} ]]; then
  BIN=$LOCUS_BIN
else
  cargo build --release --locked -p locus >/dev/null
  BIN=${CARGO_TARGET_DIR:-target}/release/locus
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/locus-md.XXXXXX")
SERVER_PID=
SCHEMA=
cleanup() {
  [[ -n $SERVER_PID ]] && { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
  [[ -n $SCHEMA ]] && psql -q "$PG_URL" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '[%4ds] %s\n' "$(($(date +%s) - STARTED))" "$*" >&2; }

RESULTS=$WORK/results.tsv
: >"$RESULTS"

for BACKEND in "${BACKENDS[@]}"; do
  DATA=$WORK/$BACKEND
  mkdir -p "$DATA"
  DB_ARGS=()
  if [[ $BACKEND == postgres ]]; then
    SCHEMA=locus_md_$$
    psql -q "$PG_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null
    DB_ARGS=(--database-url "$PG_URL?options=-c%20search_path%3D$SCHEMA")
  fi
  printf '%s\n' "$PASSWORD" | "$BIN" admin --data-dir "$DATA" "${DB_ARGS[@]}" create-account \
    --email "$EMAIL" --name "Bench Operator" --password-stdin >/dev/null 2>>"$DATA/admin.log"
  token=$("$BIN" admin --data-dir "$DATA" "${DB_ARGS[@]}" create-token --email "$EMAIL" --name md 2>>"$DATA/admin.log" | tail -n1)
  LOCUS_LOG=warn,locus=info "$BIN" serve --data-dir "$DATA" "${DB_ARGS[@]}" --listen 127.0.0.1:0 2>"$DATA/server.log" &
  SERVER_PID=$!
  addr=$(listening_address "$DATA/server.log" "$SERVER_PID")
  base="http://$addr"
  log "$BACKEND: seeding 10,001 objects through the API"
  pid=$(python3 scripts/bench-metadata-seed.py "$base" "$token")
  bearer=$(bearer_for "$base" "$token")
  log "$BACKEND: seeded project $pid"
  if [[ $BACKEND == postgres ]]; then
    # As a server that has been running would have it, and so that autovacuum
    # does not wake up on the fresh rows mid-measurement.
    psql -q "$PG_URL" -c "SET search_path = $SCHEMA" -c "VACUUM (ANALYZE)" >/dev/null
  fi
  md="$base/rest/projects/$pid/md"
  declare -A URLS=(
    [name-metric]="$md/metrics?name=metric_02500"
    [name-view]="$md/views?name=view_01500"
    [page-metric]="$md/metrics?page=20&size=100"
    [page-view]="$md/views?page=10&size=100"
  )
  for round in $(seq 1 "$ROUNDS"); do
    for what in name-metric name-view page-metric page-view; do
      url=${URLS[$what]}
      curl -sf -o /dev/null -H "Authorization: Bearer $bearer" "$url" || { echo "$url failed" >&2; exit 1; }
      wrk -t1 -c1 -d2s -H "Authorization: Bearer $bearer" "$url" >/dev/null
      out=$(wrk -t1 -c1 -d"${DURATION}s" --latency -H "Authorization: Bearer $bearer" "$url")
      p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
      p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
      [[ -z $non2xx ]] || { echo "$what: $non2xx non-2xx answers" >&2; exit 1; }
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$BACKEND" "$what" "$round" "$p50" "$p99" "$rps" >>"$RESULTS"
      log "$BACKEND $what (round $round): p50 $p50 p99 $p99 $rps req/s"
    done
  done
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
done

python3 - "$RESULTS" <<'EOF'
import statistics, sys
def ms(v):
    for unit, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)
rows = {}
for line in open(sys.argv[1]):
    backend, what, _, p50, p99, rps = line.split("\t")
    rows.setdefault((backend, what), []).append((ms(p50), ms(p99), float(rps)))
print(f"{'backend':9} {'request':12} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}  target p99 < 5 ms")
for (backend, what), vals in rows.items():
    p50 = statistics.median(v[0] for v in vals)
    p99 = statistics.median(v[1] for v in vals)
    rps = statistics.median(v[2] for v in vals)
    print(f"{backend:9} {what:12} {p50:8.2f} {p99:8.2f} {rps:8.0f}  {'met' if p99 < 5 else 'MISSED'}")
EOF
