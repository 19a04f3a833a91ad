"""What the mailer reads and writes in its own tables (read_model/mail_tables.py).

The mailer runs as its own consumer (in production its own Kafka consumer group), ahead of
or behind the projector, so it never reads the read-model tables: it keeps just what it
needs to address mails (users' e-mails, who uploaded what) and an outbox of mails to send.
Its tables have their own MetaData (created by read-store migration 2), so rebuilding the
read model never touches them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from domain.actor import Actor
from domain.personal_data import ERASED
from domain.user import User
from projections.mail.messages import Letter
from read_model import read_store
from read_model.mail_tables import mail_items, mail_outbox, mail_users
from read_model.rows import parameter_mark
from read_model.tables import identity_is, positions

# Events up to this position were in the store before the mailer first ran: they fill the
# directory but send nothing (deploying the mailer, or losing its tables, must not re-send history).
SILENT_UNTIL = "mailer.silent_until"


def now() -> datetime:
    """Naive UTC, as the read store keeps times."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def silent_until(engine: Engine, *, head: int) -> int:
    """The silent boundary, recorded as `head` on the mailer's first run. (The tables
    themselves are created by a read-store migration.)"""
    with engine.begin() as conn:
        if conn.execute(select(positions.c.position).where(positions.c.name == SILENT_UNTIL)).first() is None:
            read_store.set_position(conn, SILENT_UNTIL, head)
        return read_store.position(conn, SILENT_UNTIL)


# -- directory ------------------------------------------------------------------------------


def store_user(conn: Connection, user_id, sub: str, iss: str, email: str) -> None:
    conn.execute(mail_users.delete().where(mail_users.c.id == str(user_id)))
    conn.execute(mail_users.insert().values(id=str(user_id), sub=sub, iss=iss, email=email))


def update_email(conn: Connection, user_id, email: str) -> None:
    """The mails already sent to the old address keep their record without it, so that a later
    removal of the user leaves none behind (the mailer keeps only current addresses)."""
    old = conn.execute(select(mail_users.c.email).where(mail_users.c.id == str(user_id))).scalar()
    conn.execute(mail_users.update().where(mail_users.c.id == str(user_id)).values(email=email))
    if old is not None and old != email:
        _erase_address(conn, old, unsent=False)


def _erase_address(conn: Connection, email: str, *, unsent: bool) -> None:
    """`email` leaves the outbox (crypto-shredding, docs/security.md): the sent mails to it keep
    their record without it; with `unsent`, the mails not yet sent are given up too."""
    to_them = mail_outbox.c.to == email
    if unsent:
        conn.execute(
            mail_outbox.update().where(to_them, mail_outbox.c.sent_at.is_(None)).values(given_up_at=now(), to=ERASED)
        )
    conn.execute(mail_outbox.update().where(to_them, mail_outbox.c.sent_at.is_not(None)).values(to=ERASED))


def forget_user(conn: Connection, user_id) -> None:
    """A removed user hears nothing more, not even of what they submitted before: the items
    are owned by no one (a registration after the ban lift starts with nothing)."""
    row = conn.execute(select(mail_users).where(mail_users.c.id == str(user_id))).first()
    if row is None:
        return
    conn.execute(
        mail_items.delete().where(
            identity_is(mail_items.c.uploader_sub, row.sub) & (mail_items.c.uploader_iss == row.iss)
        )
    )
    conn.execute(mail_users.delete().where(mail_users.c.id == row.id))
    _erase_address(conn, row.email, unsent=True)


def email_of(conn: Connection, user: Actor) -> str | None:
    return conn.execute(
        select(mail_users.c.email).where(mail_users.c.id == str(User.create_id(user.sub, user.iss)))
    ).scalar()


def store_item(conn: Connection, item_id, kind: str, uploader: Actor) -> None:
    store_items(conn, [(item_id, kind, uploader)])


def store_items(conn: Connection, items: list[tuple[object, str, Actor]]) -> None:
    """Inserts or replaces each item's row (id, kind, uploader), by one statement whose text
    depends only on how many there are: every upload stores one, and a batch holds several."""
    rows = {str(item_id): (kind, uploader.sub, uploader.iss) for item_id, kind, uploader in items}  # the last of an id
    mark = parameter_mark(conn)
    ordered = list(rows.items())
    for start in range(0, len(ordered), _ITEMS_PER_STATEMENT):
        chunk = ordered[start : start + _ITEMS_PER_STATEMENT]
        values = ", ".join([f"({mark}, {mark}, {mark}, {mark})"] * len(chunk))
        conn.exec_driver_sql(
            f"INSERT INTO {mail_items.name} (id, kind, uploader_sub, uploader_iss) VALUES {values}"
            " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,"
            " uploader_sub = excluded.uploader_sub, uploader_iss = excluded.uploader_iss",
            tuple(value for id, row in chunk for value in (id, *row)),
        )


_ITEMS_PER_STATEMENT = 200  # 800 parameters: within SQLite's oldest limit (999)


def uploader_of(conn: Connection, item_id) -> Actor | None:
    row = conn.execute(select(mail_items).where(mail_items.c.id == str(item_id))).first()
    return Actor(row.uploader_sub, row.uploader_iss) if row else None


# -- outbox -------------------------------------------------------------------------------


def queue(conn: Connection, notification_id: int, seq: int, letter: Letter) -> None:
    conn.execute(
        mail_outbox.insert().values(
            notification_id=notification_id,
            seq=seq,
            to=letter.to,
            cc=letter.cc,
            subject=letter.subject,
            headers=json.dumps(letter.headers),
            body=letter.body,
            attempts=0,
        )
    )


@dataclass(frozen=True)
class Queued:
    notification_id: int
    seq: int
    attempts: int
    letter: Letter


def unsent(conn: Connection, limit: int = 100) -> list[Queued]:
    """Mails not yet sent, not given up and not waiting out a backoff, oldest first."""
    rows = conn.execute(
        select(mail_outbox)
        .where(mail_outbox.c.sent_at.is_(None) & mail_outbox.c.given_up_at.is_(None))
        .where(mail_outbox.c.retry_at.is_(None) | (mail_outbox.c.retry_at <= now()))
        .order_by(mail_outbox.c.notification_id, mail_outbox.c.seq)
        .limit(limit)
    ).all()
    return [
        Queued(
            row.notification_id,
            row.seq,
            row.attempts,
            Letter(row.to, row.cc, row.subject, json.loads(row.headers), row.body),
        )
        for row in rows
    ]


def _row(notification_id: int, seq: int):
    return (mail_outbox.c.notification_id == notification_id) & (mail_outbox.c.seq == seq)


def mark_sent(conn: Connection, notification_id: int, seq: int) -> None:
    conn.execute(
        mail_outbox.update()
        .where(_row(notification_id, seq))
        .values(sent_at=now(), attempts=mail_outbox.c.attempts + 1, last_error=None, retry_at=None)
    )


def mark_given_up(conn: Connection, notification_id: int, seq: int, error: str) -> None:
    conn.execute(
        mail_outbox.update()
        .where(_row(notification_id, seq) & mail_outbox.c.sent_at.is_(None))
        .values(attempts=mail_outbox.c.attempts + 1, last_error=error[:1000], retry_at=None, given_up_at=now())
    )


def given_up(conn: Connection) -> int:
    """How many mails the SMTP server refused for good (`eosc-perf lag` shows it)."""
    return conn.execute(
        select(func.count()).select_from(mail_outbox).where(mail_outbox.c.given_up_at.is_not(None))
    ).scalar_one()


def mark_failed(conn: Connection, notification_id: int, seq: int, error: str, retry_at: datetime | None) -> None:
    """(A failure after the mail was accepted, e.g. at QUIT, leaves a sent mail alone.)"""
    conn.execute(
        mail_outbox.update()
        .where(_row(notification_id, seq) & mail_outbox.c.sent_at.is_(None))
        .values(attempts=mail_outbox.c.attempts + 1, last_error=error[:1000], retry_at=retry_at)
    )
