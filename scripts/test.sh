#!/usr/bin/env bash
# `make test`: the whole suite. Service tests skip without PostgreSQL / Redis / Chromium, or fail when
# REQUIRE_SERVICES=1 (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export SECRET_KEY="${SECRET_KEY:-test-only-secret-key}"
# Without coverage: its tracer doubles the time of in-process code, and the suite has a budget (`make coverage`
# runs the same tests with it).
exec .venv/bin/python -m pytest "$@"
