"""The claims intake's fast path: a window of well-formed records checked as Arrow vectors.

Most claims are already in the form the row parser would give them back: trimmed, lower case, a known service,
a mobile number written as Korean mobiles usually are, a business number with a good check digit, a timestamp
with a whole-hour offset. `canonical_values` finds those records among a window's (io/csvblocks.py) with
Arrow compute functions and NumPy, and gives their values; it never decides that a row is bad. A record it
does not take (a control character, a space to trim, another spelling, a value out of range or unusual in any
way) goes through the row parser (`parse._claim_values`), which gives the values or the reason, as for every
row before. So the fast path can only be faster, never different: tests/etl/claims/test_blocks.py holds it
to the row parser, over hostile files and values at its edges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etl.claims.identifiers import _BRN_WEIGHTS

if TYPE_CHECKING:
    from etl.claims.parse import Service, _ReceivedAt

# Characters str.strip() removes that are not control characters (those never reach the vectors): a field
# starting or ending with one is left to the row parser, which trims it.
_SPACES = r"[ \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
_EDGE_SPACE = rf"^{_SPACES}|{_SPACES}$"
_HOURLY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-5][0-9]:[0-5][0-9][+-][0-9]{2}:00$"  # parse._HOURLY_TIMESTAMP
_DIGITS = r"^[0-9]{1,13}$"  # an amount of at most 13 digits (MAX_AMOUNT_KRW is 13 digits)
_BRN = r"^[0-9]{3}-?[0-9]{2}-?[0-9]{5}$"
_PHONE_CHARS = r"^[0-9+ .()-]*$"  # a phone of these characters is normalised here as identifiers.normalise_phone does
_MOBILE = r"^01[016789][0-9]{7,8}$"  # identifiers._MOBILE
_BANK_CODE = r"^[0-9]{3}$"
_ACCOUNT = r"^[0-9][0-9-]*[0-9]$"


class CanonicalRows:
    """A window's claim values as Arrow columns (CLAIM_VALUE_COLUMNS order) and which rows are canonical; turned
    into Python values a slice at a time (`values`), so memory follows the slice, not the window."""

    def __init__(self, columns: list[Any], canonical: Any):
        self.columns = columns
        self.canonical = canonical  # a NumPy bool per row

    def __len__(self) -> int:
        return len(self.canonical)

    def values(self, start: int, stop: int) -> list[tuple | None]:
        """Rows [start, stop): each canonical row's values as a tuple, None for any other row."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        keep = self.canonical[start:stop]
        out: list[tuple | None] = [None] * len(keep)
        if keep.any():
            mask = pa.array(keep)
            taken = [pc.filter(col.slice(start, stop - start), mask).to_pylist() for col in self.columns]
            for row, values in zip(np.flatnonzero(keep).tolist(), zip(*taken)):
                out[row] = values
        return out


def canonical_values(table: Any, services: dict[str, Service], received_at: _ReceivedAt) -> CanonicalRows:
    """For each record (a row of an Arrow table of strings, one column per CLAIM_COLUMNS name): its claim values
    in CLAIM_VALUE_COLUMNS order when it is in canonical form; any other row is for the row parser to decide."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from etl.claims.parse import (
        BUSINESS_TYPES,
        CHANNELS,
        CLAIM_COLUMNS,
        CLAIMANT_TYPES,
        FIELD_LIMITS,
        FREE_TEXT,
        MAX_AMOUNT_KRW,
        _utc_hour,
    )

    rows = table.num_rows
    if not rows:
        return CanonicalRows([], np.zeros(0, dtype=bool))
    c = {name: table.column(name).combine_chunks() for name in CLAIM_COLUMNS}

    def match(col: Any, pattern: str) -> Any:
        return pc.match_substring_regex(col, pattern)

    def is_empty(col: Any) -> Any:
        return pc.equal(pc.utf8_length(col), 0)

    def none_if_empty(col: Any) -> Any:
        return pc.if_else(is_empty(col), None, col)

    ok = pc.invert(is_empty(c["receipt_no"]))
    control = np.zeros(rows, dtype=bool)
    for name in CLAIM_COLUMNS:
        control |= _holds_control(c[name], free_text=name in FREE_TEXT)
    ok = pc.and_(ok, pa.array(~control))
    for name, limit in FIELD_LIMITS.items():
        ok = pc.and_(ok, pc.less_equal(pc.utf8_length(c[name]), limit))
    for name in ("receipt_no", "claimant_name", "kakao_account_id", "account_holder"):
        ok = pc.and_(ok, pc.invert(match(c[name], _EDGE_SPACE)))
    codes = pa.array(sorted(services), pa.string())
    for name, allowed in (
        ("channel", pa.array(sorted(CHANNELS))),
        ("claimant_type", pa.array(CLAIMANT_TYPES)),
        ("service", codes),
        ("paid_service", pa.array(["false", "true"])),
        ("monetary_loss", pa.array(["false", "true"])),
    ):
        ok = pc.and_(ok, pc.is_in(c[name], value_set=allowed))

    # received_at: the usual form, converted by the hour (as parse._ReceivedAt), within the file's range.
    hourly = match(c["received_at"], _HOURLY)
    ts = c["received_at"]
    key = pc.if_else(hourly, pc.binary_join_element_wise(pc.utf8_slice_codeunits(ts, 0, 13),
                                                         pc.utf8_slice_codeunits(ts, 19, 25), "|"), "")  # fmt: skip
    keys = pc.unique(key).to_pylist()
    hours = pa.array([_utc_hour(*k.split("|")) if k else None for k in keys], pa.string())
    hour = pc.take(hours, pc.index_in(key, value_set=pa.array(keys, pa.string())))
    utc = pc.binary_join_element_wise(hour, pc.utf8_slice_codeunits(ts, 13, 19), ".000000Z", "")
    ok = pc.and_(ok, pc.and_(hourly, pc.is_valid(utc)))
    ok = pc.and_(ok, pc.fill_null(pc.greater_equal(utc, received_at.earliest_text), False))
    ok = pc.and_(ok, pc.fill_null(pc.less(utc, received_at.end_text), False))

    # claimed_loss_krw: read only when monetary_loss is true.
    monetary = pc.equal(c["monetary_loss"], "true")
    digits = match(c["claimed_loss_krw"], _DIGITS)
    ok = pc.and_(ok, pc.or_(pc.invert(monetary), digits))
    loss = pc.cast(pc.if_else(pc.and_(monetary, digits), c["claimed_loss_krw"], None), pa.int64())
    ok = pc.and_(ok, pc.fill_null(pc.less_equal(loss, MAX_AMOUNT_KRW), True))

    # The claimant: a business by its number (check digit included), an individual by account id or phone.
    business = pc.is_in(c["claimant_type"], value_set=pa.array(sorted(BUSINESS_TYPES)))
    brn_shape = match(c["business_reg_no"], _BRN)
    brn = pc.if_else(pc.and_(business, brn_shape), pc.replace_substring(c["business_reg_no"], "-", ""), None)
    check = _check_digit_ok(pc.fill_null(pc.cast(brn, pa.int64()), 0).to_numpy(zero_copy_only=False))
    ok = pc.and_(ok, pc.or_(pc.invert(business), pc.and_(brn_shape, pa.array(check))))
    ok = pc.and_(ok, match(c["phone"], _PHONE_CHARS))
    phone = _normalise_phones(c["phone"])
    account_id = none_if_empty(c["kakao_account_id"])
    person_key = pc.coalesce(account_id, phone)
    ok = pc.and_(ok, pc.or_(business, pc.is_valid(person_key)))
    claimant_key = pc.if_else(business, brn, person_key)

    # Bank details: none, or a 3-digit bank code and an account of 6-20 digits, with a name to pay.
    no_bank = pc.and_(is_empty(c["bank_code"]), is_empty(c["account_no"]))
    account = pc.replace_substring(c["account_no"], "-", "")
    account_len = pc.utf8_length(account)
    bank_ok = pc.and_(match(c["bank_code"], _BANK_CODE), match(c["account_no"], _ACCOUNT))
    bank_ok = pc.and_(bank_ok, pc.and_(pc.greater_equal(account_len, 6), pc.less_equal(account_len, 20)))
    payee = pc.or_(pc.invert(is_empty(c["claimant_name"])), pc.invert(is_empty(c["account_holder"])))
    ok = pc.and_(ok, pc.or_(no_bank, pc.and_(bank_ok, payee)))

    service_index = pc.index_in(c["service"], value_set=codes)
    operators = pa.array([services[code].operator for code in codes.to_pylist()], pa.string())
    kakao = pa.array([int(services[code].kakao_corp) for code in codes.to_pylist()], pa.int64())
    columns = [
        c["receipt_no"],
        utc,
        c["channel"],
        c["claimant_type"],
        claimant_key,
        c["claimant_name"],
        account_id,
        phone,
        brn,
        c["service"],
        pc.take(operators, service_index),
        pc.take(kakao, service_index),
        pc.cast(pc.equal(c["paid_service"], "true"), pa.int64()),
        pc.cast(monetary, pa.int64()),
        loss,
        pc.if_else(no_bank, None, c["bank_code"]),
        pc.if_else(no_bank, None, account),
        none_if_empty(c["account_holder"]),
        c["description"],
    ]
    return CanonicalRows(columns, pc.fill_null(ok, False).to_numpy(zero_copy_only=False))


def _normalise_phones(phones: Any) -> Any:
    """identifiers.normalise_phone over phones written with digits, `+`, spaces, `.`, `(`, `)` and `-` only
    (the caller leaves any other to the row parser): `010XXXXXXXX`, or null when it is not a mobile number."""
    import pyarrow.compute as pc

    digits = pc.replace_substring_regex(phones, "[ .()-]", "")
    plus = pc.starts_with(digits, "+82")
    local = pc.if_else(plus, pc.binary_join_element_wise("0", pc.utf8_slice_codeunits(digits, 3), ""), digits)
    length = pc.utf8_length(digits)
    country = pc.and_(
        pc.and_(pc.invert(plus), pc.starts_with(digits, "82")), pc.or_(pc.equal(length, 11), pc.equal(length, 12))
    )
    local = pc.if_else(country, pc.binary_join_element_wise("0", pc.utf8_slice_codeunits(digits, 2), ""), local)
    local = pc.if_else(pc.starts_with(local, "00"), pc.utf8_slice_codeunits(local, 1), local)
    return pc.if_else(pc.match_substring_regex(local, _MOBILE), local, None)


def _holds_control(strings: Any, free_text: bool = False) -> Any:
    """Whether each string holds a character of parse._CONTROL (C0, DEL, C1, U+FFFE, U+FFFF), found in the
    array's UTF-8 bytes; in free text (parse._CONTROL_IN_TEXT) tab, LF and CR are text."""
    import numpy as np

    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]  # positions in `data`
    lead = np.flatnonzero(data[:-1] == 0xC2)  # U+0080-U+009F are C2 80-C2 9F
    c1 = lead[(data[lead + 1] >= 0x80) & (data[lead + 1] <= 0x9F)]
    lead = np.flatnonzero(data[:-2] == 0xEF)  # U+FFFE, U+FFFF are EF BF BE, EF BF BF
    nonchar = lead[(data[lead + 1] == 0xBF) & (data[lead + 2] >= 0xBE)]
    c0 = (data < 0x20) | (data == 0x7F)
    if free_text:
        c0 &= (data != 9) & (data != 10) & (data != 13)
    found = np.concatenate((np.flatnonzero(c0), c1, nonchar))
    holds = np.zeros(len(strings), dtype=bool)
    holds[np.searchsorted(offsets, found, side="right") - 1] = True
    return holds


def _check_digit_ok(numbers: Any) -> Any:
    """Whether each 10-digit business number (as an integer) has a good check digit (identifiers.brn_check_digit)."""
    import numpy as np

    digits = [(numbers // 10 ** (9 - i)) % 10 for i in range(10)]
    total = sum(d * w for d, w in zip(digits[:9], _BRN_WEIGHTS))
    total = total + digits[8] * 5 // 10
    return np.asarray((10 - total % 10) % 10 == digits[9])
