"""Headers on every answer of both services.

`X-Content-Type-Options: nosniff`: a browser takes our JSON for JSON, never sniffs it into HTML
or script. `Cache-Control: no-store` on every answer to a non-public operation: those depend on
the caller's token (their e-mail, their results, an admin's lists), and no browser or shared
cache may keep them. (Public answers are the same for everyone and carry an ETag instead.)
"""

from __future__ import annotations

import falcon


class ResponseHeaders:
    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        resp.set_header("X-Content-Type-Options", "nosniff")
        operation = req.context.get("operation")  # set by the request gate for routed API operations
        if operation is not None and operation.access != "public":
            resp.cache_control = ["no-store"]
