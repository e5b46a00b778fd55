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

.PHONY: up test sync uv lint audit rules unit integration torch browser postgres test-services bench-serving bench-images bench-streaming bench-batch bench-soak containers

uv: $(UV_STAMP)

$(UV_STAMP):
	@echo "[make] installing uv $(UV_VERSION) into $(UV_HOME) (pip --target)"
	@rm -rf $(UV_HOME)
	@$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
		--target $(UV_HOME) "uv==$(UV_VERSION)" \
		|| { echo "[make] could not install uv with '$(PYTHON) -m pip': install pip (apt-get install python3-pip) or uv itself"; exit 2; }
	@$(UV) --version >/dev/null && touch $@

# Every extra but torch: PyTorch with its CUDA libraries is several GB, and only the cnn
# image estimator needs it (its tests run in .venv-torch, below).
sync: uv
	@$(UV) sync --locked --all-extras --no-extra torch

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

# Every locked dependency (all extras) checked against PyPI's vulnerability data. --strict:
# a package that cannot be audited fails the run rather than being skipped; the accepted
# findings, each with its reason, are in deploy/audit/ignore.txt.
AUDIT_IGNORE := deploy/audit/ignore.txt
audit: uv
	@echo "== supply chain: pip-audit --strict on the locked dependencies"
	@mkdir -p .tools/audit
	@$(UV) export --frozen --all-extras --no-emit-project --format requirements-txt --quiet \
		--output-file .tools/audit/requirements.txt
	$(UV) run --frozen pip-audit --strict --require-hashes --disable-pip --progress-spinner off \
		--requirement .tools/audit/requirements.txt \
		$$(grep -v '^#' $(AUDIT_IGNORE) | awk 'NF {print "--ignore-vuln", $$1}')

# The alert rules (deploy/prometheus/rules) and the compose Prometheus's configuration are
# valid, and every alert fires on the series of its unit tests (deploy/prometheus/tests) and
# stays silent on the others; Alertmanager's configuration is valid. `check config` does not
# resolve the compose host names.
rules: test-services
	@echo "== alert rules: promtool check and unit tests"
	promtool check rules deploy/prometheus/rules/*.yml
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/tests/*.yml
	amtool check-config deploy/alertmanager/alertmanager.yml

unit: sync
	@echo "== unit tests (no servers)"
	$(UV) run pytest -m "not integration and not torch" -q

integration: sync test-services
	@echo "== integration tests (real MLflow, API, SQLite, PostgreSQL)"
	$(UV) run pytest -m "integration and not browser and not torch" -q

# The cnn image estimator's tests, in an environment of their own: the locked environment
# plus PyTorch. TORCH_REQUIREMENT chooses the build (default: PyPI's, with CUDA; a CPU
# build's wheel file or `torch==X+cpu` from another index is enough for the tests).
TORCH_REQUIREMENT ?= torch>=2.9
TORCH_VENV := .venv-torch
torch: uv test-services
	@echo "== PyTorch tests (the cnn image estimator, in $(TORCH_VENV))"
	@UV_PROJECT_ENVIRONMENT=$(TORCH_VENV) $(UV) sync --locked --all-extras --no-extra torch --quiet
	@$(UV) pip install --quiet --python $(TORCH_VENV)/bin/python "$(TORCH_REQUIREMENT)"
	$(TORCH_VENV)/bin/python -m pytest -m torch -q

browser: sync test-services
	@echo "== browser tests (headless Chromium against the dashboard)"
	$(UV) run pytest -m "browser" -q

test: lint rules unit integration torch browser

bench-serving: sync
	$(UV) run python benchmarks/serving/run.py

bench-images: sync
	$(UV) run python benchmarks/images/run.py

bench-batch: sync
	$(UV) run python benchmarks/batch/run.py

bench-streaming: sync test-services
	$(UV) run python benchmarks/streaming/run.py

# Minutes of high concurrency with a hot swap and a worker restart (benchmarks/soak/run.py).
bench-soak: sync test-services
	$(UV) run python benchmarks/soak/run.py

containers:
	bash .ci/containers.sh
