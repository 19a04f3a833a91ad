"""Commands on results and claims: upload, replace tags, delete, claim, review claims."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from uuid import UUID

from command_service.services import liveness, schemas
from command_service.services.session import Session
from domain.actor import Actor
from domain.benchmark import Benchmark
from domain.claim import Claim
from domain.errors import InvalidDocument, NotFound, NotOwner, Refused
from domain.flavor import Flavor
from domain.result import Result
from domain.review import APPROVED
from domain.site import Site
from domain.tag import Tag
from domain.user import User


@dataclass(frozen=True)
class Uploaded:
    """A new result with what it embeds, for the 201 answer."""

    result: Result
    benchmark: Benchmark
    site: Site
    flavor: Flavor
    tags: list[Tag]


def _live_tags(session: Session, tags_ids: list[UUID]) -> list[Tag]:
    """The tags, each once (duplicates collapse, Q-9); an unknown id is a 404 (Q-8)."""
    tags = []
    for tag_id in dict.fromkeys(tags_ids):
        tag = liveness.live_tag(session, tag_id)
        if tag is None:
            raise NotFound(f"Tag {tag_id} not in database")
        tags.append(tag)
    return tags


def _check_finite(value, path: str = "$") -> None:
    """Numbers a double cannot hold (`1e400` reads as infinity) could be neither stored as JSON
    nor compared by JSON filters: refused like a schema violation, with their path."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, f"{path}[{index}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
        if not finite:
            raise InvalidDocument("Number out of range", path)


def upload(
    session: Session,
    actor: Actor,
    execution_datetime: datetime,
    benchmark_id: UUID,
    flavor_id: UUID,
    tags_ids: list[UUID],
    document: dict,
    validators: schemas.ResultValidators,
) -> tuple[Uploaded, int]:
    if execution_datetime.tzinfo is None:
        raise Refused("Execution date must include timezone")
    executed = execution_datetime.astimezone(timezone.utc)
    if executed > datetime.now(timezone.utc):
        raise Refused("Execution date cannot be in future")
    benchmark = liveness.live_benchmark(session, benchmark_id)
    if benchmark is None:
        raise NotFound(f"Benchmark {benchmark_id} not in database")
    if benchmark.status != APPROVED:
        raise Refused(f"Benchmark {benchmark_id} not approved")
    flavor = liveness.live_flavor(session, flavor_id)
    if flavor is None:
        raise NotFound(f"Flavor {flavor_id} not in database")
    if flavor.status != APPROVED:
        raise Refused(f"Flavor {flavor_id} not approved")
    tags = _live_tags(session, tags_ids)
    _check_finite(document)
    schemas.check_result(document, benchmark, validators)
    result = Result(
        benchmark_id=benchmark.id,
        flavor_id=flavor.id,
        site_id=flavor.site_id,
        execution_datetime=executed.replace(tzinfo=None),
        json=document,
        tags_ids=[t.id for t in tags],
        actor=actor,
    )
    site = session.get(Site, flavor.site_id)
    # Listed in name order, as every read of the result lists them.
    shown = sorted(tags, key=lambda t: t.name)
    return Uploaded(result, benchmark, site, flavor, shown), session.save(result)


def existing_result(session: Session, id: UUID) -> Result:
    result = liveness.live_result(session, id)
    if result is None:
        raise NotFound(f"Result {id} not found in the database")
    return result


def replace_tags(session: Session, actor: Actor, admin: bool, id: UUID, tags_ids: list[UUID] | None):
    result = existing_result(session, id)
    if not admin and result.uploader != actor:
        raise NotOwner()
    if tags_ids is None:
        return result, 0  # `{}`: nothing to change
    tags = _live_tags(session, tags_ids)
    result.replace_tags([t.id for t in tags], actor)
    return result, session.save(result)


def delete(session: Session, actor: Actor, id: UUID) -> tuple[Result, int]:
    result = existing_result(session, id)
    if result.deleted:
        return result, 0  # deleting again changes nothing
    result.delete(actor)
    return result, session.save(result)


def claim(session: Session, actor: Actor, id: UUID, message: str) -> tuple[tuple[Claim, User], int]:
    result = existing_result(session, id)
    if result.deleted:  # an admin-deleted result is gone for everyone but its owner
        raise NotFound(f"Result {id} not found in the database")
    new_claim = Claim(result_id=result.id, message=message, actor=actor)
    result.claim(new_claim.id, actor)
    claimer = session.registered_user(actor)
    return (new_claim, claimer), session.save(new_claim, result)


def existing_claim(session: Session, id: UUID) -> Claim:
    found = liveness.live_claim(session, id)
    if found is None:
        raise NotFound(f"Claim {id} not found in the database")
    return found


def approve_claim(session: Session, actor: Actor, id: UUID) -> tuple[Claim, int]:
    found = existing_claim(session, id)
    found.approve(actor)
    return found, session.save(found)


def reject_claim(session: Session, actor: Actor, id: UUID) -> tuple[Claim, int]:
    """The claim goes; a result no longer claimed, and not deleted, is restored (Q-3)."""
    found = existing_claim(session, id)
    found.reject(actor)
    result = liveness.live_result(session, found.result_id)
    if result is not None and found.id in result.open_claims:
        result.dismiss_claim(found.id, actor)
    else:
        result = None
    return found, session.save(found, result)
