"""Items that are submitted by a user and reviewed by an admin: benchmarks, sites, flavors, claims.

New items start `on_review`; approve moves them to `approved`; reject removes them. Each
subclass gets its own copies of these event classes (`Benchmark.Approved`, `Site.Approved`),
so projectors and the mailer can tell the kinds apart by type.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.actor import Actor
from domain.errors import Refused

ON_REVIEW = "on_review"
APPROVED = "approved"


class ReviewedItem(Aggregate):
    kind = "Resource"  # used in messages: "<kind> <id> was already approved"
    # Each subclass sets `self.uploader` (the actor of its first event) in __init__.
    status = ON_REVIEW
    removed = False

    class Approved(Aggregate.Event):
        actor: Actor

        def apply(self, item: "ReviewedItem") -> None:
            item.status = APPROVED

    class Rejected(Aggregate.Event):
        actor: Actor

        def apply(self, item: "ReviewedItem") -> None:
            item.removed = True

    class Deleted(Aggregate.Event):
        actor: Actor

        def apply(self, item: "ReviewedItem") -> None:
            item.removed = True

    def _ensure_on_review(self) -> None:
        if self.status != ON_REVIEW:
            raise Refused(f"{self.kind} {self.id} was already approved")

    def approve(self, actor: Actor) -> None:
        self._ensure_on_review()
        self.trigger_event(self.Approved, actor=actor)

    def reject(self, actor: Actor) -> None:
        self._ensure_on_review()
        self.trigger_event(self.Rejected, actor=actor)

    def delete(self, actor: Actor) -> None:
        self.trigger_event(self.Deleted, actor=actor)
