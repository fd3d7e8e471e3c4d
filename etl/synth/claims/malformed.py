"""Malformed rows: each broken in exactly one way, so the parser quarantines it with exactly that reason.

A kind is a reason code, optionally "/variant", per way a row can be broken; together they cover
every reason of etl.claims.REASONS (the tests check that each one comes out of the parser). A
malformed row's other fields are plain (no quotes, commas or line breaks) so that broken quoting
never reaches into the next row, and every check before the broken one passes.

The kinds are drawn from `DRAWN_KINDS`; the `ADDED_KINDS` (the bounds the parser gained later) then
take the place of a few rows of the most frequent reasons. A row of an added kind makes the same draws
as the row it replaces, so the random stream, and with it every other row of the inbox, is as before.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections import Counter

from etl.claims.identifiers import brn_check_digit
from etl.claims.parse import FIELD_LIMITS, MAX_AMOUNT_KRW
from etl.io.csvfile import MAX_RECORD_BYTES
from etl.synth.claims.context import Context
from etl.synth.claims.descriptions import plain_descriptions, quote
from etl.synth.claims.identities import SHOP_KINDS, SHOP_PREFIXES, account_no, brn

# The kinds are grouped by reason (one line each): not reformatted.
# fmt: off
DRAWN_KINDS: tuple[str, ...] = (
    "invalid_utf8/name", "invalid_utf8/description",
    "bad_quoting/mid_field", "bad_quoting/after_close", "bad_quoting/unterminated",
    "bad_quoting/unterminated_multiline",
    "wrong_field_count/short", "wrong_field_count/unquoted_comma",
    "missing_receipt_no",
    "bad_received_at/slashes", "bad_received_at/no_offset", "bad_received_at/word",
    "bad_channel", "bad_claimant_type",
    "unknown_service/unknown", "unknown_service/empty",
    "bad_boolean",
    "missing_amount",
    "bad_amount/korean", "bad_amount/thousands", "bad_amount/decimal",
    "negative_amount",
    "missing_business_reg_no", "bad_business_reg_no", "bad_check_digit/bare", "bad_check_digit/hyphen",
    "no_claimant_key/none", "no_claimant_key/landline",
    "bad_bank_details/short_code", "bad_bank_details/no_code", "bad_bank_details/letters",
)
ADDED_KINDS: tuple[str, ...] = (
    "record_too_long",
    "control_character/tab", "control_character/bare_cr", "control_character/nul",
    "field_too_long/name", "field_too_long/phone", "field_too_long/description",
    "received_at_out_of_range/next_day", "received_at_out_of_range/before_outage",
    "amount_too_large/zeros", "amount_too_large/int64",
)
# The drawn kinds an added kind may replace: a small business's row, broken without a draw of its own,
# with a receipt_no of its own (unlike missing_receipt_no, which takes no number of the day's sequence).
DONOR_KINDS: tuple[str, ...] = (
    "invalid_utf8/name", "invalid_utf8/description",
    "bad_quoting/mid_field", "bad_quoting/after_close", "bad_quoting/unterminated",
    "bad_quoting/unterminated_multiline",
    "wrong_field_count/short", "wrong_field_count/unquoted_comma",
    "unknown_service/empty", "missing_amount", "bad_amount/thousands", "bad_amount/decimal", "negative_amount",
    "missing_business_reg_no",
    "bad_bank_details/short_code", "bad_bank_details/no_code", "bad_bank_details/letters",
)
# fmt: on
MALFORMED_KINDS = DRAWN_KINDS + ADDED_KINDS
ADDED_EVERY = 200  # each added kind once per this many malformed rows (at least once when there is room)
ONE_PER_RUN = frozenset({"record_too_long"})  # a row over 16 MiB: one is enough, whatever the scale
UNKNOWN_SERVICES = ("kakao_cloud", "kakaotalk2", "naver_pay", "kakao_i", "카카오톡")


class _Row:
    """A malformed row being made: its fields, and the ones written raw or in a legacy encoding."""

    def __init__(self, fields: list[str], first9: str, amount: int, date: str, hms: tuple[int, int, int]):
        self.fields = fields
        self.first9 = first9  # business rows only
        self.amount = amount  # business rows only
        self.date = date
        self.hms = hms
        self.raw: dict[int, str] = {}  # fields written as they are, unquoted
        self.cp949: dict[int, bytes] = {}

    def encode(self) -> bytes:
        out = []
        for i, f in enumerate(self.fields):
            if i in self.cp949:
                out.append(self.cp949[i])
            elif i in self.raw:
                out.append(self.raw[i].encode("utf-8"))
            else:
                out.append(quote(f).encode("utf-8"))
        return b",".join(out) + b"\r\n"


class MalformedRows:
    """Chooses the malformed kinds of a run and writes one row of a kind."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.rng = ctx.rng
        self.ids = ctx.ids
        self.plain_descriptions = plain_descriptions()
        self.unknown_services = [s for s in UNKNOWN_SERVICES if s not in ctx.catalogue] or ["no_such_service"]

    def kinds(self, total: int) -> list[str]:
        """Every drawn kind once (when there is room), the rest drawn at random, in random order; then,
        when there is room for every kind, the added kinds in place of some of the most frequent reasons."""
        rng = self.rng
        kinds = rng.sample(DRAWN_KINDS, min(total, len(DRAWN_KINDS)))
        kinds += [rng.choice(DRAWN_KINDS) for _ in range(total - len(kinds))]
        rng.shuffle(kinds)
        if total >= len(MALFORMED_KINDS):
            _replace_donors(kinds)
        return kinds

    def line(self, kind: str, receipt: str, day: int, tsec: int) -> bytes:
        """A row broken in exactly one way (`kind`), received on `day` at `tsec`."""
        row = self._plain_row(kind.startswith("no_claimant_key"), receipt, day, tsec)
        if not (
            self._break_syntax(kind, row)
            or self._break_header(kind, row)
            or self._break_values(kind, row)
            or self._break_bounds(kind, row)
        ):
            raise AssertionError(kind)
        return row.encode()

    def _plain_row(self, individual: bool, receipt: str, day: int, tsec: int) -> _Row:
        """A valid row with plain fields: an individual's without a claimant key, or a small business's."""
        rng = self.rng
        ctx = self.ctx
        date = ctx.dates[day]
        h, m, s = tsec // 3600, tsec // 60 % 60, tsec % 60
        received_at = f"{date}T{h:02d}:{m:02d}:{s:02d}+09:00"
        owner = self.ids.person_name()[0].replace(",", " ")
        if individual:
            service = ctx.services[ctx.cell_of[(True, "individual", "non_monetary")]](rng)
            fields = [receipt, received_at, ctx.pick_channel(rng), "individual", owner, "", "", "", service]
            fields += ["false", "false", "", "", "", "", "보상 문의"]
            return _Row(fields, "", 0, date, (h, m, s))
        first9 = self.ids.first9("small_business")
        bank = self.ids.new_bank()
        amount = rng.choice((150_000, 250_000, 300_000, 350_000, 450_000, 600_000))
        fields = [
            receipt,
            received_at,
            ctx.pick_channel(rng),
            "small_business",
            rng.choice(SHOP_PREFIXES) + rng.choice(SHOP_KINDS),
            "",
            self.ids.mobile(self.ids.phones.next()),
            brn(first9, rng.random() < 0.5),
            ctx.services[ctx.cell_of[(True, "small_business", "free_monetary")]](rng),
            "false",
            "true",
            str(amount),
            bank[0],
            account_no(bank, True),
            owner,
            rng.choice(self.plain_descriptions),
        ]
        return _Row(fields, first9, amount, date, (h, m, s))

    @staticmethod
    def _break_syntax(kind: str, row: _Row) -> bool:
        """Breaks of the CSV itself: encoding, quoting, field count. False if `kind` is not one of them."""
        fields = row.fields
        if kind == "invalid_utf8/name":
            row.cp949[4] = fields[4].encode("cp949")
        elif kind == "invalid_utf8/description":
            row.cp949[15] = "주문 누락 피해 신고".encode("euc-kr")
        elif kind == "bad_quoting/mid_field":
            row.raw[4] = fields[4][:2] + '"' + fields[4][2:]
        elif kind == "bad_quoting/after_close":
            row.raw[4] = f'"{fields[4]}"점'
        elif kind == "bad_quoting/unterminated":
            row.raw[15] = '"주문 누락 피해'
        elif kind == "bad_quoting/unterminated_multiline":
            row.raw[15] = '"주문 누락 피해\n증빙은 내일 보냅니다'
        elif kind == "wrong_field_count/short":
            del fields[12]
        elif kind == "wrong_field_count/unquoted_comma":
            row.raw[15] = "주문 취소, 환불 요청"
        else:
            return False
        return True

    def _break_header(self, kind: str, row: _Row) -> bool:
        """Breaks of receipt_no, received_at, channel, claimant_type, service and the two flags."""
        rng = self.rng
        fields, date = row.fields, row.date
        h, m, s = row.hms
        if kind == "missing_receipt_no":
            fields[0] = ""
        elif kind == "bad_received_at/slashes":
            fields[1] = f"{date.replace('-', '/')} {h:02d}:{m:02d}"
        elif kind == "bad_received_at/no_offset":
            fields[1] = f"{date}T{h:02d}:{m:02d}:{s:02d}"
        elif kind == "bad_received_at/word":
            fields[1] = rng.choice(("yesterday", "어제 오후", "N/A"))
        elif kind == "bad_channel":
            fields[2] = rng.choice(("fax", "visit", "sms"))
        elif kind == "bad_claimant_type":
            fields[3] = rng.choice(("corporation", "개인사업자", "sole_trader"))
        elif kind == "unknown_service/unknown":
            fields[8] = rng.choice(self.unknown_services)
        elif kind == "unknown_service/empty":
            fields[8] = ""
        elif kind == "bad_boolean":
            fields[9 + int(rng.random() * 2)] = rng.choice(("yes", "Y", "1", "유료"))
        else:
            return False
        return True

    def _break_values(self, kind: str, row: _Row) -> bool:
        """Breaks of the amount, the business number, the claimant key and the bank details."""
        rng = self.rng
        fields, first9, amount = row.fields, row.first9, row.amount
        if kind == "missing_amount":
            fields[11] = ""
        elif kind == "bad_amount/korean":
            fields[11] = rng.choice(("삼십만원", "30만원", "약 50만"))
        elif kind == "bad_amount/thousands":
            fields[11] = f"{amount:,}"  # quoted when written: valid CSV, invalid number
        elif kind == "bad_amount/decimal":
            fields[11] = f"{amount}.5"
        elif kind == "negative_amount":
            fields[11] = f"-{amount}"
        elif kind == "missing_business_reg_no":
            fields[7] = ""
        elif kind == "bad_business_reg_no":
            fields[7] = rng.choice((first9, first9 + "01", f"{first9[:3]}-{first9[3:5]}-{first9[5:]}"))
        elif kind.startswith("bad_check_digit"):
            wrong = first9 + str((brn_check_digit(first9) + rng.randint(1, 9)) % 10)
            fields[7] = f"{wrong[:3]}-{wrong[3:5]}-{wrong[5:]}" if kind.endswith("hyphen") else wrong
        elif kind == "no_claimant_key/none":
            pass
        elif kind == "no_claimant_key/landline":
            fields[6] = f"02-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
        elif kind == "bad_bank_details/short_code":
            fields[12] = fields[12][1:]
        elif kind == "bad_bank_details/no_code":
            fields[12] = ""
        elif kind == "bad_bank_details/letters":
            fields[13] = fields[13][:-1] + "O"
        else:
            return False
        return True

    def _break_bounds(self, kind: str, row: _Row) -> bool:
        """Breaks of the parser's bounds: record size, control characters, field lengths, the received_at
        range and the amount ceiling. They take no draw (see the module's docstring)."""
        fields, date = row.fields, row.date
        h, m, s = row.hms
        if kind == "record_too_long":  # a screenshot pasted into the description as a data URI
            fields[15] = "스크린샷 첨부합니다 data:image/png;base64," + _base64_blob(MAX_RECORD_BYTES)
        elif kind == "control_character/tab":  # two spreadsheet cells pasted into one field
            fields[4] = f"{fields[4]}\t{fields[14]}"
        elif kind == "control_character/bare_cr":  # an old Mac line end, outside quotes
            row.raw[14] = fields[14] + "\r"
        elif kind == "control_character/nul":  # a fixed-width export's NUL padding
            fields[15] += "\x00" * 4
        elif kind == "field_too_long/name":
            fields[4] = _over(FIELD_LIMITS["claimant_name"], fields[4], _NAME_FILLER)
        elif kind == "field_too_long/phone":
            shop = f" 또는 가게 전화 02-{row.first9[:3]}-{row.first9[3:7]}"
            fields[6] = _over(FIELD_LIMITS["phone"], fields[6], (shop, " (평일 낮에만 받습니다)"))
        elif kind == "field_too_long/description":
            fillers = tuple(" " + d for d in self.plain_descriptions)
            fields[15] = _over(FIELD_LIMITS["description"], "피해 내역을 날마다 적었습니다.", fillers)
        elif kind == "received_at_out_of_range/next_day":  # a device clock a day ahead
            later = dt.date.fromisoformat(date) + dt.timedelta(days=1)
            fields[1] = f"{later}T{h:02d}:{m:02d}:{s:02d}+09:00"
        elif kind == "received_at_out_of_range/before_outage":
            earlier = self.ctx.outage_date - dt.timedelta(days=1)
            fields[1] = f"{earlier}T{h:02d}:{m:02d}:{s:02d}+09:00"
        elif kind == "amount_too_large/zeros":  # zeros held down: one digit more than the ceiling has
            fields[11] = str(row.amount).ljust(len(str(MAX_AMOUNT_KRW)) + 1, "0")
        elif kind == "amount_too_large/int64":  # past SQLite's 64-bit integers
            fields[11] = str(2**63)
        else:
            return False
        return True


_NAME_FILLER = (
    " (서울특별시 마포구 월드컵북로 12길 34 지하 1층",
    " / 영업시간 매일 오전 10시부터 오후 10시까지",
    " / 배달 전문 / 포장 할인 / 단체 주문 환영)",
)


def _over(limit: int, text: str, fillers: tuple[str, ...]) -> str:
    """`text` followed by the fillers, in turn and again, until it is longer than `limit` characters."""
    i = 0
    while len(text) <= limit:
        text += fillers[i % len(fillers)]
        i += 1
    return text


def _base64_blob(size: int) -> str:
    """Base64 text (no comma, quote or line break) of more than `size` characters, the same every time."""
    n = size * 3 // 4 + 3
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * (n // 256 + 1)
    return base64.b64encode(data[:n]).decode("ascii")


def _replace_donors(kinds: list[str]) -> None:
    """Put the added kinds in place of donor kinds, in turn, each time taking the last row of the most
    frequent donor kind of the most frequent reason (never a kind's only row)."""
    rounds = max(1, len(kinds) // ADDED_EVERY)
    wanted = [k for r in range(rounds) for k in ADDED_KINDS if r == 0 or k not in ONE_PER_RUN]
    count = Counter(kinds)
    reasons = Counter(k.split("/")[0] for k in kinds)
    for added in wanted:
        donors = [k for k in DONOR_KINDS if count[k] > 1]
        if not donors:
            return
        donor = max(donors, key=lambda k: (reasons[k.split("/")[0]], count[k]))
        kinds[len(kinds) - 1 - kinds[::-1].index(donor)] = added
        count[donor] -= 1
        count[added] += 1
        reasons[donor.split("/")[0]] -= 1
        reasons[added.split("/")[0]] += 1
