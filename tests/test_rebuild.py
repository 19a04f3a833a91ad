"""`eosc-perf rebuild` (issue 13 part 1): a new read store built from the log while the old one
serves, checked, and switched to at one position, under a read load and uploads: no request
fails, and no answer to a client that sends X-Min-Position is older than what it saw before."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import falcon.testing
import psycopg
import pytest
from sqlalchemy import inspect

from eosc_perf import cli
from eosc_perf.embedded import build
from read_model import read_store
from read_model.active_store import POINTER_TABLE, ActiveStore
from tests.support.api import Api, service_settings, stack_environment
from tests.support.catalog import result_setup, upload_answer, upload_result
from tests.support.production_stack import HttpClient, ProductionStack

log = logging.getLogger(__name__)

SEEDED = 40


@dataclass
class Load:
    """Readers and an uploader over one service while something else happens."""

    api: Api
    token: str
    benchmark_id: str
    flavor_id: str
    uploaded: list[tuple[int, str]]  # (event position, result id)
    failures: list[str] = field(default_factory=list)
    backwards: list[str] = field(default_factory=list)
    reads: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each read, wall clock
    stop: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        """A client that sends back the newest position it knows of: each answer holds at least
        what that position holds (the newest upload; as many results as were uploaded by then),
        and its position (ETag, when the answer is known to be of one) is never older."""
        seen = 0
        while not self.stop.is_set():
            uploaded = list(self.uploaded)
            position, result_id = uploaded[-1]
            wanted = max(position, seen)
            present = sum(1 for at, _ in uploaded if at <= wanted)
            for path in ("/results", f"/results/{result_id}"):
                started = time.time()
                answer = self.api.get(path, headers={"X-Min-Position": str(wanted)})
                self.reads.append((started, time.time()))
                if answer.status_code != 200:
                    self.failures.append(f"GET {path}: {answer.status_code} {answer.text[:200]}")
                    continue
                if path == "/results" and answer.json["total"] < present:
                    self.backwards.append(f"GET /results at {wanted}: {answer.json['total']} of {present} results")
                tag = answer.headers.get("ETag")
                if tag is not None:
                    at = int(tag.strip('W/"'))
                    if at < seen:
                        self.backwards.append(f"GET {path}: position {at} after {seen}")
                    seen = max(seen, at)

    def pause_at(self, moment: float) -> tuple[float, float, float]:
        """(the longest read running at `moment` or started in the 100 ms after it, the 99th
        percentile and the longest of all reads), in ms: what a switch at `moment` costs readers
        beside what the load costs them anyway, as a fact to log and document."""
        around = [end - start for start, end in self.reads if start <= moment + 0.1 and end >= moment]
        every = sorted(end - start for start, end in self.reads)
        return max(around, default=0.0) * 1000, every[len(every) * 99 // 100] * 1000, every[-1] * 1000

    def upload(self) -> None:
        while not self.stop.is_set():
            answer = upload_answer(self.api, self.token, self.benchmark_id, self.flavor_id, {"time": 2})
            if answer.status_code != 201:
                self.failures.append(f"upload: {answer.status_code} {answer.text[:200]}")
                continue
            self.uploaded.append((int(answer.headers["X-Event-Position"]), answer.json["id"]))
            time.sleep(0.02)  # a steady trickle of writes, not a flood that starves the readers


def under_load(api: Api, rebuild: Callable[[], None]) -> Load:
    """Seeds results, then runs `rebuild` while three readers and an uploader go on; asserts
    that nothing failed and no answer was older than its client knew."""
    user, admin = api.register("alice"), api.register("root", admin=True)
    benchmark, _site, flavor = result_setup(api, user, admin)
    uploaded = [upload_answer_positioned(api, user, benchmark["id"], flavor["id"]) for _ in range(SEEDED)]
    load = Load(api, user, benchmark["id"], flavor["id"], uploaded)
    threads = [threading.Thread(target=load.read) for _ in range(3)] + [threading.Thread(target=load.upload)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)  # the load runs before, during and after the rebuild
        rebuild()
        time.sleep(0.5)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join()
    assert load.failures == []
    assert load.backwards == []
    # The service goes on in the new store: a new upload is listed.
    result = upload_result(api, user, benchmark["id"], flavor["id"])
    assert api.get(f"/results/{result['id']}").status_code == 200
    assert api.get("/results").json["total"] == len(load.uploaded) + 1
    return load


def log_pause(load: Load, deployment: str, switched_at: float) -> None:
    at_switch, p99, longest = load.pause_at(switched_at)
    log.info(
        "rebuild under load (%s): %d reads; the longest at the switch %.0f ms; of all: p99 %.0f ms, longest %.0f ms",
        deployment,
        len(load.reads),
        at_switch,
        p99,
        longest,
    )


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

    load = under_load(api, rebuild)
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


def upload_answer_positioned(api, token, benchmark_id, flavor_id) -> tuple[int, str]:
    answer = upload_answer(api, token, benchmark_id, flavor_id, {"time": 1})
    assert answer.status_code == 201, answer.text
    return int(answer.headers["X-Event-Position"]), answer.json["id"]


def test_rebuild_refuses_a_negative_grace(capsys, tmp_path):
    assert cli.main(["rebuild", "--data", str(tmp_path), "--grace", "-1"]) == 2
    assert "--grace takes seconds (0 or more), not -1.0" in capsys.readouterr().err
