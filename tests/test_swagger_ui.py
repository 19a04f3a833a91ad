"""The Swagger UI at `/` (contract §5.8): served from local assets, so it works air-gapped
(design §8), rendered for real by headless Chromium against `eosc-perf serve`."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from http_api.operations import OPERATIONS
from tests.support.served import ServedProcess

CHROMIUM = "/usr/bin/chromium"
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "eosc-perf-init.js")
WINDOW = (1280, 2000)


# --- the page and its assets, in process -----------------------------------------------------


def test_the_page_loads_the_ui_and_the_spec_from_this_service_only(api):
    answer = api.get("/", headers={"Authorization": "Bearer not-a-token"})  # public: token ignored
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<title>EOSC Performance API</title>" in answer.text
    references = re.findall(r'(?:src|href|data-spec-url)="([^"]+)"', answer.text)
    assert sorted(references) == sorted(
        [
            "/swagger-ui/swagger-ui.css",
            "/swagger-ui/favicon-32x32.png",
            "/swagger-ui/swagger-ui-bundle.js",
            "/swagger-ui/swagger-ui-standalone-preset.js",
            "/swagger-ui/eosc-perf-init.js",
            "/api-spec.json",
        ]
    )
    assert "//" not in "".join(references)  # no absolute URL, no CDN


def test_behind_a_proxy_the_page_points_below_the_script_name(api):
    answer = api.get("/api/v1/", headers={"X-Script-Name": "/api/v1"})
    assert answer.status_code == 200
    assert 'src="/api/v1/swagger-ui/swagger-ui-bundle.js"' in answer.text
    assert 'data-spec-url="/api/v1/api-spec.json"' in answer.text


@pytest.mark.parametrize(
    "name, media_type",
    [
        ("swagger-ui.css", "text/css"),
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui-standalone-preset.js", "javascript"),
        ("favicon-32x32.png", "image/png"),
    ],
)
def test_the_ui_assets_are_served_locally(api, name, media_type):
    answer = api.get(f"/swagger-ui/{name}")
    assert answer.status_code == 200
    assert media_type in answer.headers["Content-Type"]
    assert len(answer.content) > 500


@pytest.mark.parametrize("name", ["index.html", "..%2Fswagger-ui-bundle.js", "oauth2-redirect.html", "nope.js"])
def test_only_the_ui_assets_are_served(api, name):
    answer = api.get(f"/swagger-ui/{name}")
    assert answer.status_code == 404
    assert answer.json == {"code": 404, "status": "Not Found"}


# --- the page rendered by a real browser ------------------------------------------------------


@dataclass
class Rendering:
    dom: str
    screenshot: Path
    page_requests: list[str]  # every URL the page asked for (its own origin's requests)
    server_log: str
    console: list[str]  # the page's console messages (CSP violations are reported there)


def _require_chromium() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        pytest.fail(
            "Chromium is missing: the Swagger UI test needs Debian's headless chromium. "
            "Run deploy/local/install-test-deps.sh (or `make test`, which runs it).",
            pytrace=False,
        )
    return found


def _page_requests(net_log: Path, origin: str) -> list[str]:
    """URLs of the requests made on behalf of the page: their initiator or top-level site is
    the page's origin (a CDN request from the page would carry it too). Chromium's own
    background requests (updates, accounts) have neither and are ignored."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    site = origin.rsplit(":", 1)[0]  # network isolation keys name the site, without port
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start_job:
            continue
        if params.get("initiator") == origin or params.get("network_isolation_key", "").startswith(site):
            urls.append(params["url"])
    return urls


@pytest.fixture(scope="module")
def rendering(tmp_path_factory) -> Iterator[Rendering]:
    chromium = _require_chromium()
    workdir = tmp_path_factory.mktemp("swagger-ui")
    server = ServedProcess(workdir / "data").start()
    try:
        screenshot, net_log = workdir / "swagger-ui.png", workdir / "net-log.json"
        done = subprocess.run(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={workdir / 'profile'}",
                "--virtual-time-budget=15000",
                # Air-gapped: every host but the service's fails to resolve.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--log-net-log={net_log}",
                "--enable-logging=stderr",
                "--v=0",  # console messages on stderr
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                f"--screenshot={screenshot}",
                "--dump-dom",
                f"{server.url}/",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=workdir,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        yield Rendering(done.stdout, screenshot, _page_requests(net_log, server.url), server.log(), console)
    finally:
        server.stop()


def test_swagger_ui_renders_every_operation(rendering):
    dom = rendering.dom
    assert "<title>EOSC Performance API</title>" in dom
    assert "Failed to load API definition" not in dom
    assert 'data-path="/benchmarks:search"' in dom
    assert "Read your writes." in dom and "eosc-perf dev-token" in dom  # the document's description
    assert dom.count('class="opblock opblock-') == len(OPERATIONS)
    for operation in OPERATIONS:
        assert f'href="#/{operation.tag}/{operation.operation_id}"' in dom, operation.operation_id


def test_the_page_works_within_its_content_security_policy(rendering):
    assert not [line for line in rendering.console if "Content Security Policy" in line], rendering.console


def test_the_browser_fetched_nothing_but_the_service(rendering):
    local = {urlsplit(url).netloc for url in rendering.page_requests}
    assert local == {urlsplit(rendering.page_requests[0]).netloc}
    assert urlsplit(rendering.page_requests[0]).hostname == "127.0.0.1"
    paths = {urlsplit(url).path for url in rendering.page_requests}
    assert {"/", "/api-spec.json", *(f"/swagger-ui/{name}" for name in ASSETS)} <= paths
    for name in ASSETS:  # and the service really answered them
        assert re.search(rf" http_api.access: GET /swagger-ui/{re.escape(name)} 200 ", rendering.server_log), name


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    idat, position = b"", 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    return width, height, zlib.decompress(idat)


def test_the_screenshot_shows_a_rendered_page(rendering):
    assert rendering.screenshot.stat().st_size > 20_000
    width, height, scanlines = _png_pixels(rendering.screenshot)
    assert (width, height) == WINDOW
    assert len(set(scanlines)) > 64  # colours and text, not a blank page
