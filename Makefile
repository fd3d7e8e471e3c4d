# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export RELIEF_VAR ?= $(CURDIR)/var
export RELIEF_INBOX ?= $(RELIEF_VAR)/inbox
export RELIEF_OUTBOX ?= $(RELIEF_VAR)/outbox
export RELIEF_DB_URL ?= sqlite:///$(RELIEF_VAR)/warehouse.sqlite
export AIRFLOW_HOME ?= $(RELIEF_VAR)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DEFAULT_TIMEZONE := Asia/Seoul
# The LocalExecutor, with Great Expectations imported once in the scheduler, before it forks the workers that fork
# the tasks (etl/quality/local_executor.py): no validation task pays GX's import. scripts/airflow_celery.sh sets Celery.
export AIRFLOW__CORE__EXECUTOR ?= etl.quality.local_executor.PreloadingLocalExecutor
export GX_ANALYTICS_ENABLED := False
# The local (demo) seal key for manifests: production sets its own RELIEF_SEAL_KEY or RELIEF_SEAL_KEY_FILE.
export RELIEF_SEAL_KEY ?= demo-only-key
export NO_PROXY := *

.PHONY: install demo lint test test-dags test-browser test-celery airflow airflow-celery bench bench-rollout clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: generate the calibrated inbox, run the whole intake window through the claims_daily DAG, print the figures
demo: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/demo.sh

## lint: ruff (lint and format) over the repository, mypy over etl/: zero findings
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## test: lint, then the whole suite (unit, warehouse on SQLite and PostgreSQL, end-to-end through Airflow)
test: lint
	$(BIN)/pytest

## test-dags: the DAG tests only (policy, end to end through Airflow, alerts, Data Docs, the browser test)
test-dags: $(STAMP)
	$(BIN)/pytest tests/dags

## test-browser: the browser test alone (Debian's chromium: apt-get install -y chromium); screenshots in var/browser/
test-browser: $(STAMP)
	$(BIN)/pytest -m browser tests/dags/test_browser.py

## airflow: the Airflow UI (standalone) over the same DAGs and metadata as the demo
airflow: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/airflow standalone

## airflow-celery: Airflow with the CeleryExecutor on the local PostgreSQL (metadata, warehouse) and Redis (broker)
##   CELERY_ARGS="--workers 2 --port 8081" passes options to scripts/airflow_celery.sh (see its --help)
airflow-celery: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/airflow_celery.sh $(CELERY_ARGS)

## test-celery: the distributed path alone (tests/dags/test_celery.py: two Celery workers, PostgreSQL, Redis; ~4 min)
test-celery: $(STAMP)
	$(BIN)/pytest -m celery -s tests/dags/test_celery.py

## bench: the intake window at scale 1 and 10 on SQLite and PostgreSQL beside a DuckDB reference of the rules
##   (RELIEF_BENCH_SCALES=1,10,100 adds scale 100; RELIEF_BENCH_BACKENDS=sqlite for one warehouse)
bench: $(STAMP)
	$(BIN)/python bench/claims_window.py

## bench-rollout: the rollout at 1M, 10M and 48M users against DuckDB on the same file
bench-rollout: $(STAMP)
	$(BIN)/python bench/rollout.py

clean:
	rm -rf var
