"""Malformed rows: each broken in exactly one way, so the parser quarantines it with exactly that reason.

A kind is a reason code, optionally "/variant", per way a row can be broken; together they cover
every reason of etl.claims.REASONS (the tests check that each one comes out of the parser). A
malformed row's other fields are plain (no quotes, commas or line breaks) so that broken quoting
never reaches into the next row, and every check before the broken one passes.
"""

from __future__ import annotations

from etl.claims.identifiers import brn_check_digit
from etl.synth.claims.context import Context
from etl.synth.claims.descriptions import plain_descriptions, quote
from etl.synth.claims.identities import SHOP_KINDS, SHOP_PREFIXES, account_no, brn

# The kinds are grouped by reason (one line each): not reformatted.
# fmt: off
MALFORMED_KINDS: tuple[str, ...] = (
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
# fmt: on
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
        """Every kind once (when there is room), the rest drawn at random, in random order."""
        rng = self.rng
        kinds = rng.sample(MALFORMED_KINDS, min(total, len(MALFORMED_KINDS)))
        kinds += [rng.choice(MALFORMED_KINDS) for _ in range(total - len(kinds))]
        rng.shuffle(kinds)
        return kinds

    def line(self, kind: str, receipt: str, day: int, tsec: int) -> bytes:
        """A row broken in exactly one way (`kind`), received on `day` at `tsec`."""
        row = self._plain_row(kind.startswith("no_claimant_key"), receipt, day, tsec)
        if not (self._break_syntax(kind, row) or self._break_header(kind, row) or self._break_values(kind, row)):
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
