# The two commands of the README: `make up` starts the local stack, `make test` runs the tests.
# Both bootstrap what they need: uv (from PyPI, if missing) and the locked environment.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_ENABLE_TELEMETRY := false

.PHONY: up test sync uv lint unit integration browser test-services bench-serving bench-streaming containers

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv

sync: uv
	@$(UV) sync --locked --all-extras --quiet

up: sync
	$(UV) run modelyard up

test-services:
	@bash scripts/ensure-test-services.sh

lint: sync
	@echo "== lint: ruff and mypy"
	$(UV) run ruff check src tests benchmarks
	$(UV) run ruff format --check src tests benchmarks
	$(UV) run mypy

unit: sync
	@echo "== unit tests (no servers)"
	$(UV) run pytest -m "not integration" -q

integration: sync test-services
	@echo "== integration tests (real MLflow, API, SQLite, PostgreSQL)"
	$(UV) run pytest -m "integration and not browser" -q

browser: sync test-services
	@echo "== browser tests (headless Chromium against the dashboard)"
	$(UV) run pytest -m "browser" -q

test: lint unit integration browser

bench-serving: sync
	$(UV) run python benchmarks/serving/run.py

bench-streaming: sync test-services
	$(UV) run python benchmarks/streaming/run.py

containers:
	bash .ci/containers.sh
