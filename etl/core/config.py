"""Program config: every number of the relief rules, loaded from one TOML file and validated.

The file's SHA-256 is carried into every manifest so each output names the policy that made it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from etl.core.resources import data_dir

DEFAULT_PROGRAM_FILE = data_dir("programs") / "kakao_1015.toml"


class ConfigError(ValueError):
    """The program config is missing a value or holds one that cannot be right."""


@dataclass(frozen=True)
class Tier:
    max_loss_krw: int
    support_krw: int
    basis: str


@dataclass(frozen=True)
class Item:
    code: str
    kind: str
    name: str
    unit_value_krw: int
    valid_from: dt.date
    valid_to: dt.date | None  # None: permanent


@dataclass(frozen=True)
class Bundle:
    code: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class Program:
    code: str
    payment_prefix: str
    timezone: str
    outage_date: dt.date
    intake_first_day: dt.date
    intake_last_day: dt.date
    review_threshold_krw: int
    tiers: tuple[Tier, ...]
    max_payment_krw: int
    debtor: dict[str, str]
    max_businesses_per_account: int
    auto_approve_payments: bool
    rollout_date: dt.date
    eligible_joined_on_or_before: dt.date
    talk_drawer_cap: int
    kakaotalk_users: int
    items: tuple[Item, ...]
    bundles: tuple[Bundle, ...]
    reference_claims: dict[str, int]
    services_path: Path
    sha256: str  # of the config file's bytes: the `config_sha256` of every manifest
    path: str

    def intake_days(self) -> list[dt.date]:
        """Every day of the intake window, in order."""
        n = (self.intake_last_day - self.intake_first_day).days + 1
        return [self.intake_first_day + dt.timedelta(days=i) for i in range(n)]

    def tier_for(self, loss_krw: int) -> Tier | None:
        """The tier a loss falls in, or None when it needs the council (or is not a loss)."""
        if loss_krw <= 0:
            return None
        for tier in self.tiers:
            if loss_krw <= tier.max_loss_krw:
                return tier
        return None

    def item(self, code: str) -> Item:
        return next(i for i in self.items if i.code == code)

    def bundle(self, code: str) -> Bundle:
        return next(b for b in self.bundles if b.code == code)


def _get(table: dict, key: str, kind: type | tuple[type, ...], where: str):
    if key not in table:
        raise ConfigError(f"{where}.{key} is missing")
    value = table[key]
    # bool is a subclass of int: refuse it where a number is meant, and the reverse.
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key} must be {names}, got {value!r}")
    return value


def _day(table: dict, key: str, where: str) -> dt.date:
    value = _date(table, key, where)
    assert value is not None  # not optional: _date raised otherwise
    return value


def _date(table: dict, key: str, where: str, optional: bool = False) -> dt.date | None:
    value = table.get(key, "")
    if optional and value == "":
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ConfigError(f"{where}.{key} must be a date (YYYY-MM-DD), got {value!r}")
    return value


def _positive(value: int, what: str) -> int:
    if value <= 0:
        raise ConfigError(f"{what} must be > 0, got {value}")
    return value


def _debtor(doc: dict) -> dict[str, str]:
    debtor = _get(doc, "debtor", dict, "")
    for key in ("name", "account"):
        _get(debtor, key, str, "debtor")
    if not (debtor.get("bank_code") or debtor.get("bic")):
        raise ConfigError("debtor needs a bank_code or a bic")
    return {k: str(v) for k, v in debtor.items()}


def load_program(path: str | os.PathLike | None = None) -> Program:
    """Load and validate the program config (default: $RELIEF_PROGRAM or the 1015 program)."""
    path = Path(path or os.environ.get("RELIEF_PROGRAM") or DEFAULT_PROGRAM_FILE)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read program config {path}: {exc.strerror}") from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"program config {path} is not valid TOML: {exc}") from exc

    prog = _get(doc, "program", dict, "")
    intake = _get(doc, "intake", dict, "")
    cash = _get(doc, "cash", dict, "")
    rollout = _get(doc, "rollout", dict, "")

    tiers = []
    for i, t in enumerate(_get(cash, "tiers", list, "cash")):
        where = f"cash.tiers[{i}]"
        tiers.append(
            Tier(
                max_loss_krw=_positive(_get(t, "max_loss_krw", int, where), f"{where}.max_loss_krw"),
                support_krw=_positive(_get(t, "support_krw", int, where), f"{where}.support_krw"),
                basis=_get(t, "basis", str, where),
            )
        )
    if not tiers:
        raise ConfigError("cash.tiers must hold at least one tier")
    for lower, upper in zip(tiers, tiers[1:]):
        if upper.max_loss_krw <= lower.max_loss_krw or upper.support_krw < lower.support_krw:
            raise ConfigError("cash.tiers must rise: each max_loss_krw and support_krw above the one before")
    threshold = _positive(_get(cash, "review_threshold_krw", int, "cash"), "cash.review_threshold_krw")
    if threshold != tiers[-1].max_loss_krw:
        raise ConfigError(
            f"cash.review_threshold_krw ({threshold}) must equal the last tier's max_loss_krw"
            f" ({tiers[-1].max_loss_krw}): a loss is either in a tier or under review"
        )

    items = []
    for i, it in enumerate(_get(rollout, "items", list, "rollout")):
        where = f"rollout.items[{i}]"
        items.append(
            Item(
                code=_get(it, "code", str, where),
                kind=_get(it, "kind", str, where),
                name=_get(it, "name", str, where),
                unit_value_krw=_positive(_get(it, "unit_value_krw", int, where), f"{where}.unit_value_krw"),
                valid_from=_day(it, "valid_from", where),
                valid_to=_date(it, "valid_to", where, optional=True),
            )
        )
    codes = [i.code for i in items]
    if len(set(codes)) != len(codes):
        raise ConfigError("rollout.items: item codes must be unique")
    for it in items:
        if it.valid_to is not None and it.valid_to < it.valid_from:
            raise ConfigError(f"rollout item {it.code}: valid_to is before valid_from")
    bundles = []
    for i, b in enumerate(_get(rollout, "bundles", list, "rollout")):
        where = f"rollout.bundles[{i}]"
        members = tuple(_get(b, "items", list, where))
        unknown = [m for m in members if m not in codes]
        if unknown:
            raise ConfigError(f"{where} names unknown items: {', '.join(map(str, unknown))}")
        bundles.append(Bundle(code=_get(b, "code", str, where), items=members))
    bundle_codes = {b.code for b in bundles}
    if not {"relief_base", "relief_base_td"} <= bundle_codes:
        raise ConfigError("rollout.bundles must define relief_base and relief_base_td (CONTRACT.md)")

    prefix = _get(prog, "payment_prefix", str, "program")
    if not prefix.isalnum() or len(prefix) + len("-YYYYMMDD-NNNNNNN") > 35:
        raise ConfigError("program.payment_prefix must be alphanumeric and keep payment_id within 35 characters")

    first = _day(intake, "first_day", "intake")
    last = _day(intake, "last_day", "intake")
    if last < first:
        raise ConfigError("intake.last_day is before intake.first_day")

    reference = doc.get("reference", {}).get("claims", {})
    services_path = path.parent / _get(prog, "services_file", str, "program")
    if not services_path.is_file():
        raise ConfigError(f"program.services_file: {services_path} does not exist")
    return Program(
        code=_get(prog, "code", str, "program"),
        payment_prefix=prefix,
        timezone=_get(prog, "timezone", str, "program"),
        outage_date=_day(prog, "outage_date", "program"),
        intake_first_day=first,
        intake_last_day=last,
        review_threshold_krw=threshold,
        tiers=tuple(tiers),
        debtor=_debtor(doc),
        max_payment_krw=_positive(_get(cash, "max_payment_krw", int, "cash"), "cash.max_payment_krw"),
        max_businesses_per_account=_positive(
            _get(cash, "max_businesses_per_account", int, "cash"), "cash.max_businesses_per_account"
        ),
        auto_approve_payments=_get(doc.get("approval", {"auto_approve_payments": True}), "auto_approve_payments", bool, "approval"),
        rollout_date=_day(rollout, "date", "rollout"),
        eligible_joined_on_or_before=_day(rollout, "eligible_joined_on_or_before", "rollout"),
        talk_drawer_cap=_positive(_get(rollout, "talk_drawer_cap", int, "rollout"), "rollout.talk_drawer_cap"),
        kakaotalk_users=_positive(_get(rollout, "kakaotalk_users", int, "rollout"), "rollout.kakaotalk_users"),
        items=tuple(items),
        bundles=tuple(bundles),
        reference_claims={k: int(v) for k, v in reference.items()},
        services_path=services_path,
        sha256=hashlib.sha256(raw).hexdigest(),
        path=str(path),
    )
