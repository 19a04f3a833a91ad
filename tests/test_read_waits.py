"""Read-your-writes waits (`X-Min-Position` / `?min_position`; issue 10, item 7): judged only
after the request is routed, authorised and validated; granted only for a position the read
model can reach within the wait, and to at most READ_WAITERS requests of a process at once.
Every other request that would wait is answered at once with 503 and Retry-After, so waiting
requests, anonymous ones included, never take every thread."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import quote

import pytest
import requests

from tests.support.api import BACKENDS
from tests.support.production_stack import HttpClient
from tests.support.served import ServedProcess, dev_token
from tests.support.waiting import wait_until

NOT_AN_EVENT_POSITION = "X-Min-Position must be an event position (a whole number from 0 to 9223372036854775807)"


def created_tag_position(api, token, name: str) -> int:
    answer = api.post("/tags", token, json={"name": name})
    assert answer.status_code == 201, answer.text
    return int(answer.headers["X-Event-Position"])


@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "+7", "1_000", "9223372036854775808", "9" * 100])
def test_a_value_that_is_no_event_position_is_a_400(api, value):
    for answer in (
        api.get("/tags", headers={"X-Min-Position": value}),
        api.get("/tags", query_string=f"min_position={quote(value)}"),
    ):
        assert answer.status_code == 400, answer.text
        assert answer.json["errors"]["error"].startswith(NOT_AN_EVENT_POSITION)


def test_the_position_is_judged_after_routing_authentication_and_validation(api):
    bad = {"X-Min-Position": "soon"}
    assert api.get("/nowhere", headers=bad).status_code == 404
    assert api.get("/users/self", headers=bad).status_code == 401
    assert api.get("/tags", headers=bad, query_string="per_page=0").status_code == 422
    assert api.get("/tags", headers=bad).status_code == 400
    assert api.get("/api-spec.json", headers=bad).status_code == 200  # the documentation never waits


def test_a_reached_position_is_answered_with_the_write(api, callers):
    position = created_tag_position(api, callers.user, "written")
    for answer in (
        api.get("/tags", headers={"X-Min-Position": str(position)}),
        api.get("/tags", query_string=f"min_position={position}&per_page=5"),
    ):
        assert answer.status_code == 200, answer.text
        assert [tag["name"] for tag in answer.json["items"]] == ["written"]


def test_a_position_beyond_reach_within_the_wait_is_refused_at_once(api):
    answer = api.get("/tags", headers={"X-Min-Position": "999999999"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json["errors"] == {"error": "The read model has not reached event position 999999999 yet"}


# --- over HTTP, with server threads to take -------------------------------------------------------
WAIT_SECONDS = 30  # far longer than any assertion below waits: a request that waited is told apart


@dataclass
class Deployment:
    read_url: str
    write_tag: Callable[[str], int]  # creates a tag, returns its event position


@pytest.fixture(params=BACKENDS)
def deployment(request, tmp_path, identity_provider) -> Iterator[Deployment]:
    """The embedded server (5 threads: two waiters, one event stream, two more), or one more
    query service of the production stack (one worker of 4 threads), each waiting up to 30 s,
    two waiters at most."""
    settings = {"READ_WAIT_SECONDS": str(WAIT_SECONDS), "READ_WAITERS": "2"}
    if request.param == "embedded":
        server = ServedProcess(tmp_path / "data", **settings).start()
        token = dev_token(server.data_dir)
        assert server.post("/users:register", token).status_code == 201
        yield Deployment(server.url, lambda name: created_tag_position(server, token, name))
        server.stop()
        return
    stack = request.getfixturevalue("production_stack")
    fence = stack.reset()
    writes = HttpClient(stack.base_url, fence)
    token = identity_provider.mint("alice", email="alice@example.org")
    headers = {"Authorization": f"Bearer {token}"}
    assert writes.simulate_post("/users:register", headers=headers).status_code == 201

    def write_tag(name: str) -> int:
        answer = writes.simulate_post("/tags", headers=headers, json={"name": name})
        assert answer.status_code == 201, answer.text
        return int(answer.headers["X-Event-Position"])

    with stack.query_service(GUNICORN_WORKERS="1", **settings) as url:
        yield Deployment(url, write_tag)


def concurrently(count: int, call: Callable[[], requests.Response]) -> tuple[list, list[threading.Thread]]:
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(call())) for _ in range(count)]
    for thread in threads:
        thread.start()
    return answers, threads


@pytest.mark.stack  # the embedded variant is a served `eosc-perf serve`
def test_waiters_beyond_the_cap_are_refused_at_once_and_other_reads_are_served(deployment):
    wanted = deployment.write_tag("before") + 1  # the next event: within reach, not there yet
    answers, threads = concurrently(
        12,
        lambda: requests.get(
            f"{deployment.read_url}/tags", headers={"X-Min-Position": str(wanted)}, timeout=WAIT_SECONDS * 2
        ),
    )
    wait_until(lambda: len(answers) >= 10, WAIT_SECONDS * 2 / 3, "ten answers")  # ten did not wait
    refused = list(answers)
    assert [answer.status_code for answer in refused] == [503] * 10
    for answer in refused:
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["errors"] == {"error": "Too many reads are waiting for the read model; retry shortly"}

    # Two requests wait; anonymous reads, waiting ones too, go on being answered meanwhile.
    for _ in range(5):
        assert requests.get(f"{deployment.read_url}/tags", timeout=10).status_code == 200
        assert requests.get(f"{deployment.read_url}/results", timeout=10).status_code == 200
        refused_again = requests.get(f"{deployment.read_url}/tags", headers={"X-Min-Position": str(wanted)}, timeout=10)
        assert refused_again.status_code == 503
    assert len(answers) == 10

    deployment.write_tag("after")  # the position the two wait for
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS * 2)
    waited = answers[10:]
    assert [answer.status_code for answer in waited] == [200, 200]
    assert all({tag["name"] for tag in answer.json()["items"]} == {"before", "after"} for answer in waited)


@pytest.mark.stack  # a served `eosc-perf serve`
def test_the_embedded_server_has_threads_for_other_reads_whatever_the_waiters_cap(tmp_path):
    """The embedded server's threads follow READ_WAITERS (eosc_perf/server.py `thread_count`):
    with the cap raised to 8, eight waiting reads still leave threads to answer the rest (a
    fixed pool of 8 threads was all held by them: every other request waited for a wait)."""
    server = ServedProcess(tmp_path / "data", READ_WAIT_SECONDS=str(WAIT_SECONDS), READ_WAITERS="8").start()
    try:
        token = dev_token(server.data_dir)
        assert server.post("/users:register", token).status_code == 201
        wanted = created_tag_position(server, token, "before") + 1
        answers, threads = concurrently(
            9,
            lambda: requests.get(
                f"{server.url}/tags", headers={"X-Min-Position": str(wanted)}, timeout=WAIT_SECONDS * 2
            ),
        )
        wait_until(lambda: answers, WAIT_SECONDS / 3, "the read beyond the cap refused")  # eight wait
        assert answers[0].status_code == 503
        assert requests.get(f"{server.url}/tags", timeout=10).status_code == 200
        assert requests.get(f"{server.url}/results", timeout=10).status_code == 200
        created_tag_position(server, token, "after")  # the position the eight wait for
        for thread in threads:
            thread.join(timeout=WAIT_SECONDS * 2)
        assert sorted(answer.status_code for answer in answers) == [200] * 8 + [503]
    finally:
        server.stop()


@pytest.mark.stack  # the embedded variant is a served `eosc-perf serve`
def test_positions_beyond_reach_hold_no_thread(deployment):
    position = deployment.write_tag("only")
    answers, threads = concurrently(
        20,
        lambda: requests.get(
            f"{deployment.read_url}/tags", headers={"X-Min-Position": str(position + 10**9)}, timeout=WAIT_SECONDS / 2
        ),
    )
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS)
    assert [answer.status_code for answer in answers] == [503] * 20  # a wait would have timed the client out
    assert (
        requests.get(f"{deployment.read_url}/tags", headers={"X-Min-Position": str(position)}, timeout=10).status_code
        == 200
    )


def test_a_caller_just_registered_is_judged_at_the_position_of_its_registration(production_stack, identity_provider):
    """The query service knows registrations from its read tables. With the projector paused, a
    user registers, then reads its own record naming the registration's position: the read waits
    (rather than a 403 for a registration not projected yet) and answers once the projector goes
    on. An identity that is not registered still gets its 403, judged at that position."""
    stack = production_stack
    fence = stack.reset()
    client = HttpClient(stack.base_url, fence)
    newcomer = {"Authorization": f"Bearer {identity_provider.mint('newcomer', email='newcomer@example.org')}"}
    stranger = {"Authorization": f"Bearer {identity_provider.mint('stranger', email='stranger@example.org')}"}
    projector = stack.pid("projector")
    os.kill(projector, signal.SIGSTOP)
    try:
        registered = client.simulate_post("/users:register", headers=newcomer)
        assert registered.status_code == 201, registered.text
        position = registered.headers["X-Event-Position"]
        not_yet = requests.get(f"{stack.base_url}/users/self/results", headers=newcomer, timeout=10)
        assert not_yet.status_code == 403  # without the position: the read tables as they are
        answers, threads = concurrently(
            1,
            lambda: requests.get(
                f"{stack.base_url}/users/self/results", headers={**newcomer, "X-Min-Position": position}, timeout=30
            ),
        )
        refusals, others = concurrently(
            1,
            lambda: requests.get(
                f"{stack.base_url}/users/self/results", headers={**stranger, "X-Min-Position": position}, timeout=30
            ),
        )
        time.sleep(1)  # both requests reach their wait meanwhile (a later one would not need it)
    finally:
        os.kill(projector, signal.SIGCONT)
    for thread in threads + others:
        thread.join(timeout=30)
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["items"] == []
    assert refusals[0].status_code == 403
    assert refusals[0].json()["error_details"] == "Evaluation of: is_registered"
