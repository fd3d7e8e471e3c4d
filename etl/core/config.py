"""Program config: every number of the relief rules, loaded from TOML and validated strictly.

The document is checked against a schema (pydantic, strict): an unknown key or section is an error, a
number must be a TOML integer, a date a TOML date, and every problem is reported at once, one line each,
named by its dotted path (`cash.tiers[0].support_krw`). Controls fail closed: `[approval]` and its
`auto_approve_payments` are required, never implied.

A file may start with `extends = "other.toml"` (a path relative to the file): that document is loaded
first and this file's tables are deep-merged over it (tables merge key by key, any other value, arrays of
tables included, is replaced), then the result is validated as one document. The program's `sha256` covers
every file: sha256(base bytes + overlay bytes), the base first; for a file that extends nothing it is simply
the file's SHA-256. It is carried into every manifest, so each output names the exact policy that made it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import hashlib
import os
import tomllib
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from etl.core.resources import data_dir

DEFAULT_PROGRAM_FILE = data_dir("programs") / "kakao_1015.toml"
PAYMENT_ID_SUFFIX = "-YYYYMMDD-NNNNNNN"  # payment_id = PREFIX-YYYYMMDD-NNNNNNN, at most 35 characters


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
    close_date: dt.date  # the end of the settlement period: after it no day computes or pays
    review_threshold_krw: int
    tiers: tuple[Tier, ...]
    max_payment_krw: int
    debtor: dict[str, str]
    max_businesses_per_account: int
    auto_approve_payments: bool
    approvers: tuple[str, ...]  # Airflow user names allowed to approve a payment batch
    reason_required_on_reject: bool
    rollout_date: dt.date
    eligible_joined_on_or_before: dt.date
    talk_drawer_cap: int
    kakaotalk_users: int
    items: tuple[Item, ...]
    bundles: tuple[Bundle, ...]
    reference_claims: dict[str, int]
    services_path: Path
    sha256: str  # sha256(base bytes + overlay bytes) of the config files: the `config_sha256` of every manifest
    path: str

    def intake_days(self) -> list[dt.date]:
        """Every day of the intake window, in order."""
        n = (self.intake_last_day - self.intake_first_day).days + 1
        return [self.intake_first_day + dt.timedelta(days=i) for i in range(n)]

    def in_window(self, day: dt.date) -> bool:
        """Whether claims files come for this day (the intake window)."""
        return self.intake_first_day <= day <= self.intake_last_day

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


def load_program(path: str | os.PathLike | None = None) -> Program:
    """Load and validate the program config (default: $RELIEF_PROGRAM or the 1015 program)."""
    from pydantic import ValidationError  # ~0.15 s to import: paid by a load, not by importing `Program`

    path = Path(path or os.environ.get("RELIEF_PROGRAM") or DEFAULT_PROGRAM_FILE)
    data, files = _read(path, ())
    try:
        doc = _schema().model_validate(data)
    except ValidationError as exc:
        problems = [line for err in exc.errors() for line in _describe(err)]
        chain = " extends ".join(str(f) for f, _ in reversed(files))
        raise ConfigError(
            f"program config {chain} has {len(problems)} problem{'s' if len(problems) > 1 else ''}:\n"
            + "\n".join(f"  {p}" for p in problems)
        ) from None
    prog, cash, rollout, approval = doc.program, doc.cash, doc.rollout, doc.approval
    return Program(
        code=prog.code,
        payment_prefix=prog.payment_prefix,
        timezone=prog.timezone,
        outage_date=prog.outage_date,
        intake_first_day=doc.intake.first_day,
        intake_last_day=doc.intake.last_day,
        close_date=doc.settlement.close_date,
        review_threshold_krw=cash.review_threshold_krw,
        tiers=tuple(Tier(t.max_loss_krw, t.support_krw, t.basis) for t in cash.tiers),
        max_payment_krw=cash.max_payment_krw,
        debtor={k: v for k, v in doc.debtor.model_dump().items() if v is not None},
        max_businesses_per_account=cash.max_businesses_per_account,
        auto_approve_payments=approval.auto_approve_payments,
        approvers=tuple(approval.approvers),
        reason_required_on_reject=approval.reason_required_on_reject,
        rollout_date=rollout.date,
        eligible_joined_on_or_before=rollout.eligible_joined_on_or_before,
        talk_drawer_cap=rollout.talk_drawer_cap,
        kakaotalk_users=rollout.kakaotalk_users,
        items=tuple(Item(i.code, i.kind, i.name, i.unit_value_krw, i.valid_from, i.valid_to) for i in rollout.items),
        bundles=tuple(Bundle(b.code, tuple(b.items)) for b in rollout.bundles),
        reference_claims=dict(doc.reference.claims),
        services_path=Path(prog.services_file),
        sha256=hashlib.sha256(b"".join(raw for _, raw in files)).hexdigest(),
        path=str(path),
    )


# Reading: one file, or a chain of `extends` ------------------------------------------------------------


def _read(path: Path, seen: tuple[Path, ...]) -> tuple[dict[str, Any], list[tuple[Path, bytes]]]:
    """The merged document of `path` and what it extends, and each file's bytes, the base first."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read program config {path}: {exc.strerror}") from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"program config {path} is not valid TOML: {exc}") from exc
    # services_file is relative to the file that names it, not to the file that extends that one.
    program = doc.get("program")
    if isinstance(program, dict) and isinstance(program.get("services_file"), str):
        program["services_file"] = str(path.parent / program["services_file"])
    if "extends" not in doc:
        return doc, [(path, raw)]
    base_name = doc.pop("extends")
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"program config {path}: extends must be a file name (str), got {base_name!r}")
    base = path.parent / base_name
    here = path.resolve()
    if base.resolve() in (*seen, here):
        cycle = " -> ".join(p.name for p in (*seen, here, base.resolve()))
        raise ConfigError(f"program config {path}: extends makes a cycle: {cycle}")
    try:
        base_doc, files = _read(base, (*seen, here))
    except ConfigError as exc:
        raise ConfigError(f"program config {path} extends {base_name!r}: {exc}") from exc
    return _merge(base_doc, doc), [*files, (path, raw)]


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` over `base`: tables merge key by key, any other value (arrays too) is replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Reporting: one line per problem, named by its dotted path ----------------------------------------------


class _Problems(ValueError):
    """Cross-field problems of one table: (path relative to the table, what is wrong) each."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{where} {what}".strip() for where, what in problems))
        self.problems = problems


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _join(base: str, rel: str) -> str:
    if not rel:
        return base
    return f"{base}{rel}" if rel.startswith("[") or not base else f"{base}.{rel}"


_KINDS = {
    "int": "must be int",
    "bool": "must be bool (true or false)",
    "string": "must be str",
    "date": "must be a date (YYYY-MM-DD, unquoted)",
    "list": "must be an array",
    "dict": "must be a table",
    "model": "must be a table",
}


def _describe(err: Any) -> list[str]:
    loc = tuple(err["loc"])
    where = _dotted(loc) or "the document"
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return [f"{where} is missing"]
    if kind == "extra_forbidden":
        what = "section" if len(loc) == 1 and isinstance(value, dict) else "key"
        known = _keys_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
        return [f"{where}: unknown {what} ({hint})"]
    if kind == "value_error":
        exc = err["ctx"]["error"]
        problems = exc.problems if isinstance(exc, _Problems) else [("", str(exc))]
        return [f"{_join(_dotted(loc), rel) or 'the document'} {what}" for rel, what in problems]
    if kind == "greater_than":
        return [f"{where} must be > {err['ctx']['gt']}, got {value!r}"]
    if kind == "too_short":
        return [f"{where} must hold at least one entry"]
    if kind == "string_too_short":
        return [f"{where} must not be empty"]
    for prefix, text in _KINDS.items():
        if kind.startswith(f"{prefix}_"):
            return [f"{where} {text}, got {value!r}"]
    return [f"{where}: {err['msg']}, got {value!r}"]


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the schema knows in the table at `loc` (for "did you mean")."""
    model = _schema()
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        kind = field.annotation
        while not hasattr(kind, "model_fields") and get_args(kind):
            kind = get_args(kind)[0]  # list[Tier] -> Tier
        if not hasattr(kind, "model_fields"):
            return []
        model = kind
    return list(model.model_fields)


# The schema ---------------------------------------------------------------------------------------------


@functools.cache
def _schema() -> Any:
    """The pydantic model of a program document, strict (built once; pydantic is only imported here)."""
    from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

    class Table(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    class ProgramTable(Table):
        code: str = Field(min_length=1)
        payment_prefix: str
        timezone: str
        outage_date: dt.date
        services_file: str = Field(min_length=1)  # relative to the file that names it (made absolute on read)

        @field_validator("payment_prefix")
        @classmethod
        def _prefix(cls, value: str) -> str:
            longest = 35 - len(PAYMENT_ID_SUFFIX)
            if not (value.isascii() and value.isalnum()) or len(value) > longest:
                raise ValueError(
                    f"must be alphanumeric and keep payment_id within 35 characters (at most {longest}), got {value!r}"
                )
            return value

        @field_validator("timezone")
        @classmethod
        def _zone(cls, value: str) -> str:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"must be an IANA time zone such as Asia/Seoul, got {value!r}") from None
            return value

        @field_validator("services_file")
        @classmethod
        def _services(cls, value: str) -> str:
            if not Path(value).is_file():
                raise ValueError(f"names {value}, which does not exist")
            return value

    class Intake(Table):
        first_day: dt.date
        last_day: dt.date

        @model_validator(mode="after")
        def _window(self) -> Intake:
            if self.last_day < self.first_day:
                raise _Problems([("last_day", f"({self.last_day}) is before intake.first_day ({self.first_day})")])
            return self

    class Settlement(Table):
        close_date: dt.date

    class TierTable(Table):
        max_loss_krw: PositiveInt
        support_krw: PositiveInt
        basis: str = Field(min_length=1)

    class Cash(Table):
        review_threshold_krw: PositiveInt
        tiers: list[TierTable] = Field(min_length=1)
        max_payment_krw: PositiveInt  # the largest single payment a batch may carry
        max_businesses_per_account: PositiveInt  # fraud hold

        @model_validator(mode="after")
        def _rules(self) -> Cash:
            problems = []
            for i, (lower, upper) in enumerate(zip(self.tiers, self.tiers[1:]), start=1):
                if upper.max_loss_krw <= lower.max_loss_krw or upper.support_krw < lower.support_krw:
                    problems.append(
                        (
                            f"tiers[{i}]",
                            f"must rise: max_loss_krw above {lower.max_loss_krw} and support_krw not below"
                            f" {lower.support_krw} (the tier before), got {upper.max_loss_krw} and {upper.support_krw}",
                        )
                    )
            last = self.tiers[-1].max_loss_krw
            if self.review_threshold_krw != last:
                problems.append(
                    (
                        "review_threshold_krw",
                        f"({self.review_threshold_krw}) must equal the last tier's max_loss_krw ({last}):"
                        " a loss is either in a tier or under review",
                    )
                )
            if problems:
                raise _Problems(problems)
            return self

    class Debtor(Table):  # the paying account: the debtor of every pain.001 payment file
        name: str = Field(min_length=1)
        account: str = Field(min_length=1)
        bank_code: str | None = None
        bic: str | None = None
        org_id: str | None = None

        @model_validator(mode="after")
        def _bank(self) -> Debtor:
            if not (self.bank_code or self.bic):
                raise _Problems([("", "needs a bank_code or a bic: the bank must know which bank debits")])
            return self

    class Approval(Table):
        auto_approve_payments: bool  # required: a missing key is an error, never an implied true
        approvers: list[str] = Field(default_factory=list)
        reason_required_on_reject: bool = True

        @model_validator(mode="after")
        def _someone(self) -> Approval:
            problems = [(f"approvers[{i}]", "must not be blank") for i, a in enumerate(self.approvers) if not a.strip()]
            if not self.auto_approve_payments and not self.approvers:
                problems.append(("approvers", "must name an Airflow user when auto_approve_payments is false"))
            if problems:
                raise _Problems(problems)
            return self

    class ItemTable(Table):
        code: str = Field(min_length=1)
        kind: str = Field(min_length=1)
        name: str = Field(min_length=1)
        unit_value_krw: PositiveInt
        valid_from: dt.date
        valid_to: dt.date | None  # "" in the file: permanent (TOML has no null); required all the same

        @field_validator("valid_to", mode="before")
        @classmethod
        def _permanent(cls, value: object) -> object:
            return None if value == "" else value

        @model_validator(mode="after")
        def _validity(self) -> ItemTable:
            if self.valid_to is not None and self.valid_to < self.valid_from:
                raise _Problems([("valid_to", f"({self.valid_to}) is before valid_from ({self.valid_from})")])
            return self

    class BundleTable(Table):
        code: str = Field(min_length=1)
        items: list[str] = Field(min_length=1)

    class Rollout(Table):
        date: dt.date
        eligible_joined_on_or_before: dt.date
        talk_drawer_cap: PositiveInt
        kakaotalk_users: PositiveInt
        items: list[ItemTable] = Field(min_length=1)
        bundles: list[BundleTable] = Field(min_length=1)

        @model_validator(mode="after")
        def _rules(self) -> Rollout:
            problems = []
            for what, rows in (("items", self.items), ("bundles", self.bundles)):
                codes = [r.code for r in rows]
                problems += [
                    (f"{what}[{i}].code", f"repeats {code!r}: codes must be unique")
                    for i, code in enumerate(codes)
                    if code in codes[:i]
                ]
            known = {i.code for i in self.items}
            for i, bundle in enumerate(self.bundles):
                unknown = [m for m in bundle.items if m not in known]
                if unknown:
                    problems.append((f"bundles[{i}].items", f"names unknown items: {', '.join(unknown)}"))
            missing = {"relief_base", "relief_base_td"} - {b.code for b in self.bundles}
            if missing:
                problems.append(
                    ("bundles", f"must define relief_base and relief_base_td (CONTRACT.md); missing {sorted(missing)}")
                )
            if problems:
                raise _Problems(problems)
            return self

    class Reference(Table):  # the figures PROGRAM.md reports; `relief report` prints the run beside them
        claims: dict[str, int] = Field(default_factory=dict)

    class Document(Table):
        program: ProgramTable
        intake: Intake
        settlement: Settlement
        cash: Cash
        debtor: Debtor
        approval: Approval
        rollout: Rollout
        reference: Reference = Field(default_factory=Reference)

        @model_validator(mode="after")
        def _life(self) -> Document:
            """The program's life in order: outage, intake window, settlement period up to the close."""
            problems = []
            if self.intake.first_day < self.program.outage_date:
                problems.append(("intake.first_day", f"({self.intake.first_day}) is before program.outage_date"))
            if self.settlement.close_date <= self.intake.last_day:
                close = self.settlement.close_date
                problems.append(("settlement.close_date", f"({close}) must be after intake.last_day"))
            if problems:
                raise _Problems(problems)
            return self

    return Document
