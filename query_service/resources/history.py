"""Item histories, the caller's own history, the admins' audit search and the public change feed."""

from __future__ import annotations

from uuid import UUID

import falcon

from domain.user import User
from http_api import errors
from query_service.resources.reading import ReadResource
from query_service.views import history


class ItemHistory(ReadResource):
    """GET /<kind>/{id}/history: admins, and the item's uploader (404 for an unknown item first,
    then 403 for other callers, as a result's claims). `kind`: the aggregate's class name."""

    def __init__(self, engine, kind: str, not_found: str, *, with_related: bool = False):
        super().__init__(engine)
        self.kind = kind
        self.not_found = not_found
        self.with_related = with_related

    def on_get(self, req: falcon.Request, resp: falcon.Response, **ids: UUID) -> None:
        (id,) = ids.values()
        caller = req.context.caller
        with self.engine.connect() as conn:
            found = history.item(conn, id)
            if found is None or not found.type.startswith(self.kind + "."):
                raise errors.message(404, self.not_found.format(id=id))
            if not caller.admin and found.creator != caller.actor:
                raise errors.abort(403)
            viewer = None if caller.admin else caller.actor
            self.send(resp, history.history(conn, id, req.context.query, viewer, with_related=self.with_related))


class OwnHistory(ReadResource):
    """GET /users/self/history: the caller's registration, e-mail changes, removals."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = req.context.caller
        user_id = User.create_id(caller.identity.sub, caller.identity.iss)
        with self.engine.connect() as conn:
            self.send(resp, history.history(conn, user_id, req.context.query, None if caller.admin else caller.actor))


class EventSearch(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, history.search(conn, req.context.query))


class EventFeed(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.context.query
        with self.engine.connect() as conn:
            self.send(resp, history.feed(conn, query["after"], query["limit"]))
