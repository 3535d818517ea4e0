#!/usr/bin/env bash
# Issue 16's automatic area mapping: a point dataset whose calculated foreign
# key names a polygon dataset, loaded end to end with `locus data load` into a
# release server on SQLite, beside shapely's STRtree (GEOS, PyPI) mapping the
# same points, whose answer must be the same for every point. The points are
# also loaded into a dataset without the mapping, for what it adds.
#   scripts/bench-areas.sh [SIDE [VERTICES [POINTS]]]
# (default 80 x 80 polygons of 400 vertices, 1,000,000 points).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
SIDE=${1:-80} VERTICES=${2:-400} POINTS=${3:-1000000}
DIR=$PWD/target/bench-areas
duckdb_venv
"$VENV/bin/python" -c 'import shapely, numpy' 2>/dev/null || "$VENV/bin/pip" install --quiet "shapely==2.*" numpy
mkdir -p "$DIR"
"$VENV/bin/python" scripts/bench-areas.py generate "$DIR" "$SIDE" "$VERTICES" "$POINTS"
release_bench_project areas
bench_post "/rest/projects/$PROJECT/md/datasets" '{"name":"areas","type":"dataset","title":"areas","ref":{"type":"dwh","subtype":"geometryPolygon","primaryKey":"id","properties":[{"name":"id","column":"id","type":"integer"},{"name":"geometry","column":"geometry","type":"geometry"}]}}' >/dev/null
bench_post "/rest/projects/$PROJECT/md/datasets" '{"name":"points","type":"dataset","title":"points","ref":{"type":"dwh","subtype":"geometryPoint","primaryKey":"id","properties":[{"name":"id","column":"id","type":"integer"},{"name":"lat","column":"lat","type":"latitude"},{"name":"lng","column":"lng","type":"longitude"},{"name":"area_id","column":"area_id","type":"integer","foreignKey":"areas","calculated":true}]}}' >/dev/null
# The same points without the mapping, for what the mapping adds.
bench_post "/rest/projects/$PROJECT/md/datasets" '{"name":"plain","type":"dataset","title":"plain","ref":{"type":"dwh","subtype":"geometryPoint","primaryKey":"id","properties":[{"name":"id","column":"id","type":"integer"},{"name":"lat","column":"lat","type":"latitude"},{"name":"lng","column":"lng","type":"longitude"}]}}' >/dev/null
load() {
  /usr/bin/time -f "  $1: %e s wall" "$BIN" data load --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset "$1" "$DIR/$2.csv" >/dev/null
}
echo "$((SIDE * SIDE)) polygons of $VERTICES vertices, $POINTS points:"
load areas areas
load plain points
TICKS=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
load points points
echo "  server CPU for the points: $(( $(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat") - TICKS )) ticks of $(getconf CLK_TCK)/s"
curl -sf "$BASE/rest/jobs/history?projectId=$PROJECT" -H "Authorization: Bearer $BEARER" | python3 -c "
import json, sys
job = json.load(sys.stdin)['content'][0]
print(f\"  the points' job ran {job['endDate'] - job['startDate']} ms\")"
"$BIN" data dump --server "$BASE" --token "$TOKEN" --project "$PROJECT" --dataset points -o "$DIR/dump.csv" 2>/dev/null
"$VENV/bin/python" scripts/bench-areas.py reference "$DIR"
