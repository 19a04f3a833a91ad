"""Event and read stores for the tests of `eosc-perf export`, `import` and `verify`: a data
folder holding the frozen log (every event class), and an empty deployment of either backend."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from configuration.stores import open_event_store
from eosc_perf import cli
from log_transfer.recorders import insert_numbered
from projections.follower import Follower
from projections.projector import Projector
from projections.sources import EventStoreSource
from read_model import read_store
from tests.support.legacy_databases import restored
from tests.support.stored_events import as_stored, load

# Every other id of a PostgreSQL log can be missing (each write rolled back after taking its number).
GAP = 2


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def source(tmp_path) -> Path:
    """A data folder whose event store holds the frozen log (every event class), numbered with gaps."""
    data = tmp_path / "source"
    data.mkdir()
    store = open_event_store(f"sqlite:///{data / 'events.sqlite'}")
    insert_numbered(store.recorder, [(GAP * entry["stored"]["notification_id"], as_stored(entry)) for entry in load()])
    return data


class Target:
    """An empty deployment to import into: a data folder (SQLite) or two new PostgreSQL databases."""

    def __init__(self, backend: str, tmp_path: Path, monkeypatch, stack: ExitStack):
        self.backend = backend
        self.monkeypatch = monkeypatch
        self.data = tmp_path / "target"
        self.data.mkdir()
        self.env = {}
        if backend == "postgres":
            self.env = {
                "EVENT_STORE_URL": stack.enter_context(restored("")),
                "READ_STORE_URL": stack.enter_context(restored("")),
            }
        with self._environment():
            self.settings = cli._settings(type("Args", (), {"data": str(self.data), "dev": False})())

    @contextmanager
    def _environment(self):
        """Its stores' URLs, only while a command runs on it (the source is a data folder)."""
        with self.monkeypatch.context() as patch:
            for name, value in self.env.items():
                patch.setenv(name, value)
            yield

    def main(self, *args: str) -> int:
        with self._environment():
            return cli.main([*args, "--data", str(self.data)])

    def run(self, capsys, *args: str) -> tuple[int, str, str]:
        with self._environment():
            return run(capsys, *args, "--data", str(self.data))

    def store(self):
        return open_event_store(self.settings.event_store)

    def head(self) -> int:
        store = self.store()  # kept until read: the library closes a store's connections when it goes
        return store.recorder.max_notification_id() or 0

    def project(self) -> None:
        """What `eosc-perf project` does in production (the embedded import projects by itself)."""
        if self.backend == "postgres":
            engine = read_store.connect(self.settings.read_store)
            Follower(EventStoreSource(self.store()), Projector(engine)).catch_up()
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path, monkeypatch):
    with ExitStack() as stack:
        yield Target(request.param, tmp_path, monkeypatch, stack)


def imported(capsys, tmp_path, source, target) -> int:
    """The frozen log imported into the target and projected; returns the head."""
    assert run(capsys, "export", str(tmp_path / "log.jsonl"), "--data", str(source))[0] == 0
    code, _out, err = target.run(capsys, "import", str(tmp_path / "log.jsonl"))
    assert code == 0, err
    target.project()
    return GAP * len(load())
