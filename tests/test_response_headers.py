"""What every answer tells a browser or cache: nosniff, no-store on personal answers, a CSP on
the Swagger UI page, no server banner, and an `X-Script-Name` that cannot inject into the page."""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

import pytest
import requests
from gunicorn import util

from eosc_perf import server_banner
from http_api.operations import OPERATIONS
from tests.support.served import ServedProcess

NO_STORE = "no-store"


def test_every_answer_says_nosniff(api, callers):
    answers = [
        api.get("/benchmarks"),
        api.get("/"),
        api.get("/api-spec.json"),
        api.get("/swagger-ui/swagger-ui.css"),
        api.get("/no/such/path"),
        api.get("/users/self"),
        api.get("/users/self", callers.user),
        api.post("/tags", callers.user, json={"name": "t"}),
        api.post("/tags", callers.user, json=[]),
        api.delete("/benchmarks"),
    ]
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff", answer.status


def test_answers_that_depend_on_the_token_are_never_stored(api, callers):
    personal = [
        api.get("/users/self", callers.user),
        api.get("/users/self/results", callers.user),
        api.get("/users/self/claims", callers.user),
        api.get("/users", callers.admin),
        api.get("/reports/submits", callers.admin),
        api.get("/users/self"),  # a 401 to a personal read too
        api.post("/users:register", api.token("carol")),
        api.post("/tags", callers.user, json={"name": "t"}),
        api.post("/users/self:update", callers.user),
    ]
    for answer in personal:
        assert answer.headers["Cache-Control"] == NO_STORE, answer.status
    for public in (api.get("/benchmarks"), api.get("/tags")):
        assert "Cache-Control" not in public.headers and public.headers["ETag"]


def test_every_operation_that_reads_the_token_says_no_store(api, callers):
    """Whatever the answer (here mostly 403 and 404), the access level decides."""
    for operation in OPERATIONS:
        path = re.sub(r"\{\w+\}", "00000000-0000-4000-8000-000000000000", operation.path)
        answer = api.request(operation.method, path, callers.other, json={})
        no_store = answer.headers.get("Cache-Control") == NO_STORE
        assert no_store is (operation.access != "public"), operation.operation_id


def test_the_swagger_page_runs_only_scripts_of_this_service(api):
    answer = api.get("/")
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", answer.text, re.S)
    assert len(scripts) == 3 and all('src="' in attributes and body == "" for attributes, body in scripts)
    init = api.get("/swagger-ui/eosc-perf-init.js")
    assert init.status_code == 200 and "javascript" in init.headers["Content-Type"]
    assert "SwaggerUIBundle" in init.text and "specUrl" in init.text


@pytest.mark.parametrize(
    "forged",
    [
        '/api"><script>alert(1)</script>',
        "/api/v1'onload='alert(1)",
        "//evil.example",
        "/a b",
        "/..",
        "/./x",
        "javascript:alert(1)",
        "/" + "a" * 300,
        "/api/\u00e9",
        "/api%22",
    ],
)
def test_a_script_name_that_is_no_plain_path_prefix_is_ignored(api, forged):
    answer = api.get("/", headers={"X-Script-Name": forged})
    assert answer.status_code == 200
    assert 'data-spec-url="/api-spec.json"' in answer.text
    assert 'src="/swagger-ui/swagger-ui-bundle.js"' in answer.text
    assert "evil" not in answer.text and "alert" not in answer.text and "<script>" not in answer.text


def test_a_plain_script_name_still_places_the_page(api):
    answer = api.get("/api/v1/", headers={"X-Script-Name": "/api/v1/"})
    assert 'data-spec-url="/api/v1/api-spec.json"' in answer.text
    assert 'src="/api/v1/swagger-ui/eosc-perf-init.js"' in answer.text


# -- the server banner -------------------------------------------------------------------------


@pytest.mark.stack  # a served `eosc-perf serve`
def test_the_embedded_server_sends_no_server_banner(tmp_path):
    server = ServedProcess(tmp_path / "data").start()
    try:
        for answer in (server.get("/benchmarks"), server.get("/nope"), server.post("/tags")):
            assert "Server" not in answer.headers, answer.headers
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        server.stop()


def test_the_production_services_send_no_version_banner(production_stack):
    behind_nginx = requests.get(f"{production_stack.base_url}/benchmarks", timeout=10)
    assert behind_nginx.headers["Server"] == "nginx"  # server_tokens off: no version
    for port in ("COMMAND_PORT", "QUERY_PORT"):  # gunicorn itself, were it reached directly
        before = int(time.time())
        answer = requests.options(f"http://127.0.0.1:{production_stack.environment[port]}/benchmarks", timeout=10)
        assert "Server" not in answer.headers, port
        # gunicorn's other default lines as gunicorn writes them; the date of the second it answered in
        assert before <= parsedate_to_datetime(answer.headers["Date"]).timestamp() <= time.time(), answer.headers
        assert answer.headers["Connection"] == "keep-alive"


def test_the_date_line_is_of_the_second_it_is_written_in():
    before = int(time.time())
    value = server_banner.http_date()
    assert before <= parsedate_to_datetime(value).timestamp() <= time.time()
    assert value == util.http_date(parsedate_to_datetime(value).timestamp())  # gunicorn's own format
