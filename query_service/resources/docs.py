"""The OpenAPI document and Swagger UI, served from local assets (works air-gapped).

The page runs no inline script, so its Content-Security-Policy allows scripts from this
service only: what a request could smuggle into the page (the API's prefix comes from a
header) is at most an escaped attribute value, never code.
"""

from __future__ import annotations

import html
import mimetypes
from pathlib import Path

import falcon
import swagger_ui_bundle

from configuration.settings import Limits
from http_api import documents
from http_api.openapi import openapi_document

ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
SERVED_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
        "index.css",
    }
)
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>EOSC Performance API</title>
  <link rel="stylesheet" href="{root}swagger-ui/swagger-ui.css">
  <link rel="icon" type="image/png" href="{root}swagger-ui/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui" data-spec-url="{root}api-spec.json"></div>
  <script src="{root}swagger-ui/swagger-ui-bundle.js"></script>
  <script src="{root}swagger-ui/swagger-ui-standalone-preset.js"></script>
  <script src="{root}swagger-ui/{init}"></script>
</body>
</html>
"""
INIT_NAME = "eosc-perf-init.js"
INIT_SCRIPT = b"""window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.specUrl,
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "BaseLayout"
});
"""
# Swagger UI sets style attributes and shows its logos as data: images; it fetches the spec
# and "Try it out" requests from this service.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _root(req: falcon.Request) -> str:
    """Where the API lives for the browser (behind a proxy sending X-Script-Name, e.g. /api/v1/;
    eosc_perf/wsgi.py lets only a plain path prefix through). Escaped for an HTML attribute."""
    return html.escape((req.env.get("SCRIPT_NAME") or "").rstrip("/") + "/", quote=True)


class ApiSpec:
    def __init__(self, backend_route: str, limits: Limits):
        self.document = documents.dumps(openapi_document(backend_route, limits))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.text = self.document

    on_head = on_get


class SwaggerUI:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = PAGE.format(root=_root(req), init=INIT_NAME)
        resp.set_header("Content-Security-Policy", PAGE_POLICY)

    on_head = on_get


class SwaggerAssets:
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name not in SERVED_ASSETS and name != INIT_NAME:
            raise falcon.HTTPNotFound()
        resp.content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        resp.data = INIT_SCRIPT if name == INIT_NAME else (ASSETS / name).read_bytes()
        resp.cache_control = ["public", "max-age=86400"]

    on_head = on_get
