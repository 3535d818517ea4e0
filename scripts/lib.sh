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
