"""Reasons a command is refused. The command service maps each to its HTTP answer."""


class DomainError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The addressed item does not exist (or is gone by a cascade)."""


class Conflict(DomainError):
    """A uniqueness key is taken, or a concurrent change won."""


class Refused(DomainError):
    """The item exists but is in a state that does not allow the command (422)."""


class Forbidden(DomainError):
    """The caller may never do this, whatever the item's state (403 with the message)."""


class NotOwner(DomainError):
    """Only the uploader or an admin may do this (bare 403)."""

    def __init__(self):
        super().__init__("Forbidden")


class Unavailable(DomainError):
    """A part the command depends on cannot answer yet (the read model is catching up): 503,
    to be retried shortly."""
