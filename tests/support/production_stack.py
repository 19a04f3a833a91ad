"""The production topology (deploy/local/stack.sh: PostgreSQL, gunicorn services, projector,
nginx) for tests, and an HTTP client with the same interface as the embedded test client."""

from __future__ import annotations

import json as jsonlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
import requests

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local" / "stack.sh"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server may listen on the port now (as the metrics server binds: reusing the
    address of closed connections)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class ProductionStack:
    """One stack per test session, on free ports and its own database, so sessions running
    side by side (developers, CI) never share state."""

    def __init__(self, state_dir: Path, environment: dict[str, str]):
        self.state_dir = state_dir
        self.database = f"eosc_perf_test_{uuid.uuid4().hex[:10]}"
        self.environment = {
            **os.environ,
            **environment,
            "EOSC_PERF_STACK_DIR": str(state_dir),
            "STACK_PORT": str(free_port()),
            "COMMAND_PORT": str(free_port()),
            "QUERY_PORT": str(free_port()),
            "PROJECTOR_METRICS_PORT": str(free_port()),
            "MAILER_METRICS_PORT": str(free_port()),
            "GUNICORN_ACCESSLOG": "",
        }
        self.base_url = ""
        self.database_url = ""

    def _create_database(self) -> None:
        server = subprocess.run(
            [str(ROOT / "deploy" / "local" / "postgres.sh"), "up"],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if server.returncode != 0:
            raise RuntimeError(f"postgres.sh up failed:\n{server.stdout}\n{server.stderr}")
        default_url = server.stdout.strip().splitlines()[-1]
        self.database_url = default_url.rsplit("/", 1)[0] + "/" + self.database
        with psycopg.connect(self._admin_url(default_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}" OWNER eosc_perf')
        self.environment.update(EVENT_STORE_URL=self.database_url, READ_STORE_URL=self.database_url)

    @staticmethod
    def _admin_url(url: str) -> str:
        """The cluster's superuser may connect over loopback without a password (postgres.sh)."""
        host_and_db = url.split("@", 1)[1]
        return f"postgresql://postgres@{host_and_db.rsplit('/', 1)[0]}/postgres"

    def _drop_database(self) -> None:
        if not self.database_url:
            return
        with psycopg.connect(self._admin_url(self.database_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def up(self) -> "ProductionStack":
        self._create_database()
        started = subprocess.run([str(STACK), "up"], env=self.environment, capture_output=True, text=True, timeout=300)
        if started.returncode != 0:
            self.down()  # stop what did start, or it holds the ports for the next run
            raise RuntimeError(f"stack.sh up failed:\n{started.stdout}\n{started.stderr}")
        self.base_url = started.stdout.strip().splitlines()[-1]
        return self

    def down(self) -> None:
        """Stops the services; the PostgreSQL server stays for other sessions, our database goes."""
        subprocess.run([str(STACK), "down"], env=self.environment, capture_output=True, timeout=120)
        self._drop_database()

    def reset(self) -> int:
        """Empties the event store and the read tables between tests; returns the fence: a
        position past every event the store held, which every consumer is set to. Two things of
        the previous test may still be in flight: a projector batch read before the TRUNCATE
        (its events are at or below the fence, so it is skipped, not written into the emptied
        tables) and the query workers' cached answers at the old head (they learn the position
        from a notice, a moment after the commit; a read that names the fence in X-Min-Position
        waits for it, and no answer is kept at a position never reached before)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename NOT IN ('schema_migrations', 'positions')"
                )
            ]
            # The event store's notification ids (and any other sequence of a table emptied
            # here) keep growing: the fence is one value taken from each, so new events lie past it.
            sequences = [
                row[0]
                for row in conn.execute(
                    "SELECT pg_get_serial_sequence(quote_ident(table_name), column_name)"
                    " FROM information_schema.columns WHERE table_schema = 'public'"
                    " AND column_name = 'notification_id'"
                )
                if row[0] is not None
            ]
            # The projector locks its position row first, then writes the read tables: taking
            # `positions` first follows the same order. A query-service transaction may still
            # meet the TRUNCATE in another order; PostgreSQL then aborts one side, so try again.
            for attempt in range(5):
                try:
                    with conn.transaction():
                        conn.execute("LOCK TABLE positions IN ACCESS EXCLUSIVE MODE")
                        fence = max([0, *(conn.execute("SELECT nextval(%s)", [s]).fetchone()[0] for s in sequences)])
                        conn.execute("TRUNCATE " + ", ".join(f'"{name}"' for name in tables))
                        conn.execute("UPDATE positions SET position = %s", [fence])
                    return fence
                except psycopg.errors.DeadlockDetected:
                    if attempt == 4:
                        raise

    # --- operating the running stack, for fault tests --------------------------------------
    def pid(self, name: str) -> int:
        return int((self.state_dir / f"{name}.pid").read_text())

    def run_eosc_perf(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ROOT / ".venv" / "bin" / "eosc-perf"), *args],
            env=self.environment,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_projector(self) -> int:
        """A new `eosc-perf project`, remembered where stack.sh keeps it (so `down` stops it),
        serving its metrics on the port stack.sh gave the first (a later test reads them)."""
        port = self.environment["PROJECTOR_METRICS_PORT"]
        # A projector killed a moment ago holds it until its process is gone.
        wait_until(lambda: port_is_free(int(port)), 30, "the old projector's metrics port to be free")
        with open(self.state_dir / "projector.log", "a") as log:
            process = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "eosc-perf"), "project", "--metrics-port", port],
                env=self.environment,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        (self.state_dir / "projector.pid").write_text(str(process.pid))
        return process.pid

    @contextmanager
    def another_command_service(self, **variables: str) -> Iterator["HttpClient"]:
        """One more gunicorn command service on the stack's database with other settings (as an
        operator would start it), answering directly, without nginx. Stopped when the block ends."""
        port = free_port()
        environment = {**self.environment, "GUNICORN_BIND": f"127.0.0.1:{port}", **variables}
        with open(self.state_dir / f"command-{port}.log", "a") as log:
            process = subprocess.Popen(
                [
                    str(ROOT / ".venv" / "bin" / "gunicorn"),
                    "-c",
                    "deploy/gunicorn/service.py",
                    "eosc_perf.command_wsgi:app",
                ],
                env=environment,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:  # no GET route: any answer to OPTIONS shows it is up
                try:
                    requests.options(f"{url}/benchmarks", timeout=5)
                    break
                except requests.ConnectionError:
                    assert process.poll() is None and time.monotonic() < deadline, "command service did not start"
                    time.sleep(0.2)
            yield HttpClient(url)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    def positions(self) -> tuple[int, int]:
        """(head of the event log, the read model's position)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM eoscperf_events").fetchone()[0]
            row = conn.execute("SELECT position FROM positions WHERE name = 'read_model'").fetchone()
        return head, (row[0] if row else 0)

    def wait_until_projected(self, timeout: float = 60) -> None:
        """Until the projector, which follows on its own, has applied every event of the log."""
        wait_until(lambda: (positions := self.positions())[1] >= positions[0], timeout, "the projector to catch up")

    @contextmanager
    def query_service(self, **variables: str) -> Iterator[str]:
        """One more gunicorn query service on this stack's database, configured by `variables`
        (e.g. QUERY_TIMEOUT_SECONDS), as deploy/gunicorn/service.py runs it; yields its URL."""
        port = free_port()
        environment = {**self.environment, **variables, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        with open(self.state_dir / f"query-{port}.log", "a") as log:
            process = subprocess.Popen(
                [
                    str(ROOT / ".venv" / "bin" / "gunicorn"),
                    "-c",
                    "deploy/gunicorn/service.py",
                    "eosc_perf.query_wsgi:app",
                ],
                env=environment,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, (self.state_dir / f"query-{port}.log").read_text()
                try:
                    if requests.get(f"{url}/api-spec.json", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, "the extra query service did not start"
                time.sleep(0.1)  # poll interval, bounded by the deadline
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)

    def postgres(self, action: str) -> None:
        subprocess.run(
            [str(ROOT / "deploy" / "local" / "postgres.sh"), action],
            env=self.environment,
            capture_output=True,
            check=True,
            timeout=120,
        )


class HttpResult:
    """What the tests read of an answer, as falcon.testing.Result offers it."""

    def __init__(self, response: requests.Response):
        self.status_code = response.status_code
        self.status = f"{response.status_code} {response.reason}"
        self.text = response.text
        self.content = response.content
        self.headers = response.headers

    @property
    def json(self):
        return jsonlib.loads(self.text) if self.text else None


class HttpClient:
    """Sends requests to a base URL; after a write, reads wait for it (X-Min-Position)."""

    def __init__(self, base_url: str, position: int = 0):
        self.base_url = base_url
        self._position = position
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def simulate_request(
        self,
        method: str,
        path: str,
        *,
        headers=None,
        query_string=None,
        json=None,
        body=None,
        params=None,
        content_type=None,
        **_ignored,
    ) -> HttpResult:
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        named = (
            "X-Min-Position" in headers or "min_position" in (query_string or "") or "min_position" in (params or {})
        )
        if method in ("GET", "HEAD") and self._position and not named:
            headers["X-Min-Position"] = str(self._position)
        url = self.base_url + path + (f"?{query_string}" if query_string else "")
        data = body.encode() if isinstance(body, str) else body
        response = self._session().request(
            method, url, headers=headers, json=json, data=data, params=params, timeout=60
        )
        position = response.headers.get("X-Event-Position")
        if position:
            with self._lock:
                self._position = max(self._position, int(position))
        return HttpResult(response)

    def simulate_get(self, path, **kwargs):
        return self.simulate_request("GET", path, **kwargs)

    def simulate_post(self, path, **kwargs):
        return self.simulate_request("POST", path, **kwargs)

    def simulate_put(self, path, **kwargs):
        return self.simulate_request("PUT", path, **kwargs)

    def simulate_delete(self, path, **kwargs):
        return self.simulate_request("DELETE", path, **kwargs)

    def simulate_head(self, path, **kwargs):
        return self.simulate_request("HEAD", path, **kwargs)

    def simulate_patch(self, path, **kwargs):
        return self.simulate_request("PATCH", path, **kwargs)
