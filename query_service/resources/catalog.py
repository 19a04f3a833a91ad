"""Reads of benchmarks, sites, flavors and tags."""

from __future__ import annotations

from uuid import UUID

import falcon

from query_service.resources.reading import ReadResource
from query_service.views import catalog
from query_service.views.catalog import CatalogView

RECORD_NOT_FOUND = "Record {id} not found in the database"


class CatalogCollection(ReadResource):
    """GET /<kind> and GET /<kind>:search."""

    def __init__(self, engine, view: CatalogView):
        super().__init__(engine)
        self.view = view

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, self.view.list(conn, req.context.query))

    def on_get_search(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, self.view.search(conn, req.context.query))


class CatalogItem(ReadResource):
    def __init__(self, engine, view: CatalogView, not_found: str = RECORD_NOT_FOUND):
        super().__init__(engine)
        self.view = view
        self.not_found = not_found

    def on_get(self, req: falcon.Request, resp: falcon.Response, **ids: UUID) -> None:
        (id,) = ids.values()
        with self.engine.connect() as conn:
            self.send(resp, self.view.get(conn, id), self.not_found.format(id=id))


class SiteFlavors(ReadResource):
    """The flavors of one site (the site must exist, any status)."""

    def _scoped(self, req: falcon.Request, resp: falcon.Response, site_id: UUID, query_shape) -> None:
        with self.engine.connect() as conn:
            if catalog.SITES.get(conn, site_id) is None:
                self.send(resp, None, RECORD_NOT_FOUND.format(id=site_id))
            self.send(resp, query_shape(conn, req.context.query, *catalog.flavors_of(site_id)))

    def on_get(self, req: falcon.Request, resp: falcon.Response, site_id: UUID) -> None:
        self._scoped(req, resp, site_id, catalog.FLAVORS.list)

    def on_get_search(self, req: falcon.Request, resp: falcon.Response, site_id: UUID) -> None:
        self._scoped(req, resp, site_id, catalog.FLAVORS.search)


class FlavorSite(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, flavor_id: UUID) -> None:
        with self.engine.connect() as conn:
            self.send(resp, catalog.site_of_flavor(conn, flavor_id), RECORD_NOT_FOUND.format(id=flavor_id))
