"""Benchmark: the 19-day intake window through `relief run-day`, at scale 1 and 10.

For each scale: generate the calibrated inbox, then run the window
  * in one process (`relief run-day FIRST --to LAST`), and
  * as 19 processes, one `relief run-day DAY` each (as Airflow runs one task per process),
and print wall time, rows/s, peak RSS, the time per stage, and the ratio to a reference run on the
same files in the same run: DuckDB reading every file and counting the reports by type and damage
(a floor for "read the CSVs and count", with none of the rules, audit or outputs).
Not a test: figures to read. Usage: python bench/claims_window.py [--scales 1 10] [--skip-per-day]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RELIEF = str(BIN / "relief")


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of the process, and its stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out


def duckdb_reference(inbox: Path) -> float:
    """DuckDB on the same files: latest delivery per receipt, counted by type and damage."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"""
        create table services as select * from read_csv('{REPO / "programs" / "kakao_1015_services.csv"}');
        create table raw as
        select *, filename from read_csv('{inbox}/claims_*.csv', all_varchar = true, ignore_errors = true,
                                         filename = true, strict_mode = false);
        """
    )
    con.execute(
        """
        with latest as (
            select *, row_number() over (partition by receipt_no order by filename desc) as rn from raw
        )
        select s.kakao_corp, l.claimant_type, l.paid_service, l.monetary_loss, count(*)
        from latest l join services s on s.service_code = l.service
        where rn = 1
        group by all
        """
    ).fetchall()
    return time.perf_counter() - started


def bench_scale(scale: float, per_day: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"relief-bench-{scale}-") as tmp:
        tmp = Path(tmp)
        env = {
            **os.environ,
            "RELIEF_INBOX": str(tmp / "inbox"),
            "RELIEF_OUTBOX": str(tmp / "outbox"),
            "RELIEF_DB_URL": f"sqlite:///{tmp / 'warehouse.sqlite'}",
            "GX_ANALYTICS_ENABLED": "False",
            # unattended: the demo overlay (approval off); the shipped program waits for a person
            "RELIEF_PROGRAM": os.environ.get("RELIEF_PROGRAM") or str(REPO / "programs" / "kakao_1015_demo.toml"),
        }
        gen_wall, gen_rss, out = run_measured(
            [RELIEF, "generate", "claims", "--scale", str(scale), "--seed", "1015"], env
        )
        generated = json.loads(out)
        rows = sum(p.stat().st_size for p in (tmp / "inbox").glob("claims_*.csv"))
        from etl.core.config import load_program

        days = load_program().intake_days()
        first, last = days[0].isoformat(), days[-1].isoformat()

        wall, rss, out = run_measured([RELIEF, "run-day", first, "--to", last], env)
        results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        rows_received = sum(r["rows_received"] for r in results)
        stages: dict[str, float] = defaultdict(float)
        for r in results:
            for stage, secs in r["seconds"].items():
                stages[stage] += secs
        report = {
            "scale": scale,
            "rows": rows_received,
            "inbox_mib": round(rows / 2**20, 1),
            "generate_s": round(gen_wall, 2),
            "generate_rss_mib": round(gen_rss),
            "window_one_process_s": round(wall, 2),
            "rows_per_s": round(rows_received / wall),
            "peak_rss_mib": round(rss),
            "stages_s": {k: round(v, 2) for k, v in stages.items()},
            "payments": sum(r["payments"] for r in results),
            "expected": generated.get("expected"),
        }

        if per_day:
            for p in (tmp / "outbox",):
                subprocess.run(["rm", "-rf", str(p)], check=True)
            (tmp / "warehouse.sqlite").unlink()
            total, peak = 0.0, 0.0
            for day in days:
                w, r, _ = run_measured([RELIEF, "run-day", day.isoformat()], env)
                total += w
                peak = max(peak, r)
            report["window_19_processes_s"] = round(total, 2)
            report["per_process_peak_rss_mib"] = round(peak)

        ref = duckdb_reference(tmp / "inbox")
        report["reference_duckdb_count_s"] = round(ref, 2)
        report["ratio_to_reference"] = round(wall / ref, 1)
        return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--skip-per-day", action="store_true", help="skip the 19-process run")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    reports = []
    for scale in args.scales:
        report = bench_scale(scale, per_day=not args.skip_per_day)
        reports.append(report)
        print(json.dumps(report, indent=2))
    print("\n| scale | rows | window, 1 process | rows/s | peak RSS | 19 processes | DuckDB count (ref) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in reports:
        print(
            f"| {r['scale']:g} | {r['rows']:,} | {r['window_one_process_s']} s | {r['rows_per_s']:,} |"
            f" {r['peak_rss_mib']} MiB | {r.get('window_19_processes_s', '-')} s |"
            f" {r['reference_duckdb_count_s']} s | {r['ratio_to_reference']}x |"
        )
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "claims_window.json").write_text(json.dumps(reports, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
