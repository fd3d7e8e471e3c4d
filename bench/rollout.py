"""Benchmark of the January 5 rollout against DuckDB doing the same job on the same file.

For each size: generate the user directory (users.csv), then, each in its own process measured
with /usr/bin/time (wall time, peak RSS):
- ours: `relief rollout 2023-01-05` (validation, quarantine, dedup, cap, sharded CSV, manifest, budget);
- DuckDB: eligibility + the pass cap + bundle assignment, written to one CSV (no validation,
  quarantine, dedup, hashing or manifest: a lower bound for the job).
The cap is lowered in proportion to the size (3,000,000 x N / 48,000,000) so it binds at every
size, and both outputs are checked to hold the same (user_id, bundle_code) pairs.

Both are timed the same way: a fresh process each (interpreter start-up and imports included),
after `sync` so that neither pays for the other's (or the generator's) pending disk writes, in
alternating order (ours first, then DuckDB first, ...), `--repeat` times; the table gives the
median time and the largest peak RSS of each.

    .venv/bin/python bench/rollout.py                      # 1M, 10M and 48M, 3 runs each
    .venv/bin/python bench/rollout.py --sizes 1000000 10000000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAY = "2023-01-05"

DUCKDB_JOB = """
import sys, duckdb
path, out, cap, cutoff = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute(f'''
COPY (
  WITH u AS (
    SELECT user_id, status, TRY_CAST(joined_at AS DATE) AS joined,
           TRY_CAST(talk_drawer_optin_at AS TIMESTAMPTZ) AS optin
    FROM read_csv('{path}', header = true, all_varchar = true)
  ), e AS (
    SELECT user_id, optin FROM u WHERE status IN ('active', 'dormant') AND joined <= DATE '{cutoff}'
  ), p AS (
    SELECT user_id FROM e WHERE optin IS NOT NULL ORDER BY optin, user_id LIMIT {cap}
  )
  SELECT e.user_id, CASE WHEN p.user_id IS NULL THEN 'relief_base' ELSE 'relief_base_td' END AS bundle_code
  FROM e LEFT JOIN p USING (user_id)
) TO '{out}' (HEADER, DELIMITER ',')
''')
"""


def timed(cmd: list[str], workdir: Path, env: dict | None = None) -> dict:
    """Run a command under /usr/bin/time: wall seconds and peak RSS (MB) of the process.

    Pending writes are flushed first (not timed), so a run does not pay for the one before it.
    """
    os.sync()
    tfile = workdir / "time.txt"
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", "-o", str(tfile), *cmd], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    wall, rss_kb = tfile.read_text().split()[-2:]
    return {"seconds": float(wall), "peak_rss_mb": int(rss_kb) / 1024, "stdout": proc.stdout}


def scaled_program(workdir: Path, n: int) -> tuple[Path, int]:
    from etl.core.config import DEFAULT_PROGRAM_FILE, load_program

    program = load_program(DEFAULT_PROGRAM_FILE)  # its text is edited below: the file that holds the rules
    cap = max(1, program.talk_drawer_cap * n // program.kakaotalk_users)
    folder = workdir / "program"
    folder.mkdir(parents=True, exist_ok=True)
    text = Path(program.path).read_text(encoding="utf-8")
    (folder / "kakao_1015.toml").write_text(
        text.replace(f"talk_drawer_cap = {program.talk_drawer_cap}", f"talk_drawer_cap = {cap}"), encoding="utf-8"
    )
    shutil.copy(program.services_path, folder / program.services_path.name)
    return folder / "kakao_1015.toml", cap


def check_same(ours: Path, duck: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    q = (
        f"SELECT count(*) FROM ((SELECT * FROM read_csv('{ours}/part-*.csv', header=true, all_varchar=true)"
        f" EXCEPT ALL SELECT * FROM read_csv('{duck}', header=true, all_varchar=true))"
        f" UNION ALL (SELECT * FROM read_csv('{duck}', header=true, all_varchar=true)"
        f" EXCEPT ALL SELECT * FROM read_csv('{ours}/part-*.csv', header=true, all_varchar=true)))"
    )
    diff = con.execute(q).fetchone()[0]
    rows, td = con.execute(
        f"SELECT count(*), count(*) FILTER (bundle_code = 'relief_base_td')"
        f" FROM read_csv('{duck}', header=true, all_varchar=true)"
    ).fetchone()
    return {"differences": diff, "rows": rows, "relief_base_td": td}


def bench(n: int, root: Path, keep: bool, repeat: int = 3) -> dict:
    work = root / f"n{n}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    program_path, cap = scaled_program(work, n)
    inbox, outbox = work / "inbox", work / "outbox"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    io_args = [
        "--inbox",
        str(inbox),
        "--outbox",
        str(outbox),
        "--db",
        f"sqlite:///{work / 'wh.sqlite'}",
        "--program",
        str(program_path),
    ]
    gen = timed([str(BIN / "relief"), "generate", "users", "--users", str(n), "--seed", "1015", *io_args], work, env)
    users_csv = inbox / "users.csv"
    print(
        f"[{n:,}] generated {users_csv.stat().st_size / 1e6:,.0f} MB in {gen['seconds']:.1f}s "
        f"(peak {gen['peak_rss_mb']:.0f} MB)",
        flush=True,
    )

    duck_out = work / "duckdb_grants.csv"
    runs: dict[str, list[dict]] = {"ours": [], "duckdb": []}
    result = None

    def run_ours() -> None:
        nonlocal result
        shutil.rmtree(outbox, ignore_errors=True)  # a full job every time (no plan or shard to reuse)
        r = timed([str(BIN / "relief"), "rollout", DAY, *io_args], work, env)
        result = json.loads(r["stdout"])
        runs["ours"].append(r)
        print(f"[{n:,}] ours:   {r['seconds']:.2f}s, peak {r['peak_rss_mb']:.0f} MB", flush=True)

    def run_duck() -> None:
        duck_out.unlink(missing_ok=True)
        r = timed([sys.executable, "-c", DUCKDB_JOB, str(users_csv), str(duck_out), str(cap), "2022-10-15"], work, env)
        runs["duckdb"].append(r)
        print(f"[{n:,}] duckdb: {r['seconds']:.2f}s, peak {r['peak_rss_mb']:.0f} MB", flush=True)

    for i in range(repeat):  # alternate who goes first
        for job in (run_ours, run_duck) if i % 2 == 0 else (run_duck, run_ours):
            job()
    ours = {
        "seconds": statistics.median(r["seconds"] for r in runs["ours"]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["ours"]),
    }
    duck = {
        "seconds": statistics.median(r["seconds"] for r in runs["duckdb"]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["duckdb"]),
    }

    same = check_same(outbox / "grants" / DAY, duck_out)
    row = {
        "users": n,
        "cap": cap,
        "file_mb": round(users_csv.stat().st_size / 1e6),
        "generate_s": gen["seconds"],
        "generate_rss_mb": round(gen["peak_rss_mb"]),
        "ours_s": ours["seconds"],
        "ours_users_per_s": round(n / ours["seconds"]),
        "ours_rss_mb": round(ours["peak_rss_mb"]),
        "duckdb_s": duck["seconds"],
        "duckdb_users_per_s": round(n / duck["seconds"]),
        "duckdb_rss_mb": round(duck["peak_rss_mb"]),
        "ratio": round(ours["seconds"] / duck["seconds"], 2),
        "ours_runs_s": [r["seconds"] for r in runs["ours"]],
        "duckdb_runs_s": [r["seconds"] for r in runs["duckdb"]],
        "shards": result["shards"],
        "eligible": result["counts"]["eligible"],
        "relief_base_td": result["counts"]["relief_base_td"],
        "same_output": same["differences"] == 0 and same["rows"] == result["counts"]["eligible"],
    }
    if not keep:
        shutil.rmtree(work)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 48_000_000])
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "rollout"), help="work folder (gitignored)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and outputs")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each job per size (median time)")
    args = parser.parse_args(argv)
    import duckdb

    root = Path(args.out)
    rows = [bench(n, root, args.keep, args.repeat) for n in args.sizes]
    print(f"\nduckdb {duckdb.__version__}, {os.cpu_count()} cores, median of {args.repeat} runs each")
    print(
        "| users | ours (s) | ours users/s | ours peak RSS (MB) | DuckDB (s) | DuckDB users/s | DuckDB peak RSS (MB)"
        " | ours / DuckDB | same output |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['users']:,} | {r['ours_s']:.2f} | {r['ours_users_per_s']:,} | {r['ours_rss_mb']:,} |"
            f" {r['duckdb_s']:.2f} | {r['duckdb_users_per_s']:,} | {r['duckdb_rss_mb']:,} | {r['ratio']:.2f}x |"
            f" {'yes' if r['same_output'] else 'NO'} |"
        )
    print(json.dumps(rows))
    return 0 if all(r["same_output"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
