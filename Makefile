# Tongzhi — the two commands a person needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck contracts jstest unit bench clean system-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the hub on the embedded default (in-process broker + SQLite under ./data).
run: $(STAMP)
	$(VENV)/bin/hub serve --demo $(RUN_ARGS)

system-deps:
	@bash deploy/scripts/system-deps.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check hub channels adapters bench tests
	$(VENV)/bin/ruff format --check hub channels adapters bench tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

## The page's own logic (channels/web/static/js) under Node's built-in test runner.
## The files are named (the shell expands the glob): Node 21+ no longer searches a
## directory given as `node --test tests/js/`.
jstest:
	@if command -v node >/dev/null 2>&1; then node --test tests/js/*.test.mjs; \
	else echo "jstest: skipped, node is not installed (make system-deps installs nodejs)"; fi

unit: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## Install what the tests need and run every test (pytest last: CI reads its summary).
test: $(STAMP) system-deps lint typecheck contracts jstest unit

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
