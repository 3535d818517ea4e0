#!/usr/bin/env bash
# How fast PostgreSQL alone answers the one query every authorized project
# request makes (Store::session_in_project: the session, its account, the
# project and the membership), with pgbench as the client and no HTTP at all;
# and `SELECT 1` for the bare round trip. This bounds issue 3's PostgreSQL
# ratio: no server that reads its grants fresh on every request can serve
# project detail faster than this query runs.
#
# Usage: scripts/bench-pg-ceiling.sh [SECONDS]
# Needs pgbench, psql, curl, python3 and the server at LOCUS_BENCH_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test; a fresh schema is made).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
SECONDS_EACH=${1:-10}
PG=${LOCUS_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
SCHEMA=locus_ceiling_$(date +%s)
cargo build --release --locked --quiet -p locus
BIN=target/release/locus
WORK=$(mktemp -d "${TMPDIR:-/tmp}/locus-ceiling.XXXXXX")
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  psql -q "$PG" -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql -q "$PG" -c "CREATE SCHEMA $SCHEMA"
DB=(--database-url "$PG?options=-c%20search_path%3D$SCHEMA")

# A session and a project, made through Locus itself.
printf 'Bench-operator-1\n' | "$BIN" admin --data-dir "$WORK" "${DB[@]}" create-account \
  --email bench@example.org --name "Bench Operator" --password-stdin >/dev/null 2>&1
token=$("$BIN" admin --data-dir "$WORK" "${DB[@]}" create-token --email bench@example.org --name bench 2>/dev/null)
LOCUS_LOG=warn,locus=info "$BIN" serve --data-dir "$WORK" "${DB[@]}" --listen 127.0.0.1:0 2>"$WORK/server.log" &
SERVER_PID=$!
addr=$(listening_address "$WORK/server.log" "$SERVER_PID")
bearer=$(bearer_for "http://$addr" "$token")
project=$(curl -sf -X POST "http://$addr/rest/projects" -H "Authorization: Bearer $bearer" -H 'content-type: application/json' -d '{"title":"Bench"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
session=$(psql -Atq "$PG" -c "SELECT id FROM $SCHEMA.sessions ORDER BY expires_at DESC LIMIT 1")

# The statement of Store::session_in_project (crates/locus-store/src/projects.rs), columns and all.
cat >"$WORK/detail.sql" <<SQL
SELECT s.secret_hash AS session_secret_hash, s.expires_at AS session_expires_at, s.access_token_id AS session_access_token_id,
  a.id, a.email, a.given_name, a.surname, a.phone_number, a.consent_granted, a.password_hash, a.status, a.operator, a.anonymous,
  a.preferences, a.onboarding, a.default_organization_id, a.created_at, a.modified_at,
  p.id AS p_id, p.organization_id AS p_organization_id, o.dwh_cluster_id AS p_dwh_cluster_id, p.title AS p_title,
  p.description AS p_description, p.status AS p_status, p.share AS p_share, p.created_at AS p_created_at, p.modified_at AS p_modified_at,
  m.id AS m_id, m.project_id AS m_project_id, m.account_id AS m_account_id, m.role AS m_role, m.status AS m_status,
  m.created_at AS m_created_at, m.modified_at AS m_modified_at
FROM $SCHEMA.sessions s JOIN $SCHEMA.accounts a ON a.id = s.account_id
LEFT JOIN $SCHEMA.projects p ON p.id = '$project' LEFT JOIN $SCHEMA.organizations o ON o.id = p.organization_id
LEFT JOIN $SCHEMA.memberships m ON m.project_id = p.id AND m.account_id = a.id
WHERE s.id = '$session' AND s.expires_at > 0 AND a.status = 'ENABLED';
SQL
rows=$(psql -Atq "$PG" -f "$WORK/detail.sql" | grep -c "|$project|" || true)
[[ $rows == 1 ]] || { echo "the query found no session and project" >&2; exit 1; }
echo "SELECT 1;" >"$WORK/one.sql"
for query in one detail; do
  tps=$(pgbench -n -M prepared -c 32 -j 2 -T "$SECONDS_EACH" -f "$WORK/$query.sql" "$PG" 2>&1 | awk '/^tps/ {print $3}')
  printf '%-8s %10.0f queries/s\n' "$query" "$tps"
done
