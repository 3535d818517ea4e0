#!/usr/bin/env bash
# Fuzz the Locus REST API with schemathesis against a live server.
#
# Usage: scripts/fuzz-api.sh BASE_URL BEARER_TOKEN [MAX_SECONDS]
#
#   BASE_URL      where the server listens, e.g. http://127.0.0.1:8080 (the OpenAPI
#                 document is read from BASE_URL/rest/openapi.json; its paths already
#                 start with /rest/, so every request goes to BASE_URL + path)
#   BEARER_TOKEN  sent as "Authorization: Bearer TOKEN" on every request
#   MAX_SECONDS   hard wall-clock bound for the schemathesis run (default 240);
#                 running out of time is a failure
#
# Fails (non-zero exit) on any 5xx response, any response whose status code,
# content type or body does not conform to the document, on a run that could
# not test anything (schema unreachable/invalid), on a token the server rejects
# everywhere (missing_auth warning), and on running out of time.
#
# Tunables (environment):
#   FUZZ_VENV          virtualenv to create/reuse      (default target/fuzz-venv)
#   FUZZ_MAX_EXAMPLES  test cases per operation/phase  (default 25)
#   FUZZ_SEED          Hypothesis seed                 (default 1)
#   FUZZ_WORKERS       concurrent workers, 1 or 2      (default 1)
#   FUZZ_REPORT_DIR    where junit.xml is written      (default target/fuzz-report)
#   FUZZ_EXTRA_ARGS    extra `schemathesis run` args, word-split
#                      (e.g. "--exclude-path /rest/admin/shutdown")
#   PYTHON             interpreter used to create the venv (default python3)
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
CHECKS=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance

usage() {
  echo "usage: $0 BASE_URL BEARER_TOKEN [MAX_SECONDS]" >&2
  exit 2
}

[[ $# -ge 2 && $# -le 3 ]] || usage
BASE_URL=${1%/}
TOKEN=$2
MAX_SECONDS=${3:-240}
[[ $BASE_URL =~ ^https?://[^/]+ ]] || { echo "fuzz-api: BASE_URL must be http(s)://host[:port][/prefix]" >&2; usage; }
[[ -n $TOKEN ]] || { echo "fuzz-api: BEARER_TOKEN is empty" >&2; usage; }
[[ $MAX_SECONDS =~ ^[1-9][0-9]*$ ]] || { echo "fuzz-api: MAX_SECONDS must be a positive integer" >&2; usage; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${FUZZ_VENV:-target/fuzz-venv}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-25}
SEED=${FUZZ_SEED:-1}
WORKERS=${FUZZ_WORKERS:-1}
REPORT_DIR=${FUZZ_REPORT_DIR:-target/fuzz-report}
PYTHON=${PYTHON:-python3}
read -r -a EXTRA_ARGS <<<"${FUZZ_EXTRA_ARGS:-}"

# --- virtualenv with the pinned schemathesis --------------------------------
ST="$VENV/bin/schemathesis"
if [[ "$("$ST" --version 2>/dev/null || true)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]]; then
  echo "fuzz-api: installing schemathesis==$SCHEMATHESIS_VERSION into $VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$ST" --version

# --- config that the CLI has no flags for -------------------------------------
# - a token rejected on every operation makes the run meaningless: fail on it;
# - no on-disk case cache (.schemathesis/ in the cwd) so runs are reproducible
#   and nothing is written into the work tree.
CONFIG=$(mktemp "${TMPDIR:-/tmp}/fuzz-api.XXXXXX.toml")
trap 'rm -f "$CONFIG"' EXIT
cat >"$CONFIG" <<'TOML'
[warnings]
fail-on = ["missing_auth"]

[cache]
enabled = false
TOML

mkdir -p "$REPORT_DIR"
CMD=(
  "$ST" --config-file "$CONFIG" run "$BASE_URL/rest/openapi.json"
  --url "$BASE_URL"
  --header "Authorization: Bearer $TOKEN"
  --checks "$CHECKS"
  --max-examples "$MAX_EXAMPLES"
  --seed "$SEED"
  --workers "$WORKERS"
  --generation-database none
  --generation-with-security-parameters false
  --request-timeout 10
  --wait-for-schema 30
  --report junit --report-junit-path "$REPORT_DIR/junit.xml"
  --no-color
  "${EXTRA_ARGS[@]}"
)
# Print the command with the token masked.
printf 'fuzz-api: running (max %ss):' "$MAX_SECONDS"
printf ' %q' "${CMD[@]//"$TOKEN"/***}"
echo

# Proxy variables are dropped so that nothing but BASE_URL is ever contacted.
# Hypothesis keeps its own caches (unicode tables, ...) under the venv, not in ./.hypothesis.
# On timeout, SIGINT lets schemathesis print what it found so far; SIGKILL 15 s later.
start=$SECONDS
set +e
env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
  HYPOTHESIS_STORAGE_DIRECTORY="$VENV/hypothesis" \
  timeout --signal=INT --kill-after=15 "$MAX_SECONDS" "${CMD[@]}"
rc=$?
set -e
elapsed=$((SECONDS - start))

echo
case $rc in
  0)   echo "fuzz-api: PASS in ${elapsed}s (schemathesis $SCHEMATHESIS_VERSION, seed $SEED, $MAX_EXAMPLES examples/operation; junit: $REPORT_DIR/junit.xml)" ;;
  1)   echo "fuzz-api: FAIL in ${elapsed}s: failing checks ($CHECKS) or a missing_auth warning; see above and $REPORT_DIR/junit.xml" ;;
  124|137)
       echo "fuzz-api: FAIL: did not finish within ${MAX_SECONDS}s (timeout exit $rc); raise MAX_SECONDS or lower FUZZ_MAX_EXAMPLES" ;;
  *)   echo "fuzz-api: FAIL in ${elapsed}s: schemathesis exited $rc (2 = schema/config error or nothing tested, 130 = interrupted)" ;;
esac
[[ $rc -eq 0 ]] || exit 1
