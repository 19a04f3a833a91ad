"""HTTP pieces shared by seed_http.py and load.py: a keep-alive client, discovery of the
seeded catalog through the API, upload requests, and a bounded closed-loop load runner
(the fallback when wrk is absent, and the writer of the projection-lag probe)."""

from __future__ import annotations

import http.client
import json
import math
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

import dataset


class Client:
    """One keep-alive HTTP/1.1 connection (not thread-safe: one per thread)."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, self.prefix + path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data, response
            except (http.client.HTTPException, ConnectionError, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path: str):
        status, data, _ = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {data[:300]!r}")
        return json.loads(data)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def read_tokens(path: str | Path) -> list[str]:
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def register(base_url: str, tokens: list[str]) -> None:
    """POST /users:register for each token (409: already registered, fine)."""
    client = Client(base_url)
    for token in tokens:
        status, data, _ = client.request("POST", "/users:register", b"", bearer(token))
        if status not in (201, 409):
            raise RuntimeError(f"registering a bench writer: {status} {data[:300]!r}")


@dataclass
class Discovered:
    cray_id: str
    cnn_id: str
    flavors: list[dict]  # {"id", "site_name", "name"}
    site_names: list[str]
    tag_ids: list[str]
    result_ids: list[str] = field(default_factory=list)
    total: int = 0


def discover(base_url: str, sample_ids: int = 1000, rng: random.Random | None = None) -> Discovered:
    """The seeded catalog as the API shows it, and a sample of result ids spread over all pages."""
    rng = rng or random.Random(7)
    client = Client(base_url)
    benchmarks = client.get_json("/benchmarks?per_page=100")["items"]
    by_image = {b["docker_image"]: b["id"] for b in benchmarks}
    cray, cnn = by_image.get(dataset.BENCHMARKS[0][0]), by_image.get(dataset.BENCHMARKS[1][0])
    if not cray or not cnn:
        raise SystemExit("the seeded benchmarks are not there: run bench/seed.py first")
    sites = client.get_json("/sites?per_page=100")["items"]
    flavors = []
    for site in sites:
        for flavor in client.get_json(f"/sites/{site['id']}/flavors?per_page=100")["items"]:
            flavors.append({"id": flavor["id"], "name": flavor["name"], "site_name": site["name"]})
    tags = client.get_json("/tags?per_page=100")["items"]
    first = client.get_json("/results?per_page=100")
    found = Discovered(cray, cnn, flavors, [s["name"] for s in sites], [t["id"] for t in tags], total=first["total"])
    ids = [item["id"] for item in first["items"]]
    pages = first["pages"]
    for page in rng.sample(range(2, pages + 1), min(max(0, sample_ids // 100 - 1), max(0, pages - 1))):
        ids += [item["id"] for item in client.get_json(f"/results?per_page=100&page={page}")["items"]]
    found.result_ids = ids[:sample_ids] if len(ids) > sample_ids else ids
    return found


class Uploads:
    """Valid POST /results requests for the seeded catalog, drawn from the data set's stream."""

    def __init__(self, found: Discovered, seed: int = 4242, start: int = 0):
        self.found = found
        # Documents come from the same generator as the bulk seed, with their own seed.
        catalog = dataset.Catalog.draw(0)
        self.stream = dataset.ResultStream(catalog, seed, start=start)
        self.lock = threading.Lock()
        self.rng = random.Random(seed)

    def next(self) -> tuple[str, bytes]:
        with self.lock:
            spec = self.stream.take(1)[0]
            flavor = self.rng.choice(
                self.found.flavors
                if spec.benchmark_index
                else [f for f in self.found.flavors if "gpu" not in f["name"]]
            )
            tags = self.rng.sample(self.found.tag_ids, len(spec.tag_indexes))
        benchmark = self.found.cnn_id if spec.benchmark_index else self.found.cray_id
        executed = spec.execution_datetime.astimezone(timezone.utc).isoformat()
        parts = [
            f"execution_datetime={quote(executed, safe='')}",
            f"benchmark_id={benchmark}",
            f"flavor_id={flavor['id']}",
            *(f"tags_ids={tag}" for tag in tags),
        ]
        return "/results?" + "&".join(parts), json.dumps(spec.json).encode()


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class Measured:
    requests: int
    seconds: float
    latencies: list[float]  # seconds, sorted
    errors: int
    statuses: dict

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def figures(self) -> dict:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 2),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 2),
            "errors": self.errors,
            "statuses": self.statuses,
        }


def closed_loop(
    base_url: str,
    make_request,
    connections: int,
    duration: float,
    ok=(200,),
    max_requests: int | None = None,
    counter: list | None = None,
) -> Measured:
    """`connections` threads, each sending `make_request()` -> (method, path, body, headers)
    back to back for `duration` seconds (or until `max_requests` in all). `counter[0]` counts
    the requests started, for progress reports."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]
    lock = threading.Lock()
    count = counter if counter is not None else [0]
    deadline = time.perf_counter() + duration

    def worker() -> None:
        client = Client(base_url)
        mine, my_statuses, my_errors = [], {}, 0
        while time.perf_counter() < deadline:
            with lock:
                if max_requests is not None and count[0] >= max_requests:
                    break
                count[0] += 1
            method, path, body, headers = make_request()
            started = time.perf_counter()
            try:
                status, _, _ = client.request(method, path, body, headers)
            except Exception:
                my_errors += 1
                continue
            mine.append(time.perf_counter() - started)
            my_statuses[status] = my_statuses.get(status, 0) + 1
            if status not in ok:
                my_errors += 1
        with lock:
            latencies.extend(mine)
            errors[0] += my_errors
            for status, n in my_statuses.items():
                statuses[status] = statuses.get(status, 0) + n

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 60)
    seconds = time.perf_counter() - started
    latencies.sort()
    return Measured(len(latencies), seconds, latencies, errors[0], {str(k): v for k, v in sorted(statuses.items())})
