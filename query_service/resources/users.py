"""Reads of users, the caller's registration and admin check, and pending submits."""

from __future__ import annotations

import falcon

from query_service.resources.reading import ReadResource
from query_service.views import catalog, submits, users


class UserCollection(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, catalog.USERS.list(conn, req.context.query))

    def on_get_search(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, catalog.USERS.search(conn, req.context.query))


class Self(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity = req.context.caller.identity
        with self.engine.connect() as conn:
            self.send(resp, users.registration(conn, identity.sub, identity.iss), "User not registered")

    def on_get_try_admin(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = 204  # the gate already refused non-admins


class Submits(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, submits.list_submits(conn, req.context.query))
