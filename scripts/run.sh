#!/usr/bin/env bash
# `make run`: migrate, seed the demo, then the web server, one Celery worker and beat until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG="${DEBUG:-1}"
export PORT="${PORT:-8000}"
BIN=.venv/bin

$BIN/python manage.py migrate --noinput -v0
$BIN/python manage.py seed_demo

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping the portal…"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop_all INT TERM EXIT

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
  Ctrl-C stops the web server, the worker and beat.

BANNER

# If any of the three stops, stop the others too: a portal without its worker is not a working portal.
wait -n "${pids[@]}"
