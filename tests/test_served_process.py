"""The `eosc-perf` command as an operator runs it: `serve` as a real process over HTTP,
restarts, a rebuilt read store, `dev-token` and `history` (design §4, §5)."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support.served import ServedProcess, dev_token, eosc_perf
from tests.support.waiting import wait_until

DEV_ISSUER = "urn:eosc-perf:dev"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def serve(data_dir: Path) -> Iterator[Callable[..., ServedProcess]]:
    """Starts `eosc-perf serve` processes; every one still running is stopped at teardown."""
    started: list[ServedProcess] = []

    def start(**variables: str) -> ServedProcess:
        process = ServedProcess(data_dir, **variables)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def register(server: ServedProcess, token: str) -> dict:
    answer = server.post("/users:register", token)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_serve_answers_the_api_and_its_documentation_on_its_port(serve):
    server = serve()
    page = server.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert server.get("/api-spec.json").json()["info"]["title"] == "EOSC Performance API"
    listing = server.get("/benchmarks")
    assert listing.status_code == 200
    assert listing.json()["items"] == [] and listing.json()["total"] == 0
    assert server.get("/users/self").status_code == 401


def open_files(pid: int) -> set[str]:
    fds = Path(f"/proc/{pid}/fd")
    names = set()
    for fd in fds.iterdir():
        try:
            names.add(os.readlink(fd))
        except OSError:  # closed meanwhile
            pass
    return names


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(status.parent.name))
    return found


def test_one_process_serves_and_holds_the_stores(serve, data_dir):
    """No fork: the process that answers is the one that opened the SQLite stores (a connection
    that crossed a fork would be shared by two processes)."""
    server = serve()
    assert server.get("/sites").status_code == 200
    pid = server.process.pid
    assert children(pid) == []
    assert {str(data_dir / "events.sqlite"), str(data_dir / "read.sqlite")} <= open_files(pid)


def test_a_registered_user_survives_a_restart(serve, data_dir):
    token = dev_token(data_dir, sub="alice", email="alice@example.org")
    server = serve()
    user = register(server, token)
    assert user["sub"] == "alice" and user["iss"] == DEV_ISSUER
    # No MAIL_SERVER: the welcome mail is written to the log by the served process.
    wait_until(lambda: "Subject: Thank you for registering" in server.log(), what="the registration mail in the log")
    assert server.stop() == 0  # SIGTERM: a clean stop
    assert "Traceback" not in server.log()

    restarted = serve()
    assert restarted.get("/users/self", token).json() == user
    assert restarted.post("/users:register", token).status_code == 409


def test_a_deleted_read_store_is_rebuilt_from_the_events(serve, data_dir):
    token = dev_token(data_dir)
    server = serve()
    user = register(server, token)
    site = server.post("/sites", token, json={"name": "site-1", "address": "addr-1"}).json()
    assert server.post(f"/sites/{site['id']}:approve", token).status_code == 204
    flavor = server.post(f"/sites/{site['id']}/flavors", token, json={"name": "flavor-1"}).json()
    tag = server.post("/tags", token, json={"name": "tag-1"}).json()
    server.stop()

    read_files = [data_dir / name for name in ("read.sqlite", "read.sqlite-wal", "read.sqlite-shm")]
    assert read_files[0].exists()
    for path in read_files:
        path.unlink(missing_ok=True)

    rebuilt = serve()
    assert read_files[0].exists()
    assert rebuilt.get("/users/self", token).json() == user
    assert rebuilt.get("/sites").json()["items"] == [site]
    on_review = rebuilt.get(f"/sites/{site['id']}/flavors", params={"status": "on_review"}).json()
    assert on_review["items"] == [flavor]
    assert rebuilt.get(f"/tags/{tag['id']}").json() == tag
    assert rebuilt.get("/reports/submits", token).json()["total"] == 1  # the flavor only


def test_the_data_folder_and_its_files_are_private(serve, data_dir):
    """The stores hold users' e-mails: only the service's user may read them (docs/security.md)."""
    token = dev_token(data_dir, sub="carol", email="carol@example.org")
    server = serve()
    register(server, token)
    assert server.post("/sites", token, json={"name": "s", "address": "a"}).status_code == 201
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data_dir.iterdir()}
    assert {"events.sqlite", "read.sqlite", "read.sqlite-wal", "read.sqlite-shm", "dev-oidc-key.json"} <= set(files)
    assert files == {name: 0o600 for name in files}


def test_a_store_others_may_read_is_reported(serve, data_dir):
    data_dir.mkdir()
    (data_dir / "read.sqlite").touch()
    (data_dir / "read.sqlite").chmod(0o644)  # as a release before this one left it
    server = serve()
    assert server.get("/benchmarks").status_code == 200
    assert f"{data_dir / 'read.sqlite'} holds personal data and is readable by others (mode 644)" in server.log()
    assert stat.S_IMODE((data_dir / "events.sqlite").stat().st_mode) == 0o600  # new files are private anyway


def test_dev_token_refuses_outside_development_mode(tmp_path):
    done = eosc_perf("dev-token", "--data", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "development mode" in done.stderr and "EOSC_PERF_ENV=development" in done.stderr
    assert not (tmp_path / "data" / "dev-oidc-key.json").exists()


def test_production_serve_refuses_to_start_without_admin_entitlements(tmp_path):
    done = eosc_perf("serve", "--data", str(tmp_path / "data"), "--port", "1", cwd=tmp_path, timeout=30)
    assert done.returncode == 2
    assert "ADMIN_ENTITLEMENTS" in done.stderr
    assert "Traceback" not in done.stderr


def test_flask_env_development_alone_is_production_mode(tmp_path):
    """Only EOSC_PERF_ENV or --dev switch development mode on (dev tokens, everyone admin)."""
    done = eosc_perf(
        "serve", "--data", str(tmp_path / "data"), "--port", "1", cwd=tmp_path, timeout=30, FLASK_ENV="development"
    )
    assert done.returncode == 2
    assert "ADMIN_ENTITLEMENTS" in done.stderr and "FLASK_ENV=development is ignored" in done.stderr
    done = eosc_perf("dev-token", "--data", str(tmp_path / "data"), cwd=tmp_path, FLASK_ENV="development")
    assert done.returncode == 2 and done.stdout == ""
    assert eosc_perf("dev-token", "--dev", "--data", str(tmp_path / "data"), cwd=tmp_path).returncode == 0


def test_history_prints_who_changed_a_site_and_how(serve, data_dir):
    token = dev_token(data_dir, sub="carol", email="carol@example.org")
    server = serve()
    register(server, token)
    site = server.post("/sites", token, json={"name": "site-1", "address": "addr-1"}).json()
    assert server.post(f"/sites/{site['id']}:approve", token).status_code == 204
    updated = {"name": "site-2", "address": "addr-2", "description": "moved"}
    assert server.put(f"/sites/{site['id']}", token, json=updated).status_code == 204

    done = eosc_perf("history", site["id"], "--data", str(data_dir), cwd=data_dir.parent)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    actor = f"by carol@{DEV_ISSUER}"
    submitted, approved, changed = lines
    assert submitted.startswith("v1 ") and "Submitted" in submitted and actor in submitted
    assert "name=site-1" in submitted and "address=addr-1" in submitted
    assert approved.startswith("v2 ") and "Approved" in approved and actor in approved
    assert changed.startswith("v3 ") and "Updated" in changed and actor in changed
    assert "name=site-2" in changed and "address=addr-2" in changed and "description=moved" in changed

    done = eosc_perf("history", site["id"], "--json", "--data", str(data_dir), cwd=data_dir.parent)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [event["type"] for event in events] == ["Site.Submitted", "Site.Approved", "Site.Updated"]
    assert [event["version"] for event in events] == [1, 2, 3]
    assert events[0]["actor"] == {"sub": "carol", "iss": DEV_ISSUER}
    assert events[0]["fields"] == {"name": "site-1", "address": "addr-1", "description": None}
    assert events[2]["fields"]["description"] == "moved"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", event["time"]) for event in events)

    unknown = "00000000-0000-4000-8000-000000000000"
    done = eosc_perf("history", unknown, "--data", str(data_dir), cwd=data_dir.parent)
    assert done.returncode == 2
    assert f"no events for {unknown}" in done.stderr


def test_a_busy_port_is_named_with_the_way_out_and_no_banner(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = eosc_perf("serve", "--dev", "--port", str(port), "--data", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr and "Swagger UI" not in done.stdout
