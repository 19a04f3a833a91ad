"""A registered user, keyed by (sub, iss).

Removal by an admin is a ban: the user may not register again until an admin lifts it.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.errors import Conflict, Forbidden


class User(Aggregate):
    @staticmethod
    @lru_cache(maxsize=4096)  # asked several times per command (the caller, an uploader): a SHA-1 each
    def create_id(sub: str, iss: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"/eosc-perf/users/{iss}/{sub}")

    @event("Registered")
    def __init__(self, sub: str, iss: str, email: str, actor: Actor):
        self.sub = sub
        self.iss = iss
        self.email = email
        self.registered = True
        self.banned = False
        self.registration_datetime: datetime = self.created_on

    @property
    def identity(self) -> Actor:
        return Actor(self.sub, self.iss)

    class RegisteredAgain(Aggregate.Event):
        """The registration time is this event's own time: `modified_on` is only set after apply."""

        email: str
        actor: Actor

        def apply(self, user: "User") -> None:
            user.email = self.email
            user.registered = True
            user.registration_datetime = self.timestamp

    def register_again(self, email: str, actor: Actor) -> None:
        """A removed user whose ban was lifted may register anew; what they uploaded before stays gone."""
        if self.registered:
            raise Conflict("User already submitted/exists")
        if self.banned:
            raise Forbidden(
                "This user was removed by an administrator and may register again only once an "
                "administrator restores them"
            )
        self.trigger_event(self.RegisteredAgain, email=email, actor=actor)

    @event("EmailUpdated")
    def update_email(self, email: str, actor: Actor) -> None:
        self.email = email

    class Removed(Aggregate.Event):
        """Version 2: the benchmarks, sites and flavors the user submitted stay. Stores written
        before the ban hold version 1, when they went with the user; upcasting keeps that meaning,
        so replaying an old log rebuilds what its readers saw."""

        class_version = 2
        actor: Actor
        catalog_kept: bool

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["catalog_kept"] = False

        def apply(self, user: "User") -> None:
            user.registered = False
            user.banned = True
            if not self.catalog_kept:
                user.catalog_removed_on = self.timestamp

    catalog_removed_on = None  # time of the last removal that took the user's catalog along (version 1)

    def remove(self, actor: Actor) -> None:
        self.trigger_event(self.Removed, actor=actor, catalog_kept=True)

    @event("Restored")
    def restore(self, actor: Actor) -> None:
        """Lifts the ban of a removed user: they may register again (nothing of theirs comes back)."""
        self.banned = False

    def uploaded(self, when: datetime) -> bool:
        """Whether an item uploaded at `when` belongs to the current registration (removal cascades)."""
        return self.registered and when >= self.registration_datetime

    def submitted_to_catalog(self, when: datetime) -> bool:
        """Whether a benchmark, site or flavor submitted at `when` survived the user's removals:
        only a removal of version 1 took the catalog along (see `Removed`)."""
        return self.catalog_removed_on is None or when >= self.catalog_removed_on
