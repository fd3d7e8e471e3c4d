"""Read an iterator ahead on a thread of its own, so that producing the next items overlaps consuming these.

Staging parses a claims file (Arrow's C++ reader and compute functions) while it inserts the rows already parsed
(SQLite's steps, psycopg's COPY): both release the GIL for their native work, so on two cores the one runs while
the other does. Items arrive in order; the producer's exception is raised in the consumer, where the item after
the last one it produced would have been; a consumer that stops early (an exception, `close()`) stops the
producer and waits for it, so no thread is left reading a file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_PUT_WAIT_S = 0.1  # how often a blocked producer looks whether the consumer has gone


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead(items: Iterable[T], batch: int = 2048, depth: int = 8) -> Generator[T, None, None]:
    """The items of `items`, produced on another thread up to `depth` batches of `batch` items ahead."""
    if batch < 1 or depth < 1:
        raise ValueError("batch and depth must be at least 1")
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(item: object) -> bool:
        while not stopped.is_set():
            try:
                handoff.put(item, timeout=_PUT_WAIT_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        chunk: list[T] = []
        try:
            for item in source:
                chunk.append(item)
                if len(chunk) >= batch:
                    if not put(chunk):
                        return
                    chunk = []
            if chunk and not put(chunk):
                return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            if not chunk or put(chunk):  # the items before the error first
                put(_Failed(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (its open file) runs on the thread that ran it

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            got = handoff.get()
            if got is _DONE:
                return
            if isinstance(got, _Failed):
                raise got.error
            yield from got  # type: ignore[misc]
    finally:
        stopped.set()
        producer.join()
