"""Sending the outbox: over SMTP, or to the log when no MAIL_SERVER is set.

Mails go out in outbox order, one connection per round. Each is marked sent in its own
transaction right after the server accepted it. A failure is logged and recorded on the mail
(attempts, last_error) and retried later with exponential backoff. Only a mail the server
refuses for good (a 5xx for every recipient or for its content, or one that cannot be written
at all) is given up: logged, marked `given_up_at` and counted by `eosc-perf lag`. A refused
sender (MAIL_FROM) is our configuration, not the mail's: it keeps being retried.

At-least-once window: if the process dies (or the database write fails) between the SMTP
server accepting a mail and `mark_sent` committing, that mail is sent again on the next
round. SMTP offers no way to make the two one atomic step; the window is one round trip.
Only one postman may deliver from an outbox at a time (one mailer process per outbox).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import ContextManager, Iterator, Protocol

from sqlalchemy.engine import Engine

from observability import metrics
from projections.mail import directory
from projections.mail.messages import as_email

log = logging.getLogger("eosc_perf.mail")

# Failures of one mail: the connection is still usable, the mails after it can go.
# (ValueError: the email library refuses to write a header, e.g. an address with a newline.)
REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError, ValueError)


def refused_for_good(error: Exception) -> bool:
    """Whether sending this mail again can never succeed (SMTP 5xx is a permanent reply, RFC 5321 4.2.1)."""
    if isinstance(error, ValueError):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPDataError) and error.smtp_code >= 500


class Connection(Protocol):
    def send_message(self, message: EmailMessage) -> object: ...


class Transport(Protocol):
    def connect(self) -> ContextManager[Connection]: ...


class LogTransport:
    """MAIL_SERVER empty: the whole message is written to the log, as the contract asks."""

    @contextmanager
    def connect(self) -> Iterator["LogTransport"]:
        yield self

    def send_message(self, message: EmailMessage) -> None:
        log.info("mail (no MAIL_SERVER set, not sent):\n%s", message.as_string())


@dataclass
class SmtpTransport:
    """An SMTP server; its attributes may be changed while running (the next round uses them)."""

    host: str
    port: int = 25
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    timeout: float = 10.0  # so an unreachable server never holds the mail thread for long

    @contextmanager
    def connect(self) -> Iterator[smtplib.SMTP]:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            yield smtp


class Postman:
    def __init__(
        self, engine: Engine, transport: Transport, sender: str, *, first_retry: float = 1.0, max_retry: float = 600.0
    ):
        self.engine = engine
        self.transport = transport
        self.sender = sender
        self.first_retry = first_retry  # seconds; doubles per failure up to max_retry
        self.max_retry = max_retry
        self.batch = 100  # mails per round
        self._outages = 0  # consecutive rounds that could not reach the server
        self._paused_until = 0.0  # time.monotonic() before which no round starts

    def _backoff(self, failures: int) -> float:
        return min(self.max_retry, self.first_retry * 2 ** max(0, failures - 1))

    def deliver(self) -> int:
        """Sends the unsent mails in order; returns how many were sent. SMTP trouble is
        logged and recorded, never raised: it must not reach the caller (nor an HTTP answer)."""
        if time.monotonic() < self._paused_until:
            return 0
        with self.engine.connect() as conn:
            pending = directory.unsent(conn, self.batch)
        if not pending:
            return 0
        sent = 0
        current = pending[0]
        try:
            with self.transport.connect() as connection:
                for current in pending:
                    try:
                        connection.send_message(as_email(current.letter, self.sender))
                    except REFUSED as error:
                        self._refused(current, error)
                        continue
                    # Accepted. A crash before this commit re-sends the mail (module docstring).
                    with self.engine.begin() as conn:
                        directory.mark_sent(conn, current.notification_id, current.seq)
                    metrics.MAILS_SENT.inc()
                    sent += 1
        except (OSError, smtplib.SMTPException) as error:
            self._unreachable(current, error)
        else:
            self._outages = 0
        return sent

    def _refused(self, mail: directory.Queued, error: Exception) -> None:
        """The server refused this mail: it waits its own backoff, or is given up when the
        refusal is permanent; the others go on."""
        if refused_for_good(error):
            log.error(
                "mail %s/%s to %r refused for good, given up: %s", mail.notification_id, mail.seq, mail.letter.to, error
            )
            with self.engine.begin() as conn:
                directory.mark_given_up(conn, mail.notification_id, mail.seq, repr(error))
            metrics.MAILS_GIVEN_UP.inc()
            return
        delay = self._backoff(mail.attempts + 1)
        log.warning("mail %s/%s refused (retry in %.0f s): %s", mail.notification_id, mail.seq, delay, error)
        metrics.MAILS_FAILED.inc()
        with self.engine.begin() as conn:
            directory.mark_failed(
                conn, mail.notification_id, mail.seq, repr(error), directory.now() + timedelta(seconds=delay)
            )

    def _unreachable(self, mail: directory.Queued, error: Exception) -> None:
        """No connection (or it broke): every mail waits; the first one keeps the reason."""
        self._outages += 1
        delay = self._backoff(self._outages)
        self._paused_until = time.monotonic() + delay
        log.warning("mail server unreachable (retry in %.1f s): %r", delay, error)
        metrics.MAILS_FAILED.inc()
        with self.engine.begin() as conn:
            directory.mark_failed(conn, mail.notification_id, mail.seq, repr(error), None)
