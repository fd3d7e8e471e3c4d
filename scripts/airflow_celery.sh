#!/usr/bin/env bash
# `make airflow-celery`: Airflow with the CeleryExecutor on this machine's PostgreSQL and Redis.
# Metadata in PostgreSQL database relief_airflow, the warehouse in relief_warehouse, Redis as the broker.
# Starts the api-server (UI on :8080), scheduler, dag-processor and one Celery worker; Ctrl-C stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
PG="${RELIEF_PG:-postgresql+psycopg://postgres@127.0.0.1:5432}"
REDIS="${RELIEF_REDIS:-redis://127.0.0.1:6379/0}"

python - "$PG" <<'PY'
import sys
import sqlalchemy as sa
engine = sa.create_engine(f"{sys.argv[1]}/postgres", isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    for db in ("relief_airflow", "relief_warehouse"):
        if not conn.execute(sa.text("select 1 from pg_database where datname = :d"), {"d": db}).scalar():
            conn.execute(sa.text(f"create database {db}"))
PY

export AIRFLOW_HOME="${RELIEF_VAR:-$PWD/var}/airflow-celery"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$PG/relief_airflow"
export AIRFLOW__CELERY__BROKER_URL="$REDIS"
export AIRFLOW__CELERY__RESULT_BACKEND="db+$PG/relief_airflow"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:${AIRFLOW_PORT:-8080}/execution/"
export NO_PROXY="${NO_PROXY:-127.0.0.1,localhost}"
export RELIEF_DB_URL="${RELIEF_CELERY_DB_URL:-$PG/relief_warehouse}"
mkdir -p "$AIRFLOW_HOME"

airflow db migrate > "$AIRFLOW_HOME/migrate.log" 2>&1
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
airflow api-server --port "${AIRFLOW_PORT:-8080}" > "$AIRFLOW_HOME/api-server.log" 2>&1 & pids+=($!)
airflow scheduler > "$AIRFLOW_HOME/scheduler.log" 2>&1 & pids+=($!)
airflow dag-processor > "$AIRFLOW_HOME/dag-processor.log" 2>&1 & pids+=($!)
airflow celery worker --concurrency 2 > "$AIRFLOW_HOME/worker.log" 2>&1 & pids+=($!)
echo "Airflow (CeleryExecutor, PostgreSQL, Redis) starting; logs in $AIRFLOW_HOME; UI on :${AIRFLOW_PORT:-8080}"
echo "Unpause claims_daily to run the intake window: airflow dags unpause claims_daily"
wait
