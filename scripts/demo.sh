#!/usr/bin/env bash
# `make demo`: the program's whole life through the real claims_daily DAG (Airflow on SQLite, warehouse on
# SQLite): the calibrated inbox, the 19-day intake window, the council's decisions and the bank's results,
# a payment above the cap released by a second approval, and the close. Prints the figures beside PROGRAM.md.
# Starts from a clean ./var each time, so it can be run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RELIEF_VAR:?run through make demo}" "${AIRFLOW_HOME:?run through make demo}"
# The demo runs unattended: the demo overlay of the program switches automatic approval on (the shipped
# programs/kakao_1015.toml waits for a named approver to approve each day's payment batch).
export RELIEF_PROGRAM="$PWD/programs/kakao_1015_demo.toml"
# Every manifest is sealed (HMAC-SHA256) with a key from the environment; the demo's key proves nothing,
# and `relief verify` says so. Production sets its own RELIEF_SEAL_KEY (or RELIEF_SEAL_KEY_FILE).
export RELIEF_SEAL_KEY="${RELIEF_SEAL_KEY:-demo-only-key}"
LOG="$RELIEF_VAR/airflow-demo.log"

rm -rf "$RELIEF_INBOX" "$RELIEF_OUTBOX" "$AIRFLOW_HOME" "$RELIEF_VAR"/warehouse.sqlite*
mkdir -p "$RELIEF_VAR"
echo "== generating the calibrated inbox (scale 1) into $RELIEF_INBOX"
relief generate claims --scale 1 --seed 1015 > "$RELIEF_VAR/generate.json"
echo "== preparing Airflow's metadata database in $AIRFLOW_HOME"
airflow db migrate > "$RELIEF_VAR/airflow-migrate.log" 2>&1
echo "== the intake window: one claims_daily run a day (Airflow task logs: $LOG)"
python scripts/run_window.py 2>&1 | tee "$LOG" | grep --line-buffered '^claims_daily '
echo
relief report
echo
echo "== the settlement period: the council's decisions from 2022-11-14, the bank's results"
relief generate settlement > "$RELIEF_VAR/settlement.json"
python scripts/run_window.py --to-close 2022-11-03 2022-11-14 2>&1 | tee -a "$LOG" | grep --line-buffered '^claims_daily '
over_cap="$RELIEF_OUTBOX/reviews/2022-11-14/over_cap.csv"
python - "$over_cap" > "$RELIEF_VAR/release.args" <<'PY'
import csv, sys
for row in csv.DictReader(open(sys.argv[1], encoding="utf-8-sig")):
    print(row["claimant_key"].lstrip("'"), row["amount_krw"])
PY
while read -r key amount; do
  echo "== a council approval above the cap: released by a second approval ($key, $amount KRW)"
  relief release "$key" "$amount" --by "demo.finance" --reason "council minutes, meeting 1"
done < "$RELIEF_VAR/release.args"
python scripts/run_window.py --to-close 2022-11-15 2>&1 | tee -a "$LOG" | grep --line-buffered '^claims_daily '
echo
relief report
echo
close_dir=$(ls -d "$RELIEF_OUTBOX"/reports/close/* | tail -n 1)
echo "== the close: $close_dir/closing.md"
cat "$close_dir/closing.md"
echo "Outbox: $RELIEF_OUTBOX   (check a payment folder: relief verify $RELIEF_OUTBOX/payments/2022-10-15)"
echo "Airflow UI over these runs: make airflow"
