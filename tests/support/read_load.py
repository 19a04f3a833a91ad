"""A read load with uploads, run while something happens to a deployment (a rebuild of its
read store): what failed, what was older than its client knew, and how long reads took."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from tests.support.api import Api
from tests.support.catalog import result_setup, unique, upload_answer, upload_result
from tests.support.waiting import wait_until

log = logging.getLogger(__name__)

SEEDED = 40


@dataclass
class Load:
    """Readers and an uploader over one service while something else happens."""

    api: Api
    token: str
    benchmark_id: str
    flavor_id: str
    uploaded: list[tuple[int, str]]  # (event position, result id)
    before: int  # results listed before the first upload
    pause: float  # seconds between two uploads: a steady trickle, not a flood that starves the readers
    failures: list[str] = field(default_factory=list)
    backwards: list[str] = field(default_factory=list)
    reads: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each read, wall clock
    stop: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        """A client that sends back the newest position it knows of: each answer holds at least
        what that position holds (the newest upload; as many results as were uploaded by then),
        and its position (ETag, when the answer is known to be of one) is never older."""
        seen = 0
        while not self.stop.is_set():
            uploaded = list(self.uploaded)
            position, result_id = uploaded[-1]
            wanted = max(position, seen)
            present = self.before + sum(1 for at, _ in uploaded if at <= wanted)
            for path in ("/results", f"/results/{result_id}"):
                started = time.time()
                answer = self.api.get(path, headers={"X-Min-Position": str(wanted)})
                self.reads.append((started, time.time()))
                if answer.status_code != 200:
                    self.failures.append(f"GET {path}: {answer.status_code} {answer.text[:200]}")
                    continue
                if path == "/results" and answer.json["total"] < present:
                    self.backwards.append(f"GET /results at {wanted}: {answer.json['total']} of {present} results")
                tag = answer.headers.get("ETag")
                if tag is not None:
                    at = int(tag.strip('W/"'))
                    if at < seen:
                        self.backwards.append(f"GET {path}: position {at} after {seen}")
                    seen = max(seen, at)

    def pause_at(self, moment: float) -> tuple[float, float, float]:
        """(the longest read running at `moment` or started in the 100 ms after it, the 99th
        percentile and the longest of all reads), in ms: what a switch at `moment` costs readers
        beside what the load costs them anyway, as a fact to log and document."""
        around = [end - start for start, end in self.reads if start <= moment + 0.1 and end >= moment]
        every = sorted(end - start for start, end in self.reads)
        return max(around, default=0.0) * 1000, every[len(every) * 99 // 100] * 1000, every[-1] * 1000

    def upload(self) -> None:
        while not self.stop.is_set():
            answer = upload_answer(self.api, self.token, self.benchmark_id, self.flavor_id, {"time": 2})
            if answer.status_code != 201:
                self.failures.append(f"upload: {answer.status_code} {answer.text[:200]}")
                continue
            self.uploaded.append((int(answer.headers["X-Event-Position"]), answer.json["id"]))
            self.stop.wait(self.pause)  # pacing, cut short when the load stops


def under_load(api: Api, rebuild: Callable[[], None], readers: int = 3, pause: float = 0.02) -> Load:
    """Seeds results, then runs `rebuild` while `readers` readers and an uploader (one upload
    each `pause` seconds) go on; asserts that nothing failed and no answer was older than its
    client knew."""
    user, admin = api.register(unique("alice")), api.register(unique("root"), admin=True)
    benchmark, _site, flavor = result_setup(api, user, admin)
    before = api.get("/results").json["total"]  # a stack shared with other tests may hold some
    uploaded = [upload_answer_positioned(api, user, benchmark["id"], flavor["id"]) for _ in range(SEEDED)]
    load = Load(api, user, benchmark["id"], flavor["id"], uploaded, before, pause)
    threads = [threading.Thread(target=load.read) for _ in range(readers)] + [threading.Thread(target=load.upload)]
    for thread in threads:
        thread.start()
    try:
        # The load runs before, during and after the rebuild: readers and the uploader have each
        # been answered a few times on either side of it.
        _going_on(load, "the load before the rebuild")
        rebuild()
        _going_on(load, "the load after the rebuild")
    finally:
        load.stop.set()
        for thread in threads:
            thread.join()
    assert load.failures == [], load.failures[:10]
    assert load.backwards == [], load.backwards[:10]
    # The service goes on in the new store: a new upload is listed.
    result = upload_result(api, user, benchmark["id"], flavor["id"])
    assert api.get(f"/results/{result['id']}").status_code == 200
    assert api.get("/results").json["total"] == before + len(load.uploaded) + 1
    return load


def _going_on(load: Load, what: str, reads: int = 20, uploads: int = 3) -> None:
    reads_before, uploads_before = len(load.reads), len(load.uploaded)
    wait_until(
        lambda: len(load.reads) >= reads_before + reads and len(load.uploaded) >= uploads_before + uploads,
        timeout=60,
        what=what,
    )


def log_pause(load: Load, deployment: str, switched_at: float) -> None:
    at_switch, p99, longest = load.pause_at(switched_at)
    log.info(
        "rebuild under load (%s): %d reads; the longest at the switch %.0f ms; of all: p99 %.0f ms, longest %.0f ms",
        deployment,
        len(load.reads),
        at_switch,
        p99,
        longest,
    )


def upload_answer_positioned(api, token, benchmark_id, flavor_id) -> tuple[int, str]:
    answer = upload_answer(api, token, benchmark_id, flavor_id, {"time": 1})
    assert answer.status_code == 201, answer.text
    return int(answer.headers["X-Event-Position"]), answer.json["id"]
