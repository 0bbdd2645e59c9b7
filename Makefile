# Every target bootstraps .venv when it is missing, so a fresh clone needs only `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast test-containers bench bench-quick lint format clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## demo: a KuCoin twin and one live bot trading on it, with a status view (Ctrl-C stops all)
demo: $(STAMP)
	$(VENV)/bin/bulkhead demo

## test: the whole suite (unit, integration against the twin, Freqtrade end to end),
## without the container tests
test: $(STAMP)
	$(VENV)/bin/pytest -q -m "not containers"

## test-fast: everything but the slow Freqtrade end-to-end tests and the container tests
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow and not containers"

## test-containers: the fleet in real containers: installs and starts Docker Engine (root),
## builds the images without Docker Hub, runs the Compose project with a twin (~5-8 min)
test-containers: $(STAMP)
	BULKHEAD_CONTAINERS=1 $(VENV)/bin/pytest -q -m containers tests/containers

## bench: every benchmark in full, one JSON object per line
bench: $(STAMP)
	@for b in bench/*.py; do $(PY) $$b || exit 1; done

bench-quick: $(STAMP)
	@for b in bench/*.py; do $(PY) $$b --quick || exit 1; done

## lint: ruff (lint and format check) and mypy, all must be clean
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
