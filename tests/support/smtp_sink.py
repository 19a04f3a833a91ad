"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), collecting what it receives.

    with SmtpSink() as sink:
        ...                                   # something sends to 127.0.0.1:sink.port
        [mail] = sink.wait_for(1)             # parsed EmailMessage objects, in arrival order

Knobs (may be changed while running): `refuse` holds addresses whose RCPT TO is answered 550
(a permanent refusal), `defer` those answered 450 (a temporary one).
`closed_port()` gives a port where nothing listens (connections are refused) until released.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Iterator

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Delivery:
    sender: str  # MAIL FROM
    recipients: tuple[str, ...]  # RCPT TO: To and Cc together
    message: EmailMessage


class SmtpSink:
    def __init__(self, port: int = 0):
        self.port = port or free_port()
        self.deliveries: list[Delivery] = []
        self.refuse: set[str] = set()
        self.defer: set[str] = set()
        self._changed = threading.Condition()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    # -- aiosmtpd handler hooks ---------------------------------------------------------

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        if address in self.defer:
            return "450 4.2.1 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self._changed:
            self.deliveries.append(Delivery(envelope.mail_from, tuple(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 Message accepted"

    # -- for tests ----------------------------------------------------------------------

    @property
    def messages(self) -> list[EmailMessage]:
        with self._changed:
            return [delivery.message for delivery in self.deliveries]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """The first `count` messages, once that many arrived; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [d.message["Subject"] for d in self.deliveries]
                    raise AssertionError(f"expected {count} mails within {timeout} s, got {subjects}")
                self._changed.wait(left)
            return [delivery.message for delivery in self.deliveries[:count]]

    def start(self) -> "SmtpSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting is refused, and no one else can take it
    until the block ends (then start an SmtpSink on it: the "server comes back")."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]
