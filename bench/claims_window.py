"""Benchmark: the 19-day intake window through `relief run-day`, on SQLite and PostgreSQL, beside a DuckDB reference.

For each scale (1 and 10; `RELIEF_BENCH_SCALES=1,10,100` or `--scales` for more) the calibrated inbox is
generated once, then for each warehouse (SQLite file, a fresh PostgreSQL database; `RELIEF_BENCH_BACKENDS`):
  * the window in one process (`relief run-day FIRST --to LAST`, the demo program: automatic approval), and
  * the window as one process per day (`relief run-day DAY` x 19, as Airflow runs one task per process), their
    sidecars forked warm by a `relief sidecar-server` started for the run, as Airflow's workers preload
    (`--per-day-sidecars spawn`: each process spawns its own, as a bare shell loop does),
each from an empty warehouse and outbox: wall time, rows/s, peak RSS (of the `relief` process: PostgreSQL's
own memory is not in it), and the seconds per stage from run-day's JSON.
Beside them, in the same run on the same files: `bench/duckdb_reference.py`, the payment rules in DuckDB
(re-deliveries, resubmissions, affiliates, summed loss, tiers and review threshold, fraud holds, top-ups
against paid-before; every day recomputed in full from the raw files; no council decisions or bank returns),
timed the same way. Each run's `payments/DAY/payments.csv` must pay what the reference pays, day by day
(count and KRW): OK, or DIFFERS with the days that differ. Then the growth from one scale to the next.

Not a test: figures to read, printed as tables (and kept in bench/out/claims_window.json, not committed).

    .venv/bin/python bench/claims_window.py [--scales 1 10] [--backends sqlite postgres] [--skip-per-day]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RELIEF = str(BIN / "relief")
PG_URL = os.environ.get("RELIEF_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STAGES = ("stage", "validate_claims", "compute", "validate_payments", "publish")


def tree_rss_peak(pid: int, stop: threading.Event, peak: list[float], server: int | None = None) -> None:
    """Sample the summed RSS of a process and its children (relief's sidecar) every 200 ms, keep the peak; with a
    sidecar server, its children too (the warm sidecar it forked for this process; the server itself waits)."""
    import psutil

    try:
        root = psutil.Process(pid)
        forks = psutil.Process(server) if server else None
    except psutil.NoSuchProcess:
        return
    while not stop.wait(0.2):
        total = 0
        try:
            procs = [root, *root.children(recursive=True), *(forks.children() if forks else ())]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        peak[0] = max(peak[0], total / 2**20)


def run_measured(cmd: list[str], env: dict[str, str], server: int | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of the process and its children together, and its stdout.

    The peak is the larger of the process's own (the kernel's high-water mark) and the sum over its process
    tree sampled every 200 ms: `relief run-day` validates in a second process (its sidecar), whose memory counts
    (a warm sidecar forked by the sidecar server `server` is that server's child: counted too).
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        stop, tree_peak = threading.Event(), [0.0]
        sampler = threading.Thread(target=tree_rss_peak, args=(proc.pid, stop, tree_peak, server), daemon=True)
        sampler.start()
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"{' '.join(cmd)} failed with exit code {code}:\n{tail}")
    return wall, max(usage.ru_maxrss / 1024, tree_peak[0]), out


@contextlib.contextmanager
def warehouse(backend: str, tmp: Path):
    """A fresh, empty warehouse: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        path = tmp / f"warehouse-{uuid.uuid4().hex[:8]}.sqlite"
        yield f"sqlite:///{path}"
        for p in tmp.glob(path.name + "*"):
            p.unlink()
        return
    import psycopg
    import sqlalchemy as sa

    url = sa.engine.make_url(PG_URL)
    params = {"host": url.host or "127.0.0.1", "port": url.port or 5432, "user": url.username or "postgres"}
    if url.password:
        params["password"] = url.password
    name = f"relief_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f"create database {name}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(f"drop database if exists {name} with (force)")


def paid_per_day(outbox: Path, days: list[str]) -> dict[str, dict[str, int]]:
    """What each day's payments.csv pays: {"payments": n, "total_krw": sum} (a day without one pays nothing)."""
    out = {}
    for day in days:
        path = outbox / "payments" / day / "payments.csv"
        n = total = 0
        if path.is_file():
            with open(path, newline="", encoding="utf-8-sig") as fh:
                for row in csv.DictReader(fh):
                    n += 1
                    total += int(row["amount_krw"].lstrip("'"))
        out[day] = {"payments": n, "total_krw": total}
    return out


def compare(ours: dict, ref: dict, days: list[str]) -> tuple[str, list[str]]:
    """OK when every day pays the same count and KRW as the reference; else DIFFERS and the days that do."""
    diffs = [
        f"{d}: {ours[d]['payments']} / {ours[d]['total_krw']:,} KRW, reference {ref[d]['payments']} /"
        f" {ref[d]['total_krw']:,} KRW"
        for d in days
        if ours[d] != ref[d]
    ]
    return ("OK" if not diffs else "DIFFERS"), diffs


def results_of(out: str) -> list[dict]:
    return [r for r in (json.loads(line) for line in out.splitlines() if line.startswith("{")) if "seconds" in r]


def stage_seconds(results: list[dict]) -> dict[str, float]:
    stages: dict[str, float] = defaultdict(float)
    for r in results:
        for stage, secs in r["seconds"].items():
            stages[stage] += secs
    return {k: round(v, 2) for k, v in stages.items()}


def bench_backend(backend: str, tmp: Path, env: dict, days: list[str], ref: dict, per_day: str | None) -> dict:
    report: dict = {"backend": backend}
    outbox = tmp / "outbox"
    # the window in one process
    shutil.rmtree(outbox, ignore_errors=True)
    with warehouse(backend, tmp) as url:
        run_env = {**env, "RELIEF_DB_URL": url}
        wall, rss, out = run_measured([RELIEF, "run-day", days[0], "--to", days[-1]], run_env)
    results = results_of(out)
    rows = sum(r["rows_received"] for r in results)
    paid = paid_per_day(outbox, days)
    verdict, diffs = compare(paid, ref, days)
    report.update(
        rows=rows,
        one_process_s=round(wall, 2),
        one_process_rows_per_s=round(rows / wall),
        one_process_rss_mib=round(rss),
        one_process_stages_s=stage_seconds(results),
        payments=sum(p["payments"] for p in paid.values()),
        paid_krw=sum(p["total_krw"] for p in paid.values()),
        one_process_vs_reference=verdict,
        one_process_differences=diffs,
    )
    print(
        f"  {backend}: one process {wall:.1f}s, peak {rss:.0f} MiB, {verdict};"
        f" stages {json.dumps(report['one_process_stages_s'])}",
        flush=True,
    )
    if per_day:
        shutil.rmtree(outbox, ignore_errors=True)
        total, peak, all_results = 0.0, 0.0, []
        with warehouse(backend, tmp) as url, sidecar_server(env, per_day == "server") as server:
            run_env = {**env, "RELIEF_DB_URL": url, **server[0]}
            for day in days:
                w, r, out = run_measured([RELIEF, "run-day", day], run_env, server[1])
                total += w
                peak = max(peak, r)
                all_results += results_of(out)
        paid = paid_per_day(outbox, days)
        verdict, diffs = compare(paid, ref, days)
        report.update(
            per_day_sidecars=per_day,
            per_day_s=round(total, 2),
            per_day_rows_per_s=round(rows / total),
            per_day_rss_mib=round(peak),
            per_day_stages_s=stage_seconds(all_results),
            per_day_vs_reference=verdict,
            per_day_differences=diffs,
        )
        print(
            f"  {backend}: {len(days)} processes ({per_day} sidecars) {total:.1f}s, peak {peak:.0f} MiB, {verdict};"
            f" stages {json.dumps(report['per_day_stages_s'])}",
            flush=True,
        )
    shutil.rmtree(outbox, ignore_errors=True)
    return report


@contextlib.contextmanager
def sidecar_server(env: dict[str, str], wanted: bool):
    """A `relief sidecar-server` for the per-day runs (in a private folder of its own), stopped afterwards: its
    settings for the `relief` processes, and its pid. Without one ({}, None): each process spawns its sidecar."""
    if not wanted:
        yield {}, None
        return
    folder = Path(tempfile.mkdtemp(prefix="rsb-"))  # short: a Unix socket's path has at most 107 bytes
    settings = {"RELIEF_SIDECAR_DIR": str(folder)}
    ready = folder / "ready"
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [RELIEF, "sidecar-server", "--idle", "0", "--ready-file", str(ready)],
        env={**env, **settings},
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"relief sidecar-server did not start:\n{(folder / 'server.log').read_text()}")
            time.sleep(0.1)
        yield settings, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


OUT = REPO / "bench" / "out" / "claims_window.json"


def save(reports: list[dict]) -> None:
    """After every step: an interrupted run keeps what it measured."""
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(reports, indent=2))


def bench_scale(scale: float, backends: list[str], per_day: str | None, reports: list[dict]) -> dict:
    from etl.core.config import load_program

    program_file = os.environ.get("RELIEF_PROGRAM") or str(REPO / "programs" / "kakao_1015_demo.toml")
    days = [d.isoformat() for d in load_program(program_file).intake_days()]
    with tempfile.TemporaryDirectory(prefix=f"relief-bench-{scale:g}-") as tmp_name:
        tmp = Path(tmp_name)
        env = {
            **os.environ,
            "RELIEF_INBOX": str(tmp / "inbox"),
            "RELIEF_OUTBOX": str(tmp / "outbox"),
            "GX_ANALYTICS_ENABLED": "False",
            # unattended: the demo overlay (approval automatic); the shipped program waits for a person
            "RELIEF_PROGRAM": program_file,
            "RELIEF_SEAL_KEY": os.environ.get("RELIEF_SEAL_KEY") or "demo-only-key",
        }
        env.pop("RELIEF_DB_URL", None)
        print(f"scale {scale:g}: generating the inbox", flush=True)
        gen_wall, gen_rss, _ = run_measured(
            [RELIEF, "generate", "claims", "--scale", str(scale), "--seed", "1015"],
            {**env, "RELIEF_DB_URL": f"sqlite:///{tmp / 'unused.sqlite'}"},
        )
        inbox_mib = sum(p.stat().st_size for p in (tmp / "inbox").glob("claims_*.csv")) / 2**20
        ref_wall, ref_rss, out = run_measured(
            [
                sys.executable,
                str(REPO / "bench" / "duckdb_reference.py"),
                str(tmp / "inbox"),
                "--program",
                program_file,
            ],
            env,
        )
        ref = json.loads(out)
        print(f"  DuckDB reference {ref_wall:.1f}s, peak {ref_rss:.0f} MiB", flush=True)
        report = {
            "scale": scale,
            "inbox_mib": round(inbox_mib, 1),
            "generate_s": round(gen_wall, 2),
            "generate_rss_mib": round(gen_rss),
            "reference": {
                "s": round(ref_wall, 2),
                "rss_mib": round(ref_rss),
                "frame_s": ref["_seconds"]["frame"],
                "rules_s": ref["_seconds"]["rules"],
                "records": ref["_records"],
                "valid_rows": ref["_rows"]["valid"],
                "payments": sum(ref[d]["payments"] for d in days),
                "paid_krw": sum(ref[d]["total_krw"] for d in days),
            },
            "backends": [],
        }
        reports.append(report)
        for b in backends:
            report["backends"].append(bench_backend(b, tmp, env, days, ref, per_day))
            save(reports)
        return report


def _growth(a: float | None, b: float | None) -> str:
    return f"{b / a:.1f}x" if a and b else "-"


def print_tables(reports: list[dict], days: int) -> None:
    print(
        f"\n| scale | warehouse | rows | window, 1 process | rows/s | peak RSS | window, {days} processes | rows/s |"
        " peak RSS | payments | paid KRW | same as DuckDB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for rep in reports:
        for b in rep["backends"]:
            same = b["one_process_vs_reference"]
            if "per_day_vs_reference" in b:
                same += f" / {b['per_day_vs_reference']}"
            per_day = (
                f"{b['per_day_s']:.1f} s ({b.get('per_day_sidecars', 'spawn')}) | {b['per_day_rows_per_s']:,} |"
                f" {b['per_day_rss_mib']} MiB"
                if "per_day_s" in b
                else "- | - | -"
            )
            print(
                f"| {rep['scale']:g} | {b['backend']} | {b['rows']:,} | {b['one_process_s']:.1f} s |"
                f" {b['one_process_rows_per_s']:,} | {b['one_process_rss_mib']} MiB | {per_day} |"
                f" {b['payments']:,} | {b['paid_krw']:,} | {same} |"
            )

    print(f"\nSeconds per stage over the window (1 process / {days} processes):\n")
    print("| scale | warehouse | " + " | ".join(STAGES) + " | other |")
    print("|---|---|" + "---:|" * (len(STAGES) + 1))
    for rep in reports:
        for b in rep["backends"]:
            cells = []
            for name in (*STAGES, "other"):
                vals = []
                for key in ("one_process_stages_s", "per_day_stages_s"):
                    st = b.get(key)
                    if st is None:
                        continue
                    v = sum(s for k, s in st.items() if k not in STAGES) if name == "other" else st.get(name, 0.0)
                    vals.append(f"{v:.1f}")
                cells.append(" / ".join(vals))
            print(f"| {rep['scale']:g} | {b['backend']} | " + " | ".join(cells) + " |")

    print("\nThe DuckDB reference (same rules, every day recomputed from the raw files), one process:\n")
    print(
        "| scale | records | wall | of which framing (RFC 4180) | rules in DuckDB | peak RSS | payments | paid KRW |"
        " ours, 1 process (SQLite) / reference |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rep in reports:
        r = rep["reference"]
        sqlite = next((b for b in rep["backends"] if b["backend"] == "sqlite"), rep["backends"][0])
        print(
            f"| {rep['scale']:g} | {r['records']:,} | {r['s']:.1f} s | {r['frame_s']:.1f} s | {r['rules_s']:.1f} s |"
            f" {r['rss_mib']} MiB | {r['payments']:,} | {r['paid_krw']:,} |"
            f" {sqlite['one_process_s'] / r['s']:.1f}x |"
        )

    if len(reports) > 1:
        print("\nGrowth from one scale to the next (time ratio; rows grow about 10x):\n")
        print(f"| scales | warehouse | rows | 1 process | {days} processes | peak RSS, 1 process | DuckDB reference |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for prev, cur in itertools.pairwise(reports):
            for b0 in prev["backends"]:
                b1 = next(b for b in cur["backends"] if b["backend"] == b0["backend"])
                print(
                    f"| {prev['scale']:g} → {cur['scale']:g} | {b0['backend']} | {_growth(b0['rows'], b1['rows'])} |"
                    f" {_growth(b0['one_process_s'], b1['one_process_s'])} |"
                    f" {_growth(b0.get('per_day_s'), b1.get('per_day_s'))} |"
                    f" {_growth(b0['one_process_rss_mib'], b1['one_process_rss_mib'])} |"
                    f" {_growth(prev['reference']['s'], cur['reference']['s'])} |"
                )

    for rep in reports:
        for b in rep["backends"]:
            for key in ("one_process_differences", "per_day_differences"):
                for line in b.get(key, [])[:10]:
                    print(f"DIFFERS scale {rep['scale']:g} {b['backend']} ({key.split('_differences')[0]}): {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=Path, help="print the tables of a saved run (bench/out/claims_window.json)")
    scales = [float(s) for s in os.environ.get("RELIEF_BENCH_SCALES", "1,10").split(",") if s.strip()]
    backends = [b for b in os.environ.get("RELIEF_BENCH_BACKENDS", "sqlite,postgres").split(",") if b.strip()]
    parser.add_argument("--scales", type=float, nargs="+", default=scales)
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "postgres"], default=backends)
    parser.add_argument("--skip-per-day", action="store_true", help="skip the one-process-per-day runs")
    parser.add_argument(
        "--per-day-sidecars",
        choices=["server", "spawn"],
        default="server",
        help="the per-day processes' sidecars: forked warm by a `relief sidecar-server` started for the run"
        " (default), or each spawned and importing Great Expectations itself (a bare shell loop)",
    )
    args = parser.parse_args()
    if args.tables:
        print_tables(json.loads(args.tables.read_text()), 19)
        return 0
    import duckdb

    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; duckdb {duckdb.__version__}", flush=True)
    reports: list[dict] = []
    for scale in args.scales:
        bench_scale(scale, args.backends, None if args.skip_per_day else args.per_day_sidecars, reports)
    from etl.core.config import load_program

    days = len(
        load_program(os.environ.get("RELIEF_PROGRAM") or REPO / "programs" / "kakao_1015_demo.toml").intake_days()
    )
    print_tables(reports, days)
    save(reports)
    ok = all(
        b[k] == "OK"
        for rep in reports
        for b in rep["backends"]
        for k in ("one_process_vs_reference", "per_day_vs_reference")
        if k in b
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
