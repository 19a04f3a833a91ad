"""The mail thread's rounds (projections/mail/room.py): a write nudges it, and the writes that
follow within the gathering moment are taken by the same round, not one round each."""

from __future__ import annotations

import threading
import time

from projections.mail.room import MailRoom
from tests.support.waiting import wait_until


class CountedRounds:
    """Stands for the mailer's follower and postman: records when each round started."""

    batch = 10

    def __init__(self):
        self.started: list[float] = []

    def catch_up(self) -> int:
        self.started.append(time.monotonic())
        return 0

    def deliver(self) -> int:
        return 0


def test_writes_in_quick_succession_share_one_round_that_waits_the_gathering_moment():
    rounds = CountedRounds()
    room = MailRoom(rounds, rounds, interval=60, gather=1.0)
    stop = threading.Event()
    room.start(stop)
    try:
        wait_until(lambda: len(rounds.started) == 1, what="the round at start")
        nudged = time.monotonic()
        for _ in range(20):  # twenty writes answered one after the other
            room.wake.set()
        wait_until(lambda: len(rounds.started) == 2, what="the nudged round")
        assert rounds.started[1] - nudged >= 1.0
    finally:
        stop.set()
        room.join()
    assert len(rounds.started) == 2  # the other nudges came during the wait: no round of their own


def test_stopping_ends_the_gathering_wait_at_once():
    rounds = CountedRounds()
    room = MailRoom(rounds, rounds, interval=60, gather=60)
    stop = threading.Event()
    room.start(stop)
    wait_until(lambda: len(rounds.started) == 1, what="the round at start")
    room.wake.set()
    stop.set()
    room.join(timeout=10)
    assert not room.thread.is_alive()
