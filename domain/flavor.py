"""A flavor: a machine type offered by one site. It never moves to another site."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.actor import Actor
from domain.review import ReviewedItem

UNIQUE_SCOPE = "flavor"


def unique_name(site_id: UUID, name: str) -> str:
    return f"{site_id}/{name}"


class Flavor(ReviewedItem):
    kind = "Flavor"

    @event("Submitted")
    def __init__(self, site_id: UUID, name: str, description: str | None, actor: Actor):
        self.site_id = site_id
        self.name = name
        self.description = description
        self.uploader = actor

    @event("Updated")
    def update(self, name: str, description: str | None, actor: Actor) -> None:
        self.name = name
        if description is not None:
            self.description = description
