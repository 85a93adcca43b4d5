# The portal's commands. Each target sets up what it needs: a fresh clone needs only python3 (3.11+).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed-$(shell cat requirements.lock | sha256sum | cut -c1-12)
# The local FHIR sandbox (a stand-in national endpoint) runs from its own venv: its dependencies never mix with ours.
SANDBOX_VENV ?= var/sandbox-venv
SANDBOX_STAMP := $(SANDBOX_VENV)/.installed-$(shell cat sandbox/requirements.lock | sha256sum | cut -c1-12)
# The HL7 IPS 2.0.0 package (CC0): its example bundles are the sandbox's data and the tests' fixtures.
IPS_PACKAGE := hl7.fhir.uv.ips@2.0.0
IPS_SHA256 := 4a5cff17580f869140614ac51097d81540c63644d550ced8d4cd9b9bce7345c4
IPS_DIR := var/ips-2.0.0
IPS_STAMP := $(IPS_DIR)/.unpacked
# The local eID provider (panva's oidc-provider on Node) keeps its own pinned npm packages in sandbox/eid.
EID_DIR := sandbox/eid
EID_STAMP := $(EID_DIR)/node_modules/.installed-$(shell cat $(EID_DIR)/package-lock.json | sha256sum | cut -c1-12)
# The clinician viewer's script: our source plus pinned npm packages (jose, DOMPurify), bundled by esbuild into
# static/ at build time. Nothing is loaded from a CDN.
VIEWER_BUNDLE := static/viewer/viewer.js
VIEWER_SOURCES := $(wildcard frontend/viewer/*.js)

.PHONY: setup sandbox run test coverage lint format bench lock clean messages

setup: $(STAMP) $(VIEWER_BUNDLE)

sandbox: $(SANDBOX_STAMP) $(IPS_STAMP) $(EID_STAMP)

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@# --require-hashes: installs exactly what the lock file names, nothing resolved anew
	$(VENV)/bin/uv pip install --quiet --python $(PY) --require-hashes -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

$(VIEWER_BUNDLE): package.json package-lock.json $(VIEWER_SOURCES)
	npm ci --silent --no-audit --no-fund
	node_modules/.bin/esbuild frontend/viewer/main.js --bundle --minify --format=esm --target=es2020 \
		--log-level=warning --outfile=$@

$(SANDBOX_STAMP): sandbox/requirements.lock $(STAMP)
	@test -x $(SANDBOX_VENV)/bin/python || $(PYTHON) -m venv $(SANDBOX_VENV)
	$(VENV)/bin/uv pip install --quiet --python $(SANDBOX_VENV)/bin/python --require-hashes -r sandbox/requirements.lock
	@rm -f $(SANDBOX_VENV)/.installed-*
	@touch $@

# npm ci empties node_modules first, old stamps with it.
$(EID_STAMP): $(EID_DIR)/package.json $(EID_DIR)/package-lock.json
	cd $(EID_DIR) && npm ci --silent --no-audit --no-fund
	@touch $@

# npm pack fetches the package from the npm registry; the checksum pins exactly the published 2.0.0 tarball.
$(IPS_STAMP):
	@mkdir -p $(IPS_DIR)
	cd $(IPS_DIR) && npm pack --silent $(IPS_PACKAGE) >/dev/null
	echo "$(IPS_SHA256)  $(IPS_DIR)/hl7.fhir.uv.ips-2.0.0.tgz" | sha256sum --check --quiet
	tar -xzf $(IPS_DIR)/hl7.fhir.uv.ips-2.0.0.tgz -C $(IPS_DIR)
	@touch $@

run: setup sandbox
	@bash scripts/run.sh

test: setup sandbox
	@bash scripts/test.sh $(ARGS)

# The whole suite with branch coverage of core/, portal/ and sharing/ (its table prints before the summary).
coverage: setup sandbox
	@bash scripts/test.sh --cov --cov-report=term:skip-covered $(ARGS)

lint: export SECRET_KEY ?= lint-only-key
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	@# --no-cache: the import graph takes under a second, and .import_linter_cache would be a stray untracked directory
	$(VENV)/bin/lint-imports --no-cache

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup sandbox
	@$(PY) -m bench $(ARGS)

# Re-resolve the pinned dependencies after editing pyproject.toml.
lock: setup
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--no-header -q -o requirements.lock
	@# The image's lock: the same pins, without the development tools.
	$(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
		--no-header -q -c requirements.lock -o requirements-prod.lock

# Translations: edit locale/da/LC_MESSAGES/django.po, then `make messages` (needs gettext).
messages: setup
	$(PY) manage.py makemessages -l da --ignore=.venv --ignore=var --ignore=node_modules --ignore=static --ignore=frontend --ignore=tests --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
