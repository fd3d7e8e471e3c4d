"""Peak memory staging one big claims file: it must follow the batch, not the file (issue 9).

Writes a valid claims file of the given size (distinct receipts, some re-delivered and some malformed
rows), then stages it in a fresh process under /usr/bin/time and prints rows, seconds, rows/s and peak RSS.
Usage: python bench/stage_memory.py [MB ...]   (default: 200 1000)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGE = """
import datetime as dt, sys
from etl.core.config import load_program
from etl.claims.stage import stage_day
from etl.io.warehouse import Warehouse
from pathlib import Path
program = load_program()
print(stage_day(Warehouse(sys.argv[1]), Path(sys.argv[2]), program, dt.date(2022, 10, 15), "bench"))
"""


def write_file(path: Path, megabytes: int) -> int:
    sys.path.insert(0, str(REPO))
    from tests.builders import claim, claims_csv, make_brn

    header, *_ = claims_csv([claim()]).split(b"\r\n", 1)
    target, n = megabytes * 1024 * 1024, 0
    with open(path, "wb") as fh:
        fh.write(header + b"\r\n")
        while fh.tell() < target:
            rows = [
                claim(
                    receipt_no=f"R{n + i:09d}",
                    business_reg_no=make_brn(n + i),
                    description='주문 알림 누락, 고객 문의 응대 "긴급"' * 3,
                )
                for i in range(2000)
            ]
            body = claims_csv(rows).split(b"\r\n", 1)[1]
            fh.write(body + b"R000000001,not a timestamp,web\r\n")  # a re-delivery's neighbour: one bad row
            n += len(rows) + 1
    return n


def main(sizes: list[int]) -> None:
    print(f"{'file':>8} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'peak RSS':>10}")
    for mb in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            inbox = Path(tmp) / "inbox"
            inbox.mkdir()
            rows = write_file(inbox / "claims_20221015.csv", mb)
            env = {
                **os.environ,
                "RELIEF_PROGRAM": str(REPO / "programs" / "kakao_1015_demo.toml"),
                "PYTHONPATH": str(REPO),
            }
            url = f"sqlite:///{tmp}/warehouse.sqlite"
            out = subprocess.run(
                ["/usr/bin/time", "-v", sys.executable, "-c", STAGE, url, str(inbox)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1)) / 1024
            wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
            seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
            print(f"{mb:>6}MB {rows:>10,} {seconds:>8.1f} {rows / seconds:>9,.0f} {rss:>8.0f}MB", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [200, 1000])
