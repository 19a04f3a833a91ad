"""log_transfer/read_ahead.py: a walk over the log read a batch ahead in a thread of its own."""

from __future__ import annotations

import threading

import pytest

from log_transfer.read_ahead import read_ahead


def test_every_batch_comes_in_order():
    assert list(read_ahead(iter(range(50)))) == list(range(50))
    assert list(read_ahead(iter([]))) == []


def test_an_error_while_reading_is_raised_to_the_caller_after_the_batches_before_it():
    def batches():
        yield 1
        yield 2
        raise ValueError("the database went away")

    seen = []
    with pytest.raises(ValueError, match="went away"):
        for batch in read_ahead(batches()):
            seen.append(batch)
    assert seen == [1, 2]


def test_a_caller_that_stops_early_stops_the_reading_and_ends_its_batches():
    ended, read = threading.Event(), []

    def batches():
        try:
            for n in range(1000):
                read.append(n)
                yield n
        finally:  # where a transaction would end
            ended.set()

    for batch in read_ahead(batches()):
        if batch == 3:
            break
    assert ended.wait(5)
    assert len(read) < 10  # a few batches ahead at most, not the whole walk
    assert not [thread for thread in threading.enumerate() if thread.name == "read-ahead"]
