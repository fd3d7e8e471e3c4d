import hashlib

import pytest

from etl.core.config import DEFAULT_PROGRAM_FILE, ConfigError, load_program
from tests.conftest import copy_program

BASE = """\
[program]
code = "base"
payment_prefix = "P1"
timezone = "Asia/Seoul"
outage_date = 2022-10-15
services_file = "services.csv"

[intake]
first_day = 2022-10-16
last_day = 2022-10-18

[settlement]
close_date = 2023-03-31

[cash]
review_threshold_krw = 500000
tiers = [
  { max_loss_krw = 300000, support_krw = 30000, basis = "tier_30000" },
  { max_loss_krw = 500000, support_krw = 50000, basis = "tier_50000" },
]
max_payment_krw = 10000000
max_businesses_per_account = 3

[debtor]
name = "Fund"
account = "1005904417766"
bank_code = "020"

[bank]
passbook_max_chars = 10
payee_texts = { tier_30000 = "지원3만", tier_50000 = "지원5만", review_approved = "지원심의", top_up = "지원추가" }
bulk_transfer_columns = [["은행", "bank_code"], ["계좌", "account_no"], ["금액", "amount_krw"], ["적요", "payee_text"]]
bulk_transfer_number_fields = []

[approval]
auto_approve_payments = false
approvers = ["admin", "kim.finance"]

[rollout]
date = 2023-01-05
eligible_joined_on_or_before = 2022-10-15
talk_drawer_cap = 3
kakaotalk_users = 10

[[rollout.items]]
code = "emoticon"
kind = "emoticon"
name = "Emoticon"
unit_value_krw = 2500
valid_from = 2023-01-05
valid_to = ""

[[rollout.bundles]]
code = "relief_base"
items = ["emoticon"]

[[rollout.bundles]]
code = "relief_base_td"
items = ["emoticon"]
"""


def write(folder, files: dict[str, str]):
    (folder / "services.csv").write_text("service_code\n", encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder / next(iter(files))


def problems(path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_program(path)
    return str(caught.value).splitlines()[1:]


def test_the_1015_program_loads_with_its_rules(program):
    assert program.code == "kakao-1015"
    assert [(t.max_loss_krw, t.support_krw) for t in program.tiers] == [(300_000, 30_000), (500_000, 50_000)]
    assert program.review_threshold_krw == 500_000
    assert len(program.intake_days()) == 19
    assert str(program.rollout_date) == "2023-01-05"
    assert len(program.sha256) == 64


def test_a_tier_change_is_a_config_change(tmp_path, program):
    path = copy_program(tmp_path, program, lambda t: t.replace("support_krw = 30000", "support_krw = 35000"))
    changed = load_program(path)
    assert changed.tier_for(1).support_krw == 35_000
    assert changed.sha256 != program.sha256


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("support_krw = 30000", 'support_krw = "30000"'), "must be int"),
        (lambda t: t.replace("support_krw = 30000", "support_krw = 30000.5"), "must be int"),
        (lambda t: t.replace("support_krw = 50000", "support_krw = 20000"), "must rise"),
        (lambda t: t.replace("review_threshold_krw = 500000", "review_threshold_krw = 400000"), "must equal"),
        (lambda t: t.replace("first_day = 2022-10-15", "first_day = 2022-11-16"), "before"),
        (lambda t: t.replace('"makers_coupon_3000"]', '"makers_coupon_9000"]'), "unknown items"),
        (lambda t: t.replace("[cash]", "[cassh]"), "cash is missing"),
        (lambda t: t + "\n[[[", "not valid TOML"),
        # [bank]: the passbook texts and the bulk-transfer sheet fail at load, not at the bank
        (
            lambda t: t.replace(
                'top_up = "카카오1015피해지원추가"', 'top_up = "카카오1015피해지원추가분지급입니다만세상에나"'
            ),
            "over passbook_max_chars",
        ),
        (lambda t: t.replace(', top_up = "카카오1015피해지원추가"', ""), "needs a passbook text for top_up"),
        (
            lambda t: t.replace('review_approved = "카카오1015피해지원심의"', 'review_approved = " "'),
            "must not be blank",
        ),
        (lambda t: t.replace('["예금주", "account_holder"]', '["예금주", "holder"]'), "field 'holder' is neither"),
        (lambda t: t.replace('  ["입금계좌번호", "account_no"],\n', ""), "must carry account_no"),
        (lambda t: t.replace('["예금주", "account_holder"]', '["입금은행코드", "account_holder"]'), "repeats a header"),
        (
            lambda t: t.replace('["예금주", "account_holder"]', '["예금주"]'),
            r"bulk_transfer_columns\[2\] must hold at least 2 entries",
        ),
        (lambda t: t.replace('number_fields = ["amount_krw"]', 'number_fields = ["account_no"]'), "leading zeros"),
    ],
)
def test_bad_configs_fail_at_load_with_a_clear_error(tmp_path, program, edit, message):
    with pytest.raises(ConfigError, match=message):
        load_program(copy_program(tmp_path, program, edit))


def test_the_bank_table_reaches_the_program(program):
    bank = program.bank
    assert bank.payee_texts["tier_30000"] == "카카오1015피해지원3만"
    assert bank.bulk_transfer_columns[0] == ("입금은행코드", "bank_code") and len(bank.bulk_transfer_columns) == 6
    assert bank.bulk_transfer_number_fields == {"amount_krw"}


# Fail closed: approval is never implied ------------------------------------------------------------------


def test_the_shipped_program_requires_a_person_to_approve():
    shipped = load_program(DEFAULT_PROGRAM_FILE)
    assert shipped.auto_approve_payments is False
    assert shipped.approvers == ("admin",)
    assert shipped.reason_required_on_reject is True


def test_the_demo_overlay_auto_approves_and_names_its_policy(program):
    shipped = load_program(DEFAULT_PROGRAM_FILE)
    assert program.path.endswith("kakao_1015_demo.toml")
    assert program.auto_approve_payments is True and program.approvers == ()
    assert program.sha256 != shipped.sha256
    assert program.tiers == shipped.tiers and program.items == shipped.items  # everything else is the base's


def test_a_missing_approval_section_is_an_error(tmp_path):
    text = BASE.replace('[approval]\nauto_approve_payments = false\napprovers = ["admin", "kim.finance"]\n', "")
    assert "approval" not in text
    assert problems(write(tmp_path, {"p.toml": text})) == ["  approval is missing"]


def test_a_missing_auto_approve_key_is_an_error_not_an_implied_true(tmp_path):
    path = write(tmp_path, {"p.toml": BASE.replace("auto_approve_payments = false", "")})
    assert problems(path) == ["  approval.auto_approve_payments is missing"]


def test_a_misspelled_approval_section_names_the_unknown_and_the_missing_one(tmp_path):
    path = write(tmp_path, {"p.toml": BASE.replace("[approval]", "[aproval]")})
    found = problems(path)
    assert "  approval is missing" in found
    assert "  aproval: unknown section (did you mean approval?)" in found
    assert len(found) == 2


def test_manual_approval_needs_approvers(tmp_path):
    path = write(tmp_path, {"p.toml": BASE.replace('approvers = ["admin", "kim.finance"]', "approvers = []")})
    assert problems(path) == ["  approval.approvers must name an Airflow user when auto_approve_payments is false"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("bank_code =", "colour = 1\nbank_code ="), "debtor.colour: unknown key"),
        (
            lambda t: t.replace('basis = "tier_30000"', 'basis = "tier_30000", bassis = "x"'),
            "cash.tiers[0].bassis: unknown key (did you mean basis?)",
        ),
        (lambda t: t.replace("Asia/Seoul", "Asia/Soul"), "program.timezone must be an IANA time zone"),
        (lambda t: t.replace("Asia/Seoul", "Mars/Olympus_Mons"), "program.timezone must be an IANA time zone"),
        (lambda t: t.replace("support_krw = 30000", "support_krw = true"), "cash.tiers[0].support_krw must be int"),
        (
            lambda t: t.replace("auto_approve_payments = false", 'auto_approve_payments = "false"'),
            "approval.auto_approve_payments must be bool",
        ),
        (
            lambda t: t.replace("outage_date = 2022-10-15", 'outage_date = "2022-10-15"'),
            "program.outage_date must be a date",
        ),
        (
            lambda t: t.replace("outage_date = 2022-10-15", "outage_date = 2022-10-15T00:00:00"),
            "program.outage_date must be a date",
        ),
        (
            lambda t: t.replace('payment_prefix = "P1"', 'payment_prefix = "P-1"'),
            "program.payment_prefix must be alphanumeric",
        ),
        (lambda t: t.replace('"services.csv"', '"nowhere.csv"'), "program.services_file names"),
        (lambda t: t.replace("talk_drawer_cap = 3", "talk_drawer_cap = 0"), "rollout.talk_drawer_cap must be > 0"),
    ],
)
def test_a_bad_value_is_named_by_its_dotted_path(tmp_path, edit, message):
    (line,) = problems(write(tmp_path, {"p.toml": edit(BASE)}))
    assert line.startswith(f"  {message}"), line


def test_every_problem_is_reported_at_once(tmp_path):
    text = (
        BASE.replace("support_krw = 30000", 'support_krw = "30000"')
        .replace("Asia/Seoul", "Asia/Soul")
        .replace("last_day = 2022-10-18", "last_day = 2022-10-01")
        .replace("[approval]", "[aproval]")
        .replace("review_threshold_krw = 500000", "review_threshold_krw = 400000\ncurrency = 'KRW'")
    )
    found = problems(write(tmp_path, {"p.toml": text}))
    assert found == [
        "  program.timezone must be an IANA time zone such as Asia/Seoul, got 'Asia/Soul'",
        "  intake.last_day (2022-10-01) is before intake.first_day (2022-10-16)",
        "  cash.tiers[0].support_krw must be int, got '30000'",
        "  cash.currency: unknown key (known: review_threshold_krw, tiers, max_payment_krw,"
        " max_businesses_per_account)",
        "  approval is missing",
        "  aproval: unknown section (did you mean approval?)",
    ]


def test_cross_field_rules_of_one_table_are_reported_together(tmp_path):
    text = BASE.replace("support_krw = 50000", "support_krw = 20000").replace(
        "review_threshold_krw = 500000", "review_threshold_krw = 400000"
    )
    found = problems(write(tmp_path, {"p.toml": text}))
    assert [line.split(" ", 3)[2:3] for line in found] == [["cash.tiers[1]"], ["cash.review_threshold_krw"]]
    assert "must rise" in found[0] and "must equal" in found[1]


# extends: a small include ----------------------------------------------------------------------------------


def test_an_overlay_deep_merges_over_its_base_and_its_hash_covers_both(tmp_path):
    overlay = (
        'extends = "base.toml"\n[approval]\nauto_approve_payments = true\napprovers = []\n[cash]\nmax_payment_krw = 5\n'
    )
    path = write(tmp_path, {"overlay.toml": overlay, "base.toml": BASE})
    merged, base = load_program(path), load_program(tmp_path / "base.toml")
    assert merged.auto_approve_payments is True and merged.approvers == ()
    assert merged.reason_required_on_reject is True  # the default, as in the base
    assert merged.max_payment_krw == 5 and merged.max_businesses_per_account == 3  # one key of [cash] replaced
    assert merged.tiers == base.tiers and merged.items == base.items
    assert merged.path == str(path)
    assert merged.services_path == tmp_path / "services.csv"
    assert merged.sha256 == hashlib.sha256(BASE.encode() + overlay.encode()).hexdigest() != base.sha256


def test_an_overlay_in_another_folder_finds_the_base_services_file_next_to_the_base(tmp_path):
    (tmp_path / "base").mkdir()
    write(tmp_path / "base", {"kakao.toml": BASE})
    (tmp_path / "demo.toml").write_text('extends = "base/kakao.toml"\n', encoding="utf-8")
    assert load_program(tmp_path / "demo.toml").services_path == tmp_path / "base" / "services.csv"


def test_an_overlay_error_names_both_files_and_the_merged_path(tmp_path):
    path = write(tmp_path, {"overlay.toml": 'extends = "base.toml"\n[approval]\naproved = true\n', "base.toml": BASE})
    with pytest.raises(
        ConfigError, match=r"overlay.toml extends .*base.toml has 1 problem:\n  approval.aproved: unknown"
    ):
        load_program(path)


def test_a_missing_base_is_a_clear_error(tmp_path):
    path = write(tmp_path, {"overlay.toml": 'extends = "nowhere.toml"\n'})
    with pytest.raises(ConfigError, match=r"overlay.toml extends 'nowhere.toml': cannot read program config .*nowhere"):
        load_program(path)


@pytest.mark.parametrize(
    "files",
    [
        {"a.toml": 'extends = "a.toml"\n'},
        {"a.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "a.toml"\n'},
    ],
)
def test_an_extends_cycle_is_a_clear_error(tmp_path, files):
    with pytest.raises(ConfigError, match=r"extends makes a cycle: a.toml -> .*a.toml"):
        load_program(write(tmp_path, files))


def test_extends_must_name_a_file(tmp_path):
    with pytest.raises(ConfigError, match="extends must be a file name"):
        load_program(write(tmp_path, {"a.toml": "extends = 1\n"}))


def test_the_program_life_runs_outage_window_settlement_in_order(tmp_path, program):
    from tests.conftest import copy_program as copy

    early = copy(tmp_path, program, lambda t: t.replace("first_day = 2022-10-15", "first_day = 2022-10-14"))
    with pytest.raises(ConfigError, match=r"intake.first_day \(2022-10-14\) is before program.outage_date"):
        load_program(early)
    late = copy(tmp_path, program, lambda t: t.replace("close_date = 2023-03-31", "close_date = 2022-11-01"))
    with pytest.raises(ConfigError, match="settlement.close_date .* must be after intake.last_day"):
        load_program(late)


def test_the_shipped_window_is_the_contracts(program):
    days = program.intake_days()
    assert (str(days[0]), str(days[-1]), len(days)) == ("2022-10-15", "2022-11-02", 19)
    assert program.close_date > days[-1]
