# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint venv test-deps clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The embedded default in development mode: SQLite stores in ./data, tokens from `eosc-perf dev-token`.
run: venv
	EOSC_PERF_ENV=development $(BIN)/eosc-perf serve

test-deps:
	deploy/local/install-test-deps.sh

# Lint only (`ruff check`): the code is formatted by `ruff format` in one commit of its own.
lint: venv
	$(BIN)/ruff check .

test: venv test-deps lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data .pytest_cache
