"""Who did something: every event records its actor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """An OIDC identity: users are keyed by (sub, iss); email is only an attribute."""

    sub: str
    iss: str
