"""`eosc-perf project` from the event store, given PROJECTOR_LINGER_MS (off by default), waits
that long after a write's notification before it reads (projections/live.py `follow`): the
writes of those milliseconds are applied in one batch, whose statements and commit cost the
projector and PostgreSQL nearly as much as one upload's alone (issue 16). Real PostgreSQL:
LISTEN/NOTIFY is what is followed."""

from __future__ import annotations

import threading

from configuration.stores import open_event_store
from domain.actor import Actor
from domain.tag import Tag
from projections.live import follow
from projections.projector import Projector
from read_model import READ_MODEL, read_store
from read_model.migrations import migrate
from tests.support.legacy_databases import restored
from tests.support.waiting import wait_until

WRITES = 5
LINGER = 1.0  # seconds: far more than the writes take, one after the other


class RecordingProjector(Projector):
    """A projector that notes the size of each batch it applies."""

    def __init__(self, engine):
        super().__init__(engine)
        self.batches: list[int] = []

    def apply(self, events):
        self.batches.append(len(events))
        return super().apply(events)


def _tag(store, name: str) -> None:
    store.save(Tag(name, None, Actor("alice", "https://op.example")))


def _followed(linger: float) -> list[int]:
    """The batches in which `follow` with `linger` applied WRITES writes made one after the
    other, after a first write that shows it is listening."""
    with restored("") as url:
        store = open_event_store(url)
        engine = read_store.connect(url)
        migrate(engine, quiet=True)
        projector = RecordingProjector(engine)
        stop = threading.Event()
        thread = threading.Thread(
            target=follow, args=(store, projector, stop), kwargs={"idle": 0.1, "linger": linger}, daemon=True
        )
        thread.start()

        def projected() -> bool:
            with engine.connect() as conn:
                return read_store.position(conn, READ_MODEL) == store.recorder.max_notification_id()

        try:
            _tag(store, "first")
            wait_until(projected, 30, "the first write to be projected")  # listening before its read
            projector.batches.clear()
            for number in range(WRITES):
                _tag(store, f"tag {number}")
            wait_until(projected, 30, "the writes to be projected")
            return projector.batches
        finally:
            stop.set()
            thread.join(10)
            engine.dispose()
            store.recorder.datastore.close()


def test_the_writes_of_the_linger_are_applied_in_one_batch():
    # Without the linger the first was read when it was notified, alone (tried).
    assert _followed(linger=LINGER) == [WRITES]
