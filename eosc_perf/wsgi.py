"""WSGI plumbing shared by the deployments: proxy headers and path clean-up, and the
embedded default's one-app routing of reads and writes."""

from __future__ import annotations

import re

DOUBLE_SLASHES = re.compile(r"/{2,}")
READ_METHODS = frozenset({"GET", "HEAD"})
# A path prefix of plain segments (/api/v1): letters, digits and -._~, no segment of dots.
SCRIPT_NAME = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+")
MAX_SCRIPT_NAME = 200


def script_name(header: str | None) -> str:
    """The prefix an `X-Script-Name` header names, or "" when it is not a plain path prefix.
    Only the proxy sends it (deploy/nginx clears a client's own); a value the proxy never sends
    is ignored, so a forged one can neither steer links in the Swagger page nor routing."""
    prefix = (header or "").rstrip("/")
    return prefix if len(prefix) <= MAX_SCRIPT_NAME and SCRIPT_NAME.fullmatch(prefix) else ""


def behind_proxy(app):
    """Honours `X-Script-Name` (the API under a prefix such as /api/v1) and `X-Scheme`,
    and merges double slashes, as the original does."""

    def wrapped(environ, start_response):
        path = DOUBLE_SLASHES.sub("/", environ.get("PATH_INFO", "") or "/")
        prefix = script_name(environ.get("HTTP_X_SCRIPT_NAME"))
        if prefix:
            environ["SCRIPT_NAME"] = prefix
            if path == prefix or path.startswith(prefix + "/"):
                path = path[len(prefix) :] or "/"
        environ["PATH_INFO"] = path
        scheme = environ.get("HTTP_X_SCHEME")
        if scheme in ("http", "https"):
            environ["wsgi.url_scheme"] = scheme
        return app(environ, start_response)

    return wrapped


def reads_and_writes(query_app, command_app):
    """GET/HEAD go to the query app, every other method to the command app (like the proxy)."""

    def route(environ, start_response):
        target = query_app if environ.get("REQUEST_METHOD", "GET") in READ_METHODS else command_app
        return target(environ, start_response)

    return route
