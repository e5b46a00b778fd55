# The two commands of the README: `make up` starts the local stack, `make test` runs the tests.
# Both bootstrap what they need: uv (from PyPI, into a private folder) and the locked environment.

SHELL := /bin/bash
PYTHON ?= python3
# uv lives in .tools/uv, installed with `pip install --target`: a private folder that a system
# Python marked "externally managed" (PEP 668, as Debian's is) allows, and no virtual
# environment (Debian's python3-venv) is needed. The same release builds the images.
UV_VERSION := 0.13.9
UV_HOME := .tools/uv
UV := $(UV_HOME)/bin/uv
UV_STAMP := $(UV_HOME)/.installed-$(UV_VERSION)
export UV_PYTHON_DOWNLOADS := never
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_ENABLE_TELEMETRY := false

.PHONY: up test sync uv lint unit integration browser postgres test-services bench-serving bench-streaming containers

uv: $(UV_STAMP)

$(UV_STAMP):
	@echo "[make] installing uv $(UV_VERSION) into $(UV_HOME) (pip --target)"
	@rm -rf $(UV_HOME)
	@$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
		--target $(UV_HOME) "uv==$(UV_VERSION)" \
		|| { echo "[make] could not install uv with '$(PYTHON) -m pip': install pip (apt-get install python3-pip) or uv itself"; exit 2; }
	@$(UV) --version >/dev/null && touch $@

sync: uv
	@$(UV) sync --locked --all-extras

up: sync
	$(UV) run modelyard up

# A local PostgreSQL with the role and database `modelyard` (installed from Debian's packages
# when missing): postgresql://modelyard:modelyard@127.0.0.1:5432/modelyard
postgres:
	@bash scripts/ensure-postgres.sh

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

bench-images: sync
	$(UV) run python benchmarks/images/run.py

bench-streaming: sync test-services
	$(UV) run python benchmarks/streaming/run.py

containers:
	bash .ci/containers.sh
