"""`eosc-perf rebuild` (issue 13 part 1): a new read store built from the log while the old one
serves, checked, and switched to at one position, under a read load and uploads: no request
fails, and no answer to a client that sends X-Min-Position is older than what it saw before."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import falcon.testing
from sqlalchemy import inspect

from eosc_perf import cli
from eosc_perf.embedded import build
from read_model import read_store
from read_model.active_store import ActiveStore
from tests.support.api import Api, service_settings
from tests.support.catalog import result_setup, upload_answer, upload_result

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
            present = sum(1 for at, _ in uploaded if at <= wanted)
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

    def pause_at(self, moment: float) -> tuple[float, float]:
        """(the longest read running at `moment` or started in the 100 ms after it, the median
        read), in ms: what a switch at `moment` costs readers, as a fact to log and document."""
        around = [end - start for start, end in self.reads if start <= moment + 0.1 and end >= moment]
        every = sorted(end - start for start, end in self.reads)
        return max(around, default=0.0) * 1000, every[len(every) // 2] * 1000

    def upload(self) -> None:
        while not self.stop.is_set():
            answer = upload_answer(self.api, self.token, self.benchmark_id, self.flavor_id, {"time": 2})
            if answer.status_code != 201:
                self.failures.append(f"upload: {answer.status_code} {answer.text[:200]}")
                continue
            self.uploaded.append((int(answer.headers["X-Event-Position"]), answer.json["id"]))
            time.sleep(0.02)  # a steady trickle of writes, not a flood that starves the readers


def test_rebuild_while_serving_switches_without_a_failed_or_older_answer(tmp_path, identity_provider, monkeypatch):
    data = tmp_path / "data"
    service = build(service_settings(data, identity_provider))
    try:
        api = Api(service, falcon.testing.TestClient(service.app), identity_provider)
        user, admin = api.register("alice"), api.register("root", admin=True)
        benchmark, _site, flavor = result_setup(api, user, admin)
        uploaded = []
        for _ in range(SEEDED):
            answer = upload_answer_positioned(api, user, benchmark["id"], flavor["id"])
            uploaded.append(answer)
        load = Load(api, user, benchmark["id"], flavor["id"], uploaded)
        threads = [threading.Thread(target=load.read) for _ in range(3)] + [threading.Thread(target=load.upload)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.3)  # the load runs before, during and after the rebuild
            monkeypatch.delenv("EOSC_PERF_DATA", raising=False)
            assert cli.main(["rebuild", "--data", str(data), "--grace", "0.5"]) == 0
            time.sleep(0.5)
        finally:
            load.stop.set()
            for thread in threads:
                thread.join()
        assert load.failures == []
        assert load.backwards == []
        active = ActiveStore(service_settings(data, identity_provider).read_store)
        assert active.location is not None and active.location.endswith(".sqlite")
        longest, median = load.pause_at(active.pointer_file().stat().st_mtime)
        log.info(
            "rebuild under load (embedded): %d reads; at the switch the longest took %.0f ms, the median read %.1f ms",
            len(load.reads),
            longest,
            median,
        )
        configured = read_store.connect(service_settings(data, identity_provider).read_store)
        assert "results" not in inspect(configured).get_table_names()  # the old read tables dropped
        assert "mail_outbox" in inspect(configured).get_table_names()  # the mailer's stay
        configured.dispose()
        # The service goes on in the new store: a new upload is listed.
        result = upload_result(api, user, benchmark["id"], flavor["id"])
        assert api.get(f"/results/{result['id']}").status_code == 200
        assert api.get("/results").json["total"] == len(load.uploaded) + 1
    finally:
        service.close()


def upload_answer_positioned(api, token, benchmark_id, flavor_id) -> tuple[int, str]:
    answer = upload_answer(api, token, benchmark_id, flavor_id, {"time": 1})
    assert answer.status_code == 201, answer.text
    return int(answer.headers["X-Event-Position"]), answer.json["id"]


def test_rebuild_refuses_a_negative_grace(capsys, tmp_path):
    assert cli.main(["rebuild", "--data", str(tmp_path), "--grace", "-1"]) == 2
    assert "--grace takes seconds (0 or more), not -1.0" in capsys.readouterr().err
