"""The real `eosc-perf` command as a subprocess: `serve` on a free port, `dev-token`, `history`.

Every process gets a clean environment (no inherited EOSC_PERF_*/ADMIN_* variables) and runs
in its own working directory, so a stray `.env` of the developer never leaks in.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
# Variables the service (settings.py) or gunicorn read; the tests set the ones they need.
SERVICE_VARIABLES = (
    "FLASK_ENV",
    "TRUSTED_OP_LIST",
    "ADMIN_ENTITLEMENTS",
    "BACKEND_ROUTE",
    "EVENT_STORE_URL",
    "READ_STORE_URL",
    "READ_WAIT_SECONDS",
    "READ_WAITERS",
    "GUNICORN_CMD_ARGS",
)
SERVICE_PREFIXES = ("EOSC_PERF_", "MAIL_", "IMAGE_", "KAFKA_", "QUERY_")


def eosc_perf_command() -> list[str]:
    """The installed console script next to this interpreter (what `make run` uses)."""
    script = Path(sys.executable).with_name("eosc-perf")
    return [str(script)] if script.exists() else [sys.executable, "-m", "eosc_perf.cli"]


def command_environment(**variables: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in SERVICE_VARIABLES and not name.startswith(SERVICE_PREFIXES) and not name.endswith("_FILE")
    }
    env["TRUSTED_OP_LIST"] = ""  # only the local dev issuer (development mode): no network
    env["PYTHONUNBUFFERED"] = "1"
    env.update(variables)
    return env


def eosc_perf(*args: str, cwd: Path, timeout: float = 60, **variables: str) -> subprocess.CompletedProcess:
    """Runs one short `eosc-perf` command to completion."""
    return subprocess.run(
        [*eosc_perf_command(), *args],
        cwd=cwd,
        env=command_environment(**variables),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dev_token(data_dir: Path, sub: str = "dev-user", email: str = "dev@example.org") -> str:
    done = eosc_perf(
        "dev-token",
        "--data",
        str(data_dir),
        "--sub",
        sub,
        "--email",
        email,
        cwd=data_dir.parent,
        EOSC_PERF_ENV="development",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServedProcess:
    """`eosc-perf serve` in its own process group; its output goes to a log file."""

    def __init__(self, data_dir: Path, *, dev: bool = True, **variables: str):
        self.data_dir = data_dir
        self.dev = dev
        self.variables = variables
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = data_dir.parent / f"serve-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ServedProcess":
        args = ["serve", "--data", str(self.data_dir), "--port", str(self.port)]
        if self.dev:
            args.append("--dev")
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [*eosc_perf_command(), *args],
                cwd=self.data_dir.parent,
                env=command_environment(**self.variables),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_answering()
        return self

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"eosc-perf serve exited with {self.process.returncode}:\n{self.log()}")
            try:  # the socket accepts before the worker is ready: a slow answer is not yet an answer
                if requests.get(f"{self.url}/api-spec.json", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)  # poll interval, bounded by the deadline
        self.stop()
        raise AssertionError(f"eosc-perf serve did not answer within {START_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> int | None:
        """SIGTERM (graceful), then SIGKILL of the whole group if it does not end in time."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)
            raise AssertionError(f"eosc-perf serve ignored SIGTERM:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def get(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        return self.request("POST", path, token, **kwargs)

    def put(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        return self.request("PUT", path, token, **kwargs)

    def request(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)
