"""Calibrated synthetic intake: the 19 daily `claims_YYYYMMDD.csv` files of the 1015 program.

Parsed with `etl.claims.parse_claims_file` and deduplicated by `receipt_no` (the latest delivery wins),
the files at scale 1 reproduce PROGRAM.md's table exactly, while carrying the noise the pipeline has
to survive: re-deliveries, resubmissions that move a business across a band edge, businesses on
several services, missing bank details, every phone and business-number form, multi-line quoted
descriptions and malformed rows of every quarantine reason.

How the counts stay exact: the table is a set of cells (Kakao/affiliate x claimant type x damage).
Every report is generated in a cell and never leaves it: a resubmission copies its original's cell,
a re-delivery copies a row (or adds only bank details to it), and a malformed row has a fresh
receipt_no that no valid row uses. So the distinct valid receipt_nos per cell are the cell counts.

Businesses (small and enterprise) are planned up front, since their claims span days and services
and their band-crossing resubmissions depend on the business total; they are few (about 21,000 claims
at scale 1). Individuals, the bulk, are generated day by day in time order, so memory is bounded by
the largest day's file.

The parts, in the order a run uses them:

- `calibration`: the target table (`KAKAO_TABLE`, `AFFILIATE_TABLE`, `scaled_table`) and the mixes;
- `sampling`: weighted picks, unique-identifier permutations, exact integer splits;
- `context`: the run's shared random stream, window, table and common picks;
- `identities`, `descriptions`: who the claimants are and what they write;
- `businesses`: small businesses' and enterprises' claims, planned up front;
- `rows`, `malformed`: valid rows and rows broken in exactly one way;
- `writer`: the day files, with re-deliveries, written atomically;
- `summary`: the return value (`ClaimsSummary`).
"""

from __future__ import annotations

from pathlib import Path

from etl.claims.parse import load_services
from etl.core.config import Program
from etl.synth.claims.businesses import BusinessPlanner
from etl.synth.claims.calibration import AFFILIATE_TABLE, KAKAO_TABLE, Cell, scaled_table
from etl.synth.claims.context import Context
from etl.synth.claims.summary import ClaimsSummary
from etl.synth.claims.summary import summarise as _summarise
from etl.synth.claims.writer import write_inbox

__all__ = ["AFFILIATE_TABLE", "KAKAO_TABLE", "Cell", "ClaimsSummary", "generate_claims", "scaled_table"]


def generate_claims(inbox: Path, program: Program, scale: float = 1.0, seed: int = 1015) -> ClaimsSummary:
    """Write the intake window's `claims_YYYYMMDD.csv` files into `inbox`; return what they hold.

    The same (scale, seed) always gives the same bytes. `expected` holds the exact figures a correct
    parse and dedup of these files must give (PROGRAM.md's table at scale 1).
    """
    services = load_services(program.services_path)
    ctx = Context(program, services, scale, seed)
    planner = BusinessPlanner(ctx)
    planner.plan()
    inbox = Path(inbox)
    written, kinds = write_inbox(ctx, planner.by_day, inbox)
    return _summarise(ctx, planner.sb_losses, written, kinds, inbox, scale, seed)
