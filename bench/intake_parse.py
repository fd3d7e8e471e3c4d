"""Benchmark: parsing claims files, row by row against the vectorised intake, in the same run on the same files.

For each file: records, seconds and rows/s of `iter_claim_values(vectorised=False)` (the line reader and the row
parser, the reference) and of the default vectorised intake (io/csvblocks.py windows, claims/blocks.py vectors),
the ratio, and whether both give the same records (they must: "SAME"). Parsing only, no warehouse. Each side is
timed twice and the faster kept (the first run warms the page cache and the imports).

    .venv/bin/python bench/intake_parse.py [INBOX_OR_FILES ...]   (default: generate the scale-10 inbox's first day)
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RELIEF = str(Path(sys.executable).parent / "relief")


def _files(args: list[str], tmp: Path) -> list[Path]:
    if not args:
        subprocess.run([RELIEF, "generate", "--inbox", str(tmp), "claims", "--scale", "10", "--seed", "1015"],
                       check=True, capture_output=True)  # fmt: skip
        return [tmp / "claims_20221015.csv", tmp / "claims_20221102.csv"]
    paths = [Path(a) for a in args]
    return [f for p in paths for f in (sorted(p.glob("claims_*.csv")) if p.is_dir() else [p])]


def _timed(path: Path, services, program, vectorised: bool) -> tuple[float, list]:
    from etl.claims.parse import iter_claim_values

    day = dt.datetime.strptime(path.stem.split("_")[1], "%Y%m%d").date()
    best, out = float("inf"), []
    for _ in range(2):
        started = time.perf_counter()
        out = list(iter_claim_values(path, services, day=day, outage_date=program.outage_date, vectorised=vectorised))
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> int:
    sys.path.insert(0, str(REPO))
    from etl.claims.parse import load_services
    from etl.core.config import load_program

    program = load_program(str(REPO / "programs" / "kakao_1015_demo.toml"))
    services = load_services(program.services_path)
    with tempfile.TemporaryDirectory(prefix="relief-parse-") as tmp:
        files = _files(sys.argv[1:], Path(tmp))
        print("| file | MiB | records | row by row | rows/s | vectorised | rows/s | speed-up | same |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        totals = [0, 0.0, 0.0]
        for path in files:
            slow, reference = _timed(path, services, program, vectorised=False)
            fast, got = _timed(path, services, program, vectorised=True)
            n = len(reference)
            totals[0] += n
            totals[1] += slow
            totals[2] += fast
            same = "SAME" if got == reference else "DIFFERS"
            print(f"| {path.name} | {path.stat().st_size / 2**20:.1f} | {n:,} | {slow:.2f} s | {n / slow:,.0f} |"
                  f" {fast:.2f} s | {n / fast:,.0f} | {slow / fast:.2f}x | {same} |")  # fmt: skip
        if len(files) > 1:
            n, slow, fast = totals
            print(f"| all | | {n:,} | {slow:.2f} s | {n / slow:,.0f} | {fast:.2f} s | {n / fast:,.0f} |"
                  f" {slow / fast:.2f}x | |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
