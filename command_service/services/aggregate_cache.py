"""The catalog items and users a command service process loaded last, so that a command reads
them by one query of their latest events instead of loading each one's events again.

Nearly every command reads the same few aggregates: an upload reads its benchmark, flavor,
site and tags, each one's submitter, and the access gate reads the caller. Each load is a
query and a rebuild from the events (personal data decrypted). Here, a command is served a
copy of what this process last loaded, and before anything is answered or saved, the store
confirms that every copy it was served is still the latest: the aggregate's version and the
notification id of its last event, so a store emptied and written again (as the tests do
between cases) never passes for the old one. A save confirms them itself, under its lock and
in its own exchanges with the store (configuration/stores.py, `Confirm`); an answer or a
refusal by one query (`latest_events`). The access gate's copy of the caller is confirmed with
the command's (`Commands.admits`). A copy that is no longer the latest is dropped and the
command runs again on fresh loads (command_service/services/session.py).

Only the kinds below are kept: they are small and change rarely. Results (their documents) and
claims are never kept. A user's e-mail address is personal data the log can erase (docs/security.md):
a removal saved by this process drops the user at once; one saved by another process changes the
user's version, so the copy is dropped when it is next read, and every copy expires after
`seconds` (60) whatever happens.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable
from uuid import UUID

import orjson
from eventsourcing.application import Recording
from eventsourcing.domain import Aggregate

from configuration.stores import Latest
from domain.benchmark import Benchmark
from domain.flavor import Flavor
from domain.personal_data import ERASING
from domain.site import Site
from domain.tag import Tag
from domain.user import User

KEPT = (Benchmark, Site, Flavor, Tag, User)


class AggregateCache:
    def __init__(
        self,
        latest_events: Callable[[Iterable[UUID]], dict[UUID, Latest]],
        *,
        capacity: int = 4096,
        budget: int = 4 * 2**20,
        seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        """At most `capacity` copies, and `budget` bytes of their state as JSON (a benchmark's
        schema may be megabytes: whatever is submitted, the memory a worker keeps stays bounded);
        one larger than a sixteenth of the budget is not kept."""
        self.latest_events = latest_events
        self.capacity = capacity
        self.budget = budget
        self.seconds = seconds
        self.clock = clock
        self._entries: OrderedDict[UUID, tuple[Aggregate, Latest, float, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # gunicorn's threads share one process's cache

    def get(self, id: UUID) -> tuple[Aggregate, Latest] | None:
        """A copy of the kept aggregate (the command may change it) and what it was the latest as."""
        with self._lock:
            entry = self._entries.get(id)
            if entry is None:
                return None
            aggregate, latest, expires, _ = entry
            if self.clock() >= expires:
                self._remove(id)
                return None
            self._entries.move_to_end(id)
        return _copy(aggregate), latest

    def keep(self, aggregate: Aggregate, latest: Latest) -> None:
        """Keeps a copy of an aggregate, when it is of a kept kind, as the store's `latest`."""
        if not isinstance(aggregate, KEPT) or aggregate.version != latest[0]:
            return
        size = _size(aggregate)
        if size is None or size > self.budget // 16:
            return
        kept = _copy(aggregate)
        with self._lock:
            self._remove(aggregate.id)
            self._entries[aggregate.id] = (kept, latest, self.clock() + self.seconds, size)
            self._bytes += size
            while len(self._entries) > self.capacity or self._bytes > self.budget:
                self._remove(next(iter(self._entries)))  # the least recently used

    def saved(self, aggregates: Iterable[Aggregate], recordings: Iterable[Recording]) -> None:
        """Keeps what a command saved, as the store's latest. A user whose personal data the save
        erased is dropped instead: the aggregate in memory still holds it in plain."""
        latest, erased = {}, set()
        for recording in recordings:
            event = recording.domain_event
            latest[event.originator_id] = (event.originator_version, recording.notification.id)
            if type(event) in ERASING:
                erased.add(event.originator_id)
        self.drop(erased)
        for aggregate in aggregates:
            if aggregate.id in latest and aggregate.id not in erased:
                self.keep(aggregate, latest[aggregate.id])

    def drop(self, ids: Iterable[UUID]) -> None:
        with self._lock:
            for id in ids:
                self._remove(id)

    def _remove(self, id: UUID) -> None:
        """(Under the lock.)"""
        entry = self._entries.pop(id, None)
        if entry is not None:
            self._bytes -= entry[3]


def _size(aggregate: Aggregate) -> int | None:
    """The bytes of the aggregate's state as JSON, what its memory grows with; None when orjson
    cannot write it (nested deeper than it goes): such a one is not kept."""
    try:
        return len(orjson.dumps(vars(aggregate), default=str))
    except TypeError:  # orjson.JSONEncodeError is one
        return None


def _copy(aggregate: Aggregate) -> Aggregate:
    """A copy sharing the aggregate's attribute values, with its own list of pending events:
    an aggregate changes only by its events' apply methods rebinding attributes (domain/), and
    nothing changes a value in place (a benchmark's schema), so what a command does to its copy
    stays its own. A deep copy of a benchmark cost more than the load it saves."""
    copied = copy.copy(aggregate)
    copied._pending_events = []  # the library's list of events not yet saved
    return copied
