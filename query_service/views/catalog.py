"""Benchmarks, sites, flavors, tags and users: rows whose stored `doc` is the public JSON."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping, Sequence

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Connection

from query_service import listing
from query_service.driver_reads import DriverRead
from read_model.tables import benchmarks, flavors, sites, tags, users

# Built listing statements are kept for queries of short arguments only, and few of them (one
# is about 6 KB): the memory they hold stays bounded, whatever URLs clients choose.
STATEMENTS_KEPT = 64
ARGUMENT_CHARS_KEPT = 200


def _key(query: Mapping) -> tuple | None:
    """The query's arguments as a key of a kept statement (lists as tuples), or None: an
    argument without a hash, or texts longer than ARGUMENT_CHARS_KEPT in all."""
    arguments = tuple(sorted((name, tuple(v) if isinstance(v, list) else v) for name, v in query.items()))
    if sum(len(str(value)) for _, value in arguments if value is not None) > ARGUMENT_CHARS_KEPT:
        return None
    try:
        hash(arguments)
    except TypeError:
        return None
    return arguments


@dataclass(frozen=True)
class CatalogView:
    table: object
    sortable: tuple[str, ...]
    exact: tuple[str, ...]  # list arguments that filter by equality
    searched: tuple[str, ...]  # columns `terms` match
    reviewed: bool = True  # has a status (default approved) and upload dates
    search_order: tuple[str, ...] = ("upload_datetime", "id")  # stable order when none is asked

    def _columns(self) -> Mapping:
        return {name: self.table.c[name] for name in self.sortable}

    def _common(self, query: Mapping) -> list:
        if not self.reviewed:
            return []
        return [listing.status_condition(self.table, query), *listing.upload_conditions(self.table, query)]

    def list(self, conn: Connection, query: Mapping, *scope) -> str:
        return self._page(conn, "list", query, scope)

    def search(self, conn: Connection, query: Mapping, *scope) -> str:
        return self._page(conn, "search", query, scope)

    def _statement(self, kind: str, query: Mapping, scope: Sequence) -> Select:
        if kind == "list":
            conditions = [*scope, *self._common(query), *listing.equal_conditions(self.table, query, self.exact)]
            order = [*listing.order_by(query["sort_by"], self._columns()), self.table.c[self.search_order[-1]]]
        else:
            searched = [self.table.c[name] for name in self.searched]
            conditions = [*scope, *self._common(query), *listing.search_conditions(query["terms"], searched)]
            order = listing.order_by(query["sort_by"], self._columns()) or [self.table.c[n] for n in self.search_order]
        rows = listing.Rows([self.table.c.doc], self.table, conditions, order)
        return listing.counted_page(rows, listing.PageRequest.of(query))

    def _page(self, conn: Connection, kind: str, query: Mapping, scope: Sequence) -> str:
        # Building a statement (and its cache key, which SQLAlchemy keeps with it) cost about as
        # much CPU as running it: the same arguments get the statement built before, and its
        # text compiled before. Others are built for the request, and SQLAlchemy compiles them
        # (its cache knows their shape).
        arguments = None if scope else _key(query)
        if arguments is None:
            found = conn.execute(self._statement(kind, query, scope)).all()
        else:
            found = _kept_page(self, kind, arguments).rows(conn)
        return listing.counted_page_document(found, listing.PageRequest.of(query))

    @functools.cached_property
    def _one(self) -> DriverRead:
        return DriverRead(select(self.table.c.doc).where(self.table.c.id == bindparam("id")))

    def get(self, conn: Connection, id) -> str | None:
        return self._one.value(conn, {"id": str(id)})


@functools.lru_cache(maxsize=STATEMENTS_KEPT)  # the pages asked last, over every view
def _kept_page(view: CatalogView, kind: str, arguments: tuple) -> DriverRead:
    return DriverRead(view._statement(kind, dict(arguments), ()))


BENCHMARKS = CatalogView(
    benchmarks,
    sortable=("id", "upload_datetime", "docker_image", "docker_tag", "name", "url", "description", "status"),
    exact=("docker_image", "docker_tag"),
    searched=("docker_image", "docker_tag", "description"),
)
SITES = CatalogView(
    sites,
    sortable=("id", "upload_datetime", "name", "address", "description", "status"),
    exact=("name", "address"),
    searched=("name", "address", "description"),
)
FLAVORS = CatalogView(
    flavors,
    sortable=("id", "upload_datetime", "name", "description", "site_id", "status"),
    exact=("name",),
    searched=("name", "description"),
)
TAGS = CatalogView(
    tags,
    sortable=("id", "name", "description"),
    exact=("name",),
    searched=("name", "description"),
    reviewed=False,
    search_order=("id",),
)
USERS = CatalogView(
    users,
    sortable=("sub", "iss", "email", "registration_datetime"),
    exact=("sub", "iss", "email"),
    searched=("email",),
    reviewed=False,
    search_order=("registration_datetime", "id"),
)


_SITE_OF_FLAVOR = DriverRead(
    select(sites.c.doc).join(flavors, flavors.c.site_id == sites.c.id).where(flavors.c.id == bindparam("id"))
)


def site_of_flavor(conn: Connection, flavor_id) -> str | None:
    return _SITE_OF_FLAVOR.value(conn, {"id": str(flavor_id)})


def flavors_of(site_id) -> Sequence:
    """The scope of a site's flavor listing."""
    return [flavors.c.site_id == str(site_id)]
