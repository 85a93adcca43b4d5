# The portal's commands. Each target sets up what it needs: a fresh clone needs only python3 (3.11+).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed-$(shell cat requirements.lock | sha256sum | cut -c1-12)

.PHONY: setup run test lint format bench lock clean messages

setup: $(STAMP)

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@# --require-hashes: installs exactly what the lock file names, nothing resolved anew
	$(VENV)/bin/uv pip install --quiet --python $(PY) --require-hashes -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $@

run: setup
	@bash scripts/run.sh

test: setup
	@bash scripts/test.sh $(ARGS)

lint: export SECRET_KEY ?= lint-only-key
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	@echo "no benchmarks yet: the first ones arrive with the pull"

# Re-resolve the pinned dependencies after editing pyproject.toml.
lock: setup
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--no-header -q -o requirements.lock
	@# The image's lock: the same pins, without the development tools.
	$(VENV)/bin/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 \
		--no-header -q -c requirements.lock -o requirements-prod.lock

# Translations: edit locale/da/LC_MESSAGES/django.po, then `make messages` (needs gettext).
messages: setup
	$(PY) manage.py makemessages -l da --ignore=.venv --ignore=var --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
