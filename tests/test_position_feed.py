"""The read model's position without a query per request (read_model/position_feed.py): the
embedded API is told it by its in-process projector; a production query worker follows
PostgreSQL's notices of every change of `positions`, whatever made it."""

from __future__ import annotations

from pathlib import Path

import falcon.testing
import pytest
from sqlalchemy import event, text

from eosc_perf.embedded import build
from projections.replay import scratch_store
from read_model import READ_MODEL, read_store
from read_model.migrations import migrate
from read_model.position_feed import APPLICATION_NAME, Notified
from tests.support.api import Api, service_settings, statements
from tests.support.waiting import wait_until


def test_the_embedded_api_reads_no_position_and_is_told_each_write(tmp_path: Path, identity_provider):
    service = build(service_settings(tmp_path / "data", identity_provider, query_cache_mb=0))
    api = Api(service, falcon.testing.TestClient(service.app), identity_provider)
    try:
        user = api.register("alice")
        with statements(api) as seen:
            assert api.get("/tags").status_code == 200
        assert seen and not any("positions" in statement for statement in seen)
        written = api.post("/tags", user, json={"name": "fresh"})
        position = int(written.headers["X-Event-Position"])
        with statements(api) as seen:
            answer = api.get("/tags", headers={"X-Min-Position": str(position)})
        assert answer.status_code == 200 and [tag["name"] for tag in answer.json["items"]] == ["fresh"]
        assert not any("positions" in statement for statement in seen)
        with service.reads.connect() as conn:
            assert read_store.position(conn, READ_MODEL) == position
    finally:
        service.close()


def test_an_etag_moves_with_each_write_and_holds_between(api):
    user = api.register("alice")
    before = api.get("/tags")
    assert api.get("/tags", headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    written = api.post("/tags", user, json={"name": "fresh"})
    after = api.get(
        "/tags",
        headers={"If-None-Match": before.headers["ETag"], "X-Min-Position": written.headers["X-Event-Position"]},
    )
    assert after.status_code == 200 and [tag["name"] for tag in after.json["items"]] == ["fresh"]
    assert after.headers["ETag"] != before.headers["ETag"]


@pytest.mark.stack
def test_a_worker_follows_the_notices_of_its_own_schema_only(production_stack):
    live = read_store.connect(production_stack.database_url)
    try:
        with scratch_store(live) as mine, scratch_store(live) as other:
            migrate(mine, quiet=True)
            migrate(other, quiet=True)
            position = Notified(mine, READ_MODEL, idle_seconds=0.5)
            assert position() == 0  # read from the store while the listener connects
            wait_until(lambda: position.value == 0, what="position.value == 0")

            queries: list[str] = []
            event.listen(mine, "before_cursor_execute", lambda *args: queries.append(args[2]))
            with mine.begin() as conn:
                read_store.set_position(conn, READ_MODEL, 7)
            wait_until(lambda: position() == 7, what="position() == 7")
            with other.begin() as conn:  # a replay's scratch store: another schema's `positions`
                read_store.set_position(conn, READ_MODEL, 99)
            with mine.begin() as conn:
                read_store.set_position(conn, READ_MODEL, 8)
            seen = []
            wait_until(lambda: seen.append(position()) or seen[-1] == 8, what="position 8")
            assert 99 not in seen  # notices arrive in commit order: 99's came before 8's
            assert not any(query.lstrip().upper().startswith("SELECT") for query in queries)  # told, never asked

            with mine.begin() as conn:  # as the test stack's reset between tests
                conn.execute(text("TRUNCATE positions"))
            wait_until(lambda: position() == 0, what="position() == 0")
            position.close()
    finally:
        live.dispose()


@pytest.mark.stack
def test_a_lost_listener_reads_per_request_until_it_reconnects(production_stack):
    live = read_store.connect(production_stack.database_url)
    try:
        with scratch_store(live) as mine:
            migrate(mine, quiet=True)
            position = Notified(mine, READ_MODEL, idle_seconds=0.5, pause=0.2)
            position()
            wait_until(lambda: position.value == 0, what="position.value == 0")
            with live.begin() as conn:
                conn.execute(
                    # the stack's query workers lose theirs too, and reconnect as this one must
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": APPLICATION_NAME},
                )
            with mine.begin() as conn:
                read_store.set_position(conn, READ_MODEL, 5)
            wait_until(
                lambda: position() == 5, what="position() == 5"
            )  # from the store, or the new listener's first read
            with mine.begin() as conn:
                read_store.set_position(conn, READ_MODEL, 6)
            wait_until(lambda: position.value == 6, what="position.value == 6")  # listening again
            position.close()
    finally:
        live.dispose()
