# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AIRFLOW_VENV ?= .venv-airflow
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false

.PHONY: demo test test-integration test-spark test-airflow lint install install-test install-spark clean

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
	$(BIN)/ruff check govern tests bench examples
	$(BIN)/ruff format --check govern tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install-test lint
	$(BIN)/pytest -q -n auto --dist loadfile --ignore=tests/integration --ignore=tests/spark

# The production MLflow stack: PostgreSQL (Debian's postgresql package: initdb, pg_ctl) and S3
# (moto's server), each started by the fixtures on 127.0.0.1. Missing parts fail here, not skip.
test-integration: install-test
	GOVERN_REQUIRE_INTEGRATION=1 $(BIN)/pytest -q tests/integration

install-spark: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,spark]'

# The Spark engine on local Spark (local[2], small data) and over a Spark Connect server the tests
# start from pyspark's own jars; needs Java 17 (JAVA_HOME or java on PATH).
# GOVERN_REQUIRE_SPARK makes a missing pyspark or Java a failure, never a skip.
test-spark: install-spark
	GOVERN_REQUIRE_SPARK=1 $(BIN)/pytest -q tests/spark

# Airflow gets its own virtualenv: its pins (SQLAlchemy, pydantic, ...) conflict with MLflow's.
$(AIRFLOW_VENV)/.installed: tests/airflow/requirements.txt
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet -r tests/airflow/requirements.txt
	touch $@

test-airflow: install-test $(AIRFLOW_VENV)/.installed
	GOVERN_AIRFLOW_PYTHON=$(AIRFLOW_VENV)/bin/python $(BIN)/pytest -q tests/test_examples.py -k airflow

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) govern-demo build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
