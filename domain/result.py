"""A benchmark result uploaded by a user, and the claims that hide it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor


class Result(Aggregate):
    kind = "Result"

    @event("Uploaded")
    def __init__(
        self,
        benchmark_id: UUID,
        flavor_id: UUID,
        site_id: UUID,
        execution_datetime: datetime,
        json: dict,
        tags_ids: list[UUID],
        actor: Actor,
    ):
        self.benchmark_id = benchmark_id
        self.flavor_id = flavor_id
        self.site_id = site_id  # copied from the flavor: a flavor never moves
        self.execution_datetime = execution_datetime  # naive UTC
        self.json = json
        self.tags_ids = list(tags_ids)
        self.uploader = actor
        self.open_claims: list[UUID] = []  # claims not rejected; approved ones keep hiding it
        self.deleted = False

    @property
    def hidden(self) -> bool:
        return self.deleted or bool(self.open_claims)

    @event("TagsReplaced")
    def replace_tags(self, tags_ids: list[UUID], actor: Actor) -> None:
        self.tags_ids = list(tags_ids)

    @event("Claimed")
    def claim(self, claim_id: UUID, actor: Actor) -> None:
        self.open_claims.append(claim_id)

    def dismiss_claim(self, claim_id: UUID, actor: Actor) -> None:
        """A rejected claim stops hiding the result; the last one restores it (unless deleted)."""
        self._claim_dismissed(claim_id=claim_id, actor=actor)
        if not self.hidden:
            self._restored(actor=actor)

    @event("ClaimDismissed")
    def _claim_dismissed(self, claim_id: UUID, actor: Actor) -> None:
        self.open_claims.remove(claim_id)

    @event("Restored")
    def _restored(self, actor: Actor) -> None:
        pass

    @event("Deleted")
    def delete(self, actor: Actor, reason: str = "deleted") -> None:
        self.deleted = True
