"""No `Server` banner from gunicorn, and its `Date` made once a second.

gunicorn writes `Server: gunicorn` into every answer and has no setting to leave it out; a
banner only tells a scanner what to try. Its responses are built by the module's `Response`
class, which this replaces with one that writes its default headers without that line.
gunicorn also formats the `Date` line anew for every answer (with the email package, about 2 %
of a small read's CPU in the query service); it changes once a second, and is kept that long.
Installed from gunicorn's `on_starting` hook, in the master before workers are forked, by the
embedded server (eosc_perf/server.py) and the production config (deploy/gunicorn/service.py).
tests/test_response_headers.py fails if a gunicorn release builds its answers elsewhere.
"""

from __future__ import annotations

import time

from gunicorn import util
from gunicorn.http import wsgi

_date: tuple[int, str] = (0, "")  # the second, and its `Date` value


def http_date() -> str:
    global _date
    second = int(time.time())
    if _date[0] != second:
        _date = (second, util.http_date(second))
    return _date[1]


class ResponseWithoutBanner(wsgi.Response):
    def default_headers(self) -> list[str]:
        """gunicorn's, without `Server` and with the `Date` of this second."""
        if self.upgrade:
            connection = "upgrade"
        elif self.should_close():
            connection = "close"
        else:
            connection = "keep-alive"
        version = self.req.version
        headers = [
            f"HTTP/{version[0]}.{version[1]} {self.status}\r\n",
            f"Date: {http_date()}\r\n",
            f"Connection: {connection}\r\n",
        ]
        if self.chunked:
            headers.append("Transfer-Encoding: chunked\r\n")
        return headers


def on_starting(server) -> None:
    """gunicorn's hook of that name: runs once in the master process."""
    wsgi.Response = ResponseWithoutBanner
