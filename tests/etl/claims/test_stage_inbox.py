"""A day's inbox file that is not a regular file stops the day with a clear message: no hang, no leak."""

from __future__ import annotations

import os

import pytest

from etl.core.errors import InboxFileError


def test_a_symlink_to_a_system_file_is_refused_without_reading_it(ws, program, capsys):
    os.symlink("/etc/passwd", ws.settings.inbox / "claims_20221015.csv")
    with pytest.raises(InboxFileError, match="claims_20221015.csv") as err:
        ws.run(program, "2022-10-15")
    assert "root:" not in str(err.value) and "root:" not in capsys.readouterr().err


def test_a_fifo_as_the_claims_file_does_not_hang(ws, program):
    os.mkfifo(ws.settings.inbox / "claims_20221015.csv")
    with pytest.raises(InboxFileError, match="claims_20221015.csv"):
        ws.run(program, "2022-10-15")


def test_a_symlink_to_dev_zero_as_a_decisions_file_is_refused(ws, program):
    from tests.builders import claim

    ws.deliver("2022-10-15", [claim(receipt_no="R1")])
    os.symlink("/dev/zero", ws.settings.inbox / "decisions_20221015.csv")
    with pytest.raises(InboxFileError, match="decisions_20221015.csv"):
        ws.run(program, "2022-10-15")
