"""What every part of one generator run shares: the random stream, the window, the table and common picks.

A single `random.Random` drives every choice in a fixed order, so (scale, seed) fixes the bytes: the
parts (business planning, rows, malformed rows, the day files) take their turns on `Context.rng`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from etl.claims.parse import Service
from etl.core.config import Program
from etl.synth.claims.calibration import CHANNELS, HOURS, Cell, day_weights, scaled_table, service_picks
from etl.synth.claims.identities import Identities
from etl.synth.claims.sampling import Pick


def _no_crossings() -> dict[str, int]:
    return {"up_300k": 0, "up_500k": 0, "down": 0}


@dataclass
class Counters:
    """The noise a run put in, as the summary reports it."""

    resubmissions: int = 0
    multi_service_individuals: int = 0
    bank_added_redeliveries: int = 0
    crossings: dict[str, int] = field(default_factory=_no_crossings)  # band-crossing resubmissions by kind


class Context:
    """One run's shared state: validated scale, seeded stream, days, scaled table and the picks all parts use."""

    def __init__(self, program: Program, services: dict[str, Service], scale: float, seed: int):
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a positive number, got {scale}")
        self.rng = random.Random(seed)
        self.days = program.intake_days()
        self.n_days = len(self.days)
        self.dates = [d.isoformat() for d in self.days]
        self.outage_date = program.outage_date
        self.table = scaled_table(scale)
        self.cells = list(self.table)
        self.cell_of = {(c.kakao, c.ctype, c.damage): c for c in self.cells}
        self.day_weights = day_weights(self.n_days)
        self.pick_day = Pick(list(enumerate(self.day_weights)))
        self.pick_hour = Pick(list(enumerate(HOURS)))
        self.pick_channel = Pick(CHANNELS)
        self.services: dict[Cell, Pick[str]] = service_picks(self.cells, services)
        self.catalogue = services
        self.service_kakao = {code: s.kakao_corp for code, s in services.items()}
        self.ids = Identities(self.rng)  # the first draws from the stream
        self.counters = Counters()

    def time(self) -> int:
        """A time of day in seconds, by the hourly profile."""
        return self.pick_hour(self.rng) * 3600 + int(self.rng.random() * 3600)
