"""The production topology under concurrency and faults (issue: PostgreSQL production mode).

Real PostgreSQL, real gunicorn services, the real projector process and nginx, driven over
HTTP. After every fault the read tables must equal a fresh replay of the event store."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict
from sqlalchemy.engine import make_url

from tests.support.api import ADMIN_ENTITLEMENT
from tests.support.production_stack import HttpClient, ProductionStack
from tests.support.waiting import wait_until


@pytest.fixture
def stack(production_stack: ProductionStack) -> ProductionStack:
    production_stack.reset()
    return production_stack


@pytest.fixture
def client(stack: ProductionStack) -> HttpClient:
    return HttpClient(stack.base_url)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def register(client: HttpClient, identity_provider, sub: str, admin: bool = False) -> dict:
    token = identity_provider.mint(sub, email=f"{sub}@example.org", entitlements=(ADMIN_ENTITLEMENT,) if admin else ())
    answer = client.simulate_post("/users:register", headers=bearer(token))
    assert answer.status_code == 201, answer.text
    return bearer(token)


def assert_read_tables_equal_a_replay(stack: ProductionStack) -> None:
    stack.wait_until_projected()
    verified = stack.run_eosc_perf("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # It names the stores it compared, without their passwords, and not the scratch store's migrations.
    password = make_url(stack.environment["READ_STORE_URL"]).password
    assert "verifying the read store postgresql" in verified.stdout
    assert not password or f":{password}@" not in verified.stdout + verified.stderr
    assert "read store migration" not in verified.stdout + verified.stderr


def approved_catalog(client: HttpClient, admin: dict) -> dict:
    site = client.simulate_post("/sites", headers=admin, json={"name": "s", "address": "a"}).json
    client.simulate_post(f"/sites/{site['id']}:approve", headers=admin)
    flavor = client.simulate_post(f"/sites/{site['id']}/flavors", headers=admin, json={"name": "f"}).json
    client.simulate_post(f"/flavors/{flavor['id']}:approve", headers=admin)
    benchmark = client.simulate_post(
        "/benchmarks",
        headers=admin,
        json={
            "docker_image": "org/bench",
            "docker_tag": "1",
            "url": "https://example.org",
            "json_schema": {"type": "object"},
        },
    ).json
    client.simulate_post(f"/benchmarks/{benchmark['id']}:approve", headers=admin)
    return {"benchmark": benchmark["id"], "flavor": flavor["id"]}


def upload(client: HttpClient, who: dict, catalog: dict, document: dict):
    query = (
        f"execution_datetime=2024-01-01T00:00:00%2B00:00&benchmark_id={catalog['benchmark']}"
        f"&flavor_id={catalog['flavor']}"
    )
    return client.simulate_post("/results", headers=who, query_string=query, json=document)


def race(calls, workers: int = 8) -> list:
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=max(workers, len(calls))) as pool:
        return list(pool.map(run, calls))


def test_parallel_writers_leave_one_winner_and_consistent_tables(stack, client, identity_provider):
    admin = register(client, identity_provider, "root", admin=True)
    users = [register(client, identity_provider, f"user-{n}") for n in range(6)]
    catalog = approved_catalog(client, admin)
    result = upload(client, users[0], catalog, {"score": 1}).json

    tags = race([lambda: client.simulate_post("/tags", headers=admin, json={"name": "dup"}) for _ in range(8)])
    assert sorted(a.status_code for a in tags) == [201] + [409] * 7

    pending = client.simulate_post("/sites", headers=users[1], json={"name": "pending", "address": "x"}).json
    reviews = race(
        [
            (lambda verb=verb: client.simulate_post(f"/sites/{pending['id']}:{verb}", headers=admin))
            for verb in ("approve", "reject") * 4
        ]
    )
    codes = sorted(a.status_code for a in reviews)
    assert codes.count(204) == 1, codes
    assert set(codes) <= {204, 404, 422}, codes

    claims = race(
        [
            (lambda who=who: client.simulate_post(f"/results/{result['id']}:claim", headers=who, json={"message": "?"}))
            for who in users
        ]
    )
    assert [a.status_code for a in claims] == [201] * len(users)
    listed = client.simulate_get(f"/results/{result['id']}/claims", headers=admin, query_string="status=on_review")
    assert listed.json["total"] == len(users)
    assert_read_tables_equal_a_replay(stack)


def test_killing_the_projector_mid_stream_loses_and_duplicates_nothing(stack, client, identity_provider):
    admin = register(client, identity_provider, "root", admin=True)
    killed = threading.Event()

    def create(n: int) -> int:
        if n == 60:
            os.kill(stack.pid("projector"), signal.SIGKILL)
            killed.set()
        return client.simulate_post("/tags", headers=admin, json={"name": f"tag-{n:04d}"}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(create, range(200)))
    assert killed.is_set() and codes == [201] * 200  # writes never depend on the projector
    stack.start_projector()
    assert_read_tables_equal_a_replay(stack)
    names = set()
    for page in (1, 2):
        answer = client.simulate_get("/tags", query_string=f"per_page=100&page={page}")
        names |= {tag["name"] for tag in answer.json["items"]}
    assert names == {f"tag-{n:04d}" for n in range(200)}


def _workers_of(master: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in found]


def test_killing_a_command_worker_mid_request_loses_no_acknowledged_write(stack, client, identity_provider):
    admin = register(client, identity_provider, "root", admin=True)
    master = stack.pid("command")
    victims = _workers_of(master)
    assert victims, "the command service runs worker processes"

    def create(n: int) -> tuple[int, int]:
        if n == 40:
            os.kill(victims[0], signal.SIGKILL)
        try:
            return n, client.simulate_post("/tags", headers=admin, json={"name": f"w-{n:04d}"}).status_code
        except requests.RequestException:
            return n, 0  # the connection died with the worker: the client does not know the outcome

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(create, range(120)))
    acknowledged = {f"w-{n:04d}" for n, code in outcomes if code == 201}
    assert all(code in (0, 201, 502) for _, code in outcomes), outcomes
    assert len(acknowledged) >= 100
    deadline = time.monotonic() + 30
    while len(_workers_of(master)) < len(victims):  # gunicorn replaces the worker
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert_read_tables_equal_a_replay(stack)
    listed = set()
    for page in (1, 2):
        answer = client.simulate_get("/tags", query_string=f"per_page=100&page={page}")
        listed |= {tag["name"] for tag in answer.json["items"]}
    assert acknowledged <= listed


def test_postgres_restart_under_load_answers_503_then_recovers(stack, client, identity_provider):
    admin = register(client, identity_provider, "root", admin=True)
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                statuses.append(client.simulate_post("/tags", headers=admin, json={"name": f"r-{n}"}).status_code)
                statuses.append(client.simulate_get("/tags", query_string="per_page=5").status_code)
            except requests.RequestException:
                statuses.append(0)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while statuses.count(201) < 3:  # some traffic before the outage
            assert time.monotonic() < deadline, "no write succeeded before the outage"
            time.sleep(0.05)
        stack.postgres("down")
        outage_started = len(statuses)
        deadline = time.monotonic() + 30
        while 503 not in statuses[outage_started:]:
            assert time.monotonic() < deadline, "no 503 during the outage"
            time.sleep(0.05)
        stack.postgres("up")
        recovered_from = len(statuses)
        deadline = time.monotonic() + 60
        while statuses[recovered_from:].count(201) < 3:
            assert time.monotonic() < deadline, f"no recovery: {statuses[recovered_from:][-20:]}"
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert 500 not in statuses
    assert_read_tables_equal_a_replay(stack)


def _answered_by(metrics_dir: Path) -> dict[int, float]:
    """Requests each query worker answered, from its own metrics file (counter_<pid>.db)."""
    answered = {}
    for path in metrics_dir.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        pid = int(path.stem.rsplit("_", 1)[-1])
        answered[pid] = sum(value for key, value, *_ in values if "eosc_perf_http_requests_total" in key)
    return answered


def test_reads_reach_both_query_workers_after_one_took_every_proxy_connection(stack):
    """nginx keeps its connections to a service open, and each stays with the gunicorn worker
    that accepted it. When one worker took them all (a burst while the other was busy), the other
    would serve nothing for as long as they stay open; nginx closes each after 100 requests, so
    new ones are taken by whichever worker is free."""
    workers = _workers_of(stack.pid("query"))
    assert len(workers) == 2, workers
    first, second = workers
    nginx = stack.pid("nginx")
    old_nginx_workers = set(_workers_of(nginx))
    os.kill(second, signal.SIGSTOP)
    try:
        os.kill(nginx, signal.SIGHUP)  # new nginx workers: none of the old connections to `second`
        wait_until(lambda: _workers_of(nginx) and not set(_workers_of(nginx)) & old_nginx_workers, 30, "nginx's reload")
        # A burst while `second` is stopped: `first` accepts every connection nginx opens.
        sessions = [requests.Session() for _ in range(8)]
        answers = race([lambda s=s: s.get(f"{stack.base_url}/tags", timeout=30) for s in sessions])
        assert {answer.status_code for answer in answers} == {200}
    finally:
        os.kill(second, signal.SIGCONT)
    before = _answered_by(stack.state_dir / "metrics-query")

    def reads(session: requests.Session) -> set[int]:
        return {session.get(f"{stack.base_url}/tags", timeout=30).status_code for _ in range(150)}

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        assert set().union(*pool.map(reads, sessions)) == {200}
    for session in sessions:
        session.close()
    after = _answered_by(stack.state_dir / "metrics-query")
    served = {pid: after.get(pid, 0) - before.get(pid, 0) for pid in (first, second)}
    assert sum(served.values()) >= 8 * 150
    assert served[second] > 0, served
