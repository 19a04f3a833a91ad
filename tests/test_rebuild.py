"""`eosc-perf rebuild` (issue 13 part 1): a new read store built from the log while the old one
serves, checked, and switched to at one position, under a read load and uploads: no request
fails, and no answer to a client that sends X-Min-Position is older than what it saw before."""

from __future__ import annotations

import dataclasses
import io
import logging
from typing import Iterator

import falcon.testing
import psycopg
import pytest
from sqlalchemy import inspect, text

from eosc_perf import cli
from eosc_perf.embedded import build
from log_transfer.transfer import Progress
from projections.rebuild import SwitchedMeanwhile, build_and_switch
from projections.sources import EventStoreSource
from read_model import read_store, row_versions
from read_model.active_store import POINTER_TABLE, ActiveStore
from tests.support.api import Api, service_settings, stack_environment
from tests.support.log_stores import GAP, imported
from tests.support.production_stack import HttpClient, ProductionStack
from tests.support.read_load import log_pause, under_load

log = logging.getLogger(__name__)


def test_rebuild_while_serving_switches_without_a_failed_or_older_answer(tmp_path, identity_provider, monkeypatch):
    data = tmp_path / "data"
    settings = service_settings(data, identity_provider)
    service = build(settings)
    monkeypatch.delenv("EOSC_PERF_DATA", raising=False)

    def rebuild() -> None:
        assert cli.main(["rebuild", "--data", str(data), "--grace", "0.5"]) == 0

    try:
        api = Api(service, falcon.testing.TestClient(service.app), identity_provider)
        load = under_load(api, rebuild)
    finally:
        service.close()
    active = ActiveStore(settings.read_store)
    assert active.location is not None and active.location.endswith(".sqlite")
    log_pause(load, "embedded", active.pointer_file().stat().st_mtime)
    configured = read_store.connect(settings.read_store)
    assert "results" not in inspect(configured).get_table_names()  # the old read tables dropped
    assert "mail_outbox" in inspect(configured).get_table_names()  # the mailer's stay
    configured.dispose()


@pytest.fixture
def own_stack(tmp_path_factory, identity_provider) -> Iterator[ProductionStack]:
    """A production stack of this test alone: the rebuild moves its read model out of `public`,
    where the session's shared stack is reset between tests."""
    stack = ProductionStack(tmp_path_factory.mktemp("rebuild-stack"), stack_environment(identity_provider)).up()
    yield stack
    stack.down()


@pytest.mark.stack
def test_rebuild_on_the_production_stack_switches_every_service(own_stack, identity_provider):
    api = Api(None, HttpClient(own_stack.base_url), identity_provider)

    def rebuild() -> None:
        done = own_stack.run_eosc_perf("rebuild", "--grace", "1")
        assert done.returncode == 0, done.stdout + done.stderr
        log.info("%s", done.stdout)

    # Two readers: every read names its client's last upload, and a worker lets at most
    # READ_WAITERS (2) reads wait at once; a third waiting reader, when all three reach one
    # worker while the projector is a few events behind (a loaded machine), is answered 503 by
    # design, rebuild or not (test_read_waits.py).
    load = under_load(api, rebuild, readers=2)
    with psycopg.connect(own_stack.database_url, autocommit=True) as conn:
        schema, switched_at = conn.execute(
            f"SELECT location, extract(epoch FROM switched_at) FROM {POINTER_TABLE}"
        ).fetchone()
        assert schema.startswith("read_")
        assert conn.execute("SELECT to_regclass('public.results')").fetchone()[0] is None  # the old tables dropped
        assert conn.execute("SELECT to_regclass('public.mail_outbox')").fetchone()[0] is not None
    log_pause(load, "production stack", float(switched_at))
    # The projector (a process of its own) went on in the new store, which equals a replay.
    verified = own_stack.run_eosc_perf("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "read tables equal a fresh replay" in verified.stdout


def test_rebuild_refuses_a_negative_grace(capsys, tmp_path):
    assert cli.main(["rebuild", "--data", str(tmp_path), "--grace", "-1"]) == 2
    assert "--grace takes seconds (0 or more), not -1.0" in capsys.readouterr().err


def stores(target) -> set[str]:
    """The read stores beside the configured one: schemas `read_<hex>`, or files `read-<hex>.sqlite`."""
    if target.backend == "postgres":
        with psycopg.connect(target.settings.read_store) as conn:
            return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'read\\_%'")}
    return {path.name for path in target.data.glob("read-*.sqlite")}


def test_a_rebuild_that_differs_from_the_live_store_switches_nothing(capsys, tmp_path, source, target):
    imported(capsys, tmp_path, source, target)
    engine = read_store.connect(target.settings.read_store)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sites SET name = 'changed by hand'"))
    engine.dispose()

    with pytest.raises(SystemExit) as exit:
        target.run(capsys, "rebuild", "--grace", "0")
    assert exit.value.code == 1
    out = capsys.readouterr().out
    assert "sites: " in out and "nothing switched" in out
    assert ActiveStore(target.settings.read_store).location is None
    assert stores(target) == set()  # the new store dropped


def test_a_rebuild_with_keep_leaves_the_old_store_and_verify_follows_the_new_one(capsys, tmp_path, source, target):
    head = imported(capsys, tmp_path, source, target)
    code, out, err = target.run(capsys, "rebuild", "--keep")
    assert code == 0, out + err
    assert f"at event position {head}" in out and "the old store is kept" in out
    assert f"replayed {head // GAP} of {head // GAP} events (" in err  # progress on stderr
    [new] = stores(target)
    assert ActiveStore(target.settings.read_store).location.endswith(new)
    engine = read_store.connect(target.settings.read_store)
    assert "results" in inspect(engine).get_table_names()  # kept
    with engine.begin() as conn:  # a change to the old store is no change to the one served
        conn.execute(text("UPDATE sites SET name = 'changed by hand'"))
    engine.dispose()
    code, out, err = target.run(capsys, "verify")
    assert code == 0, out + err


def test_progress_tells_the_time_left_while_the_total_is_known():
    shown = io.StringIO()
    progress = Progress("replayed", None, shown, interval=0)
    progress(10)
    progress(50, total=100)
    progress(100, final=True)
    first, middle, last = shown.getvalue().splitlines()
    assert first.startswith("  replayed 10 events (") and "left" not in first
    assert middle.startswith("  replayed 50 of 100 events (") and middle.endswith(" s left)")
    assert last.startswith("  replayed 100 of 100 events (") and "left" not in last


def test_a_rebuild_that_another_one_switched_away_from_meanwhile_switches_nothing(capsys, tmp_path, source, target):
    imported(capsys, tmp_path, source, target)
    others: list[int] = []

    def another_rebuild_first(done: int, total: int) -> None:
        if not others:  # within the first rebuild's replay: a second one runs whole, and switches
            others.append(target.main("rebuild", "--keep"))

    with target._environment():
        store = target.store()
        with pytest.raises(SwitchedMeanwhile):
            build_and_switch(target.settings.read_store, EventStoreSource(store), another_rebuild_first)
    assert others == [0]
    [switched] = stores(target)  # the first one's new store dropped; the pointer names the second's
    assert ActiveStore(target.settings.read_store).location.endswith(switched)


def test_a_rebuild_drops_the_row_versions_of_the_old_store(capsys, tmp_path, source, target):
    """The configured store keeps the mailer's tables after a rebuild, but none of the read
    model's: not the versions of its rows either, which hold users' earlier addresses."""
    imported(capsys, tmp_path, source, target)
    engine = read_store.connect(target.settings.read_store)
    with engine.connect() as conn:
        old_addresses = conn.execute(text("SELECT count(*) FROM users_versions")).scalar()
    assert old_addresses > 0  # the frozen log changes a user's address
    code, out, err = target.run(capsys, "rebuild", "--grace", "0")
    assert code == 0, out + err
    left = set(inspect(engine).get_table_names())
    engine.dispose()
    assert "mail_outbox" in left
    assert {name for name in left if "_versions" in name} == {"row_versions"}  # bookkeeping only


def test_init_drops_the_row_versions_an_earlier_rebuild_left(capsys, tmp_path, source, target, monkeypatch):
    """A store rebuilt away from before 2026-12-05 kept them: `init` (and the embedded server's
    start, by the same function) drops them once, and leaves a store kept by `--keep` whole."""
    imported(capsys, tmp_path, source, target)
    monkeypatch.setattr(row_versions, "drop_versions", lambda conn: None)  # the drop as it was
    code, out, err = target.run(capsys, "rebuild", "--grace", "0")
    assert code == 0, out + err
    monkeypatch.undo()
    engine = read_store.connect(target.settings.read_store)
    assert "users_versions" in inspect(engine).get_table_names()
    code, out, err = target.run(capsys, "init")
    assert code == 0, out + err
    assert "dropped the row versions an earlier rebuild left in the configured read store" in out
    assert {name for name in inspect(engine).get_table_names() if "_versions" in name} == {"row_versions"}
    code, out, err = target.run(capsys, "init")  # nothing left to drop
    assert code == 0 and "dropped the row versions" not in out, out + err
    engine.dispose()


def test_init_leaves_a_store_kept_by_keep_whole(capsys, tmp_path, source, target):
    imported(capsys, tmp_path, source, target)
    code, out, err = target.run(capsys, "rebuild", "--keep")
    assert code == 0, out + err
    code, out, err = target.run(capsys, "init")
    assert code == 0 and "dropped the row versions" not in out, out + err
    engine = read_store.connect(target.settings.read_store)
    assert {"results", "users_versions"} <= set(inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.parametrize("target", ["sqlite"], indirect=True)
def test_the_embedded_server_drops_the_row_versions_an_earlier_rebuild_left(capsys, tmp_path, source, target):
    imported(capsys, tmp_path, source, target)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(row_versions, "drop_versions", lambda conn: None)  # the drop as it was
        code, out, err = target.run(capsys, "rebuild", "--grace", "0")
    assert code == 0, out + err
    engine = read_store.connect(target.settings.read_store)
    assert "users_versions" in inspect(engine).get_table_names()
    build(dataclasses.replace(target.settings, admin_entitlements=("admin",))).close()
    assert {name for name in inspect(engine).get_table_names() if "_versions" in name} == {"row_versions"}
    engine.dispose()
