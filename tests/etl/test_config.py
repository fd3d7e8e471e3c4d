import shutil

import pytest

from etl.core.config import ConfigError, load_program


def copy_program(tmp_path, program, edit):
    text = open(program.path, encoding="utf-8").read()
    path = tmp_path / "program.toml"
    path.write_text(edit(text), encoding="utf-8")
    shutil.copy(program.services_path, tmp_path / program.services_path.name)
    return path


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
        (lambda t: t.replace("first_day = 2022-10-16", "first_day = 2022-11-16"), "before"),
        (lambda t: t.replace('"makers_coupon_3000"]', '"makers_coupon_9000"]'), "unknown items"),
        (lambda t: t.replace("[cash]", "[cassh]"), "cash is missing"),
        (lambda t: t + "\n[[[", "not valid TOML"),
    ],
)
def test_bad_configs_fail_at_load_with_a_clear_error(tmp_path, program, edit, message):
    with pytest.raises(ConfigError, match=message):
        load_program(copy_program(tmp_path, program, edit))
