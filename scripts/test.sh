#!/usr/bin/env bash
# `make test`: the whole suite. Service tests skip without PostgreSQL / Redis / Chromium, or fail when
# REQUIRE_SERVICES=1 (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export SECRET_KEY="${SECRET_KEY:-test-only-secret-key}"
# Coverage of the portal code (its table prints before the test summary).
exec .venv/bin/python -m pytest --cov --cov-report=term:skip-covered "$@"
