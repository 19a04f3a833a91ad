"""The mailer's background work in one process: follow the events into the outbox, then
deliver it. A write nudges it (`wake`) so its mails go out soon after the answer; a
timed poll covers retries and events written by other processes."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from configuration.settings import Settings
from projections.follower import Follower
from projections.mail import directory
from projections.mail.delivery import LogTransport, Postman, SmtpTransport
from projections.mail.mailer import Mailer

log = logging.getLogger("eosc_perf.mail")

# How long a nudged round waits for more writes. A round has a cost of its own whatever it takes
# (reading the new events, a transaction, a look at the outbox, waking this thread): taken per
# upload it was a third of an embedded upload's CPU (1.9 of 5.8 ms in-process, docs/performance.md).
# Under load one round takes the writes of this moment together; their mails leave this much later.
GATHER_SECONDS = 0.1


class MailRoom:
    def __init__(self, follower: Follower, postman: Postman, interval: float = 1.0, gather: float = GATHER_SECONDS):
        self.follower = follower
        self.postman = postman
        self.interval = interval
        self.gather = gather
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def work(self) -> bool:
        """One round: queue the mails of new events, then send what is due. True when a full
        batch went out (more may be waiting)."""
        self.follower.catch_up()
        return self.postman.deliver() >= self.postman.batch

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.wake.clear()  # before the round: a nudge during it starts another at once
            try:
                busy = self.work()
            except Exception:  # e.g. the database is busy: the next round retries
                log.exception("mail round failed; retrying")
                busy = False
            if not busy and self.wake.wait(self.interval):
                stop.wait(self.gather)  # the writes right after this one join its round

    def start(self, stop: threading.Event) -> threading.Thread:
        self.thread = threading.Thread(target=self.run, args=(stop,), daemon=True, name="mailer")
        self.thread.start()
        return self.thread

    def join(self, timeout: float = 15.0) -> None:
        """After `stop` was set: ends the wait, lets the round in progress finish (SMTP timeout 10 s)."""
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)


def open_mail_room(settings: Settings, engine: Engine, source) -> MailRoom:
    """Wires consumer and postman from the MAIL_* settings (the tables come from a migration).
    `source` yields (notification id, event) batches: the event store here, Kafka in production."""
    mailer = Mailer(engine, settings.mail_support, directory.silent_until(engine, head=source.head()))
    if settings.mail_server:
        transport = SmtpTransport(
            settings.mail_server,
            settings.mail_port,
            settings.mail_username,
            settings.mail_password,
            settings.mail_use_tls,
        )
    else:
        transport = LogTransport()
    return MailRoom(Follower(source, mailer), Postman(engine, transport, settings.mail_from))
