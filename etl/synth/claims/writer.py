"""The 19 daily files: each day's rows in time order, with re-deliveries and malformed rows among them.

Each file is built in memory (memory is bounded by the largest day) and written atomically
(`etl.io.outbox.write_atomic`), so a reader never sees half a file under its final name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from etl.claims.parse import CLAIM_COLUMNS
from etl.io.outbox import write_atomic
from etl.synth.claims.businesses import BizClaim
from etl.synth.claims.calibration import (
    BANK_ADD_REDELIVERY_RATE,
    MALFORMED_RATE,
    REDELIVERY_RATE,
    RESERVOIR_SIZE,
    SAME_DAY_REDELIVERY_SHARE,
    Cell,
)
from etl.synth.claims.context import Context
from etl.synth.claims.malformed import MalformedRows
from etl.synth.claims.rows import RowMaker
from etl.synth.claims.sampling import apportion

HEADER = (",".join(CLAIM_COLUMNS) + "\r\n").encode("utf-8")


@dataclass
class DayCounts:
    """What one day's file holds: valid reports, re-delivered copies and malformed rows."""

    reports: int = 0
    duplicates: int = 0
    malformed: int = 0

    @property
    def rows(self) -> int:
        return self.reports + self.duplicates + self.malformed


@dataclass
class WrittenDay:
    file: str
    size: int
    counts: DayCounts


@dataclass
class _Day:
    """One day's file as it is built."""

    d: int
    date: str
    prefix: str  # of the day's receipt_nos
    items: list[tuple[int, int, BizClaim | Cell]]  # (second of day, order, claim or individual cell)
    out: list[bytes] = field(default_factory=lambda: [HEADER])
    today: list[int] = field(default_factory=list)  # indices in `out` of today's fresh valid rows
    no_copy: set[int] = field(default_factory=set)  # rows a later bank-adding re-delivery replaces
    seq: int = 0
    counts: DayCounts = field(default_factory=DayCounts)


class DayWriter:
    """Builds the day files in order; carries re-deliveries (earlier rows, bank details added) across days."""

    def __init__(self, ctx: Context, by_day: list[list[BizClaim]]):
        self.ctx = ctx
        self.rng = ctx.rng
        self.by_day = by_day
        self.rows = RowMaker(ctx)
        self.malformed = MalformedRows(ctx)
        self.clock = [f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}" for t in range(86_400)]
        self.reservoir: list[bytes] = []  # a uniform sample of earlier days' rows, for exact re-delivery
        self.reservoir_seen = 0
        self.pending_bank: list[list[bytes]] = [[] for _ in range(ctx.n_days)]  # bank-adding re-deliveries by day

    def day_file(
        self, d: int, n_malformed: int, kinds: list[str], ind_counts: dict[Cell, int]
    ) -> tuple[bytes, DayCounts]:
        """One day's file, in time order: fresh rows, then re-deliveries and malformed rows between them."""
        rng = self.rng
        date = self.ctx.dates[d]
        day = _Day(d, date, f"R{date.replace('-', '')}", self._items(d, ind_counts))
        n = len(day.items)
        # Malformed rows go after distinct fresh rows: never two in a row, so broken quoting always
        # meets a well-formed row next (the reader's recovery point).
        n_malformed = min(n_malformed, n)
        malformed_at = dict(zip(sorted(rng.sample(range(1, n + 1), n_malformed)), kinds[:n_malformed]))
        bank_adds = self.pending_bank[d]
        self.pending_bank[d] = []
        n_copies = int(n * REDELIVERY_RATE + rng.random())
        redeliveries = sorted(
            [(rng.randint(0, n), 1) for _ in range(n_copies)] + [(rng.randint(0, n), 0) for _ in range(len(bank_adds))]
        )
        ri = 0
        for i in range(n + 1):
            kind = malformed_at.get(i)
            if kind is not None:
                self._malformed(day, i, kind)
            while ri < len(redeliveries) and redeliveries[ri][0] == i:
                if redeliveries[ri][1] == 0:
                    day.out.append(bank_adds.pop(0))
                    self.ctx.counters.bank_added_redeliveries += 1
                    day.counts.duplicates += 1
                else:
                    self._copy(day)
                ri += 1
            if i < n:
                self._fresh(day, i)
        self._keep(day)
        return b"".join(day.out), day.counts

    def _items(self, d: int, ind_counts: dict[Cell, int]) -> list[tuple[int, int, BizClaim | Cell]]:
        """The day's fresh reports in time order: its planned business claims and a time for each individual."""
        items: list[tuple[int, int, BizClaim | Cell]] = []
        order = 0
        for claim in self.by_day[d]:
            items.append((claim.tsec, order, claim))
            order += 1
        self.by_day[d] = []  # written today: let the claims go
        hours, n_hours, rnd = self.ctx.pick_hour.table, self.ctx.pick_hour.n, self.rng.random
        for cell, n in ind_counts.items():
            for _ in range(n):
                items.append((hours[int(rnd() * n_hours)] * 3600 + int(rnd() * 3600), order, cell))
                order += 1
        items.sort()  # (time, order): order is unique, so the payloads are never compared
        return items

    def _malformed(self, day: _Day, i: int, kind: str) -> None:
        """A malformed row just before fresh row i, at a time between its neighbours'."""
        items = day.items
        t_prev = items[i - 1][0]
        t_next = items[i][0] if i < len(items) else 86_399
        tsec = t_prev + int(self.rng.random() * (t_next - t_prev + 1))
        if kind != "missing_receipt_no":
            day.seq += 1
        day.out.append(self.malformed.line(kind, f"{day.prefix}{day.seq:06d}", day.d, tsec))
        day.counts.malformed += 1

    def _copy(self, day: _Day) -> None:
        """An exact re-delivery: of a row written earlier today, or of one from an earlier day."""
        rng = self.rng
        same_day = day.today and (not self.reservoir or rng.random() < SAME_DAY_REDELIVERY_SHARE)
        if same_day:
            day.out.append(day.out[day.today[int(rng.random() * len(day.today))]])
            day.counts.duplicates += 1
        elif self.reservoir:
            day.out.append(self.reservoir[int(rng.random() * len(self.reservoir))])
            day.counts.duplicates += 1

    def _fresh(self, day: _Day, i: int) -> None:
        """Fresh row i: a planned business claim or a new individual report."""
        rng = self.rng
        tsec, _, what = day.items[i]
        day.seq += 1
        receipt = f"{day.prefix}{day.seq:06d}"
        ts = f"{day.date}T{self.clock[tsec]}+09:00"
        if isinstance(what, BizClaim):
            fields = self.rows.biz_fields(receipt, ts, what)
            line = ",".join(fields) + "\r\n"
            n_days, d = self.ctx.n_days, day.d
            if not what.bank and d + 1 < n_days and rng.random() < BANK_ADD_REDELIVERY_RATE:
                # The same row again on a later day, with only the missing bank details added.
                later = d + 1 + int(rng.random() * min(3, n_days - 1 - d))
                fields[12:15] = self.rows.bank_fields(what.biz)
                self.pending_bank[later].append((",".join(fields) + "\r\n").encode("utf-8"))
                day.no_copy.add(len(day.out))
        else:
            line = self.rows.individual_line(receipt, ts, what, day.d * 86_400 + tsec)
        day.today.append(len(day.out))
        day.out.append(line.encode("utf-8"))
        day.counts.reports += 1

    def _keep(self, day: _Day) -> None:
        """Keep a uniform sample of all rows so far for later days' re-deliveries (reservoir sampling)."""
        for idx in day.today:
            if idx in day.no_copy:
                continue
            self.reservoir_seen += 1
            if len(self.reservoir) < RESERVOIR_SIZE:
                self.reservoir.append(day.out[idx])
            else:
                j = int(self.rng.random() * self.reservoir_seen)
                if j < RESERVOIR_SIZE:
                    self.reservoir[j] = day.out[idx]


def write_inbox(ctx: Context, by_day: list[list[BizClaim]], inbox: Path) -> tuple[list[WrittenDay], list[str]]:
    """Write every day's file into `inbox`; return what each holds and the malformed kinds used."""
    ind_cells = [c for c in ctx.cells if c.ctype == "individual"]
    ind_by_day = {c: apportion(ctx.table[c], ctx.day_weights) for c in ind_cells}
    fresh_by_day = [len(by_day[d]) + sum(ind_by_day[c][d] for c in ind_cells) for d in range(ctx.n_days)]
    reports = sum(ctx.table.values())
    n_malformed = int(reports * (1 + REDELIVERY_RATE) * MALFORMED_RATE + 0.5)
    malformed_by_day = [min(m, n) for m, n in zip(apportion(n_malformed, fresh_by_day), fresh_by_day)]
    writer = DayWriter(ctx, by_day)
    kinds = writer.malformed.kinds(sum(malformed_by_day))
    inbox.mkdir(parents=True, exist_ok=True)
    written: list[WrittenDay] = []
    k0 = 0
    for d, day in enumerate(ctx.days):
        n = malformed_by_day[d]
        data, counts = writer.day_file(d, n, kinds[k0 : k0 + n], {c: ind_by_day[c][d] for c in ind_cells})
        k0 += n
        name = f"claims_{day:%Y%m%d}.csv"
        write_atomic(inbox / name, data)
        written.append(WrittenDay(name, len(data), counts))
    generated = sum(w.counts.reports for w in written)
    if generated != reports:
        raise AssertionError(f"generated {generated} reports, planned {reports}")
    return written, kinds
