"""Reasons a command is refused: the one error vocabulary below HTTP. http_api/errors.py maps each
to the contract's answer, in one place. Imports nothing."""


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


class Unregistered(DomainError):
    """The caller is not (or no longer) registered: the access gate's 403, when the command finds
    it after the gate admitted the caller from a copy no longer current."""

    def __init__(self, sub: str, iss: str):
        super().__init__("Forbidden")
        self.sub, self.iss = sub, iss


class Unavailable(DomainError):
    """A part the command depends on cannot answer yet (the read model is catching up): 503,
    to be retried shortly."""


class InvalidDocument(Refused):
    """A document (a result, a benchmark's JSON Schema) is refused at a place in it: `path` is the
    JSON path the contract's 422 body names beside the message."""

    def __init__(self, message: str, path: str = "$"):
        super().__init__(message)
        self.path = path


class TooLarge(DomainError):
    """The command would record an event larger than the event store and the bus carry (413)."""
