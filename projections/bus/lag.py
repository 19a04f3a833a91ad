"""How far each consumer of the event log is behind (`eosc-perf lag`).

Positions are notification ids: the relay's in the event store's database, the read model's
and the mailer's in the read store. Ids have gaps (eventsourcing-notes §1), so `behind` counts
ids, an upper bound of the events still to apply. Where Kafka is configured, each consumer
group's committed offset is shown against the topic's end offset, in messages. `parked`
counts the events each one passed over because it could not handle them (parking.py).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from kafka import TopicPartition
from sqlalchemy.engine import Engine

from domain.event_store import EventStore
from projections import parking
from projections.bus import broker, relay
from projections.bus.broker import BusSettings
from projections.mail import directory
from projections.mail.mailer import Mailer
from projections.projector import Projector
from read_model import read_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerLag:
    name: str
    position: int | None  # last applied (or, for the relay, published) notification id; None: never ran
    behind: int | None  # head - position
    kafka_group: str | None = None
    committed_offset: int | None = None  # the group's next offset to read
    messages_behind: int | None = None  # end offset - committed offset
    parked: int | None = None  # events passed over (projections/parking.py); None: not known here


@dataclass(frozen=True)
class LagReport:
    head: int  # the last notification id in the event store
    end_offset: int | None  # messages in the topic (None: no Kafka configured or reachable)
    consumers: list[ConsumerLag]
    kafka_error: str | None = None
    mails_given_up: int = 0  # refused for good by the SMTP server (mail_outbox.last_error says why)

    def as_dict(self) -> dict:
        return asdict(self)


def _stored_position(engine: Engine, name: str) -> int | None:
    with engine.connect() as conn:
        return read_store.position(conn, name) or None


def _parked(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return parking.count(conn, name)


def _kafka_offsets(bus: BusSettings, groups: list[str]) -> tuple[int, dict[str, int | None]]:
    partition = TopicPartition(bus.topic, 0)
    probe = broker.consumer(bus, None)
    try:
        end = probe.end_offsets([partition]).get(partition, 0)
    finally:
        probe.close()
    committed = {}
    for group in groups:
        member = broker.consumer(bus, group)  # never subscribes: asks the group, joins nothing
        try:
            committed[group] = member.committed(partition)
        finally:
            member.close(autocommit=False)
    return end, committed


def lag_report(
    store: EventStore,
    event_store_url: str,
    engine: Engine,
    bus: BusSettings | None,
    read_model_engine: Engine | None = None,
) -> LagReport:
    """`engine`: the configured read store (the mailer's tables); `read_model_engine`: the read
    model's, when a rebuild switched it elsewhere (read_model/active_store.py)."""
    head = store.recorder.max_notification_id() or 0
    postgres = event_store_url.startswith("postgres")
    published = relay.published_position(event_store_url, store.name) if postgres else None
    read_engine = read_model_engine or engine
    read_model = Projector(read_engine).name
    positions = {
        "relay": published,
        read_model: _stored_position(read_engine, read_model),
        Mailer.name: _stored_position(engine, Mailer.name),
    }
    parked = {
        "relay": len(relay.parked_events(event_store_url)) if postgres else None,
        read_model: _parked(read_engine, read_model),
        Mailer.name: _parked(engine, Mailer.name),
    }
    groups = {name: broker.group_id(name) for name in positions if name != "relay"}
    end, committed, error = None, {}, None
    if bus is not None:
        try:
            end, committed = _kafka_offsets(bus, list(groups.values()))
        except Exception as failure:  # the broker is away: positions still tell the story
            error = repr(failure)
    consumers = []
    for name, position in positions.items():
        group = groups.get(name)
        offset = committed.get(group) if group else None
        consumers.append(
            ConsumerLag(
                name,
                position,
                None if position is None else head - position,
                group if bus is not None else None,
                offset,
                end - offset if end is not None and offset is not None else None,
                parked[name],
            )
        )
    with engine.connect() as conn:
        given_up = directory.given_up(conn)
    return LagReport(head, end, consumers, error, given_up)


def lines(report: LagReport) -> list[str]:
    """The report as a small table for people."""
    topic = "" if report.end_offset is None else f", topic end offset {report.end_offset}"
    out = [f"head of the event log: notification {report.head}{topic}"]
    if report.kafka_error:
        out.append(f"kafka unreachable: {report.kafka_error}")
    out.append(
        f"{'consumer':<12} {'position':>10} {'behind':>8} {'parked':>8}   "
        "kafka group (committed offset, messages behind)"
    )
    for consumer in report.consumers:
        position = "-" if consumer.position is None else str(consumer.position)
        behind = "-" if consumer.behind is None else str(consumer.behind)
        parked = "-" if consumer.parked is None else str(consumer.parked)
        kafka = ""
        if consumer.kafka_group:
            offset = "-" if consumer.committed_offset is None else consumer.committed_offset
            messages = "-" if consumer.messages_behind is None else consumer.messages_behind
            kafka = f"{consumer.kafka_group} ({offset}, {messages})"
        out.append(f"{consumer.name:<12} {position:>10} {behind:>8} {parked:>8}   {kafka}")
    if report.mails_given_up:
        out.append(f"mails given up (refused for good by the SMTP server): {report.mails_given_up}")
    return out
