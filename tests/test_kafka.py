"""The event bus on a real Apache Kafka broker and a real PostgreSQL (deploy/local/stack.sh up
--kafka): writes over HTTP to the command service -> relay -> Kafka -> projector -> query
service over HTTP, and -> mailer -> a real SMTP server. Then the faults: kill -9 of the relay,
the projector and the mailer at their worst moments, and the broker stopped while writes go on.

After every fault the outcome is checked the same way (`assert_recovered`): every consumer
reaches the head of the log, the read tables equal a fresh replay (`eosc-perf verify`), and
every queued e-mail reached the SMTP server exactly once.

A fault is brought about at a known moment rather than by luck: a row lock taken by the
test stops a process exactly where the fault is wanted (the relay after publishing, before
recording its position; the projector in the middle of a batch), and the SMTP server can
hold a mail in the middle of its transaction.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterator
from uuid import uuid4

import pytest

from configuration.stores import open_event_store
from domain import envelope
from domain.actor import Actor
from domain.personal_data import ERASED
from projections.bus.broker import BusSettings, ensure_topic, producer
from tests.support import catalog, poisons
from tests.support.api import ADMIN_ENTITLEMENT, PROVIDER_TIMEOUT, Api
from tests.support.catalog import unique  # one counter for every name: a second one made "site-7" twice
from tests.support.kafka_stack import KafkaStack, TopicReader, alive
from tests.support.production_stack import HttpClient
from tests.support.read_load import log_pause, under_load
from tests.support.smtp_sink import SmtpSink
from tests.support.waiting import wait_until

FROM = "perf@example.org"
SUPPORT = "support@example.org"
CATCH_UP = 90  # seconds: a restarted consumer waits out its dead predecessor's session (6 s)
REMOVED_ADDRESSES: set[str] = set()  # of the users the tests removed
GZIP = b"\x1f\x8b\x08"  # a gzip member's start: magic and the deflate method


class HoldingSink(SmtpSink):
    """An SMTP server that can hold a mail in the middle of its transaction: while its
    recipient is in `hold`, RCPT TO is not answered, so the sender hangs mid-send."""

    def __init__(self):
        super().__init__()
        self.hold: set[str] = set()
        self.holding = threading.Event()  # set once a mail is being held

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        while address in self.hold:
            self.holding.set()
            await asyncio.sleep(0.02)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


# Module scope: the stack (a broker, a database, seven processes) is gone before other modules run.
@pytest.fixture(scope="module")
def mail_server() -> Iterator[HoldingSink]:
    with HoldingSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def kafka_stack(tmp_path_factory, identity_provider, mail_server) -> Iterator[KafkaStack]:
    stack = KafkaStack(
        tmp_path_factory.mktemp("kafka-stack"),
        {
            "EOSC_PERF_ENV": "production",
            "TRUSTED_OP_LIST": identity_provider.issuer,
            "OIDC_TIMEOUT": str(PROVIDER_TIMEOUT),
            "ADMIN_ENTITLEMENTS": ADMIN_ENTITLEMENT,
            "IMAGE_CHECK": "off",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(mail_server.port),
            "MAIL_FROM": FROM,
            "MAIL_SUPPORT": SUPPORT,
        },
    ).up()
    yield stack
    stack.down()


@pytest.fixture
def bus_api(kafka_stack, identity_provider) -> Api:
    return Api(None, HttpClient(kafka_stack.base_url), identity_provider)


@pytest.fixture
def topic(kafka_stack) -> Iterator[TopicReader]:
    reader = TopicReader(kafka_stack.environment["KAFKA_BOOTSTRAP_SERVERS"])
    yield reader
    reader.close()


# -- helpers ----------------------------------------------------------------------------------


def register(api: Api, sub: str, *, admin: bool = False) -> str:
    token = api.token(sub, admin=admin)
    answer = api.post("/users:register", token)
    assert answer.status_code == 201, answer.text
    return token


def submit_site(api: Api, token: str) -> str:
    answer = api.post("/sites", token, json={"name": unique("site"), "address": "Santiago"})
    assert answer.status_code == 201, answer.text
    return answer.json["id"]


def approve_site(api: Api, admin: str, site_id: str) -> None:
    answer = api.post(f"/sites/{site_id}:approve", admin)
    assert answer.status_code == 204, answer.text


def received(sink: SmtpSink, to: str) -> list[str]:
    """Subjects of the mails that reached the server for `to`."""
    return [message["Subject"] for message in sink.messages if message["To"] == to]


def waiting_on_a_lock(stack: KafkaStack, statement: str) -> bool:
    """A backend is blocked on a lock while running a statement LIKE `statement`."""
    with stack.database() as conn:
        return bool(
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
                (statement,),
            ).fetchone()[0]
        )


def assert_recovered(stack: KafkaStack, sink: SmtpSink) -> None:
    """Every consumer at the head; read tables equal a fresh replay; every mail sent once."""
    wait_until(
        stack.caught_up, CATCH_UP, "relay, projector and mailer to reach the head of the log", explain=stack.report
    )
    verified = stack.cli("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    def outbox_sent() -> bool:
        with stack.database() as conn:
            return conn.execute("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL").fetchone()[0] == 0

    wait_until(outbox_sent, 60, "the mailer's outbox to be sent")
    with stack.database() as conn:
        queued = Counter((to, subject) for to, subject in conn.execute('SELECT "to", subject FROM mail_outbox'))
    # A removed user's mails keep their outbox record without the address.
    arrived = Counter(
        (ERASED if message["To"] in REMOVED_ADDRESSES else message["To"], message["Subject"])
        for message in sink.messages
    )
    assert arrived == queued, {"twice or more": arrived - queued, "missing": queued - arrived}


# -- end to end -------------------------------------------------------------------------------


def test_a_write_reaches_the_query_service_and_the_mail_server_through_kafka(bus_api, kafka_stack, mail_server, topic):
    alice, admin = unique("alice"), unique("admin")
    token, admin_token = register(bus_api, alice), register(bus_api, admin, admin=True)
    site_id = submit_site(bus_api, token)
    approve_site(bus_api, admin_token, site_id)

    shown = bus_api.get(f"/sites/{site_id}")  # waits for the projector (X-Min-Position)
    assert shown.status_code == 200, shown.text
    assert shown.json["address"] == "Santiago"
    wait_until(
        lambda: len(received(mail_server, f"{alice}@example.org")) == 3,
        30,
        "alice's three mails",
        explain=kafka_stack.report,
    )
    assert received(mail_server, f"{alice}@example.org") == [
        "Thank you for registering",
        f"New site resource submitted: {site_id}",
        f"Resource approved: {site_id}",
    ]

    # The topic holds the documented envelope, keyed by aggregate id, in notification order.
    records = topic.messages()
    messages = [envelope.from_bytes(record.value) for record in records]
    submitted = [
        m for m in messages if m["event_type"] == "domain.site:Site.Submitted" and m["aggregate_id"] == site_id
    ]
    assert len(submitted) == 1
    [message] = submitted
    assert set(message) == {
        "notification_id",
        "event_type",
        "aggregate_id",
        "aggregate_version",
        "timestamp",
        "actor",
        "payload",
    }
    assert message["aggregate_version"] == 1
    assert message["actor"]["sub"] == alice
    assert message["payload"]["address"] == "Santiago"
    record = records[messages.index(message)]
    assert record.key == site_id.encode()
    assert dict(record.headers)["notification_id"] == str(message["notification_id"]).encode()
    ids = [m["notification_id"] for m in messages]
    assert ids == sorted(ids), "one partition, published in notification order"

    wait_until(kafka_stack.caught_up, CATCH_UP, "every consumer at the head", explain=kafka_stack.report)
    lag = kafka_stack.lag()  # the operator's view: `eosc-perf lag --json`
    assert {c["name"]: c["behind"] for c in lag["consumers"]} == {"relay": 0, "read_model": 0, "mailer": 0}
    assert {c["name"]: c["messages_behind"] for c in lag["consumers"]} == {"relay": None, "read_model": 0, "mailer": 0}
    assert lag["end_offset"] == len(records)
    assert_recovered(kafka_stack, mail_server)


def _tables_holding(stack: KafkaStack, text: str) -> list[str]:
    """The tables of the stack's database (event store and read store) with a live row holding
    `text`, as text or as bytes (a bytea column's text is its hex)."""
    with stack.database() as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return [
            f"{schema}.{table}"
            for schema, table in tables
            if conn.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" AS t '
                "WHERE strpos(t::text, %s) > 0 OR strpos(t::text, %s) > 0",
                (text, text.encode().hex()),
            ).fetchone()[0]
        ]


def _kafka_log_holds(stack: KafkaStack, needle: bytes) -> bool:
    """Whether the broker's files hold `needle`, in plain or in a gzip-compressed record batch
    (the relay's producer compresses)."""
    for path in Path(stack.environment["EOSC_PERF_KAFKA_DIR"]).rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if needle in data:
            return True
        start = data.find(GZIP)
        while start >= 0:
            try:
                if needle in zlib.decompressobj(wbits=31).decompress(data[start:]):
                    return True
            except zlib.error:
                pass  # three bytes that only looked like a gzip header
            start = data.find(GZIP, start + 1)
    return False


def test_a_removed_users_address_is_in_no_live_table_nor_the_kafka_log(bus_api, kafka_stack, mail_server, topic):
    """Crypto-shredding on PostgreSQL and Kafka: the topic carries the address sealed, so once the
    key is destroyed (with the removal) no copy of it opens; the tables drop or erase it. Dead
    tuples and PostgreSQL's WAL are not searched here: docs/security.md says what they keep."""
    carol, bob, admin = unique("carol"), unique("bob"), unique("admin")
    address = f"{carol}@example.org"
    admin_token = register(bus_api, admin, admin=True)
    carol_token, bob_token = register(bus_api, carol), register(bus_api, bob)
    approve_site(bus_api, admin_token, submit_site(bus_api, carol_token))
    wait_until(lambda: len(received(mail_server, address)) == 3, 30, "carol's three mails", explain=kafka_stack.report)
    wait_until(kafka_stack.caught_up, CATCH_UP, "every consumer at the head", explain=kafka_stack.report)
    assert {"public.users", "public.mail_users", "public.mail_outbox"} <= set(_tables_holding(kafka_stack, address))
    assert _kafka_log_holds(kafka_stack, carol.encode())  # her sub, in the actor: the search sees into the log
    assert not _kafka_log_holds(kafka_stack, address.encode())  # sealed from the start

    REMOVED_ADDRESSES.add(address)
    removed = bus_api.post(f"/users:remove?email={address}", admin_token)
    assert removed.status_code == 204, removed.text
    wait_until(kafka_stack.caught_up, CATCH_UP, "every consumer at the head", explain=kafka_stack.report)

    assert _tables_holding(kafka_stack, address) == []
    assert not _kafka_log_holds(kafka_stack, address.encode())
    assert all(address.encode() not in record.value for record in topic.messages())
    # Everyone else's mail still goes out, through the same keys.
    approve_site(bus_api, admin_token, submit_site(bus_api, bob_token))
    wait_until(
        lambda: len(received(mail_server, f"{bob}@example.org")) == 3,
        30,
        "bob's three mails",
        explain=kafka_stack.report,
    )
    audited = kafka_stack.cli("audit", "verify")
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert_recovered(kafka_stack, mail_server)


def test_a_result_of_megabytes_goes_through_kafka_whole(bus_api, kafka_stack):
    user, admin = register(bus_api, unique("uploader")), register(bus_api, unique("admin"), admin=True)
    where = catalog.setup(bus_api, user, admin)
    # Random text compresses badly: the message stays over Kafka's default limit of 1 MiB.
    document = {"score": 1.5, "log": secrets.token_hex(1_500_000), "steps": [1, 2, 3]}
    uploaded = catalog.upload(bus_api, user, where, document)
    wait_until(
        lambda: kafka_stack.caught_up("read_model"),
        CATCH_UP,
        "the projector to apply the result",
        explain=kafka_stack.report,
    )
    shown = bus_api.get(f"/results/{uploaded['id']}")
    assert shown.status_code == 200, shown.text[:500]
    assert shown.json["json"] == document


# -- the relay --------------------------------------------------------------------------------


def test_a_relay_killed_after_publishing_and_before_recording_its_position_publishes_again(
    bus_api, kafka_stack, mail_server, topic
):
    register(bus_api, unique("before"))
    wait_until(
        lambda: kafka_stack.caught_up("relay"), CATCH_UP, "the relay to publish everything", explain=kafka_stack.report
    )
    recorded = kafka_stack.positions()["relay"]
    with kafka_stack.database() as lock:
        # The relay's position update waits on this row lock: it stops right after its flush.
        lock.execute("BEGIN")
        lock.execute("SELECT * FROM kafkarelay_tracking WHERE application_name = 'eoscperf' FOR UPDATE")
        user = unique("window")
        register(bus_api, user)
        head = kafka_stack.positions()["head"]

        def published_up_to_head() -> bool:
            return max(envelope.from_bytes(r.value)["notification_id"] for r in topic.messages()) == head

        wait_until(published_up_to_head, 30, "the relay to publish the new events")
        wait_until(
            lambda: waiting_on_a_lock(kafka_stack, "%INSERT INTO %kafkarelay_tracking%"),
            30,
            "the relay to wait on its position",
        )
        assert kafka_stack.positions()["relay"] == recorded  # published, not recorded
        kafka_stack.kill("relay")
        lock.execute("ROLLBACK")
    kafka_stack.start("relay", "relay")

    wait_until(
        lambda: kafka_stack.caught_up("relay"), CATCH_UP, "the restarted relay to publish", explain=kafka_stack.report
    )
    occurrences = Counter(envelope.from_bytes(r.value)["notification_id"] for r in topic.messages())
    window = [id for id in occurrences if recorded < id <= head]
    assert window and all(occurrences[id] == 2 for id in window), "the unrecorded batch was published again"
    assert_recovered(kafka_stack, mail_server)
    assert received(mail_server, f"{user}@example.org") == ["Thank you for registering"]


def test_a_relay_refuses_a_topic_that_holds_another_event_store_s_log(kafka_stack):
    bus = BusSettings(kafka_stack.environment["KAFKA_BOOTSTRAP_SERVERS"], "another-deployment.events")
    ensure_topic(bus)
    foreign = {
        "notification_id": 1,
        "event_type": "domain.tag:Tag.Deleted",
        "aggregate_id": str(uuid4()),
        "aggregate_version": 2,
        "timestamp": "2024-01-01T00:00:00+00:00",
        "actor": None,
        "payload": {},
    }
    sender = producer(bus)
    sender.send(bus.topic, envelope.to_bytes(foreign)).get(timeout=30)
    sender.close()
    refused = kafka_stack.cli("relay", timeout=60, KAFKA_TOPIC=bus.topic)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "not this event store's" in refused.stderr


def test_a_standby_relay_takes_over_when_the_active_one_dies(bus_api, kafka_stack, mail_server):
    kafka_stack.start("relay-standby", "relay")
    wait_until(lambda: "standing by" in kafka_stack.log("relay-standby"), 60, "the second relay to stand by")
    kafka_stack.kill("relay")
    first = unique("taken-over")
    register(bus_api, first)
    wait_until(lambda: kafka_stack.caught_up("relay"), CATCH_UP, "the standby to publish", explain=kafka_stack.report)
    assert "active relay" in kafka_stack.log("relay-standby")

    # And back: a new relay stands by, the former standby dies, the new one takes over.
    kafka_stack.start("relay", "relay")
    wait_until(lambda: "standing by" in kafka_stack.log("relay"), 60, "the new relay to stand by")
    kafka_stack.kill("relay-standby")
    second = unique("taken-back")
    register(bus_api, second)
    assert_recovered(kafka_stack, mail_server)
    for user in (first, second):
        assert received(mail_server, f"{user}@example.org") == ["Thank you for registering"]


def test_a_relay_killed_again_and_again_during_a_write_burst_loses_nothing(bus_api, kafka_stack, mail_server, topic):
    users: list[str] = []
    statuses: list[int] = []
    enough = threading.Event()

    def write_burst() -> None:  # until the kills are done, at most 300 writes
        while not enough.is_set() and len(users) < 300:
            users.append(unique("burst"))
            statuses.append(bus_api.post("/users:register", bus_api.token(users[-1])).status_code)

    writer = threading.Thread(target=write_burst)
    writer.start()
    try:
        for _ in range(3):
            published = topic.end_offset()
            # Kill the moment the relay has published something new: often before it recorded it.
            wait_until(lambda published=published: topic.end_offset() > published, 60, "the relay to publish")
            kafka_stack.kill("relay")
            kafka_stack.start("relay", "relay")
    finally:
        enough.set()
        writer.join(timeout=120)
    assert not writer.is_alive()
    assert statuses == [201] * len(users), "no write is refused while the relay dies"
    assert_recovered(kafka_stack, mail_server)
    for user in users:
        assert received(mail_server, f"{user}@example.org") == ["Thank you for registering"]


# -- the projector ----------------------------------------------------------------------------


def test_a_projector_killed_in_the_middle_of_a_batch_applies_it_once_after_restart(bus_api, kafka_stack, mail_server):
    owner, admin = register(bus_api, unique("owner")), register(bus_api, unique("root"), admin=True)
    first = submit_site(bus_api, owner)
    wait_until(lambda: kafka_stack.caught_up("read_model"), CATCH_UP, "the projector", explain=kafka_stack.report)
    kafka_stack.kill("projector")  # idle: the next writes wait in Kafka, to come as one batch
    second = submit_site(bus_api, owner)
    approve_site(bus_api, admin, first)
    third = submit_site(bus_api, owner)
    with kafka_stack.database() as lock:
        lock.execute("BEGIN")
        lock.execute("SELECT 1 FROM sites WHERE id = %s FOR UPDATE", (first,))
        kafka_stack.start("projector", "project", "--source", "kafka")
        # It applied the second site's events and now waits to approve the first: mid-batch.
        wait_until(lambda: waiting_on_a_lock(kafka_stack, "UPDATE sites %"), CATCH_UP, "the projector mid-batch")
        kafka_stack.kill("projector")
        lock.execute("ROLLBACK")
    with kafka_stack.database() as conn:
        assert conn.execute("SELECT count(*) FROM sites WHERE id = %s", (second,)).fetchone()[0] == 0, (
            "the killed batch left nothing behind"
        )
    kafka_stack.start("projector", "project", "--source", "kafka")

    assert_recovered(kafka_stack, mail_server)
    assert bus_api.get(f"/sites/{first}").json["id"] == first
    assert {bus_api.get(f"/sites/{site}", owner).status_code for site in (second, third)} == {200}


def test_a_standby_projector_takes_over_when_the_active_one_dies(bus_api, kafka_stack, mail_server):
    kafka_stack.start("projector-standby", "project", "--source", "kafka")
    wait_until(lambda: kafka_stack.group_members("eosc-perf.read_model") == 2, CATCH_UP, "the standby to join")
    kafka_stack.kill("projector")
    owner = register(bus_api, unique("standby"))
    site = submit_site(bus_api, owner)
    wait_until(
        lambda: kafka_stack.caught_up("read_model"),
        CATCH_UP,
        "the standby to take the partition over",
        explain=kafka_stack.report,
    )
    assert bus_api.get(f"/sites/{site}", owner).status_code == 200

    # And back, so that stack.sh finds its projector: a new standby, the former one dies.
    kafka_stack.start("projector", "project", "--source", "kafka")
    wait_until(lambda: kafka_stack.group_members("eosc-perf.read_model") == 2, CATCH_UP, "the new standby to join")
    kafka_stack.kill("projector-standby")
    submit_site(bus_api, owner)
    assert_recovered(kafka_stack, mail_server)


# -- the mailer -------------------------------------------------------------------------------


def test_a_mailer_killed_in_the_middle_of_sending_sends_each_mail_once(bus_api, kafka_stack, mail_server):
    held, behind = unique("held"), unique("behind")
    mail_server.holding.clear()
    mail_server.hold.add(f"{held}@example.org")
    try:
        register(bus_api, held)
        register(bus_api, behind)  # queued behind the held mail
        assert mail_server.holding.wait(30), f"the mailer never started sending\n{kafka_stack.report()}"
        kafka_stack.kill("mailer")
    finally:
        mail_server.hold.clear()
    kafka_stack.start("mailer", "mailer", "--source", "kafka")
    assert_recovered(kafka_stack, mail_server)
    for user in (held, behind):
        assert received(mail_server, f"{user}@example.org") == ["Thank you for registering"]


def test_a_mailer_killed_while_queueing_a_batch_queues_it_once_after_restart(bus_api, kafka_stack, mail_server):
    user = unique("queued")
    with kafka_stack.database() as lock:
        lock.execute("BEGIN")
        lock.execute("SELECT 1 FROM positions WHERE name = 'mailer' FOR UPDATE")
        register(bus_api, user)
        wait_until(
            lambda: waiting_on_a_lock(kafka_stack, "SELECT positions.%FOR UPDATE%"), CATCH_UP, "the mailer mid-batch"
        )
        kafka_stack.kill("mailer")
        lock.execute("ROLLBACK")
    kafka_stack.start("mailer", "mailer", "--source", "kafka")
    assert_recovered(kafka_stack, mail_server)
    assert received(mail_server, f"{user}@example.org") == ["Thank you for registering"]


# -- the broker -------------------------------------------------------------------------------


def test_writes_go_on_while_the_broker_is_down_and_every_consumer_catches_up_after(bus_api, kafka_stack, mail_server):
    wait_until(
        kafka_stack.caught_up, CATCH_UP, "every consumer at the head before the outage", explain=kafka_stack.report
    )
    kafka_stack.kafka_down()
    users = [unique("outage") for _ in range(10)]
    try:
        statuses = [bus_api.post("/users:register", bus_api.token(user)).status_code for user in users]
        site = submit_site(bus_api, bus_api.token(users[0]))
        assert statuses == [201] * len(users), "no write is refused while Kafka is down"
        positions = kafka_stack.positions()
        assert positions["relay"] < positions["head"]
        assert all(alive(kafka_stack.pid(name)) for name in ("relay", "projector", "mailer"))
    finally:
        kafka_stack.kafka_up()
    assert_recovered(kafka_stack, mail_server)
    assert bus_api.get(f"/sites/{site}").status_code == 200
    for user in users:
        assert received(mail_server, f"{user}@example.org")[0] == "Thank you for registering"


# -- events written by an older version (issue 10) ----------------------------------------------


def test_events_the_relay_or_the_consumers_cannot_handle_are_parked_and_the_rest_flows_on(
    bus_api, kafka_stack, mail_server, topic
):
    """Written straight into the event store: an undecodable event and one of over 16 MiB are
    parked by the relay (nothing published); one whose envelope the consumers cannot decode,
    and one their handlers cannot take, by the projector and the mailer. The writes after them
    are served, every consumer restarts and goes on, `lag` counts them, `verify` names them."""
    store = open_event_store(kafka_stack.database_url, create_tables=False)
    undecodable = poisons.undecodable(store)
    too_large = poisons.unpublishable_result(store, Actor("old", "version"))
    text_actor = poisons.site_with_a_text_actor(store)
    no_email = poisons.user_without_email(store, bus_api.provider.issuer)
    token = register(bus_api, unique("after"))
    site = submit_site(bus_api, token)
    wait_until(
        kafka_stack.caught_up, CATCH_UP, "every consumer past the poisons", explain=kafka_stack.report
    )  # 17 MB take a while
    assert bus_api.get(f"/sites/{site}").status_code == 200

    published = {envelope.from_bytes(record.value)["notification_id"] for record in topic.messages()}
    assert {undecodable, too_large}.isdisjoint(published) and {text_actor, no_email} <= published
    with kafka_stack.database() as conn:
        relay_parked = {row[0] for row in conn.execute("SELECT notification_id FROM kafkarelay_parked")}
        consumers_parked = set(conn.execute("SELECT consumer, notification_id FROM parked_events").fetchall())
    assert relay_parked == {undecodable, too_large}
    assert consumers_parked == {(name, n) for name in ("read_model", "mailer") for n in (text_actor, no_email)}
    assert {c["name"]: c["parked"] for c in kafka_stack.lag()["consumers"]} == {
        "relay": 2,
        "read_model": 2,
        "mailer": 2,
    }

    for name, command in (
        ("relay", ("relay",)),
        ("projector", ("project", "--source", "kafka")),
        ("mailer", ("mailer", "--source", "kafka")),
    ):
        kafka_stack.kill(name)
        kafka_stack.start(name, *command)
    site = submit_site(bus_api, token)
    assert_recovered(kafka_stack, mail_server)
    assert bus_api.get(f"/sites/{site}").status_code == 200
    verified = kafka_stack.cli("verify").stdout
    for consumer, notification_id in [("relay", undecodable), ("relay", too_large), *consumers_parked]:
        assert f"parked by {consumer}: notification {notification_id} " in verified


# -- last: it moves the read model out of `public`, where the checks above read its position ----


def test_a_rebuild_switches_the_projector_that_kafka_feeds(bus_api, kafka_stack, mail_server):
    """`eosc-perf rebuild` under reads and uploads: the projector fed by Kafka (and its standby)
    moves to the new store at the switch, and the read model equals a replay after it."""

    def rebuild() -> None:
        done = kafka_stack.cli("rebuild", "--grace", "1", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    # One reader: behind Kafka every read waits for its upload's projection, and more waiting
    # readers than a worker admits (READ_WAITERS) are answered 503, rebuild or not. An upload a
    # second: this stack keeps the write limit (120 a minute per user).
    load = under_load(bus_api, rebuild, readers=1, pause=1.0)
    with kafka_stack.database() as conn:
        schema, switched_at = conn.execute(
            "SELECT location, extract(epoch FROM switched_at) FROM read_store_pointer"
        ).fetchone()
        position = conn.execute(f'SELECT position FROM "{schema}".positions WHERE name = %s', ("read_model",))
        assert position.fetchone()[0] >= load.uploaded[-1][0]  # the uploads after the switch are in the new store
    log_pause(load, "Kafka stack", float(switched_at))
    verified = kafka_stack.cli("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
