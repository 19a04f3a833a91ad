"""Whether an item still exists once cascades are taken into account (contract §3.6).

Deleting a site, benchmark or flavor, or removing a user, is one event; what depended on it
is gone by implication. Projectors apply the same rule to the read tables, so both sides agree
without writing an event per cascaded result. A removed user's results and claims go with
them; the benchmarks, sites and flavors they submitted stay (other users' results use them),
except after a removal stored before the ban (version 1 of `User.Removed`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from command_service.services.session import Session
from domain.actor import Actor
from domain.benchmark import Benchmark
from domain.claim import Claim
from domain.flavor import Flavor
from domain.result import Result
from domain.review import ReviewedItem
from domain.site import Site
from domain.tag import Tag
from domain.user import User


def _uploader_alive(session: Session, uploader: Actor, uploaded_at: datetime) -> bool:
    user = session.get(User, User.create_id(uploader.sub, uploader.iss))
    return user is not None and user.uploaded(uploaded_at)


def _reviewed_alive(item: ReviewedItem | None) -> bool:
    return item is not None and not item.removed


def _catalog_alive(session: Session, item: ReviewedItem | None) -> bool:
    """A benchmark, site or flavor stays when its submitter is removed, unless an old (version 1)
    removal took it along (domain/user.py, `User.Removed`)."""
    if not _reviewed_alive(item):
        return False
    user = session.get(User, User.create_id(item.uploader.sub, item.uploader.iss))
    return user is None or user.submitted_to_catalog(item.created_on)


def live_benchmark(session: Session, id: UUID) -> Benchmark | None:
    benchmark = session.get(Benchmark, id)
    return benchmark if _catalog_alive(session, benchmark) else None


def live_site(session: Session, id: UUID) -> Site | None:
    site = session.get(Site, id)
    return site if _catalog_alive(session, site) else None


def live_flavor(session: Session, id: UUID) -> Flavor | None:
    flavor = session.get(Flavor, id)
    if _catalog_alive(session, flavor) and live_site(session, flavor.site_id):
        return flavor
    return None


def live_tag(session: Session, id: UUID) -> Tag | None:
    tag = session.get(Tag, id)
    return tag if tag is not None and not tag.removed else None


def live_result(session: Session, id: UUID) -> Result | None:
    """A result whose benchmark, flavor (and site) and uploader all still exist; it may be hidden."""
    result = session.get(Result, id)
    if (
        result is not None
        and _uploader_alive(session, result.uploader, result.created_on)
        and live_benchmark(session, result.benchmark_id)
        and live_flavor(session, result.flavor_id)
    ):
        return result
    return None


def live_claim(session: Session, id: UUID) -> Claim | None:
    claim = session.get(Claim, id)
    if _reviewed_alive(claim) and _uploader_alive(session, claim.uploader, claim.created_on):
        return claim
    return None


LIVE = {
    Benchmark: live_benchmark,
    Site: live_site,
    Flavor: live_flavor,
    Tag: live_tag,
    Result: live_result,
    Claim: live_claim,
}
