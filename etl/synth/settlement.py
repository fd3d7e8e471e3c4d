"""The settlement period's inbox: the council's decisions and the bank's results, from a published window.

Payment ids and the review queue exist only once the intake window has run, so this reads the outbox
(the published days) and writes what the council and the bank would send back (CONTRACT.md section 1):

- `decisions_YYYYMMDD.csv`, one file a week from the council's first meeting (2022-11-14, a Monday):
  every business of the last published review queue decided (once, or twice if re-decided), ~75% approved (a whole
  number of won, a multiple of 10,000, from 50,000 to 10% of the loss, at most the program's cap) and
  25% rejected; one approval above the cap (cap + 1,000,000 KRW, for the business with the largest loss)
  for the second-approval path; about 2% re-decided with a later `decided_at` (a rejection approved on
  appeal at a later meeting, or an approval corrected to a rejection later the same meeting). The first
  file also holds two malformed rows and one unknown claimant key (for `decisions_errors.csv`).
- `returns_YYYYMMDD.csv`, two files: a result for every published payment, about 0.5% `returned` (at
  least one when anything was paid) and the rest `settled`. About the first half of the payments (whole
  days, the earlier ones) is answered the day after the last published window day, the rest five days
  later; a return day that falls on a decision day moves to the next free day. The first file also
  names one payment id that was never issued (for `returns_errors.csv`).

The same seed and outbox give byte-identical files. A file already in the inbox is left alone when it
holds the same bytes; one that differs is never overwritten (SettlementInboxConflict names it). Only
days of the intake window count as published here, so generating again after the settlement days have
run gives the same files.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from etl.claims.identifiers import brn_check_digit
from etl.core import contract as c
from etl.core.config import Program
from etl.core.errors import ReliefError
from etl.io.outbox import csv_bytes, write_atomic

FIRST_DECISION_DAY = dt.date(2022, 11, 14)  # PROGRAM.md: the council was formed on 2022-11-14 (a Monday)
REJECT_SHARE = 0.25
REDECIDE_SHARE = 0.02
RETURN_SHARE = 0.005
MIN_APPROVAL_KRW = 50_000
APPROVAL_SHARE_OF_LOSS = 0.10  # the most the council approves: 10% of the loss ...
APPROVAL_STEP_KRW = 10_000  # ... rounded down to this
OVER_CAP_EXCESS_KRW = 1_000_000  # the over-cap approval: the cap plus this
RETURN_OFFSETS = (1, 6)  # the two returns files: days after the last published window day
MEETING_START = dt.time(14, 0)
MEETING_SECONDS = 4 * 3600  # decisions are spread over 14:00-18:00 KST of the meeting's day
CORRECTION_START = dt.time(18, 30)  # same-meeting corrections come after the last regular decision
RETURN_REASONS = ("account closed", "holder name mismatch", "invalid account number", "account frozen")
KST = dt.timezone(dt.timedelta(hours=9))


class SettlementInboxConflict(ReliefError):
    """An inbox file of that name already exists with other bytes: the generator does not overwrite it."""


class OverCap(TypedDict):
    claimant_key: str
    loss_krw: int
    amount_krw: int
    cap_krw: int
    decision_day: str


class SettlementSummary(TypedDict):
    inbox: str
    seed: int
    published_days: list[str]  # the published days of the intake window read
    last_published_day: str
    window_complete: bool  # every intake day published (the settlement days cannot run before)
    review_queue: int  # businesses awaiting a decision on the last published day
    payments_published: int
    files: dict[str, int]  # file name -> data rows (planted bad rows included)
    unchanged: list[str]  # files that were already in the inbox with the same bytes (not rewritten)
    decisions: dict[str, int]  # the standing (latest) decision per business, by outcome
    decision_rows: int  # valid decision rows, re-decisions included
    redecided: int  # businesses decided twice (the later decided_at stands)
    planted_decision_errors: dict[str, int]  # malformed rows and unknown keys, for decisions_errors.csv
    over_cap: OverCap | None
    results: dict[str, int]  # bank results by status, for published payments
    planted_return_errors: dict[str, int]  # unknown payment ids, for returns_errors.csv
    decision_days: list[str]  # the meetings that sent a file (a meeting with nothing to send sends none)
    return_days: list[str]
    days_to_run: list[str]  # every day with a file, in order


@dataclass(frozen=True)
class _Business:
    key: str
    loss_krw: int
    already_paid_krw: int


@dataclass
class _Decision:
    key: str
    decision: str
    amount: int | None
    meeting: int


# --- reading the outbox --------------------------------------------------------------------------------------


def _published_window_days(outbox: Path, program: Program) -> list[dt.date]:
    """The intake days whose day manifest (or, failing that, payments manifest) is there, in order."""
    window = set(program.intake_days())
    found: set[dt.date] = set()
    for kind in (c.DAYS, c.PAYMENTS):
        for manifest in (outbox / kind).glob(f"*/{c.MANIFEST}"):
            try:
                day = dt.date.fromisoformat(manifest.parent.name)
            except ValueError:
                continue
            if day in window:
                found.add(day)
        if found:
            break  # the day manifests say which days are complete; payments only when there are none
    return sorted(found)


def _read_csv(path: Path, columns: list[str]) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [col for col in columns if col not in (reader.fieldnames or [])]
        if missing:
            raise ReliefError(f"{path}: missing columns {', '.join(missing)}; is this a published outbox?")
        return list(reader)


def _checked(folder: Path, name: str) -> Path:
    """A published file, checked against its folder's manifest (so a half-written outbox is not read)."""
    manifest_path = folder / c.MANIFEST
    if not manifest_path.is_file():
        raise ReliefError(f"{folder} is not complete (no {c.MANIFEST}): publish the day first")
    entry = json.loads(manifest_path.read_text(encoding="utf-8")).get("files", {}).get(name)
    path = folder / name
    if entry is None or not path.is_file():
        raise ReliefError(f"{path} is not named by {manifest_path} or is missing")
    if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
        raise ReliefError(f"{path} does not match the SHA-256 in {manifest_path}: the outbox was changed")
    return path


def _review_queue(outbox: Path, day: dt.date) -> list[_Business]:
    path = _checked(outbox / c.REVIEWS / day.isoformat(), c.REVIEW_QUEUE_CSV)
    rows = _read_csv(path, ["claimant_key", "loss_krw", "already_paid_krw"])
    return sorted(
        (_Business(r["claimant_key"], int(r["loss_krw"]), int(r["already_paid_krw"] or 0)) for r in rows),
        key=lambda b: b.key,
    )


def _payments(outbox: Path, days: list[dt.date]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for day in days:
        path = _checked(outbox / c.PAYMENTS / day.isoformat(), c.PAYMENTS_CSV)
        out += [{**r, "run_date": day.isoformat()} for r in _read_csv(path, ["payment_id", "claimant_key"])]
    return out


# --- the council ---------------------------------------------------------------------------------------------


def _approval(rng: random.Random, loss_krw: int, cap_krw: int) -> int:
    """A whole number of won, a multiple of 10,000: 50,000 up to 10% of the loss (rounded down), within the cap."""
    top = int(loss_krw * APPROVAL_SHARE_OF_LOSS) // APPROVAL_STEP_KRW * APPROVAL_STEP_KRW
    top = max(MIN_APPROVAL_KRW, min(top, cap_krw // APPROVAL_STEP_KRW * APPROVAL_STEP_KRW))
    return rng.randrange(MIN_APPROVAL_KRW, top + 1, APPROVAL_STEP_KRW)


@dataclass
class _Meeting:
    day: dt.date
    regular: list[_Decision]
    corrections: list[_Decision]  # second decisions the same day, later than the regular ones


def _plan_decisions(
    queue: list[_Business], program: Program, seed: int, days: list[dt.date]
) -> tuple[list[_Meeting], OverCap | None, int, dict[str, str]]:
    """Each meeting's decisions: (the meetings, the over-cap approval, businesses re-decided, final outcomes)."""
    rng = random.Random(f"{seed}:decisions")
    cap, weeks = program.max_payment_krw, len(days)
    meetings = [_Meeting(day, [], []) for day in days]
    top = max(queue, key=lambda b: b.loss_krw, default=None)  # the queue is in key order: ties, the smaller key
    rest = [b for b in queue if top is None or b.key != top.key]
    rng.shuffle(rest)
    rejected = {b.key for b in rng.sample(rest, round(len(rest) * REJECT_SHARE))}
    n_redecide = max(1, round(len(rest) * REDECIDE_SHARE)) if len(rest) >= 2 else 0
    redecide = {b.key for b in rng.sample(rest, n_redecide)}

    over_cap: OverCap | None = None
    final: dict[str, str] = {}
    if top is not None:  # at the first meeting, so the second approval has time before the close
        above = max(cap + OVER_CAP_EXCESS_KRW, cap + top.already_paid_krw + APPROVAL_STEP_KRW)  # due > cap
        meetings[0].regular.append(_Decision(top.key, "approved", above, 1))
        over_cap = {"claimant_key": top.key, "loss_krw": top.loss_krw, "amount_krw": above, "cap_krw": cap,
                    "decision_day": days[0].isoformat()}  # fmt: skip
        final[top.key] = "approved"
    for i, b in enumerate(rest):
        week = (i + 1) * weeks // (len(rest) + 1)  # spread evenly, the over-cap business counted in week 0
        outcome = "rejected" if b.key in rejected else "approved"
        amount = _approval(rng, b.loss_krw, cap) if outcome == "approved" else None
        meetings[week].regular.append(_Decision(b.key, outcome, amount, week + 1))
        final[b.key] = outcome
        if b.key not in redecide:
            continue
        if outcome == "rejected":  # approved on appeal at a later meeting (at the last one: later that day)
            appeal = _Decision(b.key, "approved", _approval(rng, b.loss_krw, cap), weeks)
            if week + 1 < weeks:
                later = rng.randrange(week + 1, weeks)
                appeal.meeting = later + 1
                meetings[later].regular.append(appeal)
            else:
                meetings[week].corrections.append(appeal)
            final[b.key] = "approved"
        else:  # an approval corrected to a rejection later the same day, before anything is paid on it
            meetings[week].corrections.append(_Decision(b.key, "rejected", None, week + 1))
            final[b.key] = "rejected"
    return meetings, over_cap, len(redecide), final


def _decision_rows(meeting: _Meeting) -> list[list[str]]:
    """The rows of one meeting in time order: the regular decisions over 14:00-18:00, corrections from 18:30."""
    rows = []
    start = dt.datetime.combine(meeting.day, MEETING_START, KST)
    n = max(len(meeting.regular), 1)
    for i, d in enumerate(meeting.regular):
        rows.append(_decision_row(d, start + dt.timedelta(seconds=i * MEETING_SECONDS // n)))
    late = dt.datetime.combine(meeting.day, CORRECTION_START, KST)
    for i, d in enumerate(meeting.corrections):
        rows.append(_decision_row(d, late + dt.timedelta(minutes=i)))
    return rows


def _decision_row(d: _Decision, at: dt.datetime) -> list[str]:
    amount = "" if d.amount is None else str(d.amount)
    return [d.key, d.decision, amount, f"1015 council (meeting {d.meeting})", at.isoformat()]


def _unknown_key(rng: random.Random, known: set[str]) -> str:
    """A 10-digit key no business has: a wrong check digit, so no valid business number either."""
    while True:
        first_nine = f"{rng.randrange(10**8, 10**9):09d}"
        key = first_nine + str((brn_check_digit(first_nine) + 1 + rng.randrange(9)) % 10)
        if key not in known:
            return key


def _plant_decision_errors(
    rows: list[list[str]], seed: int, known: set[str], day: dt.date
) -> tuple[list[list[str]], dict[str, int]]:
    """Two malformed rows (a field missing; an amount with thousands separators) and one unknown key."""
    rng = random.Random(f"{seed}:decision_errors")
    at = dt.datetime.combine(day, MEETING_START, KST).isoformat()
    unknown = _unknown_key(rng, known)
    victims = [r[0] for r in rows] or [unknown]
    planted = [
        [rng.choice(victims), "approved", "300000", "1015 council (meeting 1)"],  # 4 fields: malformed_row
        [rng.choice(victims), "approved", "1,200,000", "1015 council (meeting 1)", at],  # bad_amount
        [unknown, "approved", "200000", "1015 council (meeting 1)", at],  # unknown_claimant
    ]
    out = list(rows)
    for row in planted:
        out.insert(rng.randint(0, len(out)), row)
    return out, {"malformed": 2, "unknown_claimant": 1}


# --- the bank ------------------------------------------------------------------------------------------------


def _return_days(last: dt.date, decision_days: set[dt.date]) -> list[dt.date]:
    out: list[dt.date] = []
    for offset in RETURN_OFFSETS:
        day = last + dt.timedelta(days=offset)
        while day in decision_days or day in out:
            day += dt.timedelta(days=1)
        out.append(day)
    return out


def _plan_returns(
    payments: list[dict[str, str]], days: list[dt.date], program: Program, seed: int
) -> tuple[list[list[list[str]]], dict[str, int]]:
    """The rows of the two returns files: the earlier published days' payments (about half), then the rest."""
    rng = random.Random(f"{seed}:returns")
    ordered = sorted(payments, key=lambda p: (p["run_date"], p["payment_id"]))
    n_returned = max(1, round(len(ordered) * RETURN_SHARE)) if ordered else 0
    returned = {p["payment_id"] for p in rng.sample(ordered, n_returned)}
    # Whole days to the first file while it holds less than half the payments; the later days to the second.
    per_day = Counter(p["run_date"] for p in ordered)
    first_half: set[str] = set()
    answered = 0
    for day in days:
        if answered * 2 < len(ordered) or not first_half:
            first_half.add(day.isoformat())
            answered += per_day[day.isoformat()]
    files: list[list[list[str]]] = [[], []]
    for p in ordered:
        pid = p["payment_id"]
        row = [pid, "returned", rng.choice(RETURN_REASONS)] if pid in returned else [pid, "settled", ""]
        files[0 if p["run_date"] in first_half else 1].append(row)
    # One payment id that was never issued: a number past the last published day's batch.
    last = days[-1]
    issued_last = sum(1 for p in ordered if p["run_date"] == last.isoformat())
    unknown = f"{program.payment_prefix}-{last:%Y%m%d}-{issued_last + 1 + rng.randrange(1000):07d}"
    files[0].insert(rng.randint(0, len(files[0])), [unknown, "settled", ""])
    results = {"settled": len(ordered) - len(returned), "returned": len(returned)}
    return files, results


# --- writing -------------------------------------------------------------------------------------------------


def _write_all(inbox: Path, files: dict[str, bytes]) -> list[str]:
    """Write every file atomically, after checking none would overwrite different bytes; returns the unchanged."""
    unchanged = []
    for name, data in files.items():
        path = inbox / name
        if path.exists():
            if not path.is_file() or path.read_bytes() != data:
                raise SettlementInboxConflict(
                    f"{path} already exists with different contents: not overwritten (nothing was written)."
                    " A delivered inbox file is final; generate into an empty inbox, or remove that file on purpose."
                )
            unchanged.append(name)
    for name, data in files.items():
        if name not in unchanged:
            write_atomic(inbox / name, data)
    return unchanged


def generate_settlement(
    inbox: Path,
    outbox: Path,
    program: Program,
    seed: int = 1015,
    first_decision_day: dt.date = FIRST_DECISION_DAY,
    weeks: int = 6,
) -> SettlementSummary:
    """Write the council's weekly decisions and the bank's two results files for a published window."""
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    inbox, outbox = Path(inbox), Path(outbox)
    days = _published_window_days(outbox, program)
    if not days:
        raise ReliefError(
            f"no published day of the intake window in {outbox} (no days/YYYY-MM-DD/{c.MANIFEST}):"
            " run the window first (relief run-day), then generate the settlement inbox"
        )
    last = days[-1]
    if first_decision_day <= last:
        raise ValueError(
            f"the first decision day {first_decision_day} must come after the last published day {last}:"
            " a published day is final, so no new file may be dated on or before it"
        )
    queue = _review_queue(outbox, last)
    payments = _payments(outbox, days)
    decision_days = [first_decision_day + dt.timedelta(weeks=w) for w in range(weeks)]
    return_days = _return_days(last, set(decision_days))
    close = getattr(program, "close_date", None)  # the end of the settlement period: no day runs after it
    late = [d for d in (*decision_days, *return_days) if close is not None and d > close]
    if late:
        raise ValueError(f"{late[0]} is after the program's close date {close}: fewer weeks, or an earlier start")

    meetings, over_cap, redecided, final = _plan_decisions(queue, program, seed, decision_days)
    files: dict[str, bytes] = {}
    rows_by_file: dict[str, int] = {}
    valid_rows = 0
    planted: dict[str, int] = {}
    known = {b.key for b in queue} | {p["claimant_key"] for p in payments}
    written_decision_days = []
    for meeting in meetings:
        rows = _decision_rows(meeting)
        valid_rows += len(rows)
        if meeting is meetings[0]:
            rows, planted = _plant_decision_errors(rows, seed, known, meeting.day)
        if rows:
            name = c.inbox_file_name("decisions", meeting.day)
            files[name], rows_by_file[name] = csv_bytes(c.DECISION_COLUMNS, rows)
            written_decision_days.append(meeting.day)

    return_files, results = _plan_returns(payments, days, program, seed)
    for day, rows in zip(return_days, return_files):
        name = c.inbox_file_name("returns", day)
        files[name], rows_by_file[name] = csv_bytes(c.RETURN_COLUMNS, rows)

    unchanged = _write_all(inbox, files)
    outcomes = {"approved": 0, "rejected": 0}
    for outcome in final.values():
        outcomes[outcome] += 1
    return {
        "inbox": str(inbox),
        "seed": seed,
        "published_days": [d.isoformat() for d in days],
        "last_published_day": last.isoformat(),
        "window_complete": days == program.intake_days(),
        "review_queue": len(queue),
        "payments_published": len(payments),
        "files": dict(sorted(rows_by_file.items())),
        "unchanged": sorted(unchanged),
        "decisions": outcomes,
        "decision_rows": valid_rows,
        "redecided": redecided,
        "planted_decision_errors": planted,
        "over_cap": over_cap,
        "results": results,
        "planted_return_errors": {"unknown_payment": 1},
        "decision_days": [d.isoformat() for d in written_decision_days],
        "return_days": [d.isoformat() for d in return_days],
        "days_to_run": [d.isoformat() for d in sorted({*written_decision_days, *return_days})],
    }
