"""Serving the embedded default from inside the CLI, with waitress.

The embedded server faces its clients directly (no proxy in front), so it must not let a slow
client hold a thread: waitress reads each request whole, headers and body, in its event loop,
and only a complete request reaches one of the threads. A client that sends half a request
and stalls (slowloris) holds one connection until it has been idle `CHANNEL_TIMEOUT` seconds;
threads go on serving everyone else. (gunicorn's threaded worker, used before, read the
headers in the thread: eight such clients stopped the server.)
"""

from __future__ import annotations

import signal
from typing import Protocol

from waitress.server import create_server

from configuration.settings import ConfigurationError


class Service(Protocol):
    app: object

    def close(self) -> None: ...


CHANNEL_TIMEOUT = 20  # seconds a connection may stay silent, within a request or between two
# Open connections at once: each costs a file descriptor and a buffer, not a thread. Beyond it,
# new ones wait in the listen backlog until one closes.
CONNECTION_LIMIT = 500
MAX_HEADER_BYTES = 64 * 2**10  # request line and headers (nginx, in production, takes 4 x 8 KiB)
# A body larger than this is refused (413) before the application sees it; it stays above the
# application's own body limit, which answers in the API's error format.
MAX_BODY_BYTES = 32 * 2**20
# Threads for the requests that never wait, besides one for each request that may hold its
# thread: a read waiting for X-Min-Position (READ_WAITERS) and an open event stream
# (EVENT_STREAMS). No more than that: a thread more than the requests in flight need is woken
# for each request and costs CPU on every one (at 10^5 results, GET /benchmarks under 8
# connections cost 0.94 ms of CPU per request with 8 threads, 0.79 with 5; docs/performance.md).
SERVING_THREADS = 2


def thread_count(read_waiters: int, event_streams: int) -> int:
    """The embedded server's threads: waits and streams at their caps still leave
    SERVING_THREADS to everyone else."""
    return read_waiters + event_streams + SERVING_THREADS


def _stop(signum, frame) -> None:
    raise SystemExit(0)  # waitress's loop ends on it and lets running requests finish


def serve_embedded(service: Service, host: str, port: int, threads: int, banner: str = "") -> None:
    """One process: the SQLite stores, the in-process projections and `threads` request
    threads. Prints `banner` once listening. Returns after SIGTERM/SIGINT once running requests
    have finished, the service closed."""
    try:
        try:
            server = _listening(service, host, port, threads)
        except OSError as error:  # a busy port, an address not of this machine
            raise ConfigurationError(
                f"cannot listen on {host}:{port}: {error.strerror}; choose another with --port (make run PORT=...)"
            ) from error
        if banner:
            print(banner, flush=True)
        signal.signal(signal.SIGTERM, _stop)
        server.run()
    finally:
        service.close()


def _listening(service: Service, host: str, port: int, threads: int):
    return create_server(
        service.app,  # which logs each request (observability/http_layer.py)
        host=host,
        port=port,
        threads=threads,
        ident="",  # no Server header naming the software
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=max(1, CHANNEL_TIMEOUT // 4),  # how often idle connections are looked for
        connection_limit=CONNECTION_LIMIT,
        asyncore_use_poll=True,  # select() cannot watch more than 1024 descriptors
        max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=MAX_BODY_BYTES,
    )
