"""Serving the metrics: the answer to GET /metrics, and a small listener for the processes
that have no HTTP server of their own (projector, mailer).

With PROMETHEUS_MULTIPROC_DIR set (gunicorn, deploy/gunicorn/service.py) every worker writes
its counters to files there and a scrape, whichever worker answers it, sums them all
(prometheus_client's multiprocess mode). Without it the process's own registry answers.
"""

from __future__ import annotations

import os
from typing import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE_LATEST", "registry", "serve", "text"]


class _Sources:
    """This process's metrics (or all workers' in multiprocess mode) and `extra` collectors."""

    def __init__(self, extra: Iterable):
        self.extra = tuple(extra)

    def collect(self):
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            yield from MultiProcessCollector(None).collect()
        else:
            yield from REGISTRY.collect()
        for collector in self.extra:
            yield from collector.collect()


def registry(extra: Iterable = ()) -> CollectorRegistry:
    """A registry to scrape; `extra` collectors (metrics.Positions) are read at each scrape.
    One per app: apps built side by side in a process (tests) never clash on registration."""
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_Sources(extra))
    return scraped


def text(scraped: CollectorRegistry) -> bytes:
    return generate_latest(scraped)


def serve(port: int, extra: Iterable = ()) -> None:
    """GET /metrics on 127.0.0.1:`port`, from a daemon thread, for as long as the process runs."""
    start_http_server(port, addr="127.0.0.1", registry=registry(extra))
