"""Commands on users: register, refresh email, remove (a ban, with their results and claims), restore.

What a removed user submitted to the shared catalog (benchmarks, sites, flavors) stays, owned
by no one: other users' results rely on it (docs/security.md, "Removing users is a ban").
"""

from __future__ import annotations

import re
import unicodedata

from command_service.services import liveness
from command_service.services.directory import UserDirectory
from command_service.services.session import Session
from domain.actor import Actor
from domain.errors import NotFound, Refused
from domain.result import Result
from domain.user import User
from identity.tokens import Identity

NO_EMAIL = "No scope for email in oidc token"
# One plain address (RFC 5321 dot-atoms, UTF-8 allowed as RFC 6531 does): no display name,
# quotes, comments or lists, so that it can only ever name one recipient in a mail header.
_WORD = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\u0080-\U0010ffff-]*[A-Za-z0-9\u0080-\U0010ffff])?"
ADDRESS = re.compile(rf"(?P<local>{_WORD}(?:\.{_WORD})*)@{_LABEL}(?:\.{_LABEL})+")
MAX_ADDRESS, MAX_LOCAL_PART = 254, 64  # RFC 5321 4.5.3.1
UNDEFINED = "Cancelled, undefined users"
UNSELECTIVE = "Cancelled: users are removed by sub and iss together, or by email"


def _is_address(email: str) -> bool:
    """A sane single address: no control, format or separator characters (CR/LF would inject
    mail headers), within the SMTP length limits."""
    match = ADDRESS.fullmatch(email)
    return (
        match is not None
        and len(email) <= MAX_ADDRESS
        and len(match["local"]) <= MAX_LOCAL_PART
        and not any(unicodedata.category(character)[0] in "CZ" for character in email)
    )


def verified_email(identity: Identity) -> str:
    """The token's e-mail, once the provider vouches for it and it is one well-formed address:
    registration and /users/self:update check the same, in the contract's order (§5.7)."""
    if not identity.email:
        raise Refused(NO_EMAIL)
    if identity.email_verified is None:
        raise Refused("No email_verified status in user")
    if not identity.email_verified:
        raise Refused("Email unverified by OIDC provider")
    if not _is_address(identity.email):
        raise Refused("Email from the OIDC provider is not a single valid address")
    return identity.email


def register(session: Session, identity: Identity) -> tuple[User, int]:
    email = verified_email(identity)
    actor = Actor(identity.sub, identity.iss)
    user = session.get(User, User.create_id(identity.sub, identity.iss))
    if user is None:
        user = User(sub=identity.sub, iss=identity.iss, email=email, actor=actor)
    else:
        user.register_again(email, actor)  # Conflict when still registered, Forbidden when banned
    return user, session.save(user)


def update_email(session: Session, identity: Identity) -> tuple[User, int]:
    email = verified_email(identity)
    user = session.get(User, User.create_id(identity.sub, identity.iss))
    if user is None or not user.registered:
        raise NotFound("User not registered")
    user.update_email(email=email, actor=Actor(identity.sub, identity.iss))
    return user, session.save(user)


def _withdraw_claims(session: Session, actor: Actor, user: User, directory: UserDirectory) -> list[Result]:
    """A removed user's claims go with them; a result they alone hid is restored (as Q-3)."""
    changed = []
    for claim_id, result_id in directory.claims_by(user.sub, user.iss):
        result = liveness.live_result(session, result_id)
        if result is not None and claim_id in result.open_claims:
            result.dismiss_claim(claim_id, actor)
            changed.append(result)
    return changed


def remove(
    session: Session, actor: Actor, sub: str | None, iss: str | None, email: str | None, directory: UserDirectory
) -> tuple[list[User], int]:
    """Removes (and bans) the users matching every given argument. A sub alone, or an issuer
    alone, is refused: `iss=X` would remove every user of an issuer."""
    if sub is None and iss is None and email is None:
        raise Refused(UNDEFINED)
    if email is None and (sub is None or iss is None):
        raise Refused(UNSELECTIVE)
    candidates = [(sub, iss)] if sub is not None and iss is not None else directory.users(sub, iss, email)
    removed, results = [], []
    for candidate_sub, candidate_iss in candidates:
        user = session.get(User, User.create_id(candidate_sub, candidate_iss))
        if user is None or not user.registered or (email is not None and user.email != email):
            continue
        results += _withdraw_claims(session, actor, user, directory)
        user.remove(actor)
        removed.append(user)
    return removed, session.save(*removed, *{result.id: result for result in results}.values())


def restore(session: Session, actor: Actor, sub: str, iss: str) -> tuple[User, int]:
    user = session.get(User, User.create_id(sub, iss))
    if user is None:
        raise NotFound(f"User {sub}@{iss} not found")
    if not user.banned:
        raise Refused(f"User {sub}@{iss} was not removed")
    user.restore(actor)
    return user, session.save(user)
