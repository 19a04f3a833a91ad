"""How the processes reach Kafka: its settings, the one topic, and the client options.

The whole event log goes to ONE topic with ONE partition: its order is the notification
order, which the projector and the mailer rely on (a later event may depend on an earlier
one of another aggregate). Messages are keyed by aggregate id all the same, so a future
move to several partitions keeps each aggregate's events in order.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Mapping

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from configuration.settings import ConfigurationError
from domain.envelope import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "eosc-perf.events"
GROUP_PREFIX = "eosc-perf."  # consumer groups: eosc-perf.read_model, eosc-perf.mailer
# While the broker is away a new client gives up after this long (kafka-python's default, 30 s,
# would leave a stopping process deaf to SIGTERM for as long).
BOOTSTRAP_TIMEOUT_MS = 5_000
# Retrying a lost broker at most every 2 s (the default grows to 30 s): catching up starts soon
# after the broker is back.
RECONNECT_BACKOFF_MAX_MS = 2_000
# A consumer group formed while its topic's partition had no leader yet assigns that partition to
# no member until they read the metadata again: every 5 s, not kafka-python's 5 minutes (a mailer
# that started with a new topic sent nothing for that long).
METADATA_MAX_AGE_MS = 5_000
# How long `ensure_topic` waits for the partition of a topic it created to have a leader.
LEADER_WAIT_S = 10.0


@dataclass(frozen=True)
class BusSettings:
    bootstrap_servers: str
    topic: str = DEFAULT_TOPIC

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "BusSettings":
        """From KAFKA_BOOTSTRAP_SERVERS (host:port, comma list) and KAFKA_TOPIC."""
        servers = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
        if not servers:
            raise ConfigurationError("KAFKA_BOOTSTRAP_SERVERS must be set (host:port[,host:port...])")
        return cls(servers, env.get("KAFKA_TOPIC", "").strip() or DEFAULT_TOPIC)

    @property
    def servers(self) -> list[str]:
        return [server.strip() for server in self.bootstrap_servers.split(",") if server.strip()]


def group_id(consumer_name: str) -> str:
    return GROUP_PREFIX + consumer_name


def ensure_topic(bus: BusSettings) -> None:
    """Creates the topic with one partition unless it exists (relay and consumers both call it,
    so whichever starts first finds the topic there; the broker creates no topic by itself)."""
    admin = KafkaAdminClient(
        bootstrap_servers=bus.servers,
        client_id="eosc-perf-admin",
        request_timeout_ms=10_000,
        **_supported(
            KafkaAdminClient,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            api_version_auto_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
        ),
    )
    try:
        if bus.topic not in admin.list_topics():
            _create(admin, bus.topic)
        # Also when found: another process may have created it a moment ago.
        _await_leader(admin, bus.topic)
    finally:
        admin.close()


def _create(admin: KafkaAdminClient, name: str) -> None:
    topic = NewTopic(
        name,
        num_partitions=1,
        replication_factor=1,
        # Kept for ever: a rebuilt projector or a new integration reads from the start.
        topic_configs={"retention.ms": "-1", "max.message.bytes": str(MAX_MESSAGE_BYTES)},
    )
    try:
        admin.create_topics([topic])
        log.info("created topic %s (1 partition)", name)
    except TopicAlreadyExistsError:
        pass  # created meanwhile by another process


def _await_leader(admin: KafkaAdminClient, topic: str) -> None:
    """Returns once the new topic's partitions have a leader (a moment after its creation): a
    consumer that subscribes before would see the topic without a partition to be assigned."""
    deadline = time.monotonic() + LEADER_WAIT_S
    while time.monotonic() < deadline:
        described = admin.describe_topics([topic])
        partitions = described[0]["partitions"] if described and described[0]["error_code"] == 0 else []
        # kafka-python 3 names it `leader_id`, 2.x `leader`; -1 while there is none.
        if partitions and all(p.get("leader_id", p.get("leader", -1)) >= 0 for p in partitions):
            return
        time.sleep(0.1)
    log.warning("topic %s has no leader after %.0f s; consumers will find it later", topic, LEADER_WAIT_S)


def _supported(client: type, **options) -> dict:
    """The options this kafka-python version knows (2.0 lacks some, 3.x renamed one)."""
    return {name: value for name, value in options.items() if name in client.DEFAULT_CONFIG}


def producer(bus: BusSettings) -> KafkaProducer:
    options = dict(
        bootstrap_servers=bus.servers,
        client_id="eosc-perf-relay",
        acks="all",
        # One request in flight: a retried batch is never overtaken by the next one.
        max_in_flight_requests_per_connection=1,
        retries=5,
        compression_type="gzip",
        max_request_size=MAX_MESSAGE_BYTES,
        request_timeout_ms=10_000,
        max_block_ms=10_000,  # send() waits this long for metadata when the broker is away
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )
    options |= _supported(
        KafkaProducer,
        enable_idempotence=True,  # kafka-python >= 2.1: retries add no duplicates
        delivery_timeout_ms=30_000,
        bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
        api_version_auto_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
    )
    return KafkaProducer(**options)


def consumer(bus: BusSettings, group: str | None, **extra) -> KafkaConsumer:
    """A consumer that commits only what its owner applied (no auto-commit)."""
    return KafkaConsumer(
        bootstrap_servers=bus.servers,
        group_id=group,
        client_id=group or "eosc-perf",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # A dead member's partition moves to a standby (or its restarted self) after this long
        # without heartbeats: the broker's smallest allowed value.
        session_timeout_ms=6_000,
        heartbeat_interval_ms=2_000,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        request_timeout_ms=30_000,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        metadata_max_age_ms=METADATA_MAX_AGE_MS,
        **_supported(
            KafkaConsumer, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, api_version_auto_timeout_ms=BOOTSTRAP_TIMEOUT_MS
        ),
        **extra,
    )
