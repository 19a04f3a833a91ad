"""The API services' engine only reads (read_store.connect `reads_only`): on PostgreSQL the server
refuses a write through it, and its transactions end by COMMIT, so that psycopg keeps the
statements it prepared from one request to the next (it forgets them all at a ROLLBACK: every
statement was parsed and planned anew before, issue 16). Statements as of a past position are the
exception: PostgreSQL plans each for its values (query_service/as_of.py).

Current reads of one statement (a result by id, catalog pages and items) are run by psycopg itself,
prepared (query_service/driver_reads.py): SQLAlchemy's execution was a third of their CPU. Reads as
of a past position still go through SQLAlchemy; failures are answered as SQLAlchemy's own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import falcon.testing
import psycopg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from eosc_perf.apps import build_query_app
from eosc_perf.production import serving_engine
from http_api import errors
from query_service.driver_reads import DriverRead
from read_model import READ_MODEL, position_feed, read_store
from read_model.migrations import migrate
from tests.support.api import service_settings
from tests.support.legacy_databases import restored

# Another statement of every test's own: only its executions are counted.
STATEMENT = "SELECT count(*) FROM prepared_probe WHERE n > :n"


def _settings(tmp_path: Path, identity_provider, url: str):
    """Over the database `url`, the response cache off (each request runs its statements)."""
    return replace(
        service_settings(tmp_path / "data", identity_provider, query_cache_mb=0),
        read_store_url=url,
        event_store_url=url,
        query_timeout_seconds=0.5,
    )


@pytest.fixture
def serving(tmp_path: Path, identity_provider):
    """A serving engine of one connection, over a new PostgreSQL database with a table."""
    with restored("CREATE TABLE prepared_probe (n integer); INSERT INTO prepared_probe VALUES (1), (2), (3);") as url:
        engine = serving_engine(_settings(tmp_path, identity_provider, url), pool_size=1)
        try:
            yield engine
        finally:
            engine.dispose()


def _prepared(engine) -> list[tuple[str, int, int]]:
    """The statements the pooled connection has prepared: (text, generic plans, custom plans)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ("%prepared_probe%",),
        )
        return [tuple(row) for row in rows]


def _read(engine, n: int) -> int:
    """One request's read, in a transaction as the listings run it (SQLAlchemy ends it)."""
    with engine.execution_options(isolation_level="REPEATABLE READ").connect() as conn:
        return conn.execute(text(STATEMENT), {"n": n}).scalar_one()


def test_a_statement_read_in_many_transactions_is_prepared_once_and_stays(serving):
    for _ in range(12):
        assert _read(serving, 1) == 2
    [(statement, generic, custom)] = _prepared(serving)
    assert "prepared_probe" in statement
    assert generic + custom == 7  # prepared at the 6th execution; each later one ran it


def test_a_failed_transaction_leaves_the_connection_and_its_prepared_statements_working(serving):
    for _ in range(6):
        _read(serving, 0)
    with pytest.raises(Exception, match="canceling statement due to statement timeout"):
        with serving.execution_options(isolation_level="REPEATABLE READ").connect() as conn:
            assert conn.execute(text(STATEMENT), {"n": 2}).scalar_one() == 1
            conn.execute(text("SELECT pg_sleep(2)"))  # cut short: the transaction fails
    assert _read(serving, 2) == 1  # prepared before the failure, still there, right
    [(_statement, generic, custom)] = _prepared(serving)
    assert generic + custom == 3


def test_a_read_run_by_psycopg_inside_a_transaction_reads_in_it(serving):
    """A listing's reads share one snapshot (a REPEATABLE READ transaction SQLAlchemy begins);
    those of one fixed statement are run by psycopg itself there too, in that transaction: a row
    committed meanwhile by another connection is not seen until the next one."""
    counted = DriverRead(text("SELECT count(*) FROM prepared_probe"))
    by_sqlalchemy: list[str] = []
    event.listen(
        serving, "before_cursor_execute", lambda conn, cursor, statement, *rest: by_sqlalchemy.append(statement)
    )
    url = serving.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def committed_elsewhere(n: int) -> None:
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("INSERT INTO prepared_probe VALUES (%s)", (n,))

    snapshot = serving.execution_options(isolation_level="REPEATABLE READ")
    with snapshot.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM prepared_probe")).scalar_one() == 3  # the snapshot taken
        committed_elsewhere(4)
        assert counted.value(conn) == 3 and conn.in_transaction()
    with snapshot.connect() as conn:
        conn.begin()  # begun by SQLAlchemy, no statement sent yet: psycopg's read begins it
        assert counted.value(conn) == 4
        committed_elsewhere(5)
        assert conn.execute(text("SELECT count(*) FROM prepared_probe")).scalar_one() == 4
    assert len(by_sqlalchemy) == 2  # the driver's reads went past SQLAlchemy
    # A driver's read that fails in the transaction fails as SQLAlchemy's own would, and the one
    # pooled connection then serves the next transaction.
    with pytest.raises(DBAPIError), snapshot.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()
        DriverRead(text("SELECT 1 / (count(*) - count(*)) FROM prepared_probe")).value(conn)
    with snapshot.connect() as conn:
        assert counted.value(conn) == 5


def test_the_server_refuses_a_write_through_the_serving_engine(serving):
    with pytest.raises(Exception) as refused:
        with serving.connect() as conn:
            conn.execute(text("INSERT INTO prepared_probe VALUES (4)"))
            conn.commit()
    assert isinstance(refused.value.orig, psycopg.errors.ReadOnlySqlTransaction)
    with serving.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM prepared_probe")).scalar_one() == 3


@pytest.fixture
def query_app(tmp_path: Path, identity_provider):
    """The production query app over an empty, migrated PostgreSQL read store: its client, and
    its serving engine (one connection), whose statements sent are listed in `sent`."""
    with restored("") as url:
        migrating = read_store.connect(url)
        migrate(migrating, quiet=True)
        migrating.dispose()
        settings = _settings(tmp_path, identity_provider, url)
        engine = serving_engine(settings, pool_size=1)
        # The position read once (nothing writes here). A worker's listener for it (Notified)
        # would outlive the test, and log a traceback each second once the database is dropped.
        position = position_feed.Counted(read_store.current_position(engine, READ_MODEL))
        client = falcon.testing.TestClient(build_query_app(settings, engine, position=position))
        client.sent = []
        event.listen(engine, "after_cursor_execute", lambda *args: client.sent.append((args[2], args[3])))
        try:
            yield client, engine
        finally:
            engine.dispose()


def _prepared_statements(engine) -> list[tuple[str, int, int]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.exec_driver_sql("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        ]


def test_statements_as_of_a_past_position_are_never_prepared_and_the_current_ones_still_are(query_app):
    client, engine = query_app
    for _ in range(12):  # alternately: a current statement follows an as-of one on the connection
        assert client.simulate_get("/results", query_string="as_of=0").status_code == 200
        assert client.simulate_get("/results", query_string="sort_by=-id").status_code == 200
    prepared = [statement for statement, _generic, _custom in _prepared_statements(engine)]
    assert not [statement for statement in prepared if "valid_to >" in statement]  # no state as of a position
    assert [statement for statement in prepared if "results.id DESC" in statement]


def test_the_first_page_of_an_unfiltered_listing_is_sent_whole_and_planned_once(query_app):
    client, engine = query_app
    for _ in range(8):
        assert client.simulate_get("/results", query_string="per_page=7").json["items"] == []
    first = [(statement, parameters) for statement, parameters in client.sent if "string_agg" in statement]
    assert len(first) == 8 and all(
        " LIMIT 7 OFFSET 0" in statement and not parameters for statement, parameters in first
    )
    [(_statement, generic, custom)] = [row for row in _prepared_statements(engine) if " LIMIT 7 OFFSET 0" in row[0]]
    assert generic >= 1 and custom <= 5  # PostgreSQL's own choice: its generic plan is as good
    client.sent.clear()
    assert client.simulate_get("/results", query_string="per_page=7&page=2").status_code == 404
    [(statement, parameters)] = [
        (statement, parameters) for statement, parameters in client.sent if "string_agg" in statement
    ]
    assert parameters["page_offset"] == 7 and parameters["page_limit"] == 7  # later pages: bounds as parameters


MISSING = "00000000-0000-0000-0000-000000000000"
# Each read, and a piece of the text of its statement.
READS = {
    f"/results/{MISSING}": "FROM results JOIN benchmarks",
    "/benchmarks": "FROM benchmarks",
    f"/sites/{MISSING}": "FROM sites",
    "/tags": "FROM tags",
    f"/flavors/{MISSING}/site": "FROM sites JOIN flavors",
}


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")


def _sent_through_sqlalchemy(client, piece: str) -> list[str]:
    return [statement for statement, _parameters in client.sent if piece in statement]


def test_current_reads_of_one_statement_are_run_by_psycopg_prepared_and_as_of_ones_by_sqlalchemy(query_app):
    client, engine = query_app
    for path in READS:
        for _ in range(3):
            assert client.simulate_get(path).status_code in (200, 404)
    for piece in READS.values():
        assert _sent_through_sqlalchemy(client, piece) == []
    prepared = [statement for statement, _generic, _custom in _prepared_statements(engine)]
    for piece in READS.values():
        assert [statement for statement in prepared if piece in statement], piece
    for path in READS:
        assert client.simulate_get(path, query_string="as_of=0").status_code in (200, 404)
    for piece in READS.values():
        assert _sent_through_sqlalchemy(client, piece), piece


def test_a_read_past_the_time_limit_answers_422_as_through_sqlalchemy(query_app):
    client, engine = query_app
    assert client.simulate_get(f"/results/{MISSING}").status_code == 404
    with psycopg.connect(_url(engine)) as locker:  # the lock holds until this transaction ends
        locker.execute("LOCK TABLE results IN ACCESS EXCLUSIVE MODE")
        answer = client.simulate_get(f"/results/{MISSING}")  # waits past QUERY_TIMEOUT_SECONDS
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": errors.TOO_EXPENSIVE}
    assert client.simulate_get(f"/results/{MISSING}").status_code == 404


def test_a_read_on_a_connection_the_server_dropped_answers_503_and_the_next_read_is_served(query_app):
    client, engine = query_app
    assert client.simulate_get("/benchmarks").status_code == 200  # a pooled connection, open
    with psycopg.connect(_url(engine), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    answer = client.simulate_get("/benchmarks")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert client.simulate_get("/benchmarks").status_code == 200
