"""A WSGI application served by gunicorn with the services' worker (tests/test_gunicorn_worker.py).

GET /echo: "<worker pid> <path> <body length>", the body read whole.
POST /unread: answered without reading the body (gunicorn must drain it before the next request).
GET /held?started=FILE&release=FIFO: writes FILE `started` and answers once something is
written into the named pipe `release` (at most 20 s): a request that is running for as long as
a test needs."""

from __future__ import annotations

import os
import select
from pathlib import Path
from urllib.parse import parse_qs


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/unread":
        body = b"unread"
    elif path == "/held":
        files = {name: Path(values[0]) for name, values in parse_qs(environ["QUERY_STRING"]).items()}
        # Open before `started` is written: a writer of the pipe then never waits for a reader.
        release = os.open(files["release"], os.O_RDONLY | os.O_NONBLOCK)
        try:
            files["started"].write_text("started")
            readable, _, _ = select.select([release], [], [], 20)
            body = b"released" if readable and os.read(release, 16) else b"not released"
        finally:
            os.close(release)
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        read = environ["wsgi.input"].read(length) if length else b""
        body = f"{os.getpid()} {path} {len(read)}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
