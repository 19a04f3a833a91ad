"""No `Server` banner from gunicorn.

gunicorn writes `Server: gunicorn` into every answer and has no setting to leave it out; a
banner only tells a scanner what to try. Its responses are built by the module's `Response`
class, which this replaces with one that writes its default headers without that line.
Installed from gunicorn's `on_starting` hook, in the master before workers are forked, by the
embedded server (eosc_perf/server.py) and the production config (deploy/gunicorn/service.py).
tests/test_response_headers.py fails if a gunicorn release builds its answers elsewhere.
"""

from __future__ import annotations

from gunicorn.http import wsgi


class ResponseWithoutBanner(wsgi.Response):
    def default_headers(self) -> list[str]:
        return [line for line in super().default_headers() if not line.lower().startswith("server:")]


def on_starting(server) -> None:
    """gunicorn's hook of that name: runs once in the master process."""
    wsgi.Response = ResponseWithoutBanner
