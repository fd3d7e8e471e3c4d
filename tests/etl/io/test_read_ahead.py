"""Reading ahead on a thread: the same items in the same order, the producer's error where it happened, and no
thread left running when the consumer stops early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.io.read_ahead import read_ahead


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name == "read-ahead"}


@settings(max_examples=60, deadline=None)
@given(items=st.lists(st.integers()), batch=st.integers(1, 7), depth=st.integers(1, 3))
def test_every_item_in_order(items: list[int], batch: int, depth: int) -> None:
    assert list(read_ahead(iter(items), batch=batch, depth=depth)) == items


def test_the_producers_error_comes_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield from range(5)
        raise ValueError("line 6 unreadable")

    got: list[int] = []
    with pytest.raises(ValueError, match="line 6 unreadable"):
        for item in read_ahead(source(), batch=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]
    assert not _threads()


def test_a_consumer_that_stops_early_stops_the_producer_and_closes_its_source() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                produced.append(n)
                yield n
                n += 1
        finally:
            closed.set()  # a generator's cleanup: its file closed

    ahead = read_ahead(endless(), batch=4, depth=2)
    with pytest.raises(RuntimeError, match="insert refused"):
        for item in ahead:
            if item == 10:
                raise RuntimeError("insert refused")
    ahead.close()
    assert closed.wait(5), "the source was not closed"
    assert not _threads()
    time.sleep(0.3)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count, "the producer kept reading after the consumer stopped"
    assert count <= 10 + 4 * (2 + 2), "the producer ran further ahead than its queue allows"


def test_the_producer_runs_ahead_on_another_thread() -> None:
    seen: list[str] = []

    def source() -> Iterator[int]:
        for n in range(3):
            seen.append(threading.current_thread().name)
            yield n

    assert list(read_ahead(source())) == [0, 1, 2]
    assert seen == ["read-ahead"] * 3


def test_batch_and_depth_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(read_ahead(iter([1]), batch=0))
    with pytest.raises(ValueError):
        list(read_ahead(iter([1]), depth=0))
