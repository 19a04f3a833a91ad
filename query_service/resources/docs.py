"""The OpenAPI document and Swagger UI, served from local assets (works air-gapped)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import falcon
import swagger_ui_bundle

from eosc_perf import documents
from eosc_perf.api.openapi import openapi_document
from eosc_perf.settings import Limits

ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
SERVED_ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
     "favicon-16x16.png", "index.css"}
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
  <div id="swagger-ui"></div>
  <script src="{root}swagger-ui/swagger-ui-bundle.js"></script>
  <script src="{root}swagger-ui/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{root}api-spec.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""


def _root(req: falcon.Request) -> str:
    """Where the API lives for the browser (behind a proxy sending X-Script-Name, e.g. /api/v1/)."""
    return (req.env.get("SCRIPT_NAME") or "").rstrip("/") + "/"


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
        resp.text = PAGE.format(root=_root(req))

    on_head = on_get


class SwaggerAssets:
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name not in SERVED_ASSETS:
            raise falcon.HTTPNotFound()
        resp.content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        resp.data = (ASSETS / name).read_bytes()
        resp.cache_control = ["public", "max-age=86400"]

    on_head = on_get
