"""Events an older version could have stored, written straight into the event store (issue 10):
the projector and the mailer take what they can (long names, deep documents) and park what they
cannot (projections/parking.py), and go on: the next writes are served, the server restarts,
`eosc-perf lag` counts the parked events and `eosc-perf verify` names them. An outage is
retried, never parked. On both deployments (the relay's side: tests/test_kafka.py)."""

from __future__ import annotations

import json
import os
import random
import signal
import string
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy import create_engine, select

from configuration.settings import Settings
from configuration.stores import open_event_store
from domain.actor import Actor
from domain.event_store import EventStore
from projections import parking
from projections.bus.lag import lag_report
from projections.projector import Projector
from projections.replay import scratch_store
from projections.sources import EventStoreSource
from read_model import read_store
from read_model.migrations import migrate
from read_model.tables import parked_events, result_numbers, results
from tests.support import catalog, poisons
from tests.support.api import Api, service_settings
from tests.support.production_stack import HttpClient
from tests.support.served import ServedProcess, dev_token, eosc_perf
from tests.support.waiting import wait_until

DEV_ISSUER = "urn:eosc-perf:dev"


@pytest.fixture
def deployment(api: Api, request, tmp_path):
    """What the tests need beside the API: the event store, the read store, and how to run
    `eosc-perf` against the deployment."""
    if api.service is not None:
        settings = service_settings(tmp_path / "data", api.provider)
        yield Deployment(api, api.service.store, settings.read_store, None)
        return
    stack = request.getfixturevalue("production_stack")
    store = open_event_store(stack.database_url, create_tables=False)
    yield Deployment(api, store, stack.database_url, stack)


class Deployment:
    def __init__(self, api: Api, store: EventStore, read_store_url: str, stack):
        self.api, self.store, self.read_store_url, self.stack = api, store, read_store_url, stack

    def engine(self):
        return read_store.connect(self.read_store_url, pool_size=1)

    def positions(self) -> dict[str, int]:
        with self.engine().connect() as conn:
            return {name: read_store.position(conn, name) for name in ("read_model", "mailer")}

    def caught_up(self) -> bool:
        head = self.store.recorder.max_notification_id()
        return all(position == head for position in self.positions().values())

    def parked(self) -> set[tuple[str, int]]:
        with self.engine().connect() as conn:
            return {(row.consumer, row.notification_id) for row in parking.listed(conn)}

    def cli(self, *args: str):
        if self.stack is not None:
            return self.stack.run_eosc_perf(*args)
        data = str(Path(self.read_store_url.split("///", 1)[1]).parent)
        return eosc_perf(*args, "--data", data, cwd=Path(data).parent)


def actor_of(api: Api, sub: str) -> Actor:
    return Actor(sub, api.provider.issuer)


def test_issue_10s_writes_from_an_older_version_are_projected_now(deployment, callers):
    """Long names stopped the projector on PostgreSQL (b-tree entries over 2704 bytes); a deep
    document with long keys grew the read store quadratically; one nested ~950 levels made every
    `+json` sort on SQLite a 503. Now all are projected, looked up exactly and sorted."""
    api, store = deployment.api, deployment.store
    where = catalog.setup(api, callers.user, callers.admin)
    alice = actor_of(api, "alice")
    named = poisons.long_names(store, alice)
    ids = dict(benchmark_id=where.benchmark["id"], flavor_id=where.flavor["id"], site_id=where.site["id"])
    long_key = poisons.result(store, alice, **ids, document={"k" * 8000: 1, "score": 2})
    deep_long_keys = poisons.result(store, alice, **ids, document=poisons.deep(800, key="k" * 400))
    nested = poisons.result(store, alice, **ids, document=poisons.deep(800))
    assert api.post("/tags", callers.user, json={"name": "after"}).status_code == 201  # the next write

    tag_name = named["tag"][1]
    found = api.get(f"/tags?name={tag_name}").json["items"]
    assert [tag["name"] for tag in found] == [tag_name]
    assert api.get(f"/tags?name={tag_name[:-1]}x").json["total"] == 0  # an exact lookup
    assert api.get(f"/sites?status=on_review&name={named['site'][1]}").json["total"] == 1
    assert api.get(f"/benchmarks?status=on_review&docker_image={named['benchmark'][1]}").json["total"] == 1
    sorted_page = api.get(f"/results?sort_by={quote('+json')}")
    assert sorted_page.status_code == 200, sorted_page.text[:300]
    assert {item["id"] for item in sorted_page.json["items"]} == {str(long_key), str(deep_long_keys), str(nested)}
    assert catalog.listed(api, benchmark_id=where.benchmark["id"], filters="score == 2") == [str(long_key)]

    wait_until(deployment.caught_up, 30, "the projector and the mailer to reach the head")
    assert deployment.parked() == set()
    with deployment.engine().connect() as conn:
        seq = conn.execute(select(results.c.seq).where(results.c.id == str(deep_long_keys))).scalar_one()
        kept = conn.execute(select(result_numbers.c.path).where(result_numbers.c.seq == seq)).scalars().all()
    assert kept == []  # its one number is 800 keys of 400 characters deep


def test_a_user_with_a_long_subject_is_projected_mailed_found_and_removed(deployment, callers):
    """A trusted provider may name a subject by thousands of characters (OIDC asks for at most
    255, nobody checks): the mailer's b-tree of uploaders refused one over 2704 bytes on
    PostgreSQL and passed over the user's events (3 parked, tried). Random characters: a
    repetitive one is compressed below the bound."""
    api = deployment.api
    where = catalog.setup(api, callers.user, callers.admin)
    chosen = random.Random(3)
    subject = "".join(chosen.choice(string.ascii_letters) for _ in range(3000))
    twin = subject[:-1] + ("a" if subject[-1] != "a" else "b")  # the same beginning: one index entry
    long, other = (api.token(sub, email=f"{name}@example.org") for sub, name in ((subject, "long"), (twin, "twin")))
    for token in (long, other):
        assert api.post("/users:register", token).status_code == 201
    uploaded = catalog.upload(api, long, where, {"score": 1})
    catalog.upload(api, other, where, {"score": 2})
    assert api.post(f"/results/{uploaded['id']}:claim", long, json={"message": "mine"}).status_code == 201
    assert api.post("/sites", long, json={"name": catalog.unique("s"), "address": "a"}).status_code == 201

    assert [item["id"] for item in api.get("/users/self/results", long).json["items"]] == [uploaded["id"]]
    own_claims = api.get("/users/self/claims", long, query_string="status=on_review").json["items"]
    assert [claim["resource_id"] for claim in own_claims] == [uploaded["id"]]
    removed = api.post("/users:remove", callers.admin, query_string="email=long@example.org")
    assert removed.status_code == 204, removed.text
    assert api.get(f"/results/{uploaded['id']}").status_code == 404  # the cascade found them
    assert len(api.get("/users/self/results", other).json["items"]) == 1  # and not the twin's
    wait_until(deployment.caught_up, 30, "the projector and the mailer to reach the head")
    assert deployment.parked() == set()


def test_events_no_consumer_can_handle_are_parked_and_the_next_writes_are_served(deployment, callers):
    api, store = deployment.api, deployment.store
    where = catalog.setup(api, callers.user, callers.admin)
    ids = dict(benchmark_id=where.benchmark["id"], flavor_id=where.flavor["id"], site_id=where.site["id"])
    undecodable = poisons.undecodable(store)
    shaped = poisons.with_the_event_stores_shape(store, actor_of(api, "alice"), **ids)
    no_email = poisons.user_without_email(store, api.provider.issuer)
    text_actor = poisons.site_with_a_text_actor(store)
    nul = poisons.nul_in_a_name(store, actor_of(api, "alice"))

    after = api.post("/tags", callers.user, json={"name": "after"})
    assert after.status_code == 201
    assert api.get(f"/tags/{after.json['id']}").status_code == 200
    assert catalog.upload(api, callers.user, where, {"score": 1})["json"] == {"score": 1}
    wait_until(deployment.caught_up, 30, "the projector and the mailer to reach the head")

    everyone = {undecodable, shaped, no_email, text_actor}
    # NUL: PostgreSQL's text refuses it, SQLite keeps it (the tag is then listed).
    projector_parked = everyone | ({nul} if deployment.stack is not None else set())
    assert deployment.parked() == {("read_model", n) for n in projector_parked} | {("mailer", n) for n in everyone}
    listed = [tag["name"] for tag in api.get("/tags").json["items"]]
    assert ("nul\x00name" in listed) == (deployment.stack is None)

    counted = lag(deployment)
    assert (counted["read_model"], counted["mailer"]) == (len(projector_parked), len(everyone))
    verified = deployment.cli("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for consumer, notification_id in deployment.parked():
        assert f"parked by {consumer}: notification {notification_id} " in verified.stdout


def lag(deployment: Deployment) -> dict[str, int | None]:
    """Parked events per consumer, as `eosc-perf lag` reports them."""
    if deployment.stack is not None:
        done = deployment.stack.run_eosc_perf("lag", "--json")
        assert done.returncode == 0, done.stderr
        consumers = json.loads(done.stdout.strip().splitlines()[-1])["consumers"]
        return {consumer["name"]: consumer["parked"] for consumer in consumers}
    settings = Settings.from_env({}, data_dir=Path(deployment.read_store_url.split("///", 1)[1]).parent)
    report = lag_report(deployment.store, settings.event_store, deployment.engine(), None)
    return {consumer.name: consumer.parked for consumer in report.consumers}


def test_the_production_projector_restarts_over_parked_events(production_stack, identity_provider):
    stack = production_stack
    fence = stack.reset()
    api = Api(None, HttpClient(stack.base_url, fence), identity_provider)
    store = open_event_store(stack.database_url, create_tables=False)
    user = api.register("alice")
    poisoned = {poisons.undecodable(store), poisons.user_without_email(store, api.provider.issuer)}
    assert api.post("/tags", user, json={"name": "before"}).status_code == 201
    os.kill(stack.pid("projector"), signal.SIGKILL)
    poisoned.add(poisons.undecodable(store))  # the first event the new projector meets
    long_tag = poisons.long_names(store, actor_of(api, "alice"))["tag"][1]  # issue 10's, projected now
    stack.start_projector()
    assert api.post("/tags", user, json={"name": "after"}).status_code == 201
    assert {t["name"] for t in api.get("/tags").json["items"]} == {"after", "before", long_tag}
    with psycopg.connect(stack.database_url) as conn:
        parked = {
            row[0] for row in conn.execute("SELECT notification_id FROM parked_events WHERE consumer = 'read_model'")
        }
    assert parked == poisoned


@pytest.mark.stack  # a served `eosc-perf serve`
def test_the_embedded_server_starts_over_events_it_cannot_handle(tmp_path):
    """The server catches up with the event store as it starts: an unhandled event stopped it."""
    data = tmp_path / "data"
    server = ServedProcess(data).start()
    token = dev_token(data, "alice")
    assert server.post("/users:register", token).status_code == 201
    server.stop()
    store = open_event_store(f"sqlite:///{data / 'events.sqlite'}")
    poisoned = {
        poisons.undecodable(store),
        poisons.user_without_email(store, DEV_ISSUER),
        poisons.site_with_a_text_actor(store),
    }
    long_tag = poisons.long_names(store, Actor("alice", DEV_ISSUER))["tag"][1]  # issue 10's, projected now
    del store
    server = ServedProcess(data).start()
    try:
        assert server.post("/tags", token, json={"name": "after"}).status_code == 201
        assert {t["name"] for t in server.get("/tags").json()["items"]} == {"after", long_tag}
    finally:
        server.stop()
    engine = read_store.connect(f"sqlite:///{data / 'read.sqlite'}")
    with engine.connect() as conn:
        assert {row.notification_id for row in parking.listed(conn) if row.consumer == "read_model"} == poisoned
    engine.dispose()


# -- outages are no poisons --------------------------------------------------------------------------


def _impatient(engine):
    """The same store, waiting at most 0.2 s for a lock (the services wait longer)."""
    if engine.dialect.name == "sqlite":
        return create_engine(engine.url, connect_args={"timeout": 0.2})
    schema = engine.get_execution_options()["schema_translate_map"][None]  # a scratch schema (store_for)
    return create_engine(
        engine.url,
        connect_args={"options": f"-csearch_path={schema},public -clock_timeout=200"},
        execution_options={"schema_translate_map": {None: schema}},
    )


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
def test_a_locked_read_store_is_an_outage_retried_and_nothing_is_parked(backend, embedded_api, request):
    """Writes held off by a lock fail the batch; it is retried later, as it was, not parked."""
    api = embedded_api
    api.register("alice")
    catalog.tag(api, api.register("bob"))
    history = next(EventStoreSource(api.service.store).batches(0))
    if backend == "postgres":  # a scratch schema in the production stack's database
        live = read_store.connect(request.getfixturevalue("production_stack").database_url)
    else:  # a scratch file beside the embedded store
        live = api.service.projection.consumer.engine
    with scratch_store(live) as engine:
        migrate(engine)
        impatient = _impatient(engine)
        holder = engine.raw_connection()
        try:
            cursor = holder.cursor()
            cursor.execute(
                "BEGIN EXCLUSIVE"
                if engine.dialect.name == "sqlite"
                else "LOCK TABLE positions IN ACCESS EXCLUSIVE MODE"
            )
            with pytest.raises(sqlalchemy.exc.OperationalError) as outage:
                Projector(impatient).apply(history)
            assert not parking.is_poison(outage.value)
        finally:  # a failed check must not leave the lock held over the scratch schema's drop
            holder.rollback()
            holder.close()
        try:
            assert Projector(impatient).apply(history) == history[-1][0]
            with engine.connect() as conn:
                assert conn.execute(select(parked_events)).all() == []
        finally:
            impatient.dispose()


def test_postgresql_errors_of_the_data_are_poisons_and_those_of_the_server_are_not(production_stack):
    """Told apart by SQLSTATE class: the data's (22, 23, 54) fail alike on every try."""
    with psycopg.connect(production_stack.database_url, autocommit=True) as conn:
        conn.execute("CREATE TEMPORARY TABLE names (name text)")
        conn.execute("CREATE INDEX ON names (name)")
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as too_large:  # issue 10's index entry
            conn.execute("INSERT INTO names VALUES (%s)", (poisons.long_text(),))
        with pytest.raises(psycopg.DataError) as nul:
            conn.execute("INSERT INTO names VALUES (%s)", ("a\x00b",))
        with psycopg.connect(production_stack.database_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        with pytest.raises(psycopg.OperationalError) as terminated:
            conn.execute("SELECT 1")
    assert parking.is_poison(too_large.value) and parking.is_poison(nul.value)
    assert not parking.is_poison(terminated.value)
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2)
    assert not parking.is_poison(refused.value)
