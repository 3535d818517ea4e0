#!/usr/bin/env bash
# Audit log read benchmark. Target: "with 10 million events stored, reading a
# page of 1,000 for one project has p99 under 50 ms, on SQLite and on PostgreSQL."
#
# For each backend: `locus admin create-account` makes the benchmark account (and
# runs the migrations), then SQL seeds, in one transaction,
#   $AUDIT_PROJECTS projects (default 1,000) in the account's default
#     organization, the account an ENABLED ADMIN of each (ADMIN has audit.read);
#   $AUDIT_EVENTS audit events (default 10,000,000) in time order, event i in
#     project i mod P (so ~10,000 per project, interleaved in time as real
#     projects' events are), one every ~3 s over the last ~400 days:
#       event_id    20-digit microsecond timestamp + 36 digits (as audit.rs makes them)
#       project_id  16 chars [a-z0-9] (p + 15 digits)
#       account_id  one of 10 actors per project (A + 19 digits)
#       request_id  16 chars [a-z0-9]; remote_host an IPv4 address
#       event_type/content  update_membership, update_project or create_membership
#                   with the JSON content the store writes for them (~150-250 bytes)
# with the schema's indexes in place (PostgreSQL: generate_series, then
# VACUUM (ANALYZE) as autovacuum would; SQLite: a recursive CTE, with the
# rollback journal and a large page cache for the load only, then back to WAL;
# no ANALYZE, as a server would have it). Then `locus serve` runs on it and
#   wrk -t1 -c$C -d${AUDIT_DURATION}s --latency
# measures GET /rest/auditlog?projectId=P&pageSize=1000 (the newest page of
# 1,000 events of one project, through session check, query and JSON), after a
# warm-up, for each C in $AUDIT_CONNECTIONS, on
#   one     one project (p000000000000500), the page the target names;
#   random  a random project of the P per request (a Lua script), so that the
#           reads touch the whole table rather than one warm page.
# The query plan (PostgreSQL: EXPLAIN ANALYZE BUFFERS; SQLite: EXPLAIN QUERY
# PLAN and a timed run in the sqlite3 shell) is printed for each backend.
#
# Usage: scripts/bench-audit.sh [sqlite|postgres|all]        (default all)
# Environment:
#   LOCUS_BIN                 server binary (default: cargo build --release, then
#                             ${CARGO_TARGET_DIR:-target}/release/locus)
#   LOCUS_BENCH_POSTGRES_URL  default postgres://postgres@127.0.0.1:5432/test; a
#                             fresh schema, dropped at the end
#   AUDIT_EVENTS (10000000) AUDIT_PROJECTS (1000) AUDIT_DURATION (15)
#   AUDIT_WARMUP (3) AUDIT_CONNECTIONS ("1 4")
#   AUDIT_PERF=1              also profile the one-project page at 1 connection
#                             (perf record -a for AUDIT_DURATION seconds): CPU by
#                             thread name (tokio workers, sqlx-sqlite workers,
#                             postgres backends, wrk) and the server's top symbols
# Needs wrk, sqlite3 (apt-get install -y sqlite3), psql, curl, python3.
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
EVENTS=${AUDIT_EVENTS:-10000000}
PROJECTS=${AUDIT_PROJECTS:-1000}
DURATION=${AUDIT_DURATION:-15}
WARMUP=${AUDIT_WARMUP:-3}
read -r -a CONNECTIONS <<<"${AUDIT_CONNECTIONS:-1 4}"
PG_URL=${LOCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
PASSWORD=Bench-operator-1
EMAIL=bench@audit.example
PAGE=1000
PROJECT=p$(printf '%015d' $((PROJECTS / 2)))
STARTED=$(date +%s)
# The seeded events end ~ a month before now, so the benchmark's own are the newest.
T0_US=$(( ($(date +%s) - 400 * 86400) * 1000000 ))
STEP_US=3000000

(( EVENTS % PROJECTS == 0 )) || { echo "AUDIT_EVENTS must be a multiple of AUDIT_PROJECTS" >&2; exit 2; }
(( EVENTS / PROJECTS >= PAGE )) || { echo "fewer than $PAGE events per project" >&2; exit 2; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
for b in "${BACKENDS[@]}"; do
  if [[ $b == sqlite ]]; then command -v sqlite3 >/dev/null || { echo "sqlite3 is needed (apt-get install -y sqlite3)" >&2; exit 1; }; fi
  if [[ $b == postgres ]]; then command -v psql >/dev/null || { echo "psql is needed" >&2; exit 1; }; fi
done

if [[ -n ${LOCUS_BIN:-} ]]; then
  BIN=$LOCUS_BIN
else
  cargo build --release --locked -p locus >/dev/null
  BIN=${CARGO_TARGET_DIR:-target}/release/locus
fi
[[ -x $BIN ]] || { echo "no server binary at $BIN" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/locus-audit.XXXXXX")
RESULTS=$WORK/results.tsv
: >"$RESULTS"
SERVER_PID=
SCHEMA=
SCHEMAS=()

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
drop_schema() {
  psql -q "$PG_URL" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $1 CASCADE" >/dev/null
}
cleanup() {
  stop_server
  local s
  for s in "${SCHEMAS[@]}"; do
    drop_schema "$s" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%4ds] %s\n' "$(($(date +%s) - STARTED))" "$*" >&2; }

# --- SQL helpers: one generator, two dialects --------------------------------
pad() { # EXPR WIDTH: EXPR zero-padded to WIDTH digits
  if [[ $BACKEND == postgres ]]; then echo "lpad(($1)::text, $2, '0')"; else echo "printf('%0$2d', $1)"; fi
}
insert_series() { # N "INSERT INTO t (...)" "SELECT ... (using i)": the SELECT run for i in 0..N-1
  if [[ $BACKEND == postgres ]]; then
    echo "$2 $3 FROM generate_series(0::bigint, $(($1 - 1))) AS g(i);"
  else
    echo "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < $(($1 - 1))) $2 $3 FROM g;"
  fi
}

seed_sql() { # ACCOUNT_ID ORGANIZATION_ID
  local account=$1 org=$2 P=$PROJECTS
  local now=$(( $(date +%s) * 1000 ))
  local micros="($T0_US + i * $STEP_US + (i * 7919) % $((STEP_US - 1)))"
  local project="'p' || $(pad "i % $P" 15)"
  local actor="'A' || $(pad "(i % $P) * 10 + (i / $P) % 10" 19)"
  local subject="'A' || $(pad "(i % $P) * 10 + (i / $P + 3) % 10" 19)"
  local kind="(i / $P) % 3"
  echo "BEGIN;"
  insert_series "$P" "INSERT INTO projects (id, organization_id, title, created_by, created_at, modified_at)" \
    "SELECT 'p' || $(pad i 15), '$org', 'Project ' || i, '$account', $now, $now"
  insert_series "$P" "INSERT INTO memberships (id, project_id, account_id, role, status, created_at, modified_at)" \
    "SELECT 'm' || $(pad i 15), 'p' || $(pad i 15), '$account', 'ADMIN', 'ENABLED', $now, $now"
  insert_series "$EVENTS" \
    "INSERT INTO audit_events (event_id, project_id, account_id, request_id, remote_host, event_type, created_at, content)" \
    "SELECT $(pad "$micros" 20) || $(pad "(i * 2654435761) % 1000000000000000000" 18) || $(pad "(i * 40503 + 977) % 1000000000000000000" 18),
       $project, $actor, 'r' || $(pad i 15),
       '10.' || (i % 250) || '.' || ((i / 250) % 250) || '.' || (i % 7 + 1),
       CASE $kind WHEN 0 THEN 'update_membership' WHEN 1 THEN 'update_project' ELSE 'create_membership' END,
       $micros / 1000,
       CASE $kind
         WHEN 0 THEN '{\"updated_account_id\":\"' || $subject || '\",\"role\":\"EDITOR\",\"membership_status\":\"ENABLED\",\"previous_role\":\"VIEWER\",\"previous_membership_status\":\"ENABLED\"}'
         WHEN 1 THEN '{\"project_title\":\"Project ' || (i % $P) || '\",\"project_status\":\"ENABLED\",\"org_id\":\"$org\",\"changed\":{\"title\":\"Project ' || (i % $P) || '\",\"description\":null,\"organization_id\":null,\"status\":null}}'
         ELSE '{\"created_account_id\":\"' || $subject || '\",\"role\":\"VIEWER\",\"membership_status\":\"ENABLED\"}'
       END"
  echo "COMMIT;"
}

run_sql() { # stdin: SQL
  if [[ $BACKEND == postgres ]]; then
    psql -q -v ON_ERROR_STOP=1 "$PG_URL" -c "SET search_path = $SCHEMA" -f - >/dev/null
  else
    # The load only: rollback journal (a 10M-row transaction in WAL mode would
    # write every page twice), no syncs, 1 GiB of page cache. Back to WAL after.
    { echo "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576;"; cat; } \
      | sqlite3 -bail "$DATA/locus.db" >/dev/null
    sqlite3 "$DATA/locus.db" "PRAGMA journal_mode = WAL;" >/dev/null
  fi
}
query() { # SQL -> output
  if [[ $BACKEND == postgres ]]; then
    psql -Atq "$PG_URL" -c "SET search_path = $SCHEMA" -c "$1"
  else
    sqlite3 "$DATA/locus.db" "$1"
  fi
}

# The query Store::audit_events runs for the page (crates/locus-store/src/audit.rs).
PAGE_SQL="SELECT event_id, project_id, account_id, request_id, remote_host, event_type, created_at, content \
FROM audit_events WHERE project_id = '$PROJECT' ORDER BY event_id DESC LIMIT $PAGE"
explain() {
  echo "== $BACKEND query plan of the page query" >&2
  if [[ $BACKEND == postgres ]]; then
    query "EXPLAIN (ANALYZE, BUFFERS) $PAGE_SQL" | sed 's/^/     /' >&2
  else
    query "EXPLAIN QUERY PLAN $PAGE_SQL" | sed 's/^/     /' >&2
    printf '.timer on\n%s;\n' "$PAGE_SQL" | sqlite3 "$DATA/locus.db" | grep '^Run Time' | sed 's/^/     /' >&2
  fi
}

ms() { # wrk latency value (e.g. 512.00us, 1.23ms, 1.01s) -> milliseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

RANDOM_LUA=$WORK/random-project.lua
cat >"$RANDOM_LUA" <<EOF
math.randomseed(os.time())
request = function()
  local p = string.format("p%015d", math.random(0, $PROJECTS - 1))
  return wrk.format("GET", "/rest/auditlog?projectId=" .. p .. "&pageSize=$PAGE")
end
EOF

measure() { # variant connections
  local out p50 p99 rps bad args=(-t1 -c"$2" -H "Authorization: Bearer $BEARER")
  local url="$BASE/rest/auditlog?projectId=$PROJECT&pageSize=$PAGE"
  [[ $1 == random ]] && args+=(-s "$RANDOM_LUA")
  wrk "${args[@]}" -d"${WARMUP}s" "$url" >/dev/null
  out=$(wrk "${args[@]}" -d"${DURATION}s" --latency "$url")
  printf '== %s %s c=%s\n%s\n' "$BACKEND" "$1" "$2" "$out" >>"$WORK/wrk.log"
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  if [[ -n $bad || -z $p50 ]]; then
    echo "$BACKEND $1 c=$2: ${bad:-no} non-2xx responses; wrk said:" >&2
    echo "$out" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$BACKEND" "$1" "$2" "$(ms "$p50")" "$(ms "$p99")" "$rps" "$SEED_S" >>"$RESULTS"
  log "$BACKEND $1 c=$2: p50 $p50 p99 $p99 $rps req/s"
}

profile() {
  command -v perf >/dev/null || { echo "perf is needed for AUDIT_PERF=1" >&2; return 0; }
  local url="$BASE/rest/auditlog?projectId=$PROJECT&pageSize=$PAGE" data=$WORK/perf-$BACKEND.data
  wrk -t1 -c1 -d"$((DURATION + 2))s" -H "Authorization: Bearer $BEARER" "$url" >"$WORK/perf-wrk.log" &
  local wrk_pid=$!
  sleep 1
  perf record -a -F 499 -o "$data" -- sleep "$DURATION" 2>/dev/null
  wait "$wrk_pid"
  echo "== $BACKEND profile, one project, 1 connection: $(awk '/^Requests\/sec/ {print $2}' "$WORK/perf-wrk.log") req/s; CPU samples by thread" >&2
  perf report -i "$data" --stdio --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 | sed 's/^/     /' >&2 || true
  echo "== $BACKEND profile: top symbols of the server (all its threads)" >&2
  perf report -i "$data" --stdio --pid "$SERVER_PID" --percentage relative --sort dso,symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 \
    | sed -e 's/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' -e 's/^/     /' | cut -c1-200 >&2 || true
  rm -f "$data"
}

run_backend() {
  DATA=$WORK/$BACKEND
  mkdir -p "$DATA"
  local db_args=()
  if [[ $BACKEND == postgres ]]; then
    SCHEMA=locus_audit_$$
    SCHEMAS+=("$SCHEMA")
    drop_schema "$SCHEMA"
    psql -q "$PG_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null
    db_args=(--database-url "$PG_URL?options=-c%20search_path%3D$SCHEMA")
  fi

  local account token org
  account=$(printf '%s\n' "$PASSWORD" | "$BIN" admin --data-dir "$DATA" "${db_args[@]}" create-account \
    --email "$EMAIL" --name "Bench Operator" --password-stdin 2>>"$DATA/admin.log" | tail -n1 | tr -d '[:space:]')
  [[ $account =~ ^[a-zA-Z0-9]{20}$ ]] || { echo "create-account printed '$account'" >&2; cat "$DATA/admin.log" >&2; exit 1; }
  token=$("$BIN" admin --data-dir "$DATA" "${db_args[@]}" create-token --email "$EMAIL" --name audit 2>>"$DATA/admin.log" | tail -n1)
  org=$(query "SELECT default_organization_id FROM accounts WHERE id = '$account'")

  log "$BACKEND: seeding $PROJECTS projects and $EVENTS audit events"
  local t0=$SECONDS
  seed_sql "$account" "$org" | run_sql
  SEED_S=$((SECONDS - t0))
  log "$BACKEND: seeded in ${SEED_S} s"
  if [[ $BACKEND == postgres ]]; then
    t0=$SECONDS
    query "VACUUM (ANALYZE) audit_events" >/dev/null
    query "VACUUM (ANALYZE)" >/dev/null
    log "$BACKEND: vacuumed and analyzed in $((SECONDS - t0)) s"
    log "$BACKEND: $(query "SELECT COUNT(*) FROM audit_events") events, audit_events $(query "SELECT pg_size_pretty(pg_total_relation_size('audit_events'))") with indexes"
  else
    log "$BACKEND: $(query "SELECT COUNT(*) FROM audit_events") events, database file $(du -h "$DATA/locus.db" | cut -f1)"
  fi
  explain

  LOCUS_LOG=warn,locus=info "$BIN" serve --data-dir "$DATA" "${db_args[@]}" --listen 127.0.0.1:0 2>"$DATA/server.log" &
  SERVER_PID=$!
  local addr
  addr=$(listening_address "$DATA/server.log" "$SERVER_PID")
  BASE="http://$addr"
  BEARER=$(bearer_for "$BASE" "$token")

  # Sanity: a full page of the project's newest events, newest first, with a next link.
  curl -sf -H "Authorization: Bearer $BEARER" "$BASE/rest/auditlog?projectId=$PROJECT&pageSize=$PAGE" | python3 -c '
import json, sys
d = json.load(sys.stdin)
c = d["content"]
ids = [e["eventId"] for e in c]
assert len(c) == int(sys.argv[2]), len(c)
assert all(e["projectId"] == sys.argv[1] for e in c)
assert ids == sorted(ids, reverse=True) and all(len(i) == 56 for i in ids)
assert any(l["rel"] == "next" for l in d["links"])
print("sanity: page of %d events, %d bytes of JSON, newest %s" % (len(c), len(json.dumps(d)), c[0]["timestamp"]), file=sys.stderr)
' "$PROJECT" "$PAGE"

  local c
  for c in "${CONNECTIONS[@]}"; do
    measure one "$c"
    measure random "$c"
  done
  if [[ ${AUDIT_PERF:-} == 1 ]]; then profile; fi
  stop_server
  if [[ $BACKEND == postgres ]]; then
    drop_schema "$SCHEMA"
  else
    rm -rf "$DATA"
  fi
}

log "binary $BIN; $EVENTS events over $PROJECTS projects; wrk -t1 -c{${CONNECTIONS[*]}} -d${DURATION}s (warm-up ${WARMUP}s); $(nproc) cores"
for BACKEND in "${BACKENDS[@]}"; do
  run_backend
done

echo
python3 - "$RESULTS" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print(f"{'backend':<9} {'project':<7} {'conns':>5} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'seed s':>7}")
worst = {}
for b, v, c, p50, p99, rps, seed in rows:
    if v == "one":
        worst[int(c)] = max(worst.get(int(c), 0.0), float(p99))
    print(f"{b:<9} {v:<7} {c:>5} {float(p50):>8.2f} {float(p99):>8.2f} {float(rps):>8.1f} {seed:>7}")
print()
for c, w in sorted(worst.items()):
    print(f"{c} connection(s): worst p99 of the one-project page {w:.2f} ms (target < 50): {'OK' if w < 50 else 'OVER'}")
EOF
log "done in $(($(date +%s) - STARTED)) s"
