#!/usr/bin/env bash
# `make test`: the whole suite. Service tests skip without PostgreSQL / Redis / Chromium, or fail when
# REQUIRE_SERVICES=1 (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export SECRET_KEY="${SECRET_KEY:-test-only-secret-key}"
exec .venv/bin/python -m pytest "$@"
