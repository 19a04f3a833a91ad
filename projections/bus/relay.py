"""`eosc-perf relay`: publishes every stored event, in notification order, to the Kafka topic.

One round: read the events after the tracked position, send them all (key: aggregate id),
flush (the broker has them, acks=all), and only then record the new position. A crash
between the flush and the record re-sends that batch on restart: publishing is
at-least-once, and consumers skip notification ids they already applied.

Exactly one relay publishes: it holds a PostgreSQL advisory lock on a connection of its own.
Other instances wait as standbys and take over within a second of the holder's death (its
connection closes and the lock with it). The same connection LISTENs for the event store's
commits, so the relay wakes at once on a write and polls every second otherwise.

The broker being away stops nothing but the relay's progress: writes go on into the event
store, and the relay retries with a growing pause, then catches up from its position.

Before publishing, the relay checks that the topic's last message is an event of this store:
a topic left from another database would otherwise feed consumers a foreign log.

An event the relay cannot publish (this code cannot decode it, or its envelope is larger than
the topic takes: written by an older version) is parked, not retried for ever: a row of
`kafkarelay_parked`, written with the position that moves past it (projections/parking.py has
the consumers' side). A broker that refuses or does not answer is an outage: retried.
"""

from __future__ import annotations

import logging
import threading
from typing import Sequence

import psycopg
from eventsourcing.persistence import InfrastructureFactory, Notification, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.utils import Environment, get_topic
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from psycopg import sql

from configuration.settings import ConfigurationError
from configuration.stores import event_store_environment
from domain import envelope
from domain.event_store import EventStore
from projections.bus import broker
from projections.bus.broker import BusSettings
from projections.parking import ERROR_TEXT

log = logging.getLogger(__name__)

ADVISORY_LOCK = 4242_0005  # any bigint of our own; the read-store migrations use 4242_0001
TRACKING = "kafkarelay"  # the position's table: kafkarelay_tracking, in the event store's database
PARKED = f"{TRACKING}_parked"  # the events passed over, beside it
# The largest envelope the relay sends: the topic's message limit, less room for the record's
# key, headers and framing (the command side writes events of at most half the limit).
PUBLISHABLE_BYTES = envelope.MAX_MESSAGE_BYTES - 64 * 1024
BATCH = 500
IDLE_POLL = 1.0  # seconds between looks at the log when no NOTIFY came
MAX_PAUSE = 5.0  # longest pause between retries while the broker or the database is away


class RelayPositions(PostgresTrackingRecorder):
    """The relay's position (one row keyed by the event store's name) and the events it parked,
    recorded in one transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs):
        super().__init__(datastore, **kwargs)
        self.parked = sql.SQL("{}.{}").format(sql.Identifier(datastore.schema), sql.Identifier(PARKED))
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, event_type text NOT NULL, "
                "aggregate_id text, aggregate_version bigint, error text NOT NULL, "
                "parked_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.parked)
        )

    def record(self, tracking: Tracking, parked: list[tuple]) -> None:
        """`parked`: (notification id, event type, aggregate id, aggregate version, error) each."""
        with self.datastore.transaction(commit=True) as curs:
            for row in parked:
                curs.execute(
                    sql.SQL(
                        "INSERT INTO {} (notification_id, event_type, aggregate_id, aggregate_version, "
                        "error) VALUES (%s, %s, %s, %s, %s)"
                    ).format(self.parked),
                    row,
                )
            self._insert_tracking(curs, tracking)


def position_recorder(event_store_url: str) -> RelayPositions:
    """Created by the lock holder on start (CREATE TABLE IF NOT EXISTS), so no two processes
    race to create its tables."""
    env = Environment(TRACKING, event_store_environment(event_store_url, create_tables=True))
    return InfrastructureFactory.construct(env).tracking_recorder(RelayPositions)


def published_position(event_store_url: str, store_name: str) -> int | None:
    """The relay's position for `eosc-perf lag`; None before a relay ever ran."""
    with psycopg.connect(event_store_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{TRACKING}_tracking",)).fetchone()[0]
        if exists is None:
            return None
        row = conn.execute(
            sql.SQL("SELECT notification_id FROM {} WHERE application_name = %s").format(
                sql.Identifier(f"{TRACKING}_tracking")
            ),
            (store_name,),
        ).fetchone()
        return row[0] if row else 0


def parked_events(event_store_url: str) -> list[tuple]:
    """The events the relay parked, in log order: (notification id, event type, aggregate id,
    aggregate version, error); none before a relay ever ran."""
    with psycopg.connect(event_store_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (PARKED,)).fetchone()[0] is None:
            return []
        return conn.execute(
            sql.SQL(
                "SELECT notification_id, event_type, aggregate_id, aggregate_version, error FROM {} "
                "ORDER BY notification_id"
            ).format(sql.Identifier(PARKED))
        ).fetchall()


class ForeignTopic(ConfigurationError):
    """The topic's last message is not this event store's event: publishing would mix logs."""


def check_topic_belongs_to(store: EventStore, bus: BusSettings) -> None:
    """The last message of the topic must be this store's notification of that id. A new
    database behind an old topic (or two deployments sharing a topic) would otherwise hand
    consumers events of another log, and then skip this one's as already seen."""
    partition = TopicPartition(bus.topic, 0)
    reader = broker.consumer(bus, None)
    try:
        reader.assign([partition])
        end = reader.end_offsets([partition])[partition]
        if end == 0:
            return
        reader.seek(partition, end - 1)
        records: list = []
        for _ in range(20):  # a few seconds at most: the record is there, the broker is up
            records = [r for batch in reader.poll(timeout_ms=250).values() for r in batch]
            if records:
                break
        if not records:
            raise KafkaTimeoutError("could not read the topic's last message")
        last = envelope.from_bytes(records[-1].value)
    finally:
        reader.close()
    found = store.recorder.select_notifications(start=last["notification_id"], limit=1)
    if not found or (found[0].id, str(found[0].originator_id), found[0].originator_version) != (
        last["notification_id"],
        last["aggregate_id"],
        last["aggregate_version"],
    ):
        raise ForeignTopic(
            f"topic {bus.topic} ends with notification {last['notification_id']} of {last['aggregate_id']} "
            f"v{last['aggregate_version']}, which is not this event store's: use another KAFKA_TOPIC (or delete it)"
        )


class RelayLock:
    """The advisory lock on a dedicated connection, which also LISTENs for commits."""

    def __init__(self, url: str, channel: str):
        self.url = url
        self.channel = channel
        self.conn: psycopg.Connection | None = None

    def acquire(self, stop: threading.Event, poll: float = 0.5) -> bool:
        """Waits (standby) until this process holds the lock; False if stopped first."""
        self.conn = psycopg.connect(self.url, autocommit=True)
        announced = False
        while not stop.is_set():
            if self.conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK,)).fetchone()[0]:
                self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                return True
            if not announced:
                log.info("another relay is active; standing by")
                announced = True
            stop.wait(poll)
        return False

    def check(self) -> None:
        """Raises when the connection, and so the lock, is lost: never publish without it."""
        assert self.conn is not None
        self.conn.execute("SELECT 1")

    def wait_for_commit(self, timeout: float) -> None:
        assert self.conn is not None
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            pass

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()  # ends the session: PostgreSQL releases the lock
            finally:
                self.conn = None


class Relay:
    def __init__(self, store: EventStore, event_store_url: str, bus: BusSettings, batch: int = BATCH):
        if not event_store_url.startswith("postgresql"):
            raise ConfigurationError("the relay needs the PostgreSQL event store (EVENT_STORE_URL=postgresql://...)")
        self.store = store
        self.url = event_store_url
        self.bus = bus
        self.batch = batch
        self._tracking: RelayPositions | None = None  # made once: it owns a pool

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                self._hold_and_publish(stop)
            except ForeignTopic:
                raise  # no retry fixes it: the operator must choose the topic
            except Exception as error:
                failures += 1
                pause = min(MAX_PAUSE, 0.5 * 2 ** (failures - 1))
                log.warning("relay interrupted (%r); retrying in %.1f s from the recorded position", error, pause)
                stop.wait(pause)

    def _hold_and_publish(self, stop: threading.Event) -> None:
        lock = RelayLock(self.url, self.store.recorder.channel_name)
        producer = None
        try:
            # Checked before standing by too: a misconfigured standby says so at once.
            broker.ensure_topic(self.bus)
            check_topic_belongs_to(self.store, self.bus)
            if not lock.acquire(stop):
                return
            if self._tracking is None:
                self._tracking = position_recorder(self.url)
            tracking = self._tracking
            position = tracking.max_tracking_id(self.store.name) or 0
            log.info("active relay: publishing to %s after notification %d", self.bus.topic, position)
            producer = broker.producer(self.bus)
            while not stop.is_set():
                lock.check()
                notifications = self.store.recorder.select_notifications(
                    start=position, limit=self.batch, inclusive_of_start=False
                )
                if not notifications:
                    lock.wait_for_commit(IDLE_POLL)
                    continue
                parked = self._publish(producer, notifications)
                tracking.record(Tracking(self.store.name, notifications[-1].id), parked)
                position = notifications[-1].id
        finally:
            if producer is not None:
                # Unsent records are dropped, not sent late: the next producer re-sends them
                # from the recorded position, in order.
                producer.close(timeout=0)
            lock.release()

    def _publish(self, producer, notifications: Sequence[Notification]) -> list[tuple]:
        """Sends the notifications' envelopes and waits until the broker has them all; returns
        the ones parked instead, as RelayPositions.record takes them."""
        futures, parked = [], []
        for notification in notifications:
            try:  # decoding and encoding are computation on the stored event alone: a failure is its own
                # Personal data travels sealed, as stored: once its key is destroyed, the topic's copy
                # opens to nothing either (domain/personal_data.py).
                event = self.store.mapper.sealed_domain_event(notification)
                value = envelope.envelope_bytes(notification.id, event)
                if len(value) > PUBLISHABLE_BYTES:
                    raise ValueError(
                        f"its envelope of {len(value)} bytes is larger than the {PUBLISHABLE_BYTES} "
                        "bytes the topic takes"
                    )
            except Exception as error:
                log.error(
                    "relay parked notification %d (%s of %s v%d), which it cannot publish: %r",
                    notification.id,
                    notification.topic,
                    notification.originator_id,
                    notification.originator_version,
                    error,
                )
                parked.append(
                    (
                        notification.id,
                        notification.topic,
                        str(notification.originator_id),
                        notification.originator_version,
                        repr(error)[:ERROR_TEXT],
                    )
                )
                continue
            futures.append(
                producer.send(
                    self.bus.topic,
                    key=str(notification.originator_id).encode(),
                    value=value,
                    headers=[
                        ("notification_id", str(notification.id).encode()),
                        ("event_type", get_topic(type(event)).encode()),
                    ],
                )
            )
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=0)  # raises the send's error, if any: then nothing is recorded
        return parked
