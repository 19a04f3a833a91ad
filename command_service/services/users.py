"""Commands on users: register, refresh email, remove (with everything they uploaded)."""

from __future__ import annotations

from domain.actor import Actor
from domain.errors import NotFound, Refused
from domain.result import Result
from domain.user import User
from eosc_perf.identity import Identity
from command_service.services import liveness
from command_service.services.session import Session
from projections.lookups import Lookups

NO_EMAIL = "No scope for email in oidc token"



def register(session: Session, identity: Identity) -> tuple[User, int]:
    if not identity.email:
        raise Refused(NO_EMAIL)
    actor = Actor(identity.sub, identity.iss)
    user = session.get(User, User.create_id(identity.sub, identity.iss))
    if user is None:
        user = User(sub=identity.sub, iss=identity.iss, email=identity.email, actor=actor)
    else:
        user.register_again(identity.email, actor)  # Conflict when still registered
    return user, session.save(user)


def update_email(session: Session, identity: Identity) -> tuple[User, int]:
    if not identity.email:
        raise Refused(NO_EMAIL)
    if identity.email_verified is None:
        raise Refused("No email_verified status in user")
    if not identity.email_verified:
        raise Refused("Email unverified by OIDC provider")
    user = session.get(User, User.create_id(identity.sub, identity.iss))
    if user is None or not user.registered:
        raise NotFound("User not registered")
    user.update_email(email=identity.email, actor=Actor(identity.sub, identity.iss))
    return user, session.save(user)


def _withdraw_claims(session: Session, actor: Actor, user: User, lookups: Lookups) -> list[Result]:
    """A removed user's claims go with them; a result they alone hid is restored (as Q-3)."""
    changed = []
    for claim_id, result_id in lookups.claims_by(user.sub, user.iss):
        result = liveness.live_result(session, result_id)
        if result is not None and claim_id in result.open_claims:
            result.dismiss_claim(claim_id, actor)
            changed.append(result)
    return changed


def remove(
    session: Session, actor: Actor, sub: str | None, iss: str | None, email: str | None, lookups: Lookups
) -> tuple[list[User], int]:
    if sub is None and iss is None and email is None:
        raise Refused("Cancelled, undefined users")
    candidates = [(sub, iss)] if sub is not None and iss is not None else lookups.users(sub, iss, email)
    removed, results = [], []
    for candidate_sub, candidate_iss in candidates:
        user = session.get(User, User.create_id(candidate_sub, candidate_iss))
        if user is None or not user.registered or (email is not None and user.email != email):
            continue
        results += _withdraw_claims(session, actor, user, lookups)
        user.remove(actor)
        removed.append(user)
    return removed, session.save(*removed, *{result.id: result for result in results}.values())


