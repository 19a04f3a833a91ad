"""The production topology with Kafka in the path (`deploy/local/stack.sh up --kafka`) for
tests, with its own PostgreSQL cluster, broker and ports so it disturbs no other stack, and
control of its processes: kill -9 one, start it again, ask for the lag, run verify.

Processes the tests start again write their pid where stack.sh keeps its own, so
`stack.sh down` stops them as well. Everything is deleted after the session but the
processes' logs, which are copied to pytest's temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg

from tests.support.smtp_sink import free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"
EOSC_PERF = ROOT / ".venv" / "bin" / "eosc-perf"
# PostgreSQL runs as its own user: its folder cannot be under pytest's root-only temp folder.
# One folder per test session, so that two sessions on one machine never share a store.
STATE_PARENT = Path(os.environ.get("EOSC_PERF_TEST_STATE", "/var/tmp/eosc-perf"))
STATE_ROOT = STATE_PARENT / f"test-kafka-{os.getpid()}"


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def remove_orphans() -> None:
    """Stops the processes and deletes the stores of earlier sessions that died before their
    teardown (a killed pytest leaves its stack, database and broker running)."""
    for folder in STATE_PARENT.glob("test-kafka-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or alive(int(pid)):
            continue
        env = {
            **os.environ,
            "EOSC_PERF_STACK_DIR": str(folder / "stack"),
            "EOSC_PERF_PG_DIR": str(folder / "postgres"),
            "EOSC_PERF_KAFKA_DIR": str(folder / "kafka"),
        }
        subprocess.run([str(LOCAL / "stack.sh"), "down"], env=env, capture_output=True, timeout=180)
        for script in ("kafka.sh", "postgres.sh"):
            subprocess.run([str(LOCAL / script), "reset"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


class KafkaStack:
    def __init__(self, logs_dir: Path, environment: dict[str, str]):
        """`logs_dir`: where the processes' logs are copied when the stack goes down."""
        # Not under pytest's folder: nginx's workers (nobody) buffer large bodies in it.
        self.state = STATE_ROOT / "stack"
        self.logs_dir = logs_dir
        self.environment = {
            **os.environ,
            **environment,
            "EOSC_PERF_STACK_DIR": str(self.state),
            "STACK_PORT": str(free_port()),
            "COMMAND_PORT": str(free_port()),
            "QUERY_PORT": str(free_port()),
            "EOSC_PERF_PG_DIR": str(STATE_ROOT / "postgres"),
            "EOSC_PERF_PG_PORT": str(free_port()),
            # Named, so that stack.sh and `postgres.sh url` (the tests' URL) agree on the database.
            "EOSC_PERF_PG_DB": "eosc_perf",
            "EOSC_PERF_KAFKA_DIR": str(STATE_ROOT / "kafka"),
            "KAFKA_PORT": str(free_port()),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "GUNICORN_ACCESSLOG": "",
        }
        self.base_url = ""
        self.database_url = ""
        self.started: list[subprocess.Popen] = []
        self.startup_seconds = 0.0

    # -- whole stack --------------------------------------------------------------------

    def up(self) -> "KafkaStack":
        remove_orphans()
        for script in ("postgres.sh", "kafka.sh"):  # each session starts from empty stores
            self._script(script, "reset")
        self.state.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        # The first run on a machine fetches the broker's jars: allow for it.
        started = subprocess.run(
            [str(LOCAL / "stack.sh"), "up", "--kafka"],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.startup_seconds = time.monotonic() - began
        if started.returncode != 0:
            self.down()
            raise RuntimeError(f"stack.sh up --kafka failed:\n{started.stdout}\n{started.stderr}")
        self.base_url = started.stdout.strip().splitlines()[-1]
        self.database_url = self._script("postgres.sh", "url").strip()
        self.environment.update(
            EVENT_STORE_URL=self.database_url,
            READ_STORE_URL=self.database_url,
            KAFKA_BOOTSTRAP_SERVERS=self._script("kafka.sh", "url").strip(),
        )
        return self

    def down(self) -> None:
        subprocess.run([str(LOCAL / "stack.sh"), "down"], env=self.environment, capture_output=True, timeout=180)
        for process in self.started:
            process.wait(timeout=30)
        for log in [*self.state.glob("*.log"), STATE_ROOT / "kafka" / "kafka.log"]:
            if log.exists():
                shutil.copy(log, self.logs_dir / log.name)
        for script in ("kafka.sh", "postgres.sh"):
            self._script(script, "reset")
        shutil.rmtree(STATE_ROOT, ignore_errors=True)

    def _script(self, name: str, *args: str) -> str:
        done = subprocess.run(
            [str(LOCAL / name), *args], env=self.environment, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    # -- the broker ---------------------------------------------------------------------

    def kafka_down(self) -> None:
        self._script("kafka.sh", "down")

    def kafka_up(self) -> None:
        self._script("kafka.sh", "up")

    # -- one process --------------------------------------------------------------------

    def pid(self, name: str) -> int:
        return int((self.state / f"{name}.pid").read_text())

    def kill(self, name: str) -> None:
        """kill -9, and wait until it is gone."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not alive(pid), 10, f"{name} (pid {pid}) to die")
        self._reap()

    def start(self, name: str, *args: str) -> int:
        """Starts `eosc-perf ARGS` as stack.sh would: own session, log and pid file `name`."""
        log = open(self.state / f"{name}.log", "ab")
        process = subprocess.Popen(
            [str(EOSC_PERF), *args],
            env=self.environment,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.started.append(process)
        (self.state / f"{name}.pid").write_text(str(process.pid))
        return process.pid

    def is_running(self, name: str) -> bool:
        return alive(self.pid(name))

    def log(self, name: str) -> str:
        return (self.state / f"{name}.log").read_text(errors="replace")

    def _reap(self) -> None:
        for process in self.started:
            process.poll()

    # -- operator commands --------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 120, **environment: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(EOSC_PERF), *args],
            env={**self.environment, **environment},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def lag(self) -> dict:
        done = self.cli("lag", "--json", timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def positions(self) -> dict[str, int | None]:
        """The head of the log and each consumer's position, read straight from PostgreSQL
        (quicker than a `lag` process per look; the `lag` command is tested on its own)."""
        with self.database() as conn:
            head = conn.execute("SELECT max(notification_id) FROM eoscperf_events").fetchone()[0] or 0
            found = {"head": head, "relay": None, "read_model": None, "mailer": None}
            if conn.execute("SELECT to_regclass('kafkarelay_tracking')").fetchone()[0]:
                row = conn.execute(
                    "SELECT notification_id FROM kafkarelay_tracking WHERE application_name = 'eoscperf'"
                ).fetchone()
                found["relay"] = row[0] if row else None
            for name, position in conn.execute("SELECT name, position FROM positions"):
                if name in found:
                    found[name] = position
            return found

    def caught_up(self, *consumers: str) -> bool:
        """Every named consumer (default: relay, read model, mailer) is at the head of the log."""
        positions = self.positions()
        names = consumers or ("relay", "read_model", "mailer")
        return all(positions[name] == positions["head"] for name in names)

    def report(self, lines: int = 12) -> str:
        """For a failure message: the positions, and each consumer's liveness and last log lines
        (the logs are copied to pytest's folder only when the stack goes down)."""
        parts = [f"positions: {self.positions()}"]
        for log in sorted(self.state.glob("*.log")):
            name = log.stem
            if not name.startswith(("relay", "projector", "mailer")):
                continue
            pid_file = self.state / f"{name}.pid"
            state = "running" if pid_file.exists() and alive(self.pid(name)) else "not running"
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"-- {name} ({state}):\n" + "\n".join(tail))
        return "\n".join(parts)

    def group_members(self, group: str) -> int:
        """Members of a consumer group that is Stable (assigned), else 0."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.environment["KAFKA_BOOTSTRAP_SERVERS"])
        try:
            described = admin.describe_groups([group])[group]  # kafka-python 3.x
        finally:
            admin.close()
        return len(described["members"]) if described["group_state"] == "Stable" else 0

    def database(self) -> psycopg.Connection:
        return psycopg.connect(self.database_url, autocommit=True)


class TopicReader:
    """Reads the whole topic as the tests' own consumer (no group: it commits nothing)."""

    def __init__(self, bootstrap_servers: str, topic: str = "eosc-perf.events"):
        from kafka import KafkaConsumer, TopicPartition

        self.partition = TopicPartition(topic, 0)
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers, enable_auto_commit=False, max_partition_fetch_bytes=16 * 1024 * 1024
        )
        self.consumer.assign([self.partition])

    def end_offset(self) -> int:
        return self.consumer.end_offsets([self.partition])[self.partition]

    def messages(self, timeout: float = 30) -> list:
        """Every record from the start to the current end, in offset order."""
        end = self.end_offset()
        self.consumer.seek_to_beginning(self.partition)
        records = []
        deadline = time.monotonic() + timeout
        while self.consumer.position(self.partition) < end:
            assert time.monotonic() < deadline, f"read {len(records)} of {end} messages in {timeout} s"
            for batch in self.consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records

    def close(self) -> None:
        self.consumer.close()
