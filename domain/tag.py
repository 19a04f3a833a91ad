"""A tag: a free label on results. No review, no uploader recorded (contract §5.4)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor

UNIQUE_SCOPE = "tag"


class Tag(Aggregate):
    kind = "Tag"

    @event("Created")
    def __init__(self, name: str, description: str | None, actor: Actor):
        self.name = name
        self.description = description
        self.removed = False

    @event("Updated")
    def update(self, name: str, description: str | None, actor: Actor) -> None:
        self.name = name
        if description is not None:
            self.description = description

    @event("Deleted")
    def delete(self, actor: Actor) -> None:
        self.removed = True
