"""A claim: a user's report that a result is doubtful. Reviewed by an admin."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.actor import Actor
from domain.review import ReviewedItem


class Claim(ReviewedItem):
    kind = "Resource"  # the original's message: "Resource <id> was already approved"
    resource_type = "result"

    @event("Submitted")
    def __init__(self, result_id: UUID, message: str, actor: Actor):
        self.result_id = result_id
        self.message = message
        self.uploader = actor
