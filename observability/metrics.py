"""The process's metrics, one definition each (names in docs/operations.md).

Labels are bounded sets: a route *template* (never a raw path), a method, a status, a
service or consumer name. No label ever holds a user id, an e-mail address or an item id.
Under gunicorn these live in prometheus_client's multiprocess files (exposition.py).
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator, Mapping

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "eosc_perf_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["service", "route", "method", "status"],
)
LATENCY = Histogram(
    "eosc_perf_http_request_duration_seconds",
    "Time from receiving a request to its answer being ready",
    ["service", "route", "method"],
)
PROJECTED = Counter("eosc_perf_events_projected", "Events a consumer applied to its tables", ["consumer"])
PARKED = Counter("eosc_perf_events_parked", "Events a consumer could not handle and passed over", ["consumer"])
MAILS_SENT = Counter("eosc_perf_mails_sent", "Mails the SMTP server (or the log) accepted")
MAILS_FAILED = Counter("eosc_perf_mails_failed", "Sending attempts that failed and will be retried")
MAILS_GIVEN_UP = Counter("eosc_perf_mails_given_up", "Mails refused for good, not retried")


# The children of REQUESTS and LATENCY by their labels: `labels()` checks and locks on every call,
# six times the cost of the counting itself (about 9 µs against 1.5 µs a request). The label
# sets are bounded (see above), and so are these.
_answered: dict[tuple, tuple] = {}


def request_answered(service: str, route: str, method: str, status: int, seconds: float) -> None:
    key = (service, route, method, status)
    children = _answered.get(key)
    if children is None:
        children = _answered.setdefault(
            key, (REQUESTS.labels(service, route, method, str(status)), LATENCY.labels(service, route, method))
        )
    children[0].inc()
    children[1].observe(seconds)


def events_projected(consumer: str, count: int) -> None:
    if count:
        PROJECTED.labels(consumer).inc(count)


def event_parked(consumer: str) -> None:
    PARKED.labels(consumer).inc()


class Positions:
    """A collector read at scrape time: each consumer's event position, the head of the event
    log and their difference (lag). `head` may be None where the log is out of reach (then
    no lag). A database that does not answer leaves these out of that scrape, logged."""

    def __init__(self, consumers: Mapping[str, Callable[[], int]], head: Callable[[], int] | None = None):
        self.consumers = consumers
        self.head = head

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            positions = {name: position() for name, position in self.consumers.items()}
            head = self.head() if self.head is not None else None
        except Exception as error:  # a scrape must not fail because the database is briefly away
            log.warning("positions not read for /metrics: %r", error)
            return
        family = GaugeMetricFamily(
            "eosc_perf_consumer_position", "Last event position a consumer applied", labels=["consumer"]
        )
        for name, position in positions.items():
            family.add_metric([name], position)
        yield family
        if head is None:
            return
        yield GaugeMetricFamily("eosc_perf_event_log_head", "Position of the newest event in the event log", value=head)
        lag = GaugeMetricFamily(
            "eosc_perf_consumer_lag_events", "Events in the log a consumer has not applied yet", labels=["consumer"]
        )
        for name, position in positions.items():
            lag.add_metric([name], max(0, head - position))
        yield lag
