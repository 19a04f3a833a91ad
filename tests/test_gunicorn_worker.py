"""The services' gunicorn worker (eosc_perf/gunicorn_worker.py), started for real by gunicorn
on 127.0.0.1 with a small WSGI application (tests/support/worker_app.py), and spoken to over
raw sockets: kept-alive connections, requests sent together, bodies left unread, malformed
requests, idle connections past their time, the cap on open connections and a graceful stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.served import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.stack  # starts gunicorn

ROOT = Path(__file__).resolve().parent.parent
WORKER = "eosc_perf.gunicorn_worker.SharedPollWorker"


class Gunicorn:
    def __init__(self, tmp_path: Path, *options: str):
        self.port = free_port()
        self.log = tmp_path / f"gunicorn-{self.port}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--worker-class", WORKER, "--workers", "1"]
                + ["--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "15", *options]
                + ["tests.support.worker_app:app"],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, 30, "gunicorn's first answer", explain=self.output)

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
        try:
            with self.connect() as client:
                return client.request("GET", "/echo")[0] == 200
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def connect(self) -> "Client":
        return Client(socket.create_connection(("127.0.0.1", self.port), timeout=10))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Client:
    """One connection; answers are read by their Content-Length, so several may come at once."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def send(self, method: str, path: str, body: bytes = b"", close: bool = False) -> None:
        self.sock.sendall(_request(method, path, body, close))

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        self.send(method, path, body)
        return self.answer()

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
        length = int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed_by_server(self) -> bool:
        return self.sock.recv(1) == b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk


def _request(method: str, path: str, body: bytes = b"", close: bool = False) -> bytes:
    headers = f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n"
    if close:
        headers += "Connection: close\r\n"
    return headers.encode() + b"\r\n" + body


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    started: list[Gunicorn] = []

    def start(*options: str) -> Gunicorn:
        started.append(Gunicorn(tmp_path, *options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def test_a_kept_alive_connection_is_served_request_after_request(serve):
    server = serve("--threads", "2")
    with server.connect() as client:
        answers = [client.request("POST", f"/echo/{n}", b"x" * n) for n in range(60)]
    pids = {body.split()[0] for _, _, body in answers}
    assert len(pids) == 1
    assert [(status, body.split()[1:]) for status, _, body in answers] == [
        (200, [f"/echo/{n}".encode(), str(n).encode()]) for n in range(60)
    ]


def test_idle_connections_beyond_the_threads_keep_no_one_waiting(serve):
    server = serve("--threads", "2")
    idle = [server.connect() for _ in range(12)]
    try:
        for client in idle:
            assert client.request("GET", "/echo")[0] == 200
        with server.connect() as newcomer:
            assert newcomer.request("GET", "/echo/new")[0] == 200
        for client in reversed(idle):  # each idle one still served, in any order
            assert client.request("GET", "/echo/again")[0] == 200
    finally:
        for client in idle:
            client.sock.close()


def test_requests_sent_together_are_each_answered_in_order(serve):
    server = serve("--threads", "2")
    with server.connect() as client:
        client.sock.sendall(b"".join(_request("POST", f"/echo/{n}", b"y" * n) for n in (3, 1, 2)))
        bodies = [client.answer()[2].split()[1:] for _ in range(3)]
        assert bodies == [[b"/echo/3", b"3"], [b"/echo/1", b"1"], [b"/echo/2", b"2"]]
        assert client.request("GET", "/echo/after")[0] == 200  # and the connection serves on


def test_a_body_left_unread_does_not_spoil_the_next_request(serve):
    """gunicorn drains up to 64 KiB of a body the application left; past that it closes."""
    server = serve("--threads", "1")
    with server.connect() as client:
        assert client.request("POST", "/unread", b"z" * 50_000)[2] == b"unread"
        assert client.request("POST", "/echo/next", b"abc")[2].split()[1:] == [b"/echo/next", b"3"]


def test_a_malformed_request_is_answered_400_and_others_are_served(serve):
    server = serve("--threads", "1")
    with server.connect() as client:
        client.sock.sendall(b"NOT A REQUEST\r\n\r\n")
        assert client.answer()[0] == 400
        assert client.closed_by_server()
    with server.connect() as client:
        assert client.request("GET", "/echo")[0] == 200


def test_a_connection_asking_to_close_is_closed_after_its_answer(serve):
    server = serve("--threads", "1")
    with server.connect() as client:
        client.send("GET", "/echo", close=True)
        status, headers, _ = client.answer()
        assert (status, headers["connection"]) == (200, "close")
        assert client.closed_by_server()


def test_an_idle_connection_is_closed_after_the_keepalive_seconds(serve):
    server = serve("--threads", "1", "--keep-alive", "1")
    with server.connect() as client:
        assert client.request("GET", "/echo")[0] == 200
        assert client.closed_by_server()  # within the socket's 10 s, about 1-2 s after the answer
    with server.connect() as client:
        assert client.request("GET", "/echo")[0] == 200


def test_connections_past_worker_connections_wait_until_one_closes(serve):
    server = serve("--threads", "1", "--worker-connections", "3")
    first, second, silent = server.connect(), server.connect(), server.connect()
    try:
        for client in (first, second):
            assert client.request("GET", "/echo")[0] == 200
        # The listen backlog is first in, first out: the silent one is accepted before the fourth.
        with server.connect() as fourth:
            fourth.send("GET", "/echo/fourth")
            fourth.sock.settimeout(1.0)
            with pytest.raises(TimeoutError):  # three are open: the fourth waits in the listen backlog
                fourth.answer()
            silent.sock.close()  # one of the three ends
            fourth.sock.settimeout(10)
            assert fourth.answer()[0] == 200
    finally:
        for client in (first, second, silent):
            client.sock.close()


def test_a_stop_lets_a_running_request_finish_and_closes_idle_connections(serve, tmp_path: Path):
    server = serve("--threads", "2")
    started, release = tmp_path / "started", tmp_path / "release"
    os.mkfifo(release)
    idle = server.connect()
    assert idle.request("GET", "/echo")[0] == 200
    held = server.connect()
    answers: list = []
    reader = threading.Thread(target=lambda: answers.append(held.answer()))
    held.send("GET", f"/held?started={started}&release={release}")
    reader.start()
    wait_until(started.exists, 10, "the held request to start")
    os.kill(server.process.pid, signal.SIGTERM)
    assert idle.closed_by_server()  # within the two seconds an idle connection is given
    with open(release, "w") as pipe:  # the held request has the pipe open: this does not wait
        pipe.write("go")
    reader.join(15)
    status, _, body = answers[0]
    assert (status, body) == (200, b"released")
    assert held.closed_by_server()
    assert server.process.wait(20) == 0
    assert "Worker failing" not in server.output()
    idle.sock.close()
    held.sock.close()
