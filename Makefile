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
export GX_ANALYTICS_ENABLED := False
# The local (demo) seal key for manifests: production sets its own RELIEF_SEAL_KEY or RELIEF_SEAL_KEY_FILE.
export RELIEF_SEAL_KEY ?= demo-only-key
export NO_PROXY := *

.PHONY: install demo lint test airflow airflow-celery bench bench-rollout clean

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

## airflow: the Airflow UI (standalone) over the same DAGs and metadata as the demo
airflow: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/airflow standalone

## airflow-celery: Airflow with the CeleryExecutor on the local PostgreSQL (metadata, warehouse) and Redis (broker)
airflow-celery: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/airflow_celery.sh

## bench: the intake window at scale 1 and 10 (figures for the README)
bench: $(STAMP)
	$(BIN)/python bench/claims_window.py

## bench-rollout: the rollout at 1M, 10M and 48M users against DuckDB on the same file
bench-rollout: $(STAMP)
	$(BIN)/python bench/rollout.py

clean:
	rm -rf var
