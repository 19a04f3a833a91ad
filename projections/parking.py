"""Parking: an event a consumer cannot handle is recorded and passed over, so the consumer goes
on with the events after it instead of failing on it for ever (docs/security.md, "Poison
events").

A poison is an event whose handling fails the same way on every try: its values break a
handler (an older version stored an event this code cannot take) or the database refuses
them. An outage fails whatever the event: a database that is down, busy or missing a table is
waited out and retried, never parked. `is_poison` tells the two apart by what failed.

A parked event is a row of `parked_events` (consumer, notification id, event type, item,
error), written in the transaction that moves the consumer's position past it, with the
batch's other effects. `eosc-perf lag` counts them, `eosc-perf verify` names them.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from uuid import UUID

import psycopg
import sqlalchemy.exc
from eventsourcing.utils import get_topic
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from read_model.results import PreparedUpload
from read_model.tables import parked_events

log = logging.getLogger(__name__)

# PostgreSQL SQLSTATE classes that the statement's data causes, alike on every retry:
# 22 data exception (a NUL character, a value out of range), 23 integrity constraint
# violation, 54 program limit exceeded (an index entry too large).
POISON_SQLSTATE_CLASSES = ("22", "23", "54")
# Failures of Python code on an event's values (a missing field, a value of another type, a
# structure too deep to walk): the same event fails the same way again.
POISON_ERRORS = (TypeError, ValueError, LookupError, AttributeError, ArithmeticError, RecursionError)
ERROR_TEXT = 1000  # characters of the error kept with a parked event


@dataclass(frozen=True)
class Undecodable:
    """Stands in a source's batch for a notification that could not be made into a domain event
    (its stored state, or its Kafka message, cannot be read by this code): parked on arrival."""

    event_type: str
    aggregate_id: UUID | str | None
    aggregate_version: int | None
    error: str


def is_poison(error: BaseException) -> bool:
    """Whether `error`, raised while a consumer handled one event, is the event's doing."""
    if isinstance(error, sqlalchemy.exc.StatementError) and error.orig is not None:
        return is_poison(error.orig)  # the driver's error, or the Python error of a parameter
    if isinstance(error, psycopg.Error):
        if error.sqlstate:
            return error.sqlstate[:2] in POISON_SQLSTATE_CLASSES
        return isinstance(error, (psycopg.DataError, psycopg.IntegrityError))  # refused before sending
    if isinstance(error, sqlite3.Error):
        return isinstance(error, (sqlite3.DataError, sqlite3.IntegrityError))  # too big, constraint
    return isinstance(error, POISON_ERRORS)


def describe(event) -> tuple[str, str | None, int | None]:
    """(event type, aggregate id, aggregate version) of an event, an Undecodable, or an upload a
    replay's worker prepared (its events index row names them)."""
    if isinstance(event, Undecodable):
        aggregate_id = None if event.aggregate_id is None else str(event.aggregate_id)
        return event.event_type, aggregate_id, event.aggregate_version
    if isinstance(event, PreparedUpload):
        _position, aggregate_id, _related, aggregate_version, topic, *_ = event.index_row
        return topic, aggregate_id, aggregate_version
    return get_topic(type(event)), str(event.originator_id), event.originator_version


def park(conn: Connection, consumer: str, notification_id: int, event, error: str) -> None:
    event_type, aggregate_id, aggregate_version = describe(event)
    conn.execute(
        parked_events.insert().values(
            consumer=consumer,
            notification_id=notification_id,
            event_type=event_type,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
            error=error[:ERROR_TEXT],
            parked_at=datetime.now(timezone.utc).replace(tzinfo=None),
        )
    )


def log_parked(consumer: str, notification_id: int, event, error: str) -> None:
    """Said once the parking committed (attempts that found it may have been rolled back)."""
    event_type, aggregate_id, aggregate_version = describe(event)
    log.error(
        "%s parked notification %d (%s of %s v%s), which it cannot handle: %s",
        consumer,
        notification_id,
        event_type,
        aggregate_id,
        aggregate_version,
        error,
    )


def count(conn: Connection, consumer: str) -> int:
    return conn.execute(
        select(func.count()).select_from(parked_events).where(parked_events.c.consumer == consumer)
    ).scalar_one()


def listed(conn: Connection) -> list:
    """Every parked event, by consumer and position."""
    return conn.execute(select(parked_events).order_by(parked_events.c.consumer, parked_events.c.notification_id)).all()
