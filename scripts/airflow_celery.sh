#!/usr/bin/env bash
# `make airflow-celery`: Airflow with the CeleryExecutor on this machine's PostgreSQL and Redis.
# Metadata in PostgreSQL database relief_airflow, the warehouse in relief_warehouse, Redis as the broker.
# Starts the api-server (UI on :8080), scheduler, dag-processor and the Celery workers; prints a line starting
# with "ready:" once every one of them answers (scripts/celery_check.py wait); Ctrl-C (or SIGTERM) stops them.
# If any of them exits, the others are stopped too and the script exits non-zero.
#
#   scripts/airflow_celery.sh [--workers N] [--concurrency N] [--port PORT]
#
# Overrides (environment), for a second instance beside the first (tests/dags/test_celery.py runs one):
#   RELIEF_PG            the server, as a SQLAlchemy URL without a database (postgresql+psycopg://postgres@127.0.0.1:5432)
#   RELIEF_AIRFLOW_DB    the metadata database (relief_airflow); created when missing
#   RELIEF_WAREHOUSE_DB  the warehouse database (relief_warehouse); created when missing
#   RELIEF_CELERY_DB_URL the warehouse's whole URL instead (nothing is created for it)
#   RELIEF_REDIS         the broker (redis://127.0.0.1:6379/0)
#   RELIEF_CELERY_HOME   AIRFLOW_HOME ($RELIEF_VAR/airflow-celery, else ./var/airflow-celery)
#   AIRFLOW_PORT         the api-server's port (8080; --port); the workers reach its execution API there
#   RELIEF_LOG_PORT      worker 1's log server port (8793); worker N serves on RELIEF_LOG_PORT + N - 1
#   RELIEF_READY_TIMEOUT seconds to wait for everything to answer (180)
# Workers are named worker1@HOST, worker2@HOST, ... and each task instance's `hostname` in Airflow is the
# name of the worker that ran it (core.hostname_callable = celery_check.worker_hostname).
set -euo pipefail
cd "$(dirname "$0")/.."

workers=1 concurrency=2 port="${AIRFLOW_PORT:-8080}"
while (($#)); do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$workers" =~ ^[1-9][0-9]*$ && "$concurrency" =~ ^[1-9][0-9]*$ && "$port" =~ ^[1-9][0-9]*$ ]] \
  || { echo "--workers, --concurrency and --port take positive integers" >&2; exit 2; }

PG="${RELIEF_PG:-postgresql+psycopg://postgres@127.0.0.1:5432}"
AIRFLOW_DB="${RELIEF_AIRFLOW_DB:-relief_airflow}"
WAREHOUSE_DB="${RELIEF_WAREHOUSE_DB:-relief_warehouse}"
REDIS="${RELIEF_REDIS:-redis://127.0.0.1:6379/0}"
LOG_PORT="${RELIEF_LOG_PORT:-8793}"

databases=("$AIRFLOW_DB")
[[ -n "${RELIEF_CELERY_DB_URL:-}" ]] || databases+=("$WAREHOUSE_DB")
python - "$PG" "${databases[@]}" <<'PY'
import re
import sys

import sqlalchemy as sa

engine = sa.create_engine(f"{sys.argv[1]}/postgres", isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    for db in sys.argv[2:]:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", db):
            sys.exit(f"not a plain database name: {db!r}")
        if not conn.execute(sa.text("select 1 from pg_database where datname = :d"), {"d": db}).scalar():
            conn.execute(sa.text(f"create database {db}"))
engine.dispose()
PY

export AIRFLOW_HOME="${RELIEF_CELERY_HOME:-${RELIEF_VAR:-$PWD/var}/airflow-celery}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$PWD/dags}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$PG/$AIRFLOW_DB"
export AIRFLOW__CELERY__BROKER_URL="$REDIS"
export AIRFLOW__CELERY__RESULT_BACKEND="db+$PG/$AIRFLOW_DB"
# Airflow's Celery config, read through etl/quality/preload.py: a worker imports Great Expectations once, before
# it forks the processes that run tasks, so no validation task pays GX's ~6 s import (the task logs say which).
export AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=etl.quality.preload.CELERY_CONFIG
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$port/execution/"
# A task instance's hostname: the Celery worker that ran it (worker1@HOST), not only the machine's name.
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}"
export AIRFLOW__CORE__HOSTNAME_CALLABLE=celery_check.worker_hostname
export NO_PROXY="${NO_PROXY:-127.0.0.1,localhost}" no_proxy="${no_proxy:-${NO_PROXY:-127.0.0.1,localhost}}"
export GX_ANALYTICS_ENABLED="${GX_ANALYTICS_ENABLED:-False}"
export RELIEF_DB_URL="${RELIEF_CELERY_DB_URL:-$PG/$WAREHOUSE_DB}"
mkdir -p "$AIRFLOW_HOME"
# The same environment for the airflow CLI: . "$AIRFLOW_HOME/airflow.env"; airflow dags unpause claims_daily
for v in $(compgen -e | grep -E '^(AIRFLOW|RELIEF_(DB_URL|INBOX|OUTBOX|PROGRAM|SHARD_SIZE)$|PYTHONPATH$|GX_ANALYTICS_ENABLED$|NO_PROXY$|no_proxy$)'); do
  printf 'export %s=%q\n' "$v" "${!v}"
done > "$AIRFLOW_HOME/airflow.env"
chmod 600 "$AIRFLOW_HOME/airflow.env"  # may hold the database's password

airflow db migrate > "$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -n 40 "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
echo "metadata database $AIRFLOW_DB migrated (${SECONDS}s)"

pids=()
stop() {
  trap - EXIT INT TERM
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 30); do  # a warm shutdown lets running tasks finish; then no more waiting
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

airflow api-server --port "$port" > "$AIRFLOW_HOME/api-server.log" 2>&1 & pids+=($!)
airflow scheduler > "$AIRFLOW_HOME/scheduler.log" 2>&1 & pids+=($!)
airflow dag-processor > "$AIRFLOW_HOME/dag-processor.log" 2>&1 & pids+=($!)
for ((i = 1; i <= workers; i++)); do
  AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$((LOG_PORT + i - 1)) \
    airflow celery worker --celery-hostname "worker$i@%h" --concurrency "$concurrency" \
    > "$AIRFLOW_HOME/worker$i.log" 2>&1 & pids+=($!)
done
echo "Airflow (CeleryExecutor, PostgreSQL $AIRFLOW_DB, Redis $REDIS) starting with $workers worker(s); logs in $AIRFLOW_HOME"

python scripts/celery_check.py wait --api "http://127.0.0.1:$port" --workers "$workers" \
  --timeout "${RELIEF_READY_TIMEOUT:-180}" --dags claims_daily grants_rollout &
waiter=$!
# Whichever ends first: the readiness check, or one of the processes (then it failed to start).
set +e
wait -n -p ended "$waiter" "${pids[@]}"
status=$?
set -e
if [[ "${ended:-}" != "$waiter" || $status -ne 0 ]]; then
  kill "$waiter" 2>/dev/null || true
  echo "not ready: see the logs in $AIRFLOW_HOME" >&2
  exit 1
fi
echo "UI on http://127.0.0.1:$port (password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
echo "To run the intake window: . $AIRFLOW_HOME/airflow.env; airflow dags unpause claims_daily"
set +e
wait -n "${pids[@]}"
status=$?
set -e
echo "an Airflow process exited (status $status): stopping the others; see the logs in $AIRFLOW_HOME" >&2
exit 1
