"""What every read resource shares: a connection to the read tables and JSON answers."""

from __future__ import annotations

import falcon
from sqlalchemy.engine import Engine

from http_api import errors


class ReadResource:
    def __init__(self, engine: Engine):
        self.engine = engine

    @staticmethod
    def send(resp: falcon.Response, document: str | None, not_found: str | None = None) -> None:
        """Answers stored JSON text; `None` is a 404 with `not_found` as its message."""
        if document is None:
            raise errors.message(404, not_found) if not_found else errors.abort(404)
        resp.content_type = falcon.MEDIA_JSON
        resp.text = document
