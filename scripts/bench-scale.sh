#!/usr/bin/env bash
# Scale benchmark: does per-request latency stay flat as the tables grow?
#
# Measures p50/p99 latency (and req/s) of
#   detail  GET /rest/projects/{id}   (session_in_project: session+account+project+membership)
#   list    GET /rest/projects        (projects_of: COUNT + first page, default size 100)
# for one benchmark account, on SQLite and/or PostgreSQL, on two datasets of the
# same shape:
#   small   100 accounts,     100 projects,    1,000 memberships (10 per project)
#   large   100,000 accounts, 10,000 projects, 1,000,000 memberships (100 per project)
# Every seeded account has its own default organization and is a member of 10
# projects. The benchmark account (made with `locus admin create-account`) is a
# VIEWER of 100 projects in both datasets (every project in small, every 100th
# in large), so the list page is the same 100 rows; its membership rows are
# written among the bulk ones, scattered like a real account's. Detail is
# measured on one of those projects. The bulk rows are inserted with SQL in one
# transaction (PostgreSQL: generate_series, then VACUUM (ANALYZE); SQLite: a
# recursive CTE, no ANALYZE, as a server would have it) between `locus admin`
# and `locus serve`.
#
# Both datasets of a backend are served at once (one server each) and measured
# alternately, so that both see the same background load. Each measurement is a
# warm-up run, then
#   wrk -t1 -c$SCALE_CONNECTIONS -d${SCALE_DURATION}s --latency
# from loopback, repeated for $SCALE_ROUNDS rounds. Moderate concurrency keeps
# detail latency about the queries; list costs ~1.5-2 ms of CPU a request, so on
# a 2-core machine its latency at -c8 is mostly queueing (p50 ~ 8 / req/s) and its
# ratio is in effect a throughput ratio. p99 on a shared machine is mostly
# scheduling noise: compare rounds (the log shows each) before trusting a p99
# ratio. The final table gives the median over the rounds of p50, p99 and req/s
# and, for large, the large/small ratio of p50 and p99. Target: large within
# 1.5x of small.
#
# Usage: scripts/bench-scale.sh [sqlite|postgres|all]        (default all)
# Environment:
#   LOCUS_BIN                  server binary (default: cargo build --release, then
#                              ${CARGO_TARGET_DIR:-target}/release/locus)
#   LOCUS_BENCH_POSTGRES_URL   default postgres://postgres@127.0.0.1:5432/test; a
#                              fresh schema per dataset, dropped at the end
#   SCALE_DURATION (10) SCALE_WARMUP (2) SCALE_CONNECTIONS (8) SCALE_ROUNDS (3)
#   SCALE_EXPLAIN=1            also print the query plans of both queries on each dataset
# Needs wrk, sqlite3, psql, curl, python3.
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
DURATION=${SCALE_DURATION:-10}
WARMUP=${SCALE_WARMUP:-2}
CONNECTIONS=${SCALE_CONNECTIONS:-8}
ROUNDS=${SCALE_ROUNDS:-3}
PG_URL=${LOCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
PASSWORD=Bench-operator-1
EMAIL=bench@scale.example
T0=1700000000000
STARTED=$(date +%s)

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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/locus-scale.XXXXXX")
RESULTS=$WORK/results.tsv
: >"$RESULTS"
SERVER_PIDS=()
SCHEMAS=()

stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}
drop_schema() {
  psql -q "$PG_URL" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $1 CASCADE" >/dev/null
}
cleanup() {
  stop_servers
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
# pad EXPR WIDTH: EXPR zero-padded to WIDTH digits.
pad() {
  if [[ $BACKEND == postgres ]]; then echo "lpad(($1)::text, $2, '0')"; else echo "printf('%0$2d', $1)"; fi
}
# insert_series N "INSERT INTO t (...)" "SELECT ... (using i)" [WHERE]: the SELECT run for i in 0..N-1.
insert_series() {
  local where=${4:+ WHERE $4}
  if [[ $BACKEND == postgres ]]; then
    echo "$2 $3 FROM generate_series(0, $(($1 - 1))) AS g(i)$where;"
  else
    echo "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < $(($1 - 1))) $2 $3 FROM g$where;"
  fi
}

# seed_sql ACCOUNTS PROJECTS MEMBERS_PER_PROJECT BENCH_ACCOUNT_ID
# Account a is member of project p in slot j (0..M-1) when a = j*R + p mod R,
# R = A/M: (project, account) pairs are unique and every account is in P/R projects.
# The slot-0 member is the project's ADMIN and creator; the others are VIEWERs.
# Slot M is the benchmark account, a VIEWER of every (P/100)th project; its rows
# are written among the others (not after them), so that they lie scattered over
# the table as the memberships of a real account would.
seed_sql() {
  local A=$1 P=$2 M=$3 bench=$4
  local R=$((A / M)) stride=$((P / 100)) S=$(($3 + 1))
  local org_of_creator acct_of_creator
  org_of_creator="'o' || $(pad "i % $R" 15)"
  acct_of_creator="'A' || $(pad "i % $R" 19)"
  echo "BEGIN;"
  insert_series "$A" "INSERT INTO organizations (id, title, dwh_cluster_id, created_at, modified_at)" \
    "SELECT 'o' || $(pad i 15), 'Org ' || i, 'c' || $(pad "i % 100000" 5), $T0 + i, $T0 + i"
  insert_series "$A" "INSERT INTO accounts (id, email, email_normalized, given_name, surname, password_hash, default_organization_id, created_at, modified_at)" \
    "SELECT 'A' || $(pad i 19), 'user' || i || '@scale.example', 'user' || i || '@scale.example', 'User', 'Number' || i, 'seeded-no-login', 'o' || $(pad i 15), $T0 + i, $T0 + i"
  insert_series "$A" "INSERT INTO organization_members (organization_id, account_id, created_at)" \
    "SELECT 'o' || $(pad i 15), 'A' || $(pad i 19), $T0 + i"
  insert_series "$P" "INSERT INTO projects (id, organization_id, title, created_by, created_at, modified_at)" \
    "SELECT 'p' || $(pad i 15), $org_of_creator, 'Project ' || i, $acct_of_creator, $T0 + i * 1000, $T0 + i * 1000"
  # i = p*S + j
  insert_series "$((P * S))" "INSERT INTO memberships (id, project_id, account_id, role, status, created_at, modified_at)" \
    "SELECT 'm' || $(pad i 15), 'p' || $(pad "i / $S" 15),
       CASE WHEN i % $S = $M THEN '$bench' ELSE 'A' || $(pad "(i % $S) * $R + (i / $S) % $R" 19) END,
       CASE WHEN i % $S = 0 THEN 'ADMIN' ELSE 'VIEWER' END, 'ENABLED', $T0 + i, $T0 + i" \
    "i % $S < $M OR (i / $S) % $stride = 0"
  echo "COMMIT;"
}

run_sql() { # stdin: SQL
  if [[ $BACKEND == postgres ]]; then
    psql -q -v ON_ERROR_STOP=1 "$PG_URL" -c "SET search_path = $SCHEMA" -f - >/dev/null
  else
    sqlite3 -bail "$DATA/locus.db" >/dev/null
  fi
}
query() { # SQL -> first column of first row
  if [[ $BACKEND == postgres ]]; then
    psql -Atq "$PG_URL" -c "SET search_path = $SCHEMA" -c "$1"
  else
    sqlite3 "$DATA/locus.db" "$1"
  fi
}

# The FROM/WHERE of the two queries the endpoints run (crates/locus-store/src/projects.rs).
explain() { # session_id account_id project_id
  local now sip list count
  now=$(($(date +%s) * 1000))
  sip="SELECT s.secret_hash, a.id, p.id, o.dwh_cluster_id, m.id, m.role FROM sessions s JOIN accounts a ON a.id = s.account_id \
LEFT JOIN projects p ON p.id = '$3' LEFT JOIN organizations o ON o.id = p.organization_id \
LEFT JOIN memberships m ON m.project_id = p.id AND m.account_id = a.id \
WHERE s.id = '$1' AND s.expires_at > $now AND a.status = 'ENABLED'"
  local from="FROM memberships m JOIN projects p ON p.id = m.project_id JOIN organizations o ON o.id = p.organization_id \
WHERE m.account_id = '$2' AND m.status = 'ENABLED' AND ('' = '' OR p.organization_id = '') AND ('' = '' OR p.share = '')"
  count="SELECT COUNT(*) $from"
  list="SELECT p.id, p.title, o.dwh_cluster_id, m.id, m.role $from ORDER BY p.created_at ASC, p.id ASC LIMIT 100 OFFSET 0"
  local q
  for q in "$sip" "$count" "$list"; do
    echo "  -- ${q:0:60}..."
    if [[ $BACKEND == postgres ]]; then
      psql -Atq "$PG_URL" -c "SET search_path = $SCHEMA" -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $q" | sed 's/^/     /'
    else
      sqlite3 "$DATA/locus.db" "EXPLAIN QUERY PLAN $q" | sed 's/^/     /'
    fi
  done
}

ms() { # wrk latency value (e.g. 512.00us, 1.23ms, 1.01s) -> milliseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

declare -A BASE BEARER_OF PROJECT_OF ACCOUNT_OF SERVER_OF

use_dataset() { # small|large: sets DATA, SCHEMA, DB_ARGS
  DATA=$WORK/$BACKEND-$1
  SCHEMA=locus_scale_$$_$1
  DB_ARGS=()
  [[ $BACKEND == postgres ]] && DB_ARGS=(--database-url "$PG_URL?options=-c%20search_path%3D$SCHEMA")
  return 0
}

measure() { # dataset endpoint url round
  local out p50 p99 rps bad auth=(-H "Authorization: Bearer ${BEARER_OF[$1]}")
  wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "${auth[@]}" "$3" >/dev/null
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${auth[@]}" "$3")
  printf '== %s %s %s round %s\n%s\n' "$BACKEND" "$1" "$2" "$4" "$out" >>"$WORK/wrk.log"
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  if [[ -n $bad || -z $p50 ]]; then
    echo "$BACKEND $1 $2: ${bad:-no} non-2xx responses; wrk said:" >&2
    echo "$out" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$BACKEND" "$1" "$2" "$(ms "$p50")" "$(ms "$p99")" "$rps" >>"$RESULTS"
  log "$BACKEND $1 $2 (round $4): p50 $p50 p99 $p99 $rps req/s"
}

# Seeds one dataset and starts a server on it.
prepare() { # small|large
  local dataset=$1 A P M
  if [[ $dataset == small ]]; then A=100 P=100 M=10; else A=100000 P=10000 M=100; fi
  use_dataset "$dataset"
  mkdir -p "$DATA"
  if [[ $BACKEND == postgres ]]; then
    SCHEMAS+=("$SCHEMA")
    drop_schema "$SCHEMA"
    psql -q "$PG_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null
  fi

  local account token
  account=$(printf '%s\n' "$PASSWORD" | "$BIN" admin --data-dir "$DATA" "${DB_ARGS[@]}" create-account \
    --email "$EMAIL" --name "Bench Operator" --password-stdin 2>>"$DATA/admin.log" | tail -n1 | tr -d '[:space:]')
  [[ $account =~ ^[a-zA-Z0-9]{20}$ ]] || { echo "create-account printed '$account'" >&2; cat "$DATA/admin.log" >&2; exit 1; }
  token=$("$BIN" admin --data-dir "$DATA" "${DB_ARGS[@]}" create-token --email "$EMAIL" --name scale 2>>"$DATA/admin.log" | tail -n1)
  ACCOUNT_OF[$dataset]=$account

  log "$BACKEND $dataset: seeding $A accounts, $P projects, $((P * M)) + 100 memberships"
  seed_sql "$A" "$P" "$M" "$account" | run_sql
  if [[ $BACKEND == postgres ]]; then
    # VACUUM too, so that autovacuum does not wake up on the fresh rows mid-measurement.
    query "VACUUM (ANALYZE)" >/dev/null
  else
    query "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  fi
  log "$BACKEND $dataset: seeded ($(query "SELECT COUNT(*) FROM memberships") memberships)"

  LOCUS_LOG=warn,locus=info "$BIN" serve --data-dir "$DATA" "${DB_ARGS[@]}" --listen 127.0.0.1:0 2>"$DATA/server.log" &
  local pid=$!
  SERVER_PIDS+=("$pid")
  local addr
  addr=$(listening_address "$DATA/server.log" "$pid")
  BASE[$dataset]="http://$addr"
  BEARER_OF[$dataset]=$(bearer_for "${BASE[$dataset]}" "$token")

  # The project for detail: one of the benchmark account's 100, in the middle.
  PROJECT_OF[$dataset]=p$(printf '%015d' $((50 * (P / 100))))
  # Sanity: detail answers 200 for that project, the list page is full.
  curl -sf -H "Authorization: Bearer ${BEARER_OF[$dataset]}" "${BASE[$dataset]}/rest/projects/${PROJECT_OF[$dataset]}" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["id"] == sys.argv[1], d' "${PROJECT_OF[$dataset]}"
  curl -sf -H "Authorization: Bearer ${BEARER_OF[$dataset]}" "${BASE[$dataset]}/rest/projects" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d["content"]) == 100 and d["page"]["totalElements"] == 100, d["page"]'

  if [[ ${SCALE_EXPLAIN:-} == 1 ]]; then
    local session
    session=$(query "SELECT id FROM sessions WHERE account_id = '$account' ORDER BY created_at DESC LIMIT 1")
    echo "== $BACKEND $dataset query plans" >&2
    explain "$session" "$account" "${PROJECT_OF[$dataset]}" >&2
  fi
}

log "binary $BIN; wrk -t1 -c$CONNECTIONS -d${DURATION}s (warm-up ${WARMUP}s) x $ROUNDS rounds; $(nproc) cores"
for BACKEND in "${BACKENDS[@]}"; do
  prepare small
  prepare large
  # Small and large alternate, so that both see the same background load.
  for round in $(seq 1 "$ROUNDS"); do
    for dataset in small large; do
      measure "$dataset" detail "${BASE[$dataset]}/rest/projects/${PROJECT_OF[$dataset]}" "$round"
    done
    for dataset in small large; do
      measure "$dataset" list "${BASE[$dataset]}/rest/projects" "$round"
    done
  done
  stop_servers
  for dataset in small large; do
    use_dataset "$dataset"
    if [[ $BACKEND == postgres ]]; then
      drop_schema "$SCHEMA"
    else
      rm -rf "$DATA"
    fi
  done
done

echo
python3 - "$RESULTS" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if line.strip():
        b, d, e, p50, p99, rps = line.rstrip("\n").split("\t")
        runs.setdefault((b, d, e), []).append((float(p50), float(p99), float(rps)))
# median of the rounds, per metric
med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in runs.items()}
print(f"{'backend':<9} {'dataset':<7} {'endpoint':<8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'p50 x':>6} {'p99 x':>6}")
worst = 0.0
for b in ("sqlite", "postgres"):
    for e in ("detail", "list"):
        for d in ("small", "large"):
            if (b, d, e) not in med:
                continue
            p50, p99, rps = med[(b, d, e)]
            r50 = r99 = ""
            if d == "large" and (b, "small", e) in med:
                s50, s99, _ = med[(b, "small", e)]
                worst = max(worst, p50 / s50, p99 / s99)
                r50, r99 = f"{p50 / s50:.2f}", f"{p99 / s99:.2f}"
            print(f"{b:<9} {d:<7} {e:<8} {p50:>8.3f} {p99:>8.3f} {rps:>8.0f} {r50:>6} {r99:>6}")
rounds = max(len(v) for v in runs.values())
print(f"\n(median of {rounds} round(s); p50 x / p99 x = large / small)")
print(f"worst large/small ratio {worst:.2f} (target <= 1.5): {'OK' if worst <= 1.5 else 'OVER'}")
EOF
log "done in $(($(date +%s) - STARTED)) s"
