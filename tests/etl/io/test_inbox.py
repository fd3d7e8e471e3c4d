"""Inbox hygiene: only exactly-named dated files are listed; only regular files are opened."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from pathlib import Path

import pytest

from etl.core.errors import InboxFileError
from etl.io.inbox import dated_files, open_regular


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(b"x\n")


def test_dated_files_lists_exact_names_with_real_dates(tmp_path, caplog):
    _touch(
        tmp_path,
        "claims_20221016.csv",
        "claims_20221102.csv",
        "claims_20221332.csv",  # no 13th month
        "claims_20221016.csv.bak",
        "claims_２０２２１０１７.csv",  # full-width digits
        "claims_2022101６.csv",
        "claims_202210161.csv",
        "Claims_20221018.csv",
        "claims_20221019.CSV",
        "decisions_20221016.csv",  # another kind: not listed, not reported
        "services.csv",
        ".claims_20221020.csv.tmp",  # a writer's temporary file: not listed, not reported
    )
    with caplog.at_level(logging.WARNING, logger="etl.io.inbox"):
        found = dated_files(tmp_path, "claims")
    assert found == {
        dt.date(2022, 10, 16): tmp_path / "claims_20221016.csv",
        dt.date(2022, 11, 2): tmp_path / "claims_20221102.csv",
    }
    assert list(found) == sorted(found)
    reported = " ".join(r.getMessage() for r in caplog.records)
    for name in (
        "claims_20221332.csv",
        "claims_20221016.csv.bak",
        "claims_２０２２１０１７.csv",
        "claims_2022101６.csv",
        "claims_202210161.csv",
        "Claims_20221018.csv",
        "claims_20221019.CSV",
    ):
        assert name in reported, name
    assert "decisions_20221016.csv" not in reported and "services.csv" not in reported and ".claims" not in reported


def test_dated_files_of_a_missing_inbox_is_empty(tmp_path):
    assert dated_files(tmp_path / "nope", "claims") == {}


def test_open_regular_reads_a_regular_file(tmp_path):
    path = tmp_path / "claims_20221016.csv"
    path.write_bytes(b"a,b\n")
    with open_regular(path) as fh:
        assert fh.read() == b"a,b\n"


def test_a_symlink_is_refused(tmp_path):
    target = tmp_path / "target.csv"
    target.write_bytes(b"secret,row\n")
    link = tmp_path / "claims_20221016.csv"
    link.symlink_to(target)
    with pytest.raises(InboxFileError, match=r"claims_20221016\.csv.*symbolic link") as err:
        open_regular(link)
    assert "secret" not in str(err.value)


def test_a_dangling_symlink_is_refused_as_a_symlink(tmp_path):
    link = tmp_path / "claims_20221016.csv"
    link.symlink_to(tmp_path / "missing.csv")
    with pytest.raises(InboxFileError, match="symbolic link"):
        open_regular(link)


def test_a_directory_is_refused(tmp_path):
    folder = tmp_path / "claims_20221016.csv"
    folder.mkdir()
    with pytest.raises(InboxFileError, match=r"claims_20221016\.csv.*directory"):
        open_regular(folder)


def test_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "claims_20221016.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            open_regular(fifo)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=5)
    if worker.is_alive():  # unblock the hung open so the test process can exit
        with open(fifo, "wb"):
            pass
        pytest.fail("open_regular blocked on a FIFO")
    assert isinstance(outcome[0], InboxFileError) and "FIFO" in str(outcome[0])


def test_a_device_is_refused():
    with pytest.raises(InboxFileError, match=r"/dev/null: .*character device"):
        open_regular(Path("/dev/null"))


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s.csv"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        with pytest.raises(InboxFileError, match="socket"):
            open_regular(path)
    finally:
        sock.close()


def test_a_missing_file_is_an_inbox_error(tmp_path):
    with pytest.raises(InboxFileError, match="does not exist"):
        open_regular(tmp_path / "claims_20221016.csv")
