"""The figures the claims generator is calibrated to: PROGRAM.md's table, its scaling, and the mixes behind it.

`KAKAO_TABLE` and `AFFILIATE_TABLE` are the exact report counts at scale 1; `scaled_table` turns them into
the cells a run generates. The rest are the shapes of the noise: rates of resubmission and re-delivery,
amount distributions, which services each kind of claim names, and when in the day claims arrive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from etl.claims.parse import Service
from etl.synth.claims.sampling import Pick

CellKey = tuple[str, str]  # (claimant_type, damage)

# The reports PROGRAM.md gives for Kakao Corp services, by (claimant_type, damage) at scale 1.
KAKAO_TABLE: dict[CellKey, int] = {
    ("individual", "paid_service"): 8818,
    ("individual", "free_monetary"): 4145,
    ("individual", "non_monetary"): 56619,
    ("small_business", "paid_service"): 6000,
    ("small_business", "free_monetary"): 9000,
    ("small_business", "non_monetary"): 2439,
    ("enterprise", "paid_service"): 100,
    ("enterprise", "free_monetary"): 50,
    ("enterprise", "non_monetary"): 24,
}
# The 17,921 affiliate reports: the report gives only the total, so this mix is ours.
AFFILIATE_TABLE: dict[CellKey, int] = {
    ("individual", "paid_service"): 3100,
    ("individual", "free_monetary"): 1700,
    ("individual", "non_monetary"): 8700,
    ("small_business", "paid_service"): 1500,
    ("small_business", "free_monetary"): 2200,
    ("small_business", "non_monetary"): 600,
    ("enterprise", "paid_service"): 60,
    ("enterprise", "free_monetary"): 31,
    ("enterprise", "non_monetary"): 30,
}
CLAIMANT_TYPES = ("individual", "small_business", "enterprise")
DAMAGES = ("paid_service", "free_monetary", "non_monetary")

RESUB_RATE = 0.03  # resubmissions, as a share of reports
MULTI_SERVICE_RATE = 0.04  # individuals reporting a second service
REDELIVERY_RATE = 0.02  # re-delivered rows, as a share of a day's fresh rows
MALFORMED_RATE = 0.005  # malformed rows, as a share of all rows
BANK_MISSING_RATE = {"small_business": 0.05, "enterprise": 0.03}
BANK_ADD_REDELIVERY_RATE = 0.12  # of rows without bank details, re-delivered later with them
SAME_DAY_REDELIVERY_SHARE = 0.3
RESERVOIR_SIZE = 20_000  # earlier rows kept for exact re-delivery (bounds memory at any scale)
POOL_SIZE = 5_000  # earlier individual claims kept per cell for resubmissions

# Per business, the number of services it reports on.
SERVICES_PER_BUSINESS = {"small_business": ((1, 62), (2, 27), (3, 11)), "enterprise": ((1, 70), (2, 22), (3, 8))}

# The amount tables are laid out by hand (one line per band of a small business's total): not reformatted.
# fmt: off
# A small business's total loss over its Kakao claims: round numbers clustered at the band edges,
# median in (300,000, 500,000], about 15% above 500,000 (before resubmissions move some of them).
SB_LOSS_TOTALS = (
    (30_000, 1), (50_000, 3), (80_000, 2), (100_000, 6), (120_000, 2), (150_000, 4), (200_000, 5),
    (250_000, 4), (280_000, 3), (299_999, 2), (300_000, 6),
    (300_001, 2), (320_000, 4), (350_000, 7), (380_000, 3), (400_000, 8), (420_000, 2), (450_000, 6),
    (480_000, 3), (499_999, 2), (500_000, 6),
    (500_001, 1.5), (520_000, 1.2), (550_000, 1.8), (600_000, 2.2), (700_000, 1.4), (800_000, 1.4),
    (1_000_000, 1.4), (1_200_000, 1.2), (1_500_000, 0.7), (2_000_000, 0.5), (3_000_000, 0.3), (5_000_000, 0.2),
)
ENTERPRISE_LOSS_TOTALS = (
    (1_000_000, 3), (2_000_000, 3), (3_000_000, 3), (5_000_000, 4), (10_000_000, 4), (20_000_000, 3),
    (50_000_000, 2), (100_000_000, 1.5), (300_000_000, 0.5),
)
AFFILIATE_SB_AMOUNTS = (
    (30_000, 3), (50_000, 4), (80_000, 3), (100_000, 5), (150_000, 4), (200_000, 4), (300_000, 3),
    (500_000, 2), (1_000_000, 1),
)
IND_PAID_AMOUNTS = ((990, 2), (1_900, 3), (2_900, 2), (3_900, 3), (4_900, 4), (9_900, 2), (14_900, 1), (30_000, 1))
IND_FREE_AMOUNTS = (
    (3_000, 2), (5_000, 4), (8_000, 2), (10_000, 5), (12_000, 2), (15_000, 3), (20_000, 4), (30_000, 4),
    (50_000, 3), (100_000, 2), (150_000, 1), (300_000, 1), (1_000_000, 0.3),
)
# fmt: on
SB_UP_300K = (300_001, 320_000, 350_000, 400_000, 450_000)
SB_UP_500K = (500_001, 550_000, 600_000, 800_000, 1_200_000)
SB_DOWN = (300_000, 400_000, 450_000, 500_000)

# The service mixes are laid out by hand (one line per cell): not reformatted.
# fmt: off
# Services a claim of each kind names, by weight (filtered against services.csv at run time).
KAKAO_SERVICES: dict[CellKey, tuple[tuple[str, float], ...]] = {
    ("individual", "paid_service"): (
        ("emoticon_plus", 30), ("talk_drawer", 30), ("talk_gift", 20), ("kakao_makers", 10), ("talk_store", 10)),
    ("individual", "free_monetary"): (
        ("kakaotalk", 40), ("talk_gift", 20), ("kakao_login", 15), ("kakao_map", 10), ("daum_mail", 5),
        ("daum_cafe", 5), ("kakao_story", 5)),
    ("individual", "non_monetary"): (
        ("kakaotalk", 60), ("daum_mail", 8), ("daum_cafe", 8), ("kakao_map", 6), ("kakao_story", 4),
        ("talk_channel", 4), ("kakao_login", 6), ("daum", 4)),
    ("small_business", "paid_service"): (
        ("biz_message", 35), ("talk_channel", 20), ("talk_store", 20), ("talk_gift", 15), ("kakao_makers", 10)),
    ("small_business", "free_monetary"): (
        ("kakaotalk", 40), ("talk_channel", 20), ("kakao_map", 15), ("kakao_login", 10), ("daum", 5),
        ("daum_cafe", 5), ("kakao_story", 5)),
    ("small_business", "non_monetary"): (
        ("kakaotalk", 40), ("talk_channel", 25), ("kakao_map", 20), ("daum_mail", 10), ("kakao_story", 5)),
    ("enterprise", "paid_service"): (("biz_message", 50), ("talk_channel", 25), ("talk_gift", 15), ("talk_store", 10)),
    ("enterprise", "free_monetary"): (("kakao_login", 50), ("kakaotalk", 25), ("daum_mail", 25)),
    ("enterprise", "non_monetary"): (("kakao_login", 40), ("biz_message", 30), ("daum_mail", 30)),
}
AFFILIATE_SERVICES: dict[CellKey, tuple[tuple[str, float], ...]] = {
    ("individual", "paid_service"): (
        ("melon", 25), ("kakao_page", 20), ("kakao_webtoon", 15), ("kakao_games", 15), ("kakao_t", 15),
        ("zigzag", 10)),
    ("individual", "free_monetary"): (
        ("kakao_t", 35), ("kakao_pay", 35), ("kakao_navi", 10), ("kakao_bank", 10), ("zigzag", 10)),
    ("individual", "non_monetary"): (
        ("kakao_t", 25), ("kakao_pay", 20), ("kakao_bank", 15), ("melon", 10), ("kakao_navi", 10),
        ("kakao_webtoon", 10), ("kakao_games", 10)),
    ("small_business", "paid_service"): (("kakao_t", 40), ("zigzag", 30), ("kakao_work", 15), ("kakao_pay", 15)),
    ("small_business", "free_monetary"): (("kakao_t", 40), ("kakao_pay", 40), ("zigzag", 20)),
    ("small_business", "non_monetary"): (("kakao_t", 50), ("kakao_pay", 50)),
    ("enterprise", "paid_service"): (("kakao_work", 70), ("kakao_pay", 30)),
    ("enterprise", "free_monetary"): (("kakao_work", 50), ("kakao_pay", 50)),
    ("enterprise", "non_monetary"): (("kakao_work", 60), ("kakao_pay", 40)),
}
# fmt: on

CHANNELS = (("web", 45), ("kakaotalk", 35), ("phone", 10), ("email", 10))
# Claims by hour of the KST day: few at night, most in business hours and the evening.
HOURS = (2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 11, 11, 10, 10, 10, 10, 10, 10, 9, 8, 6, 4)


@dataclass(frozen=True, eq=False)  # one object per cell: identity hashing keeps dict lookups cheap
class Cell:
    """One cell of the table: Kakao Corp or affiliate, claimant type, damage. A report never leaves its cell."""

    kakao: bool
    ctype: str
    damage: str


def scaled_table(scale: float) -> dict[Cell, int]:
    """Every cell of the table at a scale: round(cell x scale); margins are the sums of these."""
    table: dict[Cell, int] = {}
    for kakao, source in ((True, KAKAO_TABLE), (False, AFFILIATE_TABLE)):
        for (ctype, damage), n in source.items():
            table[Cell(kakao, ctype, damage)] = math.floor(n * scale + 0.5)
    return table


def day_weights(n_days: int) -> list[float]:
    """More reports in the first days, tailing off over the window."""
    return [math.exp(-d / 4.0) + 0.04 for d in range(n_days)]


def service_picks(cells: list[Cell], services: dict[str, Service]) -> dict[Cell, Pick[str]]:
    """The weighted service lists, restricted to services.csv (Kakao Corp or not, per cell)."""
    picks = {}
    for cell in cells:
        wanted = (KAKAO_SERVICES if cell.kakao else AFFILIATE_SERVICES)[(cell.ctype, cell.damage)]
        pairs: list[tuple[str, float]] = [
            (s, w) for s, w in wanted if s in services and services[s].kakao_corp == cell.kakao
        ]
        if not pairs:
            pairs = [(s.code, 1.0) for s in services.values() if s.kakao_corp == cell.kakao]
        if not pairs:
            raise ValueError(f"services.csv has no service with kakao_corp={str(cell.kakao).lower()}")
        picks[cell] = Pick(pairs)
    return picks
