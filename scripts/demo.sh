#!/usr/bin/env bash
# `make demo`: generate the calibrated inbox, run the whole intake window through the real
# claims_daily DAG (Airflow on SQLite, warehouse on SQLite), then print the figures beside PROGRAM.md.
# Starts from a clean ./var each time, so it can be run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RELIEF_VAR:?run through make demo}" "${AIRFLOW_HOME:?run through make demo}"
# The demo runs unattended: the demo overlay of the program switches automatic approval on (the shipped
# programs/kakao_1015.toml waits for a person to approve each day's payment batch).
export RELIEF_PROGRAM="$PWD/programs/kakao_1015_demo.toml"

rm -rf "$RELIEF_INBOX" "$RELIEF_OUTBOX" "$AIRFLOW_HOME" "$RELIEF_VAR"/warehouse.sqlite*
mkdir -p "$RELIEF_VAR"
echo "== generating the calibrated inbox (scale 1) into $RELIEF_INBOX"
relief generate claims --scale 1 --seed 1015 > "$RELIEF_VAR/generate.json"
echo "== preparing Airflow's metadata database in $AIRFLOW_HOME"
airflow db migrate > "$RELIEF_VAR/airflow-migrate.log" 2>&1
echo "== running claims_daily for each day of the intake window (Airflow task logs: $RELIEF_VAR/airflow-demo.log)"
python scripts/run_window.py 2>&1 | tee "$RELIEF_VAR/airflow-demo.log" | grep --line-buffered '^claims_daily '
echo
relief report
echo
echo "Outbox: $RELIEF_OUTBOX   (check a payment folder: relief verify $RELIEF_OUTBOX/payments/2022-10-16)"
echo "Airflow UI over these runs: make airflow"
