# ECM Record: two commands on a fresh machine (Python 3.11+ and make).
#   make up    create .venv, install, start the whole system (embedded NATS + SQLite under ./var)
#   make test  create .venv, install dev dependencies, run lint, types and the whole test suite

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PYTEST_ARGS ?=

.PHONY: up test lint typecheck pytest bench demo status clean install install-dev web-assets

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ECM Record needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# GOV.UK Frontend from npm into services/web/node/ (git-ignored), pinned versions.
web-assets: $(VENV)/.installed
	$(BIN)/python -m services.web.assets fetch

up: $(VENV)/.installed web-assets
	$(BIN)/ecm up

demo: $(VENV)/.installed
	ECM_DEV_MODE=true $(BIN)/ecm demo seed

status: $(VENV)/.installed
	ECM_DEV_MODE=true $(BIN)/ecm status

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy shared services tests benchmarks

pytest: $(VENV)/.installed-dev web-assets
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.installed-dev  # `make bench BENCH_ARGS=--quick` for the short run
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
