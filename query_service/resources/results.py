"""Reads of results and claims, including the caller's own."""

from __future__ import annotations

from uuid import UUID

import falcon
from sqlalchemy.engine import Engine

from http_api import errors
from query_service import deep_pages
from query_service.resources.reading import ReadResource
from query_service.views import claims, results
from query_service.views.users import registration


class ResultCollection(ReadResource):
    def __init__(self, engine: Engine):
        super().__init__(engine)
        self.boundaries = deep_pages.PageBoundaries()  # learnt by this worker's listings

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, results.list_results(conn, req.context.query, self.boundaries))

    def on_get_search(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, results.search_results(conn, req.context.query))


class ResultItem(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        with self.engine.connect() as conn:
            self.send(resp, results.get_result(conn, result_id), f"Result {result_id} not found in the database")


class ResultUploader(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        with self.engine.connect() as conn:
            uploader = results.uploader_of(conn, result_id)
            if uploader is None:
                raise errors.message(404, f"Result {result_id} not found in the database")
            self.send(resp, registration(conn, uploader.sub, uploader.iss))


class ResultClaims(ReadResource):
    """Owner or admin: 404 for an unknown result first, then 403 for other callers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        caller = req.context.caller
        with self.engine.connect() as conn:
            uploader = results.uploader_of(conn, result_id)
            if uploader is None:
                raise errors.message(404, f"Result {result_id} not found in the database")
            if not caller.admin and uploader != caller.actor:
                raise errors.abort(403)
            self.send(resp, claims.list_of_result(conn, result_id, req.context.query, with_email=caller.admin))


class ClaimCollection(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, claims.list_claims(conn, req.context.query))


class ClaimItem(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, report_id: UUID) -> None:
        with self.engine.connect() as conn:
            self.send(resp, claims.get_claim(conn, report_id), f"Claim {report_id} not found in the database")


class OwnResults(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, results.list_uploaded_by(conn, req.context.caller.actor, req.context.query))


class OwnClaims(ReadResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.engine.connect() as conn:
            self.send(resp, claims.list_by(conn, req.context.caller.actor, req.context.query))
