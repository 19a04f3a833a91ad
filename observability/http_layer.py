"""The HTTP layer of both API services: each request gets an id, is counted and timed by its
route template, and logged in one line; GET /metrics answers with the metrics.

`observed(app, ...)` wraps a falcon app whose middleware list starts with `RouteTemplate()`,
which hands the matched route template (not the raw path: bounded label values) to the wrapper.
"""

from __future__ import annotations

import os
import re
import time
from typing import Iterable

from observability import exposition, metrics
from observability.logs import REQUEST_ID, log_request

ROUTE_KEY = "observability.route"
UNMATCHED = "unmatched"  # no route, or refused before routing
METRICS_PATH = "/metrics"
# A caller's (or a proxy's) request id is kept when it is a plain token of sane length.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RouteTemplate:
    """falcon middleware (first in the list): the template of the route that answered."""

    def process_response(self, req, resp, resource, req_succeeded: bool) -> None:
        if req.uri_template:
            req.env[ROUTE_KEY] = req.uri_template


def request_id(header: str | None) -> str:
    # 128 random bits in 32 hex digits, as a uuid4's hex, without building a UUID for each request.
    return header if header and SANE_REQUEST_ID.fullmatch(header) else os.urandom(16).hex()


def observed(app, service: str, collectors: Iterable = ()):
    """`app` with request ids, metrics, request logs and GET /metrics. /metrics is served only
    at the root (no X-Script-Name prefix): the public prefix /api/v1 never reaches it."""
    scraped = exposition.registry(collectors)

    def answer_metrics(environ, start_response):
        body = exposition.text(scraped)
        start_response(
            "200 OK",
            [
                ("Content-Type", exposition.CONTENT_TYPE_LATEST),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def wrapped(environ, start_response):
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET")
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        target = app
        if environ.get("PATH_INFO") == METRICS_PATH and not environ.get("SCRIPT_NAME") and method in ("GET", "HEAD"):
            environ[ROUTE_KEY] = METRICS_PATH
            target = answer_metrics
        answered = ["500"]  # what the server sends when the app raises

        def start(status: str, headers, exc_info=None):
            answered[0] = status.split(" ", 1)[0]
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append(("X-Request-ID", rid))
            return start_response(status, headers, exc_info)

        token = REQUEST_ID.set(rid)
        try:
            return target(environ, start)
        finally:
            seconds = time.perf_counter() - started
            route = environ.get(ROUTE_KEY, UNMATCHED)
            status = int(answered[0]) if answered[0].isdigit() else 500
            metrics.request_answered(service, route, method, status, seconds)
            path = environ.get("PATH_INFO", "")
            log_request(
                f"{method} {path} {status} {seconds * 1000:.1f} ms",
                {
                    "request_id": rid,
                    "route": route,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "client": environ.get("REMOTE_ADDR", "-"),
                },
            )
            REQUEST_ID.reset(token)

    return wrapped
