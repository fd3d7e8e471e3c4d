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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

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
class Bank:
    """The paying bank's needs ([bank]): passbook texts by basis and the bulk-transfer sheet's columns."""

    passbook_max_chars: int
    payee_texts: dict[str, str]  # basis -> what the payee's passbook shows
    bulk_transfer_columns: tuple[tuple[str, str], ...]  # (header, field), in order
    bulk_transfer_number_fields: frozenset[str]


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
    bank: Bank
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
        bank=Bank(
            passbook_max_chars=doc.bank.passbook_max_chars,
            payee_texts=dict(doc.bank.payee_texts),
            bulk_transfer_columns=tuple((header, field) for header, field in doc.bank.bulk_transfer_columns),
            bulk_transfer_number_fields=frozenset(doc.bank.bulk_transfer_number_fields),
        ),
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
        from etl.core.program_schema import TableProblems  # loaded already: validation ran

        problems = exc.problems if isinstance(exc, TableProblems) else [("", str(exc))]
        return [f"{_join(_dotted(loc), rel) or 'the document'} {what}" for rel, what in problems]
    if kind == "greater_than":
        return [f"{where} must be > {err['ctx']['gt']}, got {value!r}"]
    if kind == "too_short":
        least = err["ctx"].get("min_length", 1)
        return [f"{where} must hold at least {'one entry' if least == 1 else f'{least} entries'}"]
    if kind == "too_long":
        return [f"{where} must hold at most {err['ctx'].get('max_length')} entries"]
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
    """The pydantic model of a program document (etl/core/program_schema.py, imported on first use)."""
    from etl.core.program_schema import Document  # pydantic: ~0.15 s, paid by a load only

    return Document
