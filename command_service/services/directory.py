"""The port through which commands find users and claims: the event store has no index by
e-mail or by uploader, the read model has. Whatever it returns is re-checked on the aggregates
before anything is changed. Its adapter: command_service/adapters/user_directory.py."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class UserDirectory(Protocol):
    def users(self, sub: str | None, iss: str | None, email: str | None) -> list[tuple[str, str]]:
        """(sub, iss) of the users matching every given value: the candidates of `POST /users:remove`.
        Raises domain.errors.Unavailable when it cannot answer with every committed event included."""
        ...

    def claims_by(self, sub: str, iss: str) -> list[tuple[UUID, UUID]]:
        """(claim id, result id) of the claims a user made that are not rejected; raises as `users`."""
        ...
