"""Natural keys held in the event store (design §2.3): reserve, move on rename, release."""

from __future__ import annotations

from uuid import UUID

from command_service.services import liveness
from command_service.services.session import Session
from domain.errors import Conflict
from domain.unique_key import UniqueKey


def reserve(
    session: Session, scope: str, key: str, owner_id: UUID, owner_kind: type, conflict: str
) -> UniqueKey | None:
    """The key for `owner_id`, or Conflict when a living item holds it. Returns the changed
    UniqueKey to save with the owner (None when the owner already holds it)."""
    unique = session.get(UniqueKey, UniqueKey.create_id(scope, key))
    if unique is None:
        return UniqueKey(scope=scope, key=key, owner_id=owner_id)
    if unique.owner_id == owner_id:
        return None
    holder_alive = unique.owner_id is not None and liveness.LIVE[owner_kind](session, unique.owner_id)
    if holder_alive:
        raise Conflict(conflict)
    unique.reserve(owner_id)  # free, or held by an item a cascade removed
    return unique


def release(session: Session, scope: str, key: str, owner_id: UUID) -> UniqueKey | None:
    unique = session.get(UniqueKey, UniqueKey.create_id(scope, key))
    if unique is None or unique.owner_id != owner_id:
        return None
    unique.release()
    return unique


def move(session: Session, scope: str, old_key: str, new_key: str, owner_id: UUID, owner_kind: type, conflict: str):
    """Renaming: reserve the new key first (may conflict), then release the old one."""
    if old_key == new_key:
        return []
    return [
        reserve(session, scope, new_key, owner_id, owner_kind, conflict),
        release(session, scope, old_key, owner_id),
    ]
