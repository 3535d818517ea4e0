#!/usr/bin/env bash
# Issue 17 over HTTP: the ten dashboard questions against a running release
# server on a generated star schema (default 1,000,000 sales rows), sent as a
# dashboard sends them (ten at once, 8 concurrent clients): p50/p99 of new
# questions (planned and computed; tables in memory) and of repeated ones
# (the result cache).
#   scripts/bench-dwh-http.sh [ROWS] [ROUNDS]   (default 1000000 rows, 30 rounds)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
ROWS=${1:-1000000}
ROUNDS=${2:-30}
DIR=$PWD/target/bench-dwh-http
duckdb_venv
star_schema_csv "$DIR" "$ROWS"
release_bench_project dwh-http
prop() { printf '{"name":"%s","column":"%s","type":"%s"%s}' "$1" "$1" "$2" "${3:+,\"foreignKey\":\"$3\"}"; }
dataset() { # name properties…
  local name=$1; shift
  local props; props=$(IFS=,; echo "$*")
  bench_post "/rest/projects/$PROJECT/md/datasets" "{\"name\":\"$name\",\"type\":\"dataset\",\"title\":\"$name\",\"ref\":{\"type\":\"dwh\",\"subtype\":\"basic\",\"primaryKey\":\"id\",\"properties\":[$props]}}" >/dev/null
}
dataset cities "$(prop id integer)" "$(prop name string)" "$(prop region string)"
dataset shops "$(prop id integer)" "$(prop name string)" "$(prop city_id integer cities)" "$(prop partner string)"
dataset products "$(prop id integer)" "$(prop category string)"
dataset sales "$(prop id integer)" "$(prop day date)" "$(prop shop_id integer shops)" "$(prop product_id integer products)" "$(prop amount decimal)" "$(prop qty integer)"
SUM='{"type":"function_sum","content":[{"type":"property","value":"sales.amount"}]}'
COUNT='{"type":"function_count","content":[{"type":"property","value":"sales.id"}]}'
metric() { bench_post "/rest/projects/$PROJECT/md/metrics" "{\"name\":\"$1\",\"type\":\"metric\",\"content\":$2}" >/dev/null; }
metric revenue "$SUM"
metric avg_ticket "{\"type\":\"function_divide\",\"content\":[$SUM,$COUNT]}"
metric revenue_share "{\"type\":\"function_percent_to_total\",\"content\":[$SUM]}"
metric partner_revenue '{"type":"function_sum","content":[{"type":"property","value":"sales.amount"}],"options":{"filterBy":[{"property":"shops.partner","operator":"eq","value":"yes"}]}}'
for name in cities shops products sales; do
  "$BIN" data load --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset "$name" "$DIR/$name.csv" >/dev/null
done
echo "rows=$ROWS rounds=$ROUNDS (10 questions each, 8 in flight)"
# The client is in Rust (crates/locus-bench/src/bin/dwh_http.rs): one thread,
# so that it takes little of the two cores it shares with the server.
[[ -n ${DWH_HTTP_BIN:-} ]] || cargo build --release --locked -p locus-bench --bin dwh-http >/dev/null
"${DWH_HTTP_BIN:-target/release/dwh-http}" "$BASE" "$BEARER" "$PROJECT" "$ROUNDS"
