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
