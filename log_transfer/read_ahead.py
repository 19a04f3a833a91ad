"""Reading a walk over the log a batch ahead: the database reads and sends the next batch, in a
thread of its own, while the caller works on the current one (encoding, hashing). On PostgreSQL
a walk that read its batches in turn waited for them about as long as it worked on them."""

from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

Batch = TypeVar("Batch")
# Batches read and not yet taken, at most: memory stays that of a few batches.
DEPTH = 2
_END = object()


def read_ahead(batches: Iterator[Batch]) -> Iterator[Batch]:
    """Yields what `batches` yields, in its order, each read in a thread of its own while the
    caller works on the ones before it. An error raised while reading is raised here. When the
    caller stops early (breaks, or raises), the reading stops at its next batch."""
    waiting: queue.Queue = queue.Queue(maxsize=DEPTH)
    stop = threading.Event()

    def read() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                waiting.put(batch)
            waiting.put(_END)
        except BaseException as error:  # raised again in the caller's thread
            waiting.put(error)
        finally:  # a generator stopped early ends here, in its thread: its transaction ends too
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            batch = waiting.get()
            if batch is _END:
                return
            if isinstance(batch, BaseException):
                raise batch
            yield batch
    finally:
        stop.set()
        while reader.is_alive():  # a reader blocked on a full queue sees the stop once it can put
            try:
                waiting.get(timeout=0.1)
            except queue.Empty:
                pass
