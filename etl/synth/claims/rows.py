"""The valid claim rows: a planned business claim's fields, and individuals' reports made as their day is written.

An individual's report is a new person, a second service of an earlier claimant, or a resubmission
(same person and service, later, usually with a corrected amount). Earlier reports are kept per cell
in a bounded pool, so memory stays flat at any scale.
"""

from __future__ import annotations

from etl.synth.claims.businesses import BizClaim
from etl.synth.claims.calibration import (
    IND_FREE_AMOUNTS,
    IND_PAID_AMOUNTS,
    MULTI_SERVICE_RATE,
    POOL_SIZE,
    RESUB_RATE,
    Cell,
)
from etl.synth.claims.context import Context
from etl.synth.claims.descriptions import (
    RESUB_DESCRIPTIONS,
    RESUB_DESCRIPTIONS_NON,
    affiliate_description_picks,
    kakao_description_picks,
    quote,
)
from etl.synth.claims.identities import Business, account_no, brn
from etl.synth.claims.sampling import Pick

Person = tuple[str, str, int | None]  # (name, account_id or "", the 8 digits of a mobile or None)
PoolEntry = tuple[int, Person, str, int | None]  # (absolute second, person, service, amount)


class RowMaker:
    """Writes valid claim rows; keeps the pools of earlier individual claims that later ones refer to."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.rng = ctx.rng
        self.ids = ctx.ids
        self.pick_ind_paid = Pick(IND_PAID_AMOUNTS)
        self.pick_ind_free = Pick(IND_FREE_AMOUNTS)
        self.descriptions = kakao_description_picks()
        self.aff_descriptions = affiliate_description_picks(ctx.catalogue)
        self.pools: dict[Cell, list[PoolEntry]] = {c: [] for c in ctx.cells if c.ctype == "individual"}

    # ---------- businesses ----------

    def bank_fields(self, biz: Business) -> list[str]:
        """bank_code, account_no (with or without hyphens) and account_holder (the owner or the business)."""
        rng = self.rng
        return [
            biz.bank[0],
            account_no(biz.bank, rng.random() < 0.7),
            quote(biz.owner if biz.ctype == "small_business" and rng.random() < 0.7 else biz.name),
        ]

    def biz_fields(self, receipt: str, ts: str, claim: BizClaim) -> list[str]:
        """A business claim's 16 fields, CSV-quoted where needed."""
        rng = self.rng
        biz = claim.biz
        with_bank = claim.bank
        phone = self.ids.mobile(biz.phone) if isinstance(biz.phone, int) else biz.phone
        amount = claim.amount if claim.monetary else None
        desc = self._biz_description(claim, amount)
        return [
            receipt,
            ts,
            self.ctx.pick_channel(rng),
            biz.ctype,
            quote(biz.name),
            "",
            phone,
            brn(biz.first9, rng.random() < 0.5),
            claim.service,
            "true" if claim.cell.damage == "paid_service" else "false",
            "true" if claim.monetary else "false",
            "" if amount is None else str(amount),
            *(self.bank_fields(biz) if with_bank else ("", "", "")),
            desc,
        ]

    def _biz_description(self, claim: BizClaim, amount: int | None) -> str:
        rng = self.rng
        biz = claim.biz
        if claim.resub:
            if amount is not None:
                desc = quote(f"금액 정정: {amount:,}원" if rng.random() < 0.5 else rng.choice(RESUB_DESCRIPTIONS))
            else:
                desc = quote(rng.choice(RESUB_DESCRIPTIONS_NON))
            if claim.bank and biz.bank_missing and rng.random() < 0.5:
                desc = quote("계좌 정보 추가합니다")
            return desc
        if not claim.cell.kakao:
            return self.aff_descriptions[claim.service](rng)
        if amount is not None and rng.random() < 0.3:
            return quote(f"매출 손실 약 {amount:,}원")
        return self.descriptions[(biz.ctype, claim.cell.damage)](rng)

    # ---------- individuals ----------

    def individual_line(self, receipt: str, ts: str, cell: Cell, abs_t: int) -> str:
        """One individual's report: a new person, a second service of an earlier one, or a resubmission."""
        rng = self.rng
        pool = self.pools[cell]
        person, service, resub_of = self._returning(pool, cell, abs_t)
        if person is None:
            person = self._new_person()
        if not service:
            service = self.ctx.services[cell](rng)
        if cell.damage == "free_monetary":
            monetary = True
        elif cell.damage == "paid_service":
            monetary = rng.random() < 0.25
        else:
            monetary = False
        amount: int | None = None
        if monetary:
            amount = (self.pick_ind_free if cell.damage == "free_monetary" else self.pick_ind_paid)(rng)
            if resub_of is not None and amount == resub_of[3]:
                amount += 1_000
        desc = self._individual_description(cell, service, amount, resub_of is not None)
        if resub_of is None:
            if len(pool) < POOL_SIZE:
                pool.append((abs_t, person, service, amount))
            else:
                pool[int(rng.random() * POOL_SIZE)] = (abs_t, person, service, amount)
        name, account_id, phone = person
        fields = (
            receipt,
            ts,
            self.ctx.pick_channel(rng),
            "individual",
            quote(name),
            account_id,
            "" if phone is None else self.ids.mobile(phone),
            "",
            service,
            "true" if cell.damage == "paid_service" else "false",
            "true" if monetary else "false",
            "" if amount is None else str(amount),
            "",
            "",
            "",
            desc,
        )
        return ",".join(fields) + "\r\n"

    def _individual_description(self, cell: Cell, service: str, amount: int | None, resub: bool) -> str:
        rng = self.rng
        if resub:
            if amount is not None:
                return quote(f"금액 정정: {amount:,}원")
            return quote(rng.choice(RESUB_DESCRIPTIONS_NON))
        if cell.kakao:
            return self.descriptions[("individual", cell.damage)](rng)
        return self.aff_descriptions[service](rng)

    def _returning(self, pool: list[PoolEntry], cell: Cell, abs_t: int) -> tuple[Person | None, str, PoolEntry | None]:
        """An earlier claimant of the cell coming back: (person, service or "", the entry resubmitted or None)."""
        rng = self.rng
        u = rng.random()
        if not pool or u >= RESUB_RATE + MULTI_SERVICE_RATE:
            return None, "", None
        j = int(rng.random() * len(pool))
        entry = pool[j]
        if entry[0] >= abs_t:
            return None, "", None
        if u < RESUB_RATE:  # the same person and service, later, usually with a corrected amount
            pool[j] = pool[-1]
            pool.pop()
            self.ctx.counters.resubmissions += 1
            return entry[1], entry[2], entry
        service = ""
        for _ in range(5):
            service = self.ctx.services[cell](rng)
            if service != entry[2]:
                break
        self.ctx.counters.multi_service_individuals += 1
        return entry[1], service, None

    def _new_person(self) -> Person:
        rng = self.rng
        name, stem = self.ids.person_name()
        account_id = self.ids.account_id(stem) if rng.random() < 0.7 else ""
        phone = self.ids.phones.next() if not account_id or rng.random() < 0.3 else None
        return name, account_id, phone
