"""A Kafka consumer group as an event source: batches of (notification id, domain event).

The contract with the consumer (the projector, the mailer): it applies a batch, with its
position, in one database transaction, and only then resumes the iteration, which commits
the batch's offsets. So:
  - a crash before the database commit: nothing applied, nothing committed, the batch comes
    again after the restart (from the committed offset);
  - a crash between the database commit and the offset commit: the batch comes again and
    the consumer skips it by notification id (ids <= its position);
  - the relay's duplicates (at-least-once publishing) are skipped the same way.
A batch that was handed out but never confirmed (the consumer raised) is fetched again:
the next `batches()` rewinds to the committed offset, since the consumer's fetch position
has already moved past it.

A consumer whose position is 0 (a new or rebuilt store) reads the topic from its start,
whatever its group committed before: the topic keeps every event.

A message this code cannot decode comes as a `parking.Undecodable` (placed by its
`notification_id` header): the consumer parks it rather than stopping at it.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterator

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic
from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError

from domain import envelope
from domain.personal_data import BrokenSeal, Keyring, opened
from projections.bus import broker
from projections.bus.broker import BusSettings
from projections.parking import Undecodable

log = logging.getLogger(__name__)

Batch = list[tuple[int, DomainEventProtocol]]
BATCH = 500


def _decoded(record) -> tuple[int, DomainEventProtocol | Undecodable] | None:
    """(notification id, event) of a record. Decoding is computation on the message alone:
    whatever fails it, fails it again. A message without even a notification id cannot be
    placed in the log (no relay writes one): it is logged and passed over."""
    try:
        return envelope.decode(envelope.from_bytes(record.value))
    except Exception as error:
        headers = {name: value.decode(errors="replace") for name, value in record.headers or ()}
        try:
            notification_id = int(headers["notification_id"])
        except (KeyError, ValueError):
            log.error("kafka message at offset %d is no event of this service, passed over: %r", record.offset, error)
            return None
        aggregate_id = record.key.decode(errors="replace") if record.key else None
        return notification_id, Undecodable(headers.get("event_type", "unknown"), aggregate_id, None, repr(error))


class _FromTheStartWhenEmpty(ConsumerRebalanceListener):
    def __init__(self, source: "KafkaSource"):
        self.source = source

    def on_partitions_revoked(self, revoked):
        pass

    def on_partitions_assigned(self, assigned):
        if assigned and self.source.after == 0:
            self.source.consumer.seek_to_beginning(*assigned)


class KafkaSource:
    def __init__(
        self,
        bus: BusSettings,
        group: str,
        keyring: Keyring,
        head: Callable[[], int] = lambda: 0,
        *,
        batch: int = BATCH,
        poll_seconds: float = 0.5,
        stop: threading.Event | None = None,
    ):
        """`group`: the consumer group (one per consumer kind: its members share the work, a
        standby takes over a dead member's partition). `head`: the last notification id of
        the log, for those who ask (the mailer's first run). `keyring`: the event store's
        personal-data keys, which open the envelopes' sealed fields. `poll_seconds`: how long one
        `batches()` waits for a first message when none is there."""
        self.bus = bus
        self.group = group
        self.keyring = keyring
        self.head = head
        self.batch = batch
        self.poll_ms = int(poll_seconds * 1000)
        self.stop = stop or threading.Event()
        self.consumer: KafkaConsumer | None = None
        self.after = 0
        self._unconfirmed = False  # a batch was handed out and its offsets not committed

    def batches(self, after: int) -> Iterator[Batch]:
        """Batches of the events after the committed offset, until none is waiting."""
        self.after = after
        try:
            self._connect()
            if self._unconfirmed:
                self._rewind()
            while not self.stop.is_set():
                records = self._poll()
                if not records:
                    return
                self._unconfirmed = True  # from here on the records must come again if the batch fails
                batch = [self._opened(decoded) for decoded in map(_decoded, records) if decoded is not None]
                yield batch  # the consumer applies it, then asks for the next one:
                self._confirm()
        except KafkaError as error:
            # The broker is away or the group is rebalancing: start over on the next call.
            log.warning("kafka source %s: %r; reconnecting", self.group, error)
            self.close()
            self.stop.wait(1.0)

    def _opened(self, decoded: tuple[int, DomainEventProtocol | Undecodable]) -> tuple:
        """The event with its sealed personal fields opened with the event store's keys. Not part
        of decoding: a key table out of reach is an outage (raised, the batch comes again), not a
        poison to park; a seal its key does not open is the message's doing (parked)."""
        notification_id, event = decoded
        if isinstance(event, Undecodable):
            return decoded
        try:
            return notification_id, opened(event, self.keyring)
        except BrokenSeal as error:  # the message's doing: parked
            return notification_id, Undecodable(
                get_topic(type(event)), event.originator_id, event.originator_version, repr(error)
            )

    def _connect(self) -> None:
        if self.consumer is None:
            broker.ensure_topic(self.bus)
            self.consumer = broker.consumer(self.bus, self.group, max_poll_records=self.batch)
            self.consumer.subscribe([self.bus.topic], listener=_FromTheStartWhenEmpty(self))

    def _poll(self) -> list:
        assert self.consumer is not None
        polled = self.consumer.poll(timeout_ms=self.poll_ms, max_records=self.batch)
        # One partition: the records of its one list are in offset (= notification) order.
        return [record for records in polled.values() for record in records]

    def _confirm(self) -> None:
        """Commits the fetch position: the batch (everything one poll returned) is applied."""
        assert self.consumer is not None
        self.consumer.commit()
        self._unconfirmed = False

    def _rewind(self) -> None:
        assert self.consumer is not None
        for partition in self.consumer.assignment():
            committed = self.consumer.committed(partition)
            if committed is None or self.after == 0:
                self.consumer.seek_to_beginning(partition)
            else:
                self.consumer.seek(partition, committed)
        self._unconfirmed = False

    def close(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close(autocommit=False)  # leaves the group: a standby takes over now
            except Exception:  # closing a consumer whose broker is gone
                log.debug("closing the consumer failed", exc_info=True)
            self.consumer = None
        self._unconfirmed = False
