"""The production topology (deploy/local/stack.sh: PostgreSQL, gunicorn services, projector,
nginx) for tests, and an HTTP client with the same interface as the embedded test client."""

from __future__ import annotations

import json as jsonlib
import os
import subprocess
import threading
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local" / "stack.sh"


class ProductionStack:
    def __init__(self, state_dir: Path, environment: dict[str, str], port: int = 18080):
        self.state_dir = state_dir
        self.environment = {
            **os.environ,
            **environment,
            "EOSC_PERF_STACK_DIR": str(state_dir),
            "STACK_PORT": str(port),
            "COMMAND_PORT": str(port + 1),
            "QUERY_PORT": str(port + 2),
            "GUNICORN_ACCESSLOG": "",
        }
        self.base_url = ""
        self.database_url = ""

    def up(self) -> "ProductionStack":
        started = subprocess.run(
            [str(STACK), "up"], env=self.environment, capture_output=True, text=True, timeout=300
        )
        if started.returncode != 0:
            self.down()  # stop what did start, or it holds the ports for the next run
            raise RuntimeError(f"stack.sh up failed:\n{started.stdout}\n{started.stderr}")
        self.base_url = started.stdout.strip().splitlines()[-1]
        self.database_url = subprocess.run(
            [str(ROOT / "deploy" / "local" / "postgres.sh"), "url"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return self

    def down(self) -> None:
        subprocess.run([str(STACK), "down"], env=self.environment, capture_output=True, timeout=120)

    def reset(self) -> None:
        """Empties the event store and the read tables between tests. Notification ids keep
        growing (no RESTART IDENTITY), so the running projector simply sees new events."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            tables = [row[0] for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
            )]
            conn.execute("TRUNCATE " + ", ".join(f'"{name}"' for name in tables))


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

    def __init__(self, base_url: str):
        self.base_url = base_url
        self._position = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def simulate_request(self, method: str, path: str, *, headers=None, query_string=None, json=None, body=None,
                         params=None, content_type=None, **_ignored) -> HttpResult:
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        if method in ("GET", "HEAD") and self._position and "X-Min-Position" not in headers:
            headers["X-Min-Position"] = str(self._position)
        url = self.base_url + path + (f"?{query_string}" if query_string else "")
        data = body.encode() if isinstance(body, str) else body
        response = self._session().request(method, url, headers=headers, json=json, data=data, params=params,
                                           timeout=60)
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
