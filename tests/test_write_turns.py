"""The embedded default runs one command at a time (command_service/services/session.py,
Commands `one_at_a_time`); a benchmark's image check, which asks a registry over the network,
runs before the command and holds no turn (resources/catalog.py)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import falcon

from command_service.resources.catalog import BenchmarkCollection
from tests.support.commands import ACTOR, in_memory
from tests.support.commands import BENCHMARK_FIELDS as BENCHMARK


class Held:
    """A command that waits, once started, until it is let go."""

    def __init__(self):
        self.started, self.go = threading.Event(), threading.Event()

    def __call__(self, session):
        self.started.set()
        assert self.go.wait(10)
        return None, 0


def test_a_second_command_waits_for_the_first_to_end():
    commands = in_memory(one_at_a_time=True)
    first, second = Held(), Held()
    runs = [
        threading.Thread(target=commands.run, args=(held,), kwargs={"registered": None}) for held in (first, second)
    ]
    runs[0].start()
    assert first.started.wait(10)
    runs[1].start()
    assert not second.started.wait(0.3)  # the first holds the turn
    first.go.set()
    second.go.set()
    assert second.started.wait(10)
    for run in runs:
        run.join(10)


def test_without_turns_commands_run_side_by_side():
    """The production services: their commands wait on PostgreSQL, not on the GIL."""
    commands = in_memory(one_at_a_time=False)
    first, second = Held(), Held()
    runs = [
        threading.Thread(target=commands.run, args=(held,), kwargs={"registered": None}) for held in (first, second)
    ]
    for run in runs:
        run.start()
    assert first.started.wait(10) and second.started.wait(10)
    first.go.set()
    second.go.set()
    for run in runs:
        run.join(10)


class SlowRegistry:
    """An image check that answers only when let go, as a registry far away would."""

    def __init__(self):
        self.asked, self.go = threading.Event(), threading.Event()

    def check(self, docker_image: str, docker_tag: str) -> None:
        self.asked.set()
        assert self.go.wait(10)


def test_a_benchmark_waiting_for_its_registry_holds_no_other_write():
    commands = in_memory(one_at_a_time=True)
    registry = SlowRegistry()
    caller = SimpleNamespace(actor=ACTOR, registration=None)
    request = SimpleNamespace(context=SimpleNamespace(caller=caller, body=BENCHMARK))
    response = falcon.Response()
    submit = threading.Thread(target=BenchmarkCollection(commands, registry).on_post, args=(request, response))
    submit.start()
    try:
        assert registry.asked.wait(10)
        other = Held()
        other.go.set()
        done = threading.Thread(target=commands.run, args=(other,), kwargs={"registered": None})
        done.start()
        done.join(10)
        assert other.started.is_set() and not done.is_alive()  # it ran while the registry was asked
    finally:
        registry.go.set()
        submit.join(10)
    assert falcon.code_to_http_status(response.status) == falcon.HTTP_201
