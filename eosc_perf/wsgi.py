"""WSGI plumbing shared by the deployments: proxy headers and path clean-up, and the
embedded default's one-app routing of reads and writes."""

from __future__ import annotations

import re

DOUBLE_SLASHES = re.compile(r"/{2,}")
READ_METHODS = frozenset({"GET", "HEAD"})


def behind_proxy(app):
    """Honours `X-Script-Name` (the API under a prefix such as /api/v1) and `X-Scheme`,
    and merges double slashes, as the original does."""

    def wrapped(environ, start_response):
        path = DOUBLE_SLASHES.sub("/", environ.get("PATH_INFO", "") or "/")
        prefix = (environ.get("HTTP_X_SCRIPT_NAME") or "").rstrip("/")
        if prefix:
            environ["SCRIPT_NAME"] = prefix
            if path == prefix or path.startswith(prefix + "/"):
                path = path[len(prefix):] or "/"
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
