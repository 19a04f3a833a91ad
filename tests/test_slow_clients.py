"""Slow clients (slowloris; issue 10, item 8): many connections that send half a request and
stall must not stop a deployment. The embedded server (waitress, 5 threads by default) reads requests
whole before a thread takes them; in production nginx does, in front of gunicorn. Here far more
such connections than there are threads are open while normal reads and writes are served."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.api import BACKENDS
from tests.support.served import ServedProcess, dev_token

pytestmark = pytest.mark.stack  # a served `eosc-perf serve` or the production stack

HALF_HEADERS = b"GET /tags HTTP/1.1\r\nHost: eosc-perf\r\nX-Slow: "  # no end of the headers, ever
HALF_BODY = (
    b"POST /tags HTTP/1.1\r\nHost: eosc-perf\r\nContent-Type: application/json\r\n"
    b'Content-Length: 1000\r\n\r\n{"name": '
)  # 990 bytes of body never come


@dataclass
class Target:
    url: str
    token: str


@pytest.fixture(params=BACKENDS)
def target(request, tmp_path, identity_provider) -> Iterator[Target]:
    if request.param == "embedded":
        server = ServedProcess(tmp_path / "data").start()
        token = dev_token(server.data_dir)
        yield Target(server.url, token)
        server.stop()
        return
    stack = request.getfixturevalue("production_stack")
    stack.reset()
    yield Target(stack.base_url, identity_provider.mint("alice", email="alice@example.org"))


def stalled(url: str, start: bytes, stack: ExitStack) -> None:
    parts = urlsplit(url)
    connection = stack.enter_context(socket.create_connection((parts.hostname, parts.port), timeout=10))
    connection.sendall(start)


def test_half_sent_requests_do_not_stop_the_service(target):
    headers = {"Authorization": f"Bearer {target.token}"}
    with ExitStack() as attack:
        for _ in range(48):  # ten times the embedded server's threads, three times production's
            stalled(target.url, HALF_HEADERS, attack)
        for _ in range(16):
            stalled(target.url, HALF_BODY, attack)
        # Served while the attack holds its connections (generous deadlines; a stopped server
        # would not answer at all).
        assert requests.get(f"{target.url}/tags", timeout=15).status_code == 200
        assert requests.post(f"{target.url}/users:register", headers=headers, timeout=15).status_code == 201
        created = requests.post(f"{target.url}/tags", headers=headers, json={"name": "served"}, timeout=15)
        assert created.status_code == 201, created.text
        listed = requests.get(
            f"{target.url}/tags", headers={"X-Min-Position": created.headers["X-Event-Position"]}, timeout=15
        )
        assert [tag["name"] for tag in listed.json()["items"]] == ["served"]
