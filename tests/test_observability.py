"""GET /metrics and the logs (issue 15, operator's part): the embedded app, the served
process, and the production stack (two gunicorn workers per service, projector, nginx)."""

from __future__ import annotations

import errno
import io
import json
import logging
import re
import socket
import sys
import uuid
from pathlib import Path

import falcon
import falcon.testing
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from http_api import errors
from observability import logs
from observability.http_layer import RouteTemplate, observed
from observability.logs import JsonFormatter
from projections.sources import EventStoreSource
from tests.support.api import Api
from tests.support.mail_service import mail_service, outbox, register
from tests.support.production_stack import HttpClient
from tests.support.served import ServedProcess
from tests.support.waiting import wait_until

MISSING = str(uuid.UUID(int=0))


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value of a Prometheus text answer."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(text: str, **labels: str) -> float:
    return samples(text).get(("eosc_perf_http_requests_total", frozenset(labels.items())), 0.0)


# --- the embedded app ------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_method_and_status(embedded_api):
    client = embedded_api.client
    before = client.simulate_get("/metrics").text
    for _ in range(3):
        assert client.simulate_get(f"/tags/{uuid.uuid4()}").status_code == 404
    assert client.simulate_get("/benchmarks").status_code == 200
    assert client.simulate_post("/benchmarks", json={}).status_code == 401
    assert client.simulate_get("/no/such/path").status_code == 404
    answer = client.simulate_get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    after = answer.text

    def grew(**labels):
        return requests_counted(after, **labels) - requests_counted(before, **labels)

    assert grew(service="query", route="/tags/{tag_id:uuid}", method="GET", status="404") == 3
    assert grew(service="query", route="/benchmarks", method="GET", status="200") == 1
    assert grew(service="command", route="/benchmarks", method="POST", status="401") == 1
    assert grew(service="query", route="unmatched", method="GET", status="404") == 1
    # the raw paths (item ids) never become label values
    # (a route template may hold dashes, /swagger-ui/{name}, but never an id)
    uuid_text = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
    assert "/tags/" + MISSING not in after and not any(
        uuid_text.search(dict(labels).get("route", "")) for _, labels in samples(after)
    )
    histogram = samples(after)
    count = (
        "eosc_perf_http_request_duration_seconds_count",
        frozenset({"service": "query", "route": "/tags/{tag_id:uuid}", "method": "GET"}.items()),
    )
    assert histogram[count] >= 3


def test_metrics_show_the_read_model_position_and_lag(embedded_api):
    api = embedded_api
    assert api.post("/tags", api.register("alice"), json={"name": "metrics-tag"}).status_code == 201
    found = samples(api.client.simulate_get("/metrics").text)
    head = EventStoreSource(api.service.store).head()
    position = found[("eosc_perf_consumer_position", frozenset({"consumer": "read_model"}.items()))]
    assert position == head > 0
    assert found[("eosc_perf_event_log_head", frozenset())] == head
    # the embedded default projects every write before answering: no lag
    assert found[("eosc_perf_consumer_lag_events", frozenset({"consumer": "read_model"}.items()))] == 0
    assert found[("eosc_perf_events_projected_total", frozenset({"consumer": "read_model"}.items()))] >= position


def test_mails_sent_failed_and_given_up_are_counted(tmp_path, identity_provider, smtp_sink):
    api = mail_service(tmp_path / "data", identity_provider, smtp_sink.port)
    try:
        api.service.mail.postman.first_retry = 0.05
        before = samples(api.client.simulate_get("/metrics").text)
        smtp_sink.defer.add("carol@example.org")  # 450: retried
        smtp_sink.refuse.add("alice@example.org")  # 550: given up
        for sub in ("alice", "bob", "carol"):
            register(api, sub)
        smtp_sink.wait_for(1)
        wait_until(lambda: [row for row in outbox(api) if row.given_up_at is not None], what="given up")
        wait_until(
            lambda: [
                row for row in outbox(api) if row.attempts >= 1 and row.sent_at is None and row.given_up_at is None
            ],
            what="deferred",
        )
        smtp_sink.defer.clear()
        smtp_sink.wait_for(2)
        wait_until(lambda: all(row.sent_at or row.given_up_at for row in outbox(api)), what="all sent")
        after = samples(api.client.simulate_get("/metrics").text)
    finally:
        api.service.close()

    def grew(name):
        return after[(name, frozenset())] - before[(name, frozenset())]

    assert grew("eosc_perf_mails_sent_total") == 2  # bob, then carol
    assert grew("eosc_perf_mails_given_up_total") == 1  # alice
    assert grew("eosc_perf_mails_failed_total") >= 1  # carol's deferrals
    mailer = frozenset({"consumer": "mailer"}.items())
    assert after[("eosc_perf_events_projected_total", mailer)] > before.get(
        ("eosc_perf_events_projected_total", mailer), 0
    )


def test_metrics_stay_out_of_the_contract(embedded_api):
    client = embedded_api.client
    assert "/metrics" not in client.simulate_get("/api-spec.json").json["paths"]
    # under the public prefix there are no metrics, just the contract's unknown path
    assert client.simulate_get("/api/v1/metrics", headers={"X-Script-Name": "/api/v1"}).status_code == 404
    assert client.simulate_post("/metrics").status_code == 404
    assert client.simulate_head("/metrics").status_code == 200


def test_request_ids_are_kept_when_sane_and_made_otherwise(embedded_api):
    client = embedded_api.client
    assert (
        client.simulate_get("/benchmarks", headers={"X-Request-ID": "abc-123.X_y:1"}).headers["X-Request-ID"]
        == "abc-123.X_y:1"
    )
    for insane in ("", "a b", "x" * 129, "<script>"):
        made = client.simulate_get("/benchmarks", headers={"X-Request-ID": insane}).headers["X-Request-ID"]
        assert made != insane and len(made) == 32 and int(made, 16) >= 0
    one, two = (client.simulate_get("/benchmarks").headers["X-Request-ID"] for _ in range(2))
    assert one != two


# --- the log format ------------------------------------------------------------------------


def test_the_json_formatter_writes_one_parsable_object_per_record():
    record = logging.LogRecord("http_api.access", logging.INFO, __file__, 1, "GET %s 200", ("/x\ny",), None)
    record.request_id, record.route, record.status, record.duration_ms = "r1", "/x", 200, 1.5
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "http_api.access",
        "message": "GET /x\ny 200",
        "request_id": "r1",
        "route": "/x",
        "status": 200,
        "duration_ms": 1.5,
    }
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exception"]


class Lines(logging.Handler):
    """Formats each record as it is emitted (inside the request), as a log handler does."""

    def __init__(self):
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


class FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_request_line_written_straight_is_the_line_the_json_formatter_writes(capsys, monkeypatch):
    fields = {"request_id": "r1", "route": "/x", "method": "GET", "path": "/x\ny", "status": 200}
    fields |= {"duration_ms": 1.5, "client": "127.0.0.1"}
    record = logging.LogRecord("http_api.access", logging.INFO, __file__, 1, "GET /x\ny 200 1.5 ms", (), None)
    record.__dict__.update(fields)
    root = logging.getLogger()
    kept, level = root.handlers[:], root.level
    written = Lines()
    try:
        # As the services set logging up: our handler of JSON on stderr alone (no test's capture).
        logs.configure(development=False)
        root.handlers[:] = [handler for handler in root.handlers if isinstance(handler, logs.StderrHandler)]
        logs.log_request("GET /x\ny 200 1.5 ms", fields)
        straight = capsys.readouterr().err
        logs.REQUESTS.setLevel(logging.WARNING)  # the logger's level still silences it
        logs.log_request("GET /x 200 1.5 ms", fields)
        assert capsys.readouterr().err == ""
        logs.REQUESTS.setLevel(logging.NOTSET)
        logs.REQUESTS.addHandler(written)  # another handler: every line goes through logging
        logs.log_request("GET /x\ny 200 1.5 ms", fields)
        logs.REQUESTS.removeHandler(written)
        # A stderr that fails (its disk full): the line goes to logging, which deals with its
        # own failure as for any line; the request it belongs to is not failed by it.
        with monkeypatch.context() as patched:
            patched.setattr(sys, "stderr", FullDisk())
            logs.log_request("GET /x 200 1.5 ms", fields)
    finally:
        logs.REQUESTS.setLevel(logging.NOTSET)
        logs.REQUESTS.removeHandler(written)
        root.handlers[:], root.level = kept, level
    assert straight.endswith("}\n") and straight.count("\n") == 1
    line, formatted = json.loads(straight), json.loads(JsonFormatter().format(record))
    assert list(line) == list(formatted) and line | {"time": None} == formatted | {"time": None}
    [through_logging] = written.lines
    assert through_logging | {"time": None} == formatted | {"time": None}
    assert json.loads(capsys.readouterr().err.splitlines()[-1]) | {"time": None} == formatted | {"time": None}


def test_a_failed_requests_traceback_carries_its_request_id():
    class Broken:
        def on_get(self, req, resp):
            raise RuntimeError("a bug")

    app = falcon.App(middleware=[RouteTemplate()])
    errors.install(app)
    app.add_route("/broken", Broken())
    written = Lines()
    logger = logging.getLogger("http_api.errors")
    logger.addHandler(written)
    try:
        answer = falcon.testing.TestClient(observed(app, "query")).simulate_get(
            "/broken", headers={"X-Request-ID": "bug-7"}
        )
    finally:
        logger.removeHandler(written)
    assert answer.status_code == 500 and answer.headers["X-Request-ID"] == "bug-7"
    [line] = written.lines
    assert line["request_id"] == "bug-7" and "RuntimeError: a bug" in line["exception"]


def json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_serve_logs_json_lines_in_production_and_plain_text_in_development(tmp_path: Path):
    production = ServedProcess(tmp_path / "prod" / "data", dev=False, ADMIN_ENTITLEMENTS="urn:admin")
    (tmp_path / "prod").mkdir()
    production.start()
    try:
        answer = production.get("/benchmarks", headers={"X-Request-ID": "served-1"})
        assert answer.headers["X-Request-ID"] == "served-1"
    finally:
        production.stop()
    lines = json_lines(production.log())
    [request] = [line for line in lines if line.get("request_id") == "served-1"]
    assert request["route"] == "/benchmarks" and request["method"] == "GET" and request["status"] == 200
    assert request["duration_ms"] > 0 and request["level"] == "INFO" and request["logger"] == "http_api.access"
    assert any(line["logger"] == "eosc_perf.embedded" for line in lines)  # not only request lines

    development = ServedProcess(tmp_path / "dev" / "data", dev=True)
    (tmp_path / "dev").mkdir()
    development.start()
    try:
        development.get("/benchmarks", headers={"X-Request-ID": "served-2"})
    finally:
        development.stop()
    assert not json_lines(development.log())
    assert " INFO http_api.access: GET /benchmarks 200 " in development.log()


# --- the production stack ------------------------------------------------------------------


@pytest.fixture
def stack_api(production_stack, identity_provider) -> Api:
    fence = production_stack.reset()
    return Api(None, HttpClient(production_stack.base_url, fence), identity_provider)


def test_both_gunicorn_workers_are_summed(production_stack):
    query = f"http://127.0.0.1:{production_stack.environment['QUERY_PORT']}"
    labels = dict(service="query", route="/tags/{tag_id:uuid}", method="GET", status="404")
    before = requests_counted(requests.get(f"{query}/metrics", timeout=10).text, **labels)
    files = production_stack.state_dir / "metrics-query"
    sent = 0
    # New connections until both workers have answered one (each then has its own file).
    while len({path.stem.rsplit("_", 1)[-1] for path in files.glob("counter_*.db")}) < 2 or sent < 20:
        with requests.Session() as fresh:
            assert fresh.get(f"{query}/tags/{uuid.uuid4()}", timeout=10).status_code == 404
        sent += 1
        assert sent < 500, "one worker answered every request"
    for _ in range(6):  # whichever worker answers the scrape, it counts both
        after = requests_counted(requests.get(f"{query}/metrics", timeout=10).text, **labels)
        assert after - before == sent


def test_the_projector_serves_its_position_and_lag(stack_api, production_stack):
    api = stack_api
    token = api.register("metrics-user")
    assert api.post("/tags", token, json={"name": "metrics-tag"}).status_code == 201
    port = production_stack.environment["PROJECTOR_METRICS_PORT"]
    read_model = frozenset({"consumer": "read_model"}.items())

    def caught_up() -> tuple[int, dict] | None:
        """The projector follows on its own: (head, its samples) once they show the head."""
        head, position = production_stack.positions()
        found = samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
        return (head, found) if found.get(("eosc_perf_consumer_position", read_model)) == position == head else None

    head, found = wait_until(caught_up, 30, "the projector's metrics to show the head", interval=0.2)
    assert found[("eosc_perf_event_log_head", frozenset())] == head
    assert found[("eosc_perf_consumer_lag_events", read_model)] == 0
    assert found[("eosc_perf_events_projected_total", read_model)] > 0


def test_service_logs_are_json_lines_with_the_request_id(production_stack):
    rid = f"stack-{uuid.uuid4().hex}"
    answer = requests.get(f"{production_stack.base_url}/benchmarks", headers={"X-Request-ID": rid}, timeout=10)
    assert answer.headers["X-Request-ID"] == rid  # through nginx
    log = production_stack.state_dir / "query.log"
    # The line is written right after the answer.
    [line] = wait_until(lambda: [line for line in json_lines(log.read_text()) if line.get("request_id") == rid])
    assert (line["route"], line["method"], line["status"]) == ("/benchmarks", "GET", 200)
    # gunicorn's own lines are JSON too: every line of the log parses
    lines = [json.loads(text) for text in log.read_text().splitlines() if text.strip()]
    # and its access log is off (GUNICORN_ACCESSLOG unset): one line per request, the service's
    assert not [line for line in lines if line["logger"] == "gunicorn.access"]


def raw_get(port: int, path: str, source: str) -> int:
    """The status of GET `path` sent from the local address `source`."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        return int(conn.makefile("rb").readline().split()[1])


def test_nginx_serves_metrics_to_allowed_addresses_only(production_stack):
    port = int(production_stack.base_url.rsplit(":", 1)[1])
    assert raw_get(port, "/metrics", "127.0.0.1") == 200  # METRICS_ALLOW's default: loopback
    # 127.0.0.2 is this machine too, but not an allowed address
    assert raw_get(port, "/metrics", "127.0.0.2") == 403
    assert raw_get(port, "//metrics", "127.0.0.2") == 403
    assert raw_get(port, "/%6Detrics", "127.0.0.2") == 403
    assert raw_get(port, "/api/v1/metrics", "127.0.0.1") == 404


def test_logging_set_up_twice_writes_to_the_current_stderr_and_keeps_other_handlers(capsys):
    root = logging.getLogger()
    # pytest's own capture handlers, among them (an earlier CLI run's StderrHandler is replaced)
    others = [handler for handler in root.handlers if not isinstance(handler, logs.StderrHandler)]
    try:
        logs.configure(development=True)
        logs.configure(development=False)
        ours = [handler for handler in root.handlers if isinstance(handler, logs.StderrHandler)]
        assert len(ours) == 1 and all(handler in root.handlers for handler in others)
        logging.getLogger("eosc_perf.test").warning("to the stderr of now")
        # (other tests' service threads may log meanwhile: look for the line, not the last one)
        lines = capsys.readouterr().err.splitlines()
        assert {"level": "WARNING", "message": "to the stderr of now"}.items() <= next(
            json.loads(line) for line in lines if "to the stderr of now" in line
        ).items()
    finally:
        for handler in [handler for handler in root.handlers if isinstance(handler, logs.StderrHandler)]:
            root.removeHandler(handler)
