# Shell helpers the scripts share; `source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`.

# listening_address LOG PID: the address `locus serve` (process PID, logging to
# LOG) says it listens on, after waiting up to 30 s. Exits, showing the log,
# when the server died or never said.
listening_address() {
  local log=$1 pid=$2 addr=
  for _ in $(seq 1 300); do
    addr=$(sed -n 's/.*locus is listening address=\([0-9.:]*\).*/\1/p' "$log" | head -n1)
    if [[ -n $addr ]]; then
      echo "$addr"
      return
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "locus serve did not start:" >&2
  cat "$log" >&2
  exit 1
}

# bearer_for BASE TOKEN: a bearer exchanged for the personal access token TOKEN.
bearer_for() {
  curl -sf -X POST "$1/rest/oauth/token" -H 'content-type: application/json' -d "{\"refresh_token\":\"$2\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# start_bench_server BACKEND WORK BIN: a fresh operator, token and `locus serve`
# (release build BIN) on SQLite in WORK or on a new PostgreSQL schema
# (LOCUS_BENCH_POSTGRES_URL); sets SERVER_PID, BASE and BEARER. The caller
# kills SERVER_PID.
start_bench_server() {
  local backend=$1 work=$2 bin=$3 db_args=() token
  if [[ $backend == postgres ]]; then
    local url=${LOCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
    local schema=locus_bench_$(date +%s%N)
    psql -q "$url" -c "CREATE SCHEMA $schema"
    db_args=(--database-url "$url?options=-c%20search_path%3D$schema")
  fi
  printf 'Bench-operator-1\n' | "$bin" admin --data-dir "$work" "${db_args[@]}" create-account --email bench@example.org --name "Bench Operator" --password-stdin >/dev/null 2>&1
  token=$("$bin" admin --data-dir "$work" "${db_args[@]}" create-token --email bench@example.org --name bench 2>/dev/null)
  LOCUS_LOG=warn,locus=info "$bin" serve --data-dir "$work" "${db_args[@]}" --listen 127.0.0.1:0 2>"$work/server.log" &
  SERVER_PID=$!
  BASE="http://$(listening_address "$work/server.log" "$SERVER_PID")"
  BEARER=$(bearer_for "$BASE" "$token")
}

# duckdb_venv: DuckDB 2.0 (the reference engine) and requests in
# target/duckdb-venv, made on first use; sets VENV.
duckdb_venv() {
  VENV=target/duckdb-venv
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  "$VENV/bin/python" -c 'import duckdb, requests' 2>/dev/null || "$VENV/bin/pip" install --quiet "duckdb==2.0.*" requests
}

# release_bench_project NAME: a release server on SQLite (LOCUS_BIN, or a
# fresh `cargo build --release`) in a temporary directory that goes on exit,
# with an operator's bearer (BEARER), a personal access token for
# `locus data load` (TOKEN) and a project (PROJECT); sets BIN, WORK, BASE and
# SERVER_PID too. `bench_post PATH JSON` then posts as the operator.
release_bench_project() {
  [[ -n ${LOCUS_BIN:-} ]] || cargo build --release --locked -p locus >/dev/null
  BIN=${LOCUS_BIN:-target/release/locus}
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/locus-$1.XXXXXX")
  SERVER_PID=
  trap bench_cleanup EXIT
  start_bench_server sqlite "$WORK" "$BIN"
  TOKEN=$("$BIN" admin --data-dir "$WORK" create-token --email bench@example.org --name loader 2>/dev/null)
  PROJECT=$(bench_post /rest/projects '{"title":"Bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
}

bench_cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}

bench_post() {
  curl -sf -X POST "$BASE$1" -H "Authorization: Bearer $BEARER" -H 'content-type: application/json' -d "$2"
}

# sales_bench_project NAME ROWS: the star schema's `sales.csv` of ROWS rows
# in DIR (target/bench-load, generated once per row count), a release bench
# project (release_bench_project NAME) and its `sales` dataset defined.
sales_bench_project() {
  DIR=$PWD/target/bench-load
  duckdb_venv
  star_schema_csv "$DIR" "$2"
  release_bench_project "$1"
  bench_post "/rest/projects/$PROJECT/md/datasets" '{"name":"sales","type":"dataset","title":"sales","ref":{"type":"dwh","subtype":"basic","primaryKey":"id","properties":[{"name":"id","column":"id","type":"integer"},{"name":"day","column":"day","type":"date"},{"name":"shop_id","column":"shop_id","type":"integer"},{"name":"product_id","column":"product_id","type":"integer"},{"name":"amount","column":"amount","type":"decimal"},{"name":"qty","column":"qty","type":"integer"}]}}' >/dev/null
}

# places_bench_project NAME ROWS: the shape issue 16's load target names
# (8 columns: ids, strings, decimals, lat/lng; about 95 bytes a row, the
# address quoted because it holds a comma) as `places.csv` of ROWS rows in
# DIR (target/bench-places, generated once per row count), a release bench
# project and its `places` point dataset defined.
places_bench_project() {
  DIR=$PWD/target/bench-places
  duckdb_venv
  generated_csv places "$DIR" "$2"
  release_bench_project "$1"
  bench_post "/rest/projects/$PROJECT/md/datasets" '{"name":"places","type":"dataset","title":"places","ref":{"type":"dwh","subtype":"geometryPoint","primaryKey":"id","properties":[{"name":"id","column":"id","type":"integer"},{"name":"chain_id","column":"chain_id","type":"integer"},{"name":"name","column":"name","type":"string"},{"name":"category","column":"category","type":"string"},{"name":"address","column":"address","type":"string"},{"name":"revenue","column":"revenue","type":"decimal"},{"name":"lat","column":"lat","type":"latitude"},{"name":"lng","column":"lng","type":"longitude"}]}}' >/dev/null
}

# generated_csv KIND DIR ROWS: `scripts/bench-queries.py KIND DIR ROWS` (the
# star schema for `generate`, places.csv for `places`) into DIR, run once per
# row count. Needs duckdb_venv.
generated_csv() {
  local kind=$1 dir=$2 rows=$3
  if [[ $(cat "$dir/rows" 2>/dev/null) != "$rows" ]]; then
    rm -rf "$dir" && mkdir -p "$dir"
    "$VENV/bin/python" scripts/bench-queries.py "$kind" "$dir" "$rows"
    echo "$rows" > "$dir/rows"
  fi
}

# star_schema_csv DIR ROWS: the seeded star schema of scripts/bench-queries.py
# (ROWS sales rows and their dimensions) as CSV files in DIR.
star_schema_csv() { generated_csv generate "$1" "$2"; }
