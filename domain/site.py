"""A site: a cloud or HPC provider where benchmarks run."""

from __future__ import annotations

from eventsourcing.domain import event

from domain.actor import Actor
from domain.review import ReviewedItem

UNIQUE_SCOPE = "site"


class Site(ReviewedItem):
    kind = "Site"

    @event("Submitted")
    def __init__(self, name: str, address: str, description: str | None, actor: Actor):
        self.name = name
        self.address = address
        self.description = description
        self.uploader = actor

    @event("Updated")
    def update(self, name: str, address: str, description: str | None, actor: Actor) -> None:
        self.name = name
        self.address = address
        if description is not None:
            self.description = description
