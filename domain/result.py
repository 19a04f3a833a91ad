"""A benchmark result uploaded by a user, and the claims that hide it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.errors import Conflict


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
        # Claims not rejected, with their claimers; approved ones keep hiding the result.
        self.open_claims: dict[UUID, Actor] = {}
        self.deleted = False

    @property
    def hidden(self) -> bool:
        return self.deleted or bool(self.open_claims)

    @event("TagsReplaced")
    def replace_tags(self, tags_ids: list[UUID], actor: Actor) -> None:
        self.tags_ids = list(tags_ids)

    def claim(self, claim_id: UUID, actor: Actor) -> None:
        """One open claim per user: claiming again sends no second mail nor review entry. Saved
        with the result's version, so two racing claims of one user cannot both pass."""
        if actor in self.open_claims.values():
            raise Conflict(f"Result {self.id} was already claimed by this user")
        self._claimed(claim_id=claim_id, actor=actor)

    @event("Claimed")
    def _claimed(self, claim_id: UUID, actor: Actor) -> None:
        self.open_claims[claim_id] = actor

    def dismiss_claim(self, claim_id: UUID, actor: Actor) -> None:
        """A rejected claim stops hiding the result; the last one restores it (unless deleted)."""
        self._claim_dismissed(claim_id=claim_id, actor=actor)
        if not self.hidden:
            self._restored(actor=actor)

    @event("ClaimDismissed")
    def _claim_dismissed(self, claim_id: UUID, actor: Actor) -> None:
        del self.open_claims[claim_id]

    @event("Restored")
    def _restored(self, actor: Actor) -> None:
        pass

    @event("Deleted")
    def delete(self, actor: Actor, reason: str = "deleted") -> None:
        self.deleted = True
