"""The validate tasks' Data Docs (etl/quality/validate.py): per day under reports/DAY/data_docs/, every run kept,
masked, offline, and written like every outbox file. The tasks pass the outbox; without one nothing is written.
"""

from __future__ import annotations

import datetime as dt
import re
import stat

import pytest

from tests.builders import Workspace, claim, make_brn

D1, D2 = dt.date(2022, 10, 15), dt.date(2022, 10, 16)
ACCOUNT, PHONE = "110-987-654321", "010-5555-1212"


def test_data_docs_per_day_history_kept_masked_and_offline(ws, program, tmp_path):
    from etl.claims.stage import stage_day
    from etl.core.errors import ValidationFailed
    from etl.quality.validate import data_docs_dir, validate_day_claims

    brn = make_brn(601)
    ws.deliver(D1.isoformat(), [claim(receipt_no="V1", business_reg_no=brn, account_no=ACCOUNT, phone=PHONE)])
    other = Workspace(tmp_path / "other", f"sqlite:///{tmp_path / 'other.sqlite'}")  # another day, same outbox
    stage_day(ws.wh, ws.settings.inbox, program, D1, "r1")

    assert "data_docs" not in validate_day_claims(ws.wh, program, D1)  # no outbox given: no pages
    assert not ws.settings.outbox.exists()

    passed = validate_day_claims(ws.wh, program, D1, outbox=ws.settings.outbox)
    folder = data_docs_dir(ws.settings.outbox, D1)
    assert passed["success"] and passed["data_docs"] == str(folder)
    assert folder == ws.settings.outbox / "reports" / "2022-10-15" / "data_docs"
    with ws.wh.begin() as conn:  # as if intake had let a bad account through: the suite fails on it
        conn.exec_driver_sql("update deliveries set account_no = 'X' || account_no")
    with pytest.raises(ValidationFailed):
        validate_day_claims(ws.wh, program, D1, outbox=ws.settings.outbox)
    validate_day_claims(other.wh, program, D2, outbox=ws.settings.outbox)  # a day without claims staged

    index = (folder / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r"<tr><td>[^<]+</td><td><a href=\"expectations/claims_staged.html\">claims_staged</a></td>"
                      r"<td>(passed|<b>FAILED</b>)</td>", index)  # fmt: skip
    assert rows == ["<b>FAILED</b>", "passed"], index  # newest first; the passed run's page is kept
    pages = sorted(folder.glob("validations/claims_staged/2022-10-15/*/result.html"))
    assert len(pages) == 2
    assert all(f'href="{p.relative_to(folder).as_posix()}"' in index for p in pages)
    # The failed run's page shows the offending values masked (the passed run's has none).
    [failed_page] = [p for p in pages if "X…(" in p.read_text(encoding="utf-8")]
    text = failed_page.read_text(encoding="utf-8")
    assert "regular expression" in text and "2022-10-15" in text  # the expectation; the page's run name is the day
    assert (folder / "expectations" / "claims_staged.html").is_file()
    assert (data_docs_dir(ws.settings.outbox, D2) / "index.html").is_file() and (folder / "index.html").is_file()

    secrets = {ACCOUNT, ACCOUNT.replace("-", ""), PHONE, PHONE.replace("-", ""), brn}
    for path in ws.settings.outbox.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o007 == 0, f"{path} is world-accessible ({oct(mode)})"
        assert not path.name.startswith("."), f"temporary file left: {path}"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not [s for s in secrets if s in text], f"{path} holds personal data"
            # Opens offline: no script, style sheet or image from the internet.
            assert not re.search(r"<(script|img)[^>]+src=\"https?://|<link[^>]+href=\"https?://", text), path
