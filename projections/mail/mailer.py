"""The mailer as a consumer of domain events: it keeps its directory up to date and queues
the contract's mails in its outbox. Sending is a separate step (`delivery.Postman`).

A batch's directory updates, its outbox rows and the mailer's position are written in ONE
transaction, so an event re-delivered after a crash (or by Kafka) is skipped and never
queues a mail twice, and a queued mail is never lost.
"""

from __future__ import annotations

import logging
from typing import Callable

from eventsourcing.domain import DomainEventProtocol
from sqlalchemy.engine import Connection, Engine

from domain.actor import Actor
from domain.benchmark import Benchmark
from domain.claim import Claim
from domain.flavor import Flavor
from domain.legacy_import import LegacyImport
from domain.personal_data import ERASED
from domain.result import Result
from domain.site import Site
from domain.user import User
from projections.mail import directory, messages
from projections.mail.messages import Letter
from projections.projector import PositionedConsumer
from read_model import read_store

log = logging.getLogger("eosc_perf.mail")

# (connection, event, support address) -> the letters the event sends, in order
Handler = Callable[[Connection, DomainEventProtocol, str], list[Letter]]


class Mailer(PositionedConsumer):
    name = "mailer"  # its row in `positions`

    def __init__(self, engine: Engine, support: str = "", silent_until: int = 0):
        """`silent_until`: events up to there only fill the directory (see directory.SILENT_UNTIL)."""
        super().__init__(engine)
        self.support = support
        self.silent_until = silent_until

    def handle(self, conn: Connection, notification_id: int, event: DomainEventProtocol) -> None:
        if isinstance(event, LegacyImport.BatchImported):
            self._imported(conn, notification_id + event.events)
            return
        handler = HANDLERS.get(type(event))
        if handler is None:
            return
        letters = handler(conn, event, self.support)
        if notification_id > self.silent_until:
            for seq, letter in enumerate(letters):
                directory.queue(conn, notification_id, seq, letter)

    def handle_all(self, conn: Connection, items: list[tuple[int, DomainEventProtocol]]) -> None:
        """The batch's events in order; a run of uploads (which send nothing) stores its items
        by one statement."""
        uploads: list = []
        for notification_id, event in items:
            if type(event) is Result.Uploaded:
                uploads.append(_uploaded_item(event))
                continue
            if uploads:
                directory.store_items(conn, uploads)
                uploads = []
            self.handle(conn, notification_id, event)
        if uploads:
            directory.store_items(conn, uploads)

    def _imported(self, conn: Connection, through: int) -> None:
        """The events of an imported batch (the `events` after its marker, saved with it) are
        the original's history: they fill the directory and send nothing."""
        if through > self.silent_until:
            self.silent_until = through
            read_store.set_position(conn, directory.SILENT_UNTIL, through)


def _addressed(
    conn: Connection, user: Actor | None, event: DomainEventProtocol, letter: Callable[[str], Letter]
) -> list[Letter]:
    """The letter to `user`'s e-mail; none (logged) when the mailer never saw them register."""
    email = directory.email_of(conn, user) if user else None
    if not email:
        log.warning("no e-mail known for the recipient of %s %s", type(event).__qualname__, event.originator_id)
        return []
    return _to(email, letter)


# -- users --------------------------------------------------------------------------------


def _to(email: str, letter: Callable[[str], Letter]) -> list[Letter]:
    """The letter, unless the address was erased (the user was removed before the mailer got here)."""
    return [] if email == ERASED else [letter(email)]


def user_registered(conn: Connection, event: User.Registered, support: str) -> list[Letter]:
    directory.store_user(conn, event.originator_id, event.sub, event.iss, event.email)
    return _to(event.email, messages.registered)


def user_registered_again(conn: Connection, event: User.RegisteredAgain, support: str) -> list[Letter]:
    # Only users register themselves, so the actor is the user's identity.
    directory.store_user(conn, event.originator_id, event.actor.sub, event.actor.iss, event.email)
    return _to(event.email, messages.registered)


def user_email_updated(conn: Connection, event: User.EmailUpdated, support: str) -> list[Letter]:
    directory.update_email(conn, event.originator_id, event.email)
    return _to(event.email, messages.email_updated)


def user_removed(conn: Connection, event: User.Removed, support: str) -> list[Letter]:
    directory.forget_user(conn, event.originator_id)
    return []  # no mail for a removal (contract §6)


# -- benchmarks, sites, flavors and claims: submitted, approved, rejected --------------------


def submitted(kind: str) -> Handler:
    def item_submitted(conn: Connection, event, support: str) -> list[Letter]:
        directory.store_item(conn, event.originator_id, kind, event.actor)
        return _addressed(
            conn, event.actor, event, lambda to: messages.submitted(kind, event.originator_id, to, support)
        )

    return item_submitted


def claim_submitted(conn: Connection, event: Claim.Submitted, support: str) -> list[Letter]:
    directory.store_item(conn, event.originator_id, "claim", event.actor)  # the claimer hears of its review
    return []  # the result's uploader is told by Result.Claimed, saved with it


def approved(kind: str) -> Handler:
    def item_approved(conn: Connection, event, support: str) -> list[Letter]:
        uploader = directory.uploader_of(conn, event.originator_id)  # a claim's uploader is its claimer
        return _addressed(conn, uploader, event, lambda to: messages.approved(kind, event.originator_id, to, support))

    return item_approved


def rejected(kind: str) -> Handler:
    def item_rejected(conn: Connection, event, support: str) -> list[Letter]:
        uploader = directory.uploader_of(conn, event.originator_id)
        return _addressed(conn, uploader, event, lambda to: messages.rejected(kind, event.originator_id, to, support))

    return item_rejected


# -- results ------------------------------------------------------------------------------


def _uploaded_item(event: Result.Uploaded) -> tuple:
    return event.originator_id, "result", event.actor  # a later claim's mail goes to the uploader


def result_uploaded(conn: Connection, event: Result.Uploaded, support: str) -> list[Letter]:
    directory.store_items(conn, [_uploaded_item(event)])
    return []  # no mail for uploads


def result_claimed(conn: Connection, event: Result.Claimed, support: str) -> list[Letter]:
    uploader = directory.uploader_of(conn, event.originator_id)
    return _addressed(
        conn, uploader, event, lambda to: messages.claimed(event.originator_id, event.claim_id, to, support)
    )


def result_restored(conn: Connection, event: Result.Restored, support: str) -> list[Letter]:
    uploader = directory.uploader_of(conn, event.originator_id)
    return _addressed(conn, uploader, event, lambda to: messages.restored(event.originator_id, to, support))


# Events not listed send nothing: tags, PUT updates, deletes, tag replacement, lifting a ban.
HANDLERS: dict[type, Handler] = {
    User.Registered: user_registered,
    User.RegisteredAgain: user_registered_again,
    User.EmailUpdated: user_email_updated,
    User.Removed: user_removed,
    Benchmark.Submitted: submitted("benchmark"),
    Benchmark.Approved: approved("benchmark"),
    Benchmark.Rejected: rejected("benchmark"),
    Site.Submitted: submitted("site"),
    Site.Approved: approved("site"),
    Site.Rejected: rejected("site"),
    Flavor.Submitted: submitted("flavor"),
    Flavor.Approved: approved("flavor"),
    Flavor.Rejected: rejected("flavor"),
    Claim.Submitted: claim_submitted,
    Claim.Approved: approved("claim"),
    Claim.Rejected: rejected("claim"),
    Result.Uploaded: result_uploaded,
    Result.Claimed: result_claimed,
    Result.Restored: result_restored,
}
