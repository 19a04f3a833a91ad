# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run PORT=8080 HOST=0.0.0.0 DATA=/srv/eosc-perf`
PORT ?= 5000
HOST ?= 127.0.0.1
DATA ?= data

.PHONY: run install test lint venv test-deps clean

# What running needs; `venv` adds what the tests drive.
install: $(VENV)/.installed-run
venv: $(VENV)/.installed-test

$(VENV)/.installed-run: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	@echo "== creating $(VENV) and installing the service into it (about a minute the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar off -e .
	@rm -f $(VENV)/.installed-test
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	@echo "== installing what the tests drive into $(VENV)"
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The embedded default in development mode: SQLite stores in $(DATA), tokens from `eosc-perf dev-token`.
run: install
	EOSC_PERF_ENV=development $(BIN)/eosc-perf serve --host $(HOST) --port $(PORT) --data $(DATA)

test-deps:
	deploy/local/install-test-deps.sh

# The code as ruff formats it (`ruff format .` fixes it) and free of its lint findings.
lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

test: venv test-deps lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data .pytest_cache
