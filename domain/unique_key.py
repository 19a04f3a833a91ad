"""Uniqueness kept in the event store itself.

A UniqueKey's id is a uuid5 of its scope and natural key, so two concurrent creates of the
same key both try to write version 1 of one aggregate and the store lets only one win.
Saved in the same `save()` as the item it points to; renames and deletes release it.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class UniqueKey(Aggregate):
    @staticmethod
    def create_id(scope: str, key: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/eosc-perf/unique/{scope}/{key}")

    @event("Reserved")
    def __init__(self, scope: str, key: str, owner_id: UUID):
        self.scope = scope
        self.key = key
        self.owner_id: UUID | None = owner_id

    @property
    def free(self) -> bool:
        return self.owner_id is None

    @event("ReservedAgain")
    def reserve(self, owner_id: UUID) -> None:
        self.owner_id = owner_id

    @event("Released")
    def release(self) -> None:
        self.owner_id = None
