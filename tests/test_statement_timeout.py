"""Every read statement is bounded in time (QUERY_TIMEOUT_SECONDS; issue 10, item 6): PostgreSQL
cancels it (statement_timeout), SQLite interrupts it (a progress handler, and the Python sort
function checks the same deadline). A read the client made too expensive answers 422 and the
server goes on serving; a store out of reach still answers 503 with Retry-After."""

from __future__ import annotations

import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import falcon
import falcon.testing
import pytest
from sqlalchemy import create_engine, text

from configuration.settings import QueryLimits
from eosc_perf.embedded import build
from eosc_perf.production import read_engine, serving_engine
from http_api import errors
from query_service.driver_reads import DriverRead
from read_model import read_store
from tests.support import catalog
from tests.support.api import BACKENDS, Api, service_settings
from tests.support.catalog import query_string
from tests.support.production_stack import ROOT, HttpClient

TIMEOUT = "1"
# Raised far above the defaults, so that the time limit, not a request limit, stops the query.
LIMITS = {"QUERY_MAX_FILTERS": "100", "QUERY_MAX_SORT_KEYS": "100"}
TOO_EXPENSIVE = {"code": 422, "status": "Unprocessable Entity", "errors": {"error": errors.TOO_EXPENSIVE}}


@pytest.fixture(params=BACKENDS)
def deployment(request, identity_provider, tmp_path) -> Iterator[tuple[Api, object]]:
    """A deployment whose reads run under QUERY_TIMEOUT_SECONDS=1, with the request limits
    raised: (the API for writes, a client of the bounded reads)."""
    if request.param == "embedded":
        settings = service_settings(
            tmp_path / "data",
            identity_provider,
            query_timeout_seconds=float(TIMEOUT),
            query_limits=QueryLimits(filters=100, sort_keys=100),
        )
        service = build(settings)
        api = Api(service, falcon.testing.TestClient(service.app), identity_provider)
        yield api, api.client
        service.close()
        return
    stack = request.getfixturevalue("production_stack")
    fence = stack.reset()
    with stack.query_service(QUERY_TIMEOUT_SECONDS=TIMEOUT, **LIMITS) as url:
        yield Api(None, HttpClient(stack.base_url, fence), identity_provider), HttpClient(url)


def expensive_query() -> str:
    """100 number filters, beyond the issue's 60 (PostgreSQL plans one semi-join each: 60 took half
    a minute there, but at this test's 30 results a plan found quickly once answered within the
    second), and 100 whole-document sort keys (SQLite orders each document in Python, 100 times
    per result; PostgreSQL compares the 150 KB documents 100 times per comparison)."""
    filters = [f"a > -{n}" for n in range(1, 101)]
    return query_string(filters=filters, sort_by=",".join(["+json", "-json"] * 50))


def test_a_query_past_the_time_limit_answers_422_and_the_server_goes_on(deployment):
    api, reads = deployment
    user, admin = api.register("alice"), api.register("root", admin=True)
    where = catalog.setup(api, user, admin)
    for n in range(30):
        catalog.upload(api, user, where, {"a": n, **{f"key-{k}": f"value {k} of {n}" for k in range(5000)}})
    assert api.get("/results", query_string="per_page=1").json["total"] == 30  # projected (X-Min-Position)

    for _ in range(2):  # and once more: the connection that was cut short serves again
        answer = reads.simulate_get("/results", query_string=expensive_query())
        assert answer.status_code == 422, answer.text[:500]
        assert answer.json == TOO_EXPENSIVE
        assert "Retry-After" not in answer.headers
    assert reads.simulate_get("/results", query_string="per_page=5&sort_by=%2Bjson.a").status_code == 200
    assert reads.simulate_get("/tags").status_code == 200
    narrowed = reads.simulate_get("/results", query_string=query_string(filters=["a > 27"], sort_by="-json"))
    assert narrowed.status_code == 200, narrowed.text[:500]
    assert [item["json"]["a"] for item in narrowed.json["items"]] == [29, 28]


# --- telling a statement cut short from an outage, with real errors of each store -----------------
class Statement:
    """Runs one SQL statement on an engine, as a read resource would."""

    def __init__(self, engine, sql: str):
        self.engine, self.sql = engine, sql

    def on_get(self, req, resp):
        with self.engine.connect() as conn:
            conn.execute(text(self.sql)).all()
        resp.media = {}


def answer_to(engine, sql: str) -> falcon.testing.Result:
    app = falcon.App()
    errors.install(app)
    app.add_route("/", Statement(engine, sql))
    return falcon.testing.TestClient(app).simulate_get("/")


ENDLESS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
# About 2 s on SQLite: answered, if nothing cuts it short, where ENDLESS would hold the test.
LONG = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000) SELECT count(*) FROM n"


def postgres_url() -> str:
    done = subprocess.run(
        [str(ROOT / "deploy" / "local" / "postgres.sh"), "up"], capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_statement_cut_short_is_422_and_a_store_out_of_reach_503(backend, tmp_path: Path):
    if backend == "embedded":
        bounded = read_store.connect(f"sqlite:///{tmp_path / 'read.sqlite'}", statement_seconds=0.2)
        with bounded.connect() as conn:
            conn.execute(text("CREATE TABLE t (x)"))
            conn.commit()
        holder = sqlite3.connect(tmp_path / "read.sqlite")
        holder.execute("BEGIN EXCLUSIVE")  # a writer that keeps the file locked
        impatient = create_engine(f"sqlite:///{tmp_path / 'read.sqlite'}", connect_args={"timeout": 0})
        unreachable, unreachable_sql = impatient, "INSERT INTO t VALUES (1)"
    else:
        bounded = read_store.connect(postgres_url(), statement_seconds=0.2)
        unreachable = read_store.connect("postgresql://nobody:nothing@127.0.0.1:1/none")
        unreachable_sql = "SELECT 1"
    try:
        cut = answer_to(bounded, ENDLESS)
        assert cut.status_code == 422
        assert cut.json == TOO_EXPENSIVE
        assert answer_to(bounded, "SELECT 1").status_code == 200  # the same pool serves on

        out = answer_to(unreachable, unreachable_sql)
        assert out.status_code == 503
        assert out.headers["Retry-After"] == "2"
        assert out.json["errors"] == {"error": "Storage is unavailable; retry shortly"}
    finally:
        bounded.dispose()
        unreachable.dispose()
        if backend == "embedded":
            holder.close()


class DrivenStatement(Statement):
    """The same, run by the driver itself, as the small reads are (query_service/driver_reads.py)."""

    def on_get(self, req, resp):
        with self.engine.connect() as conn:
            DriverRead(text(self.sql)).rows(conn)
        resp.media = {}


def test_a_read_the_sqlite_driver_runs_is_cut_short_as_any_other(tmp_path: Path):
    bounded = read_store.connect(f"sqlite:///{tmp_path / 'read.sqlite'}", statement_seconds=0.2)
    app = falcon.App()
    errors.install(app)
    app.add_route("/long", DrivenStatement(bounded, LONG))
    app.add_route("/short", DrivenStatement(bounded, "SELECT 1"))
    client = falcon.testing.TestClient(app)
    try:
        for _ in range(2):  # a new connection's first statement, then one that ran before
            cut = client.simulate_get("/long")
            assert cut.status_code == 422
            assert cut.json == TOO_EXPENSIVE
            assert client.simulate_get("/short").status_code == 200
    finally:
        bounded.dispose()


def test_only_the_engines_of_the_services_are_bounded(tmp_path: Path, identity_provider):
    """The API services read through `serving_engine`, bounded; the projector's engine (and a
    replay's, the tools') runs each statement as long as it needs: a migration backfill takes
    minutes."""
    settings = replace(service_settings(tmp_path / "data", identity_provider), query_timeout_seconds=0.2)
    long = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n"
    serving, projecting = serving_engine(settings), read_engine(settings)
    try:
        assert answer_to(serving, long).json == TOO_EXPENSIVE
        with projecting.connect() as conn:
            assert conn.execute(text(long)).scalar_one() == 3000000
    finally:
        serving.dispose()
        projecting.dispose()
