"""Small businesses' and enterprises' claims, planned up front before any file is written.

Their claims span days and services, and their band-crossing resubmissions depend on the business's
total loss, so each business is made whole here: its services, days, amounts summing to its loss,
bank details, and any resubmission. They are few (about 21,000 claims at scale 1); the claims wait
in `BusinessPlanner.by_day` for their day's file.
"""

from __future__ import annotations

import random

from etl.synth.claims.calibration import (
    AFFILIATE_SB_AMOUNTS,
    ENTERPRISE_LOSS_TOTALS,
    RESUB_RATE,
    SB_DOWN,
    SB_LOSS_TOTALS,
    SB_UP_300K,
    SB_UP_500K,
    SERVICES_PER_BUSINESS,
    Cell,
)
from etl.synth.claims.context import Context
from etl.synth.claims.identities import Business
from etl.synth.claims.sampling import Pick


class BizClaim:
    """One planned business claim (a report): written on its day, in time order with the rest."""

    __slots__ = ("amount", "bank", "biz", "cell", "day", "monetary", "resub", "service", "tsec")

    def __init__(
        self,
        day: int,
        tsec: int,
        biz: Business,
        cell: Cell,
        service: str,
        monetary: bool,
        amount: int | None,
        bank: bool,
        resub: str = "",
    ):
        self.day = day
        self.tsec = tsec
        self.biz = biz
        self.cell = cell
        self.service = service
        self.monetary = monetary
        self.amount = amount
        self.bank = bank
        self.resub = resub  # "" for a first claim, else the kind of resubmission


def split_amount(total: int, parts: int, rng: random.Random) -> list[int]:
    """A business total split over its monetary claims, in round amounts that sum to it exactly."""
    if parts == 1:
        return [total]
    unit = 10_000 if total >= 20_000 * parts else 1_000
    out: list[int] = []
    rest = total
    for i in range(parts - 1):
        left = parts - 1 - i  # parts still to come after this one
        share = int(rest * rng.uniform(0.3, 0.7) / unit) * unit
        share = max(unit, min(share, rest - unit * left))
        out.append(share)
        rest -= share
    out.append(rest)
    return out


def effective(claims: list[BizClaim]) -> dict[str, BizClaim]:
    """The surviving claim per Kakao service with a monetary loss (the latest one) of one business."""
    eff: dict[str, BizClaim] = {}
    for c in claims:
        if c.monetary and c.cell.kakao:
            cur = eff.get(c.service)
            if cur is None or (c.day, c.tsec) > (cur.day, cur.tsec):
                eff[c.service] = c
    return eff


def _draw_cells(rng: random.Random, cells: list[Cell], remaining: list[int], total: int, k: int) -> list[Cell]:
    """k cells drawn without replacement from what remains of each (`remaining` sums to `total`)."""
    chosen: list[Cell] = []
    for _ in range(k):
        x = int(rng.random() * total)
        i = 0
        while x >= remaining[i]:
            x -= remaining[i]
            i += 1
        remaining[i] -= 1
        total -= 1
        chosen.append(cells[i])
    return chosen


class BusinessPlanner:
    """Plans every small-business and enterprise claim, with its day, time, service, amount and bank details."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.rng = ctx.rng
        self.pick_k = {t: Pick(p) for t, p in SERVICES_PER_BUSINESS.items()}
        self.pick_sb_total = Pick(SB_LOSS_TOTALS)
        self.pick_ent_total = Pick(ENTERPRISE_LOSS_TOTALS)
        self.pick_aff_sb = Pick(AFFILIATE_SB_AMOUNTS)
        self.by_day: list[list[BizClaim]] = [[] for _ in range(ctx.n_days)]
        self.sb_losses: list[int] = []  # each small business's final loss (sum over its Kakao claims)

    def plan(self) -> None:
        for ctype in ("small_business", "enterprise"):
            self._plan_type(ctype)

    def _plan_type(self, ctype: str) -> None:
        rng = self.rng
        cells = [c for c in self.ctx.cells if c.ctype == ctype]
        counts = [self.ctx.table[c] for c in cells]
        resubs = [int(n * RESUB_RATE + 0.5) if n >= 4 else 0 for n in counts]
        remaining = [n - r for n, r in zip(counts, resubs)]
        # Which first claims get a resubmission: selection sampling (need/left), exact per cell,
        # decided as each business is made so that no business has to be kept afterwards.
        need = dict(zip(cells, resubs))
        left = dict(zip(cells, remaining))
        total = sum(remaining)
        while total > 0:
            k = min(self.pick_k[ctype](rng), total)
            chosen = _draw_cells(rng, cells, remaining, total, k)
            total -= k
            biz = self.ctx.ids.new_business(ctype)
            claims = self._first_claims(biz, chosen)
            for claim in claims[:]:
                cell = claim.cell
                if need[cell] and rng.random() * left[cell] < need[cell]:
                    need[cell] -= 1
                    self._resubmit(claim, claims)
                left[cell] -= 1
            if ctype == "small_business":
                loss = sum(c.amount or 0 for c in effective(claims).values())
                if loss > 0:
                    self.sb_losses.append(loss)
        assert not any(need.values()), need

    def _first_claims(self, biz: Business, cells: list[Cell]) -> list[BizClaim]:
        """A business's claims, one per service: days from its first, bank details, amounts summing to its loss."""
        rng = self.rng
        n_days = self.ctx.n_days
        d0 = self.ctx.pick_day(rng)
        days = sorted(
            min(n_days - 1, d0 + (0 if i == 0 or rng.random() < 0.4 else 1 + int(rng.expovariate(0.5))))
            for i in range(len(cells))
        )
        used: set[str] = set()
        claims = []
        for i, (cell, day) in enumerate(zip(cells, days)):
            service = self._unused_service(cell, used)
            used.add(service)
            if cell.damage == "free_monetary":
                monetary = True
            elif cell.damage == "paid_service":
                monetary = rng.random() < 0.92
            else:
                monetary = False
            if i == 0:
                bank = not biz.bank_missing
            else:
                bank = rng.random() < (0.5 if biz.bank_missing else 0.97)
            claims.append(BizClaim(day, self.ctx.time(), biz, cell, service, monetary, None, bank))
        if "kakao_t" in used and biz.ctype == "small_business":  # Kakao T's small businesses are taxi drivers
            biz.name = self.ctx.ids.taxi_name(biz.owner)
        self._set_amounts(biz, claims)
        for claim in claims:
            self.by_day[claim.day].append(claim)
        return claims

    def _unused_service(self, cell: Cell, used: set[str]) -> str:
        """A service of the cell the business has not claimed for yet."""
        pick = self.ctx.services[cell]
        service = pick(self.rng)
        for _ in range(20):
            if service not in used:
                return service
            service = pick(self.rng)
        # All this cell's services taken: any other of the same operator kind.
        return next(s for s, kakao in self.ctx.service_kakao.items() if s not in used and kakao == cell.kakao)

    def _set_amounts(self, biz: Business, claims: list[BizClaim]) -> None:
        """The business's loss split over its Kakao monetary claims; affiliate claims get amounts of their own."""
        rng = self.rng
        small = biz.ctype == "small_business"
        kakao_money = [c for c in claims if c.monetary and c.cell.kakao]
        if kakao_money:
            total = (self.pick_sb_total if small else self.pick_ent_total)(rng)
            for claim, amount in zip(kakao_money, split_amount(total, len(kakao_money), rng)):
                claim.amount = amount
        for claim in claims:
            if claim.monetary and not claim.cell.kakao:
                claim.amount = (self.pick_aff_sb if small else self.pick_ent_total)(rng)

    def _resubmit(self, target: BizClaim, claims: list[BizClaim]) -> None:
        """A later claim by the same business for the same service and cell, usually with a corrected amount."""
        rng = self.rng
        biz = target.biz
        kind, amount = self._corrected_amount(target, claims)
        day, tsec = self._resubmission_time(kind, claims)
        if biz.bank_missing and not any(c.bank for c in claims):
            bank = rng.random() < 0.6  # the later claim brings the missing bank details
        else:
            bank = rng.random() < 0.95
        crossings = self.ctx.counters.crossings
        if kind in crossings:
            crossings[kind] += 1
        claim = BizClaim(day, tsec, biz, target.cell, target.service, target.monetary, amount, bank, kind)
        claims.append(claim)
        self.by_day[day].append(claim)
        self.ctx.counters.resubmissions += 1

    def _corrected_amount(self, target: BizClaim, claims: list[BizClaim]) -> tuple[str, int | None]:
        """The kind of resubmission and its amount.

        Small businesses' corrections are aimed at the band edges: a total just under 300,000 or
        500,000 is lifted over it on a later day, a total over 500,000 is sometimes lowered.
        """
        rng = self.rng
        original = target.amount
        if not target.monetary or original is None:
            return "correction", original
        kind = "correction"
        amount = original
        if target.biz.ctype == "small_business" and target.cell.kakao:
            total = sum(c.amount or 0 for c in effective(claims).values())
            u = rng.random()
            if 100_000 < total <= 300_000 and u < 0.7:
                kind, amount = "up_300k", amount + rng.choice(SB_UP_300K) - total
            elif 300_000 < total <= 500_000 and u < 0.5:
                kind, amount = "up_500k", amount + rng.choice(SB_UP_500K) - total
            elif total > 500_000 and u < 0.5:
                kind = "down"
                amount = amount - (total - rng.choice(SB_DOWN))
                if amount < 10_000:
                    amount = max(10_000, int(original * 0.6 / 10_000) * 10_000)
            else:
                step = rng.choice((-50_000, -20_000, -10_000, 10_000, 20_000, 30_000, 50_000))
                amount = max(10_000, amount + step)
        else:
            unit = 10_000 if amount >= 100_000 else 1_000
            amount = max(unit, int(amount * rng.uniform(0.8, 1.25) / unit) * unit)
        if amount == original:
            amount += 10_000
        return kind, amount

    def _resubmission_time(self, kind: str, claims: list[BizClaim]) -> tuple[int, int]:
        """(day, second of day) after the business's last claim; a band crossing lands on a later day."""
        rng = self.rng
        last = max(claims, key=lambda c: (c.day, c.tsec))
        if kind.startswith(("up_", "down")):
            offset = 1 + int(rng.expovariate(0.7))  # a later day: the business's tier moves overnight
        else:
            offset = 0 if rng.random() < 0.5 else 1 + int(rng.expovariate(0.7))
        day = min(self.ctx.n_days - 1, last.day + offset)
        if day > last.day:
            tsec = self.ctx.time()
        elif last.tsec < 86_399:
            tsec = rng.randint(last.tsec + 1, min(86_399, last.tsec + 6 * 3600))
        else:  # the last second of the day: the receipt_no breaks the tie
            tsec = last.tsec
        return day, tsec
