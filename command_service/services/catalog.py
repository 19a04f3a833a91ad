"""Commands on benchmarks, sites, flavors and tags."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from command_service.services import liveness, schemas, uniqueness
from command_service.services.session import Session
from domain import benchmark as benchmarks
from domain import flavor as flavors
from domain import site as sites
from domain import tag as tags
from domain.actor import Actor
from domain.benchmark import Benchmark
from domain.errors import NotFound
from domain.flavor import Flavor
from domain.review import ReviewedItem
from domain.site import Site
from domain.tag import Tag

NOT_FOUND = {
    Benchmark: "Benchmark {id} not found in the database",
    Site: "Record {id} not found in the database",
    Flavor: "Record {id} not found in the database",
    Tag: "Record {id} not found in the database",
}


def existing(session: Session, kind: type, id: UUID):
    item = liveness.LIVE[kind](session, id)
    if item is None:
        raise NotFound(NOT_FOUND[kind].format(id=id))
    return item


# --- benchmarks -----------------------------------------------------------------------------
class ImageCheck(Protocol):
    """Whether a benchmark's container image exists (command_service/image_registry.py asks its
    registry). An image that cannot be validated is refused with a domain `Refused` (422)."""

    def check(self, docker_image: str, docker_tag: str) -> None: ...


def check_image(images: ImageCheck | None, fields: dict) -> None:
    """What a benchmark must pass first, on POST and PUT alike (Q-12): its image exists (`images`
    is None when IMAGE_CHECK is off). Asked before the command runs, outside it: the registry is
    over the network, and a command may hold the process's turn to write (session.Commands)."""
    if images is not None:
        images.check(fields["docker_image"], fields["docker_tag"])


def submit_benchmark(session: Session, actor: Actor, fields: dict) -> tuple[Benchmark, int]:
    schemas.check_benchmark_schema(fields["json_schema"])  # before anything is read
    benchmark = Benchmark(description=fields.get("description"), actor=actor, **_benchmark_fields(fields))
    name = benchmarks.unique_name(benchmark.docker_image, benchmark.docker_tag)
    key = uniqueness.reserve(
        session, benchmarks.UNIQUE_SCOPE, name, benchmark.id, Benchmark, f"Benchmark {name} already submitted/exists"
    )
    return benchmark, session.save(benchmark, key)


def _benchmark_fields(fields: dict) -> dict:
    return {name: fields[name] for name in ("docker_image", "docker_tag", "url", "json_schema")}


def update_benchmark(session: Session, actor: Actor, id: UUID, fields: dict) -> tuple[Benchmark, int]:
    schemas.check_benchmark_schema(fields["json_schema"])  # before the benchmark is looked up
    benchmark = existing(session, Benchmark, id)
    old_name = benchmark.name
    new_name = benchmarks.unique_name(fields["docker_image"], fields["docker_tag"])
    keys = uniqueness.move(
        session,
        benchmarks.UNIQUE_SCOPE,
        old_name,
        new_name,
        id,
        Benchmark,
        "Changes conflict submitted/existing benchmark",
    )
    benchmark.update(description=fields.get("description"), actor=actor, **_benchmark_fields(fields))
    return benchmark, session.save(benchmark, *keys)


# --- sites ----------------------------------------------------------------------------------
def submit_site(session: Session, actor: Actor, fields: dict) -> tuple[Site, int]:
    site = Site(name=fields["name"], address=fields["address"], description=fields.get("description"), actor=actor)
    key = uniqueness.reserve(
        session, sites.UNIQUE_SCOPE, site.name, site.id, Site, f"Site {site.name} already submitted/exists"
    )
    return site, session.save(site, key)


def update_site(session: Session, actor: Actor, id: UUID, fields: dict) -> tuple[Site, int]:
    site = existing(session, Site, id)
    keys = uniqueness.move(
        session, sites.UNIQUE_SCOPE, site.name, fields["name"], id, Site, "Changes conflict submitted/existing site"
    )
    site.update(name=fields["name"], address=fields["address"], description=fields.get("description"), actor=actor)
    return site, session.save(site, *keys)


# --- flavors --------------------------------------------------------------------------------
def add_flavor(session: Session, actor: Actor, site_id: UUID, fields: dict) -> tuple[Flavor, int]:
    existing(session, Site, site_id)  # any status: flavors may be added to a site on review
    flavor = Flavor(site_id=site_id, name=fields["name"], description=fields.get("description"), actor=actor)
    key = uniqueness.reserve(
        session,
        flavors.UNIQUE_SCOPE,
        flavors.unique_name(site_id, flavor.name),
        flavor.id,
        Flavor,
        f"Flavor {flavor.name} already submitted/exists",
    )
    return flavor, session.save(flavor, key)


def update_flavor(session: Session, actor: Actor, id: UUID, fields: dict) -> tuple[Flavor, int]:
    flavor = existing(session, Flavor, id)
    keys = uniqueness.move(
        session,
        flavors.UNIQUE_SCOPE,
        flavors.unique_name(flavor.site_id, flavor.name),
        flavors.unique_name(flavor.site_id, fields["name"]),
        id,
        Flavor,
        "Changes conflict submitted/existing flavor",
    )
    flavor.update(name=fields["name"], description=fields.get("description"), actor=actor)
    return flavor, session.save(flavor, *keys)


# --- review and removal of benchmarks, sites, flavors ---------------------------------------
def _unique_key_of(item: ReviewedItem) -> tuple[str, str]:
    if isinstance(item, Benchmark):
        return benchmarks.UNIQUE_SCOPE, item.name
    if isinstance(item, Site):
        return sites.UNIQUE_SCOPE, item.name
    return flavors.UNIQUE_SCOPE, flavors.unique_name(item.site_id, item.name)


def approve(session: Session, actor: Actor, kind: type, id: UUID) -> tuple[ReviewedItem, int]:
    item = existing(session, kind, id)
    item.approve(actor)
    return item, session.save(item)


def reject(session: Session, actor: Actor, kind: type, id: UUID) -> tuple[ReviewedItem, int]:
    item = existing(session, kind, id)
    item.reject(actor)
    return item, session.save(item, uniqueness.release(session, *_unique_key_of(item), id))


def delete(session: Session, actor: Actor, kind: type, id: UUID) -> tuple[ReviewedItem, int]:
    item = existing(session, kind, id)
    item.delete(actor)
    return item, session.save(item, uniqueness.release(session, *_unique_key_of(item), id))


# --- tags -----------------------------------------------------------------------------------
def create_tag(session: Session, actor: Actor, fields: dict) -> tuple[Tag, int]:
    tag = Tag(name=fields["name"], description=fields.get("description"), actor=actor)
    key = uniqueness.reserve(
        session, tags.UNIQUE_SCOPE, tag.name, tag.id, Tag, f"Tag {tag.name} already submitted/exists"
    )
    return tag, session.save(tag, key)


def update_tag(session: Session, actor: Actor, id: UUID, fields: dict) -> tuple[Tag, int]:
    tag = existing(session, Tag, id)
    keys = uniqueness.move(
        session, tags.UNIQUE_SCOPE, tag.name, fields["name"], id, Tag, "Changes conflict submitted/existing tag"
    )
    tag.update(name=fields["name"], description=fields.get("description"), actor=actor)
    return tag, session.save(tag, *keys)


def delete_tag(session: Session, actor: Actor, id: UUID) -> tuple[Tag, int]:
    tag = existing(session, Tag, id)
    tag.delete(actor)
    return tag, session.save(tag, uniqueness.release(session, tags.UNIQUE_SCOPE, tag.name, id))
