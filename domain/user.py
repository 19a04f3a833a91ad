"""A registered user, keyed by (sub, iss).

Removal by an admin is a ban: the user may not register again until an admin lifts it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor
from domain.errors import Conflict, Forbidden


class User(Aggregate):
    @staticmethod
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
            raise Forbidden("This user was removed by an administrator and may register again only once an "
                            "administrator restores them")
        self.trigger_event(self.RegisteredAgain, email=email, actor=actor)

    @event("EmailUpdated")
    def update_email(self, email: str, actor: Actor) -> None:
        self.email = email

    @event("Removed")
    def remove(self, actor: Actor) -> None:
        self.registered = False
        self.banned = True

    @event("Restored")
    def restore(self, actor: Actor) -> None:
        """Lifts the ban of a removed user: they may register again (nothing of theirs comes back)."""
        self.banned = False

    def uploaded(self, when: datetime) -> bool:
        """Whether an item uploaded at `when` belongs to the current registration (removal cascades)."""
        return self.registered and when >= self.registration_datetime
