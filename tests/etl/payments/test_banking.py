"""What a Korean bank takes: business-day execution dates, per-batch message ids, passbook texts, the bulk sheet."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import time

import openpyxl
import pytest

from etl.core import contract
from etl.core.errors import ReliefError
from etl.payments import banking

KST = dt.timezone(dt.timedelta(hours=9))
SHA = "0123456789abcdef" * 4
ACCOUNTS = ["01012345678901", "56012345678", "1002123456789"]


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    "approved_at, expected",
    [
        ("2022-10-14T10:00:00+09:00", "2022-10-14"),  # a Friday: the same day
        ("2022-10-15T10:00:00+09:00", "2022-10-17"),  # Saturday, the outage's day -> Monday
        ("2022-10-16T23:59:59+09:00", "2022-10-17"),  # Sunday
        ("2022-10-16T15:30:00+00:00", "2022-10-17"),  # UTC Sunday afternoon is Monday 00:30 KST
        ("2022-10-14T15:30:00+00:00", "2022-10-17"),  # UTC Friday afternoon is Saturday in KST
        ("2023-01-23T09:00:00+09:00", "2023-01-25"),  # 설날 (Jan 23), then its substitute holiday (Jan 24)
        ("2022-10-09T09:00:00+09:00", "2022-10-11"),  # 한글날 on a Sunday: substitute holiday Monday 10-10
        ("2023-05-01T09:00:00+09:00", "2023-05-02"),  # Workers' Day: banks are closed
        ("2022-12-30T18:00:00+09:00", "2022-12-30"),
    ],
)
def test_execution_date_is_the_next_korean_business_day(approved_at, expected):
    assert banking.execution_date(_at(approved_at), KST) == dt.date.fromisoformat(expected)


def test_execution_date_refuses_a_naive_time_and_an_uncovered_year():
    with pytest.raises(ValueError, match="time zone"):
        banking.execution_date(dt.datetime(2022, 10, 17, 9), KST)
    with pytest.raises(ReliefError, match="HOLIDAY_YEARS"):
        banking.execution_date(_at("2031-01-06T09:00:00+09:00"), KST)
    assert banking.is_business_day(dt.date(2022, 10, 17))
    assert not banking.is_business_day(dt.date(2022, 10, 15))


def test_the_calendar_made_a_year_at_a_time_is_the_whole_ranges():
    """Each year is made when first asked for: no holiday of one year is found only by making another."""
    import holidays

    whole = holidays.KR(years=banking.HOLIDAY_YEARS, categories=banking.HOLIDAY_CATEGORIES, language="en_US")
    by_year = {day: name for year in banking.HOLIDAY_YEARS for day, name in banking._holidays(year).items()}
    assert by_year == dict(whole)
    assert banking.holiday_name(dt.date(2023, 1, 23)) is not None  # 설날 (Seollal)


def test_message_id_is_per_batch_content_and_short():
    day = dt.date(2022, 10, 15)
    msg = banking.message_id("P1015", day, SHA)
    assert msg == "P1015-20221015-0123456789"
    assert len(msg) <= 35
    assert banking.message_id("P1015", day, SHA) == msg  # a rerun of the same batch
    assert banking.message_id("P1015", day, "f" + SHA[1:]) != msg  # another batch of the same day
    with pytest.raises(ValueError, match="64"):
        banking.message_id("P1015", day, "abc")
    with pytest.raises(ValueError, match="longer than 35"):
        banking.message_id("P" * 20, day, SHA)


def test_passbook_texts_come_from_the_config_korean_short_and_cover_every_basis(program):
    bank = program.bank
    bases = set(contract.basis_codes(program))
    assert set(bank.payee_texts) == bases
    for basis in bases:
        text = banking.remittance_text(basis, bank)
        assert text.startswith("카카오1015피해지원") and len(text) <= bank.passbook_max_chars
        assert "_" not in text and basis not in text
    assert len(set(bank.payee_texts.values())) == len(bases)
    with pytest.raises(KeyError, match="gift"):
        banking.remittance_text("gift", bank)
    assert banking.payer_text({"payment_id": "P1015-20221016-0000001"}, bank) == "20221016-0000001"


def test_another_banks_texts_and_layout_are_a_config_change(program):
    """A bank with a 7-character passbook and its own upload layout: the [bank] table, not the code."""
    bank = dataclasses.replace(
        program.bank,
        passbook_max_chars=7,
        payee_texts={**program.bank.payee_texts, "tier_30000": "1015지원3만"},
        bulk_transfer_columns=(
            ("은행", "bank_code"),
            ("계좌", "account_no"),
            ("금액", "amount_krw"),
            ("받는분", "payee_text"),
            ("보내는분", "payer_text"),
        ),
        bulk_transfer_number_fields=frozenset(),
    )
    ws = openpyxl.load_workbook(io.BytesIO(banking.bulk_transfer_xlsx(_payments()[:1], bank))).active
    assert [c.value for c in ws[1]] == ["은행", "계좌", "금액", "받는분", "보내는분"]
    assert [c.value for c in ws[2]] == ["004", ACCOUNTS[0], "30000", "1015지원3만", "0000001"]


def _payments() -> list[dict]:
    return [
        {"payment_id": f"P1015-20221016-{i:07d}", "bank_code": bank, "account_no": ACCOUNTS[i - 1],
         "account_holder": holder, "payee_name": "가게", "amount_krw": amount, "basis": basis}
        for i, (bank, holder, amount, basis) in enumerate(
            [("004", "홍길동", 30000, "tier_30000"), ("088", "=HYPERLINK(\"x\")", "50000", "tier_50000"),
             ("020", "", 700000, "review_approved")], start=1)
    ]  # fmt: skip


def test_bulk_transfer_sheet_types_frozen_header_and_values():
    data = banking.bulk_transfer_xlsx(_payments())
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws.title == "대량이체" and len(wb.worksheets) == 1
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == [h for h, _ in banking.configured_bank().bulk_transfer_columns]
    assert [c.value for c in ws[1]] == [
        "입금은행코드",
        "입금계좌번호",
        "예금주",
        "이체금액",
        "받는분통장표시",
        "보내는분통장표시",
    ]
    for n, payment in enumerate(_payments(), start=2):
        bank, account, holder, amount, payee, payer = ws[n]
        for cell in (bank, account, holder, payee, payer):
            assert cell.data_type == "s" and cell.number_format == "@"
        assert (bank.value, account.value) == (payment["bank_code"], payment["account_no"])
        assert amount.data_type == "n" and amount.value == int(payment["amount_krw"]) and amount.number_format == "0"
        assert payee.value == banking.remittance_text(payment["basis"])
        assert payer.value == payment["payment_id"][6:]
    assert ws["B2"].value == "01012345678901"  # the leading zero kept: text, not a number
    assert ws["C3"].value == '=HYPERLINK("x")' and ws["C3"].data_type == "s"  # a name, never a formula
    assert ws.max_row == 4


def test_bulk_transfer_sheet_bytes_do_not_depend_on_the_clock():
    first = banking.bulk_transfer_xlsx(_payments())
    time.sleep(1.1)
    assert banking.bulk_transfer_xlsx(_payments()) == first
    assert banking.bulk_transfer_xlsx(_payments()[:2]) != first


def _bank(columns, number_fields=frozenset({"amount_krw"})):
    return dataclasses.replace(
        banking.configured_bank(), bulk_transfer_columns=tuple(columns), bulk_transfer_number_fields=number_fields
    )


def test_a_bank_layout_of_its_own():
    layout = [("은행", "bank_code"), ("계좌", "account_no"), ("금액", "amount_krw"), ("적요", "payee_text")]
    data = banking.bulk_transfer_xlsx(_payments(), _bank(layout, frozenset()))
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [c.value for c in ws[1]] == ["은행", "계좌", "금액", "적요"]
    assert ws["C2"].value == "30000" and ws["C2"].data_type == "s"  # this bank wants amounts as text
    with pytest.raises(ValueError, match="nope"):
        banking.bulk_transfer_xlsx(_payments(), _bank([("x", "nope")]))
    with pytest.raises(ValueError, match="leading zeros"):
        banking.bulk_transfer_xlsx(_payments(), _bank([("계좌", "account_no")], frozenset({"account_no"})))
    with pytest.raises(ValueError, match="whole number") as err:
        banking.bulk_transfer_xlsx([dict(_payments()[0], amount_krw=ACCOUNTS[0] + "x")])
    assert not any(a in str(err.value) for a in ACCOUNTS)
