"""deploy/local/stack.sh refuses, before it starts anything, what would fail later, names the
variable to change, and keeps its state per port set (the whole start runs in the API tests)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.support.smtp_sink import free_port

STACK = Path(__file__).resolve().parent.parent / "deploy" / "local" / "stack.sh"


def stack(*args: str, **variables: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.endswith(("_STORE_URL", "ENTITLEMENTS"))}
    env.update(EOSC_PERF_ENV="production", **variables)
    return subprocess.run([str(STACK), *args], env=env, capture_output=True, text=True, timeout=120)


def ports() -> dict[str, str]:
    return {"STACK_PORT": str(free_port()), "COMMAND_PORT": str(free_port()), "QUERY_PORT": str(free_port())}


def test_a_refused_configuration_starts_nothing(tmp_path):
    state = tmp_path / "stack"
    done = stack("up", EOSC_PERF_STACK_DIR=str(state), **ports())
    assert done.returncode != 0 and done.stdout == ""
    assert "ADMIN_ENTITLEMENTS" in done.stderr and "nothing started" in done.stderr
    assert not list(state.glob("*.pid"))


def test_a_port_in_use_is_named_with_its_variable_and_starts_nothing(tmp_path):
    state = tmp_path / "stack"
    chosen = ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(chosen["COMMAND_PORT"])))
        taken.listen()
        done = stack("up", EOSC_PERF_STACK_DIR=str(state), ADMIN_ENTITLEMENTS="urn:x", **chosen)
    assert done.returncode != 0 and done.stdout == ""
    assert f"port {chosen['COMMAND_PORT']} (COMMAND_PORT) is in use" in done.stderr
    assert not list(state.glob("*.pid"))


def test_each_port_set_has_its_own_state_folder_by_default():
    done = stack("status", STACK_PORT="18123", EOSC_PERF_STACK_DIR="")
    assert done.returncode == 0, done.stderr
    assert "stack in /var/tmp/eosc-perf/stack-18123" in done.stdout and "nothing runs" in done.stdout
