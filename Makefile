# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false

.PHONY: demo test lint install install-test clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "govern needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	$(BIN)/govern demo --out govern-demo

lint: install-test
	$(BIN)/ruff check govern tests bench
	$(BIN)/ruff format --check govern tests bench
	$(BIN)/mypy

test: install-test lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) govern-demo build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
