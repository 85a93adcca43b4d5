#!/usr/bin/env bash
# `make run`: migrate, seed the demo, start the local FHIR and eID sandboxes, the hospital, GP and register
# sandboxes, and the SMART launch source (a FHIR sandbox behind its own authorization server), then the web
# server, one Celery worker and beat until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG="${DEBUG:-1}"
export PORT="${PORT:-8000}"
# Links in mails and shares name this origin, never the Host a request gave.
export PORTAL_ORIGIN="${PORTAL_ORIGIN:-http://127.0.0.1:${PORT}}"
# Web requests keep their database connection for a minute instead of opening one each time.
export CONN_MAX_AGE="${CONN_MAX_AGE:-60}"
# The national endpoint the demo data source points at; on this machine it is the local sandbox.
export FHIR_SANDBOX_URL="${FHIR_SANDBOX_URL:-http://127.0.0.1:8090/fhir}"
FHIR_SANDBOX_URL="${FHIR_SANDBOX_URL%/}"
# The national eID citizens sign in with (OpenID Connect); on this machine it is the local eID sandbox.
export EID_SANDBOX_URL="${EID_SANDBOX_URL:-http://127.0.0.1:8091}"
EID_SANDBOX_URL="${EID_SANDBOX_URL%/}"
# A data source citizens connect by SMART standalone launch: on this machine a second FHIR sandbox whose access
# tokens come from the SMART authorization server sandbox, where the citizen signs in and approves.
SMART_FHIR_SANDBOX_URL="${SMART_FHIR_SANDBOX_URL:-http://127.0.0.1:8092/fhir}"
SMART_FHIR_SANDBOX_URL="${SMART_FHIR_SANDBOX_URL%/}"
SMART_AUTH_SANDBOX_URL="${SMART_AUTH_SANDBOX_URL:-http://127.0.0.1:8093}"
SMART_AUTH_SANDBOX_URL="${SMART_AUTH_SANDBOX_URL%/}"
LOCAL_URL='^http://(127\.0\.0\.1|localhost)(:([0-9]+))?(/.*)?$'
if [[ $SMART_AUTH_SANDBOX_URL =~ $LOCAL_URL ]]; then
  # The authorization server has an origin of its own: the portal sends it secrets only when told to trust it.
  export FHIR_AUTH_TRUSTED_ORIGINS="${FHIR_AUTH_TRUSTED_ORIGINS:+${FHIR_AUTH_TRUSTED_ORIGINS},}${SMART_AUTH_SANDBOX_URL}"
fi
BIN=.venv/bin
SANDBOX_PYTHON="${SANDBOX_VENV:-var/sandbox-venv}/bin/python"
IPS_EXAMPLES=var/ips-2.0.0/package/example
# Three more sources holding Patricia Jordana, each under its own patient id, overlapping and disagreeing
# (sandbox/make_sources.py): a hospital, a GP and a vaccination register with a laboratory.
THREE_SOURCES=(hospital gp register)
export HOSPITAL_SANDBOX_URL="${HOSPITAL_SANDBOX_URL:-http://127.0.0.1:8195/fhir}"
export GP_SANDBOX_URL="${GP_SANDBOX_URL:-http://127.0.0.1:8196/fhir}"
export REGISTER_SANDBOX_URL="${REGISTER_SANDBOX_URL:-http://127.0.0.1:8197/fhir}"
SOURCES_DIR="${VAR_DIR:-var}/sources"
$BIN/python sandbox/make_sources.py --examples "$IPS_EXAMPLES" --out "$SOURCES_DIR" >/dev/null
source_url() {
  local name="${1^^}_SANDBOX_URL"
  echo "${!name%/}"
}
source_name() {
  $BIN/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["sources"][sys.argv[2]]["name"])' \
    "$SOURCES_DIR/expected.json" "$1"
}
seed_sources=()
for source in "${THREE_SOURCES[@]}"; do
  seed_sources+=(--source "$(source_name "$source")=$(source_url "$source")")
done

$BIN/python manage.py migrate --noinput -v0
# Without Redis the rate limits count in a database table that every web process shares.
$BIN/python manage.py createcachetable
$BIN/python manage.py seed_demo --smart-launch-url "$SMART_FHIR_SANDBOX_URL" "${seed_sources[@]}"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping the portal…"
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop_all INT TERM EXIT

# Answers 0 once <url> answers 200 (no proxy for this machine), 1 if process <pid> exits or 60 s pass.
wait_for_sandbox() {
  $BIN/python - "$1" "$2" <<'PY'
import os
import sys
import time
import urllib.request

url, pid = sys.argv[1], int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with opener.open(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)
    time.sleep(0.3)
sys.exit(1)
PY
}

sandbox_line="FHIR endpoint:        ${FHIR_SANDBOX_URL} (not started here)"
if [[ $FHIR_SANDBOX_URL =~ ^http://(127\.0\.0\.1|localhost)(:([0-9]+))?(/.*)?$ ]]; then
  sandbox_host="${BASH_REMATCH[1]}"
  sandbox_port="${BASH_REMATCH[3]:-80}"
  if [[ "${BASH_REMATCH[4]}" != "/fhir" ]]; then
    echo "FHIR_SANDBOX_URL=${FHIR_SANDBOX_URL} is on this machine, but the local sandbox serves only" \
      "http://${sandbox_host}:<port>/fhir." >&2
    exit 1
  fi
  # Every start is fresh: the launcher replaces the database in var/sandbox-run and loads the IPS examples.
  "$SANDBOX_PYTHON" sandbox/launch.py --host "$sandbox_host" --port "$sandbox_port" \
    --data-dir "${VAR_DIR:-var}/sandbox-run" --examples "$IPS_EXAMPLES" &
  sandbox_pid=$!
  pids+=("$sandbox_pid")
  if ! wait_for_sandbox "${FHIR_SANDBOX_URL}/metadata" "$sandbox_pid"; then
    echo "The local FHIR sandbox did not start at ${FHIR_SANDBOX_URL} (its output is above;" \
      "is port ${sandbox_port} in use? has \`make sandbox\` run?)." >&2
    exit 1
  fi
  sandbox_line="FHIR sandbox:         ${FHIR_SANDBOX_URL} (the IPS 2.0.0 examples, fresh each start)"
fi

sources_lines=""
for source in "${THREE_SOURCES[@]}"; do
  url="$(source_url "$source")"
  label="$(source_name "$source")"
  if ! [[ $url =~ $LOCAL_URL ]]; then
    sources_lines+="
  ${label}: ${url} (not started here)"
    continue
  fi
  if [[ "${BASH_REMATCH[4]}" != "/fhir" ]]; then
    echo "${source^^}_SANDBOX_URL=${url} is on this machine, but the local sandbox serves only" \
      "http://${BASH_REMATCH[1]}:<port>/fhir." >&2
    exit 1
  fi
  # Only this source's data, fresh each start.
  "$SANDBOX_PYTHON" sandbox/launch.py --host "${BASH_REMATCH[1]}" --port "${BASH_REMATCH[3]:-80}" \
    --data-dir "${VAR_DIR:-var}/${source}-sandbox-run" --no-examples --load "$SOURCES_DIR/${source}.json" &
  source_pid=$!
  pids+=("$source_pid")
  if ! wait_for_sandbox "${url}/metadata" "$source_pid"; then
    echo "The ${label} sandbox did not start at ${url} (its output is above; is the port in use?)." >&2
    exit 1
  fi
  sources_lines+="
  ${label}: ${url}"
done

eid_line="eID provider:         ${EID_SANDBOX_URL} (not started here)"
if [[ $EID_SANDBOX_URL =~ ^http://(127\.0\.0\.1|localhost)(:([0-9]+))?(/.*)?$ ]]; then
  eid_host="${BASH_REMATCH[1]}"
  eid_port="${BASH_REMATCH[3]:-80}"
  if [[ -n "${BASH_REMATCH[4]}" ]]; then
    echo "EID_SANDBOX_URL=${EID_SANDBOX_URL} is on this machine, but the local eID sandbox's issuer is" \
      "http://${eid_host}:<port>, without a path." >&2
    exit 1
  fi
  # Its sessions and keys live in memory: every start is fresh.
  node sandbox/eid/server.mjs --host "$eid_host" --port "$eid_port" &
  eid_pid=$!
  pids+=("$eid_pid")
  if ! wait_for_sandbox "${EID_SANDBOX_URL}/.well-known/openid-configuration" "$eid_pid"; then
    echo "The local eID sandbox did not start at ${EID_SANDBOX_URL} (its output is above;" \
      "is port ${eid_port} in use? has \`make sandbox\` run?)." >&2
    exit 1
  fi
  eid_line="eID sandbox:          ${EID_SANDBOX_URL} (sign in as Patricia Jordana: no password)"
fi

smart_line="SMART launch source:  ${SMART_FHIR_SANDBOX_URL} (not started here)"
if [[ $SMART_FHIR_SANDBOX_URL =~ $LOCAL_URL ]]; then
  smart_host="${BASH_REMATCH[1]}"
  smart_port="${BASH_REMATCH[3]:-80}"
  if [[ "${BASH_REMATCH[4]}" != "/fhir" ]]; then
    echo "SMART_FHIR_SANDBOX_URL=${SMART_FHIR_SANDBOX_URL} is on this machine, but the local sandbox serves" \
      "only http://${smart_host}:<port>/fhir." >&2
    exit 1
  fi
  if ! [[ $SMART_AUTH_SANDBOX_URL =~ $LOCAL_URL ]] || [[ -n "${BASH_REMATCH[4]}" ]]; then
    echo "SMART_AUTH_SANDBOX_URL=${SMART_AUTH_SANDBOX_URL}: the local SMART sandbox's authorization server" \
      "runs on this machine, at http://127.0.0.1:<port> without a path." >&2
    exit 1
  fi
  auth_host="${BASH_REMATCH[1]}"
  auth_port="${BASH_REMATCH[3]:-80}"
  # First the authorization server (the FHIR sandbox fetches its keys at start), sessions and keys in memory.
  node sandbox/eid/authorization-server.mjs --host "$auth_host" --port "$auth_port" \
    --fhir-base-url "$SMART_FHIR_SANDBOX_URL" &
  auth_pid=$!
  pids+=("$auth_pid")
  if ! wait_for_sandbox "${SMART_AUTH_SANDBOX_URL}/.well-known/openid-configuration" "$auth_pid"; then
    echo "The SMART authorization server sandbox did not start at ${SMART_AUTH_SANDBOX_URL} (its output is" \
      "above; is port ${auth_port} in use? has \`make sandbox\` run?)." >&2
    exit 1
  fi
  # The IPS examples and Freja Lund Holm's record; every request needs one of the authorization server's tokens.
  "$SANDBOX_PYTHON" sandbox/launch.py --host "$smart_host" --port "$smart_port" \
    --data-dir "${VAR_DIR:-var}/smart-sandbox-run" --examples "$IPS_EXAMPLES" \
    --load sandbox/fixtures/Bundle-freja-lund-holm.json --authorization-server "$SMART_AUTH_SANDBOX_URL" &
  smart_pid=$!
  pids+=("$smart_pid")
  if ! wait_for_sandbox "${SMART_FHIR_SANDBOX_URL}/metadata" "$smart_pid"; then
    echo "The SMART launch FHIR sandbox did not start at ${SMART_FHIR_SANDBOX_URL} (its output is above;" \
      "is port ${smart_port} in use?)." >&2
    exit 1
  fi
  smart_line="SMART launch source:  ${SMART_FHIR_SANDBOX_URL}, sign-in at ${SMART_AUTH_SANDBOX_URL}
                        (on Your records press \"Connect: sign in at this source\", choose a test patient such
                        as Patricia Jordana, press Approve, then Fetch my records)"
fi

$BIN/celery -A portal worker -Q default,pull,export --concurrency 2 -l INFO --without-mingle --without-gossip &
pids+=($!)
$BIN/celery -A portal beat -l INFO &
pids+=($!)
$BIN/gunicorn portal.wsgi:application --bind "127.0.0.1:${PORT}" --workers 2 --access-logfile - &
pids+=($!)

cat <<BANNER

  Yellow Button portal: http://127.0.0.1:${PORT}/
  Demo login:           demo@example.com / yellow-button-demo
  Health:               http://127.0.0.1:${PORT}/healthz
  ${sandbox_line}
  ${eid_line}
  ${smart_line}
  More sources for Patricia Jordana (merged into one record):${sources_lines}
  Ctrl-C stops everything started here.

BANNER

# If any of them stops, stop the others too: a portal without its worker or its upstream is not a working portal.
wait -n "${pids[@]}"
