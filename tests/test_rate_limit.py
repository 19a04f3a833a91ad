"""The limit on writes per user (WRITE_RATE_PER_MINUTE): a burst of that many writes passes,
the next answers 429 with Retry-After and stores nothing; other users and reads are not held.
On the embedded default, and on a production gunicorn command service over PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from typing import Iterator

import falcon.testing
import pytest

from command_service.rate_limit import FORGET_ABOVE, WriteRateLimit
from eosc_perf.embedded import build
from http_api.errors import ApiError
from identity.tokens import Identity
from tests.support.api import BACKENDS, Api, service_settings
from tests.support.production_stack import HttpClient

PER_MINUTE = 5
_fresh = count(1)


@dataclass
class Limited:
    writer: Api  # writes go here: a service with the limit
    reader: Api  # reads of what was stored


@pytest.fixture(params=BACKENDS)
def limited(request, tmp_path, identity_provider) -> Iterator[Limited]:
    if request.param == "embedded":
        service = build(service_settings(tmp_path / "data", identity_provider, write_rate_per_minute=PER_MINUTE))
        api = Api(service, falcon.testing.TestClient(service.app), identity_provider)
        yield Limited(api, api)
        service.close()
        return
    stack = request.getfixturevalue("production_stack")
    fence = stack.reset()
    # One worker: the count is per process (docs/security.md), so one worker makes it exact.
    with stack.another_command_service(WRITE_RATE_PER_MINUTE=str(PER_MINUTE), GUNICORN_WORKERS="1") as client:
        yield Limited(
            Api(None, client, identity_provider), Api(None, HttpClient(stack.base_url, fence), identity_provider)
        )


def test_a_burst_beyond_the_limit_answers_429_and_stores_nothing(limited):
    writer, reader = limited.writer, limited.reader
    sub = f"busy-{next(_fresh)}"
    token = writer.token(sub)
    assert writer.post("/users:register", token).status_code == 201
    assert writer.post("/tags", token, json=[]).status_code == 422  # refused writes count too
    for n in range(PER_MINUTE - 2):
        assert writer.post("/tags", token, json={"name": f"{sub}-{n}"}).status_code == 201

    answer = writer.post("/tags", token, json={"name": f"{sub}-too-many"})
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "12"  # one write per 60/5 s
    assert answer.json == {
        "code": 429,
        "status": "Too Many Requests",
        "errors": {"error": "Too many writes: at most 5 a minute per user; retry in 12 s"},
    }
    assert writer.post("/tags", token, json=[]).status_code == 429  # before the body is even parsed

    other = writer.token(f"calm-{next(_fresh)}", admin=True)
    assert writer.post("/users:register", other).status_code == 201  # another user has their own allowance
    last = writer.post("/tags", other, json={"name": f"{sub}-by-another"})
    assert last.status_code == 201
    # Read once the read model holds that last write: a refused one stored before it would show.
    seen = {"X-Min-Position": last.headers["X-Event-Position"]}
    names = [tag["name"] for tag in reader.get("/tags", headers=seen, query_string="per_page=100").json["items"]]
    assert sorted(name for name in names if name.startswith(sub)) == sorted(
        [f"{sub}-{n}" for n in range(PER_MINUTE - 2)] + [f"{sub}-by-another"]
    )
    assert reader.get("/users/self", token).status_code == 200  # reads are not limited


def test_an_anonymous_or_unregistered_write_is_refused_before_the_limit_counts(limited):
    writer = limited.writer
    token = writer.token(f"stranger-{next(_fresh)}")
    for _ in range(PER_MINUTE + 2):
        assert writer.post("/tags", None, json={"name": "x"}).status_code == 401
        assert writer.post("/tags", token, json={"name": "x"}).status_code == 403
    assert writer.post("/users:register", token).status_code == 201  # its allowance is untouched


# -- the bucket itself, on a clock of our own -------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def someone(sub: str = "alice") -> Identity:
    return Identity(sub, "https://issuer.example", None, None, ())


def test_the_allowance_refills_with_time():
    clock = Clock()
    limit = WriteRateLimit(60, clock)  # one a second
    for _ in range(60):
        limit.admit(someone())
    with pytest.raises(ApiError) as refused:
        limit.admit(someone())
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}
    clock.now += 0.5
    with pytest.raises(ApiError):
        limit.admit(someone())  # half a write's worth is not a write
    clock.now += 0.5
    limit.admit(someone())
    clock.now += 3600
    for _ in range(60):  # refilled, never beyond the burst
        limit.admit(someone())
    with pytest.raises(ApiError):
        limit.admit(someone())


def test_idle_users_are_forgotten_when_many_are_tracked():
    clock = Clock()
    limit = WriteRateLimit(10, clock)
    for n in range(FORGET_ABOVE):
        limit.admit(someone(f"user-{n}"))
    clock.now += 60  # everyone's bucket is full again
    for _ in range(10):
        limit.admit(someone("busy"))
    limit.admit(someone("one-more"))  # over the threshold: the idle ones go
    assert set(limit.buckets) == {("busy", "https://issuer.example"), ("one-more", "https://issuer.example")}
    with pytest.raises(ApiError):
        limit.admit(someone("busy"))  # forgetting others changed nothing for the busy one
