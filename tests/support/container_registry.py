"""A tiny, real Docker Registry v2 server on 127.0.0.1 for tests (no internet, design Q-14).

It speaks just enough of the distribution API for the image check: manifests by tag or digest
(HEAD and GET), the `/v2/` ping, and optionally Docker Hub style anonymous token auth:
401 + `WWW-Authenticate: Bearer realm=<own /token>,service=...,scope=...`, a `/token` endpoint
handing out anonymous tokens, and per-token pull grants (none for private repositories).

    with LocalRegistry() as registry:
        registry.add("org/img", "1.0")
        ImageRegistry(registry.url).check("org/img", "1.0")
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SERVICE = "local-registry"

_MANIFEST_PATH = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str  # path and query as sent
    headers: dict[str, str] = field(compare=False)


class LocalRegistry:
    """A Docker Registry v2 server on a free 127.0.0.1 port, serving from a daemon thread.

    Knobs (all may be changed while running):
      require_token  answer 401 + Bearer challenge unless a token from `/token` is presented
      allow_head     False makes manifest HEADs answer 405 (clients must fall back to GET)
      refuse_tokens  the `/token` endpoint answers 401
      realm          overrides the challenge's realm ("" omits it) to simulate broken auth setups
      fail_with(s)   every /v2 request answers status `s` (None to heal)
      hang()         every /v2 request blocks until `stop()` or `reset()` (to exercise client timeouts)
      trickle()      every /v2 request gets a status line, then a header one byte every 0.1 s, forever
      redirect_to(u) every /v2 request answers 307 to `u` + its path
      padding        bytes of filler added to every manifest body (to exceed a client's size cap)
      reset()        back to an empty registry without auth, forgetting the requests seen
    """

    def __init__(self, *, require_token: bool = False, allow_head: bool = True):
        self.require_token = require_token
        self.allow_head = allow_head
        self.refuse_tokens = False
        self.realm: str | None = None
        self.requests: list[SeenRequest] = []
        self._failure: int | None = None
        self._released = threading.Event()
        self._hanging = False
        self._trickling = False
        self._redirect: str | None = None
        self.padding = 0
        self._manifests: dict[tuple[str, str], bytes] = {}
        self._private: set[str] = set()
        self._tokens: dict[str, set[str]] = {}  # token -> repositories it may pull
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> "LocalRegistry":
        registry = self

        class Handler(_Handler):
            pass

        Handler.registry = registry
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="local-registry", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()  # let hanging handlers finish
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self) -> "LocalRegistry":
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the form used as the first component of an image name."""
        assert self._server is not None, "registry not started"
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- content and behaviour ----------------------------------------------------------

    def add(self, repository: str, tag: str, *, private: bool = False) -> str:
        """Publish a manifest for `repository:tag`; return its digest (also a valid reference).

        A private repository is never granted to anonymous tokens (Docker Hub behaviour).
        """
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest(),
                    "size": 2,
                },
                "layers": [],
            }
        ).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        with self._lock:
            self._manifests[(repository, tag)] = body
            self._manifests[(repository, digest)] = body
            if private:
                self._private.add(repository)
        return digest

    def fail_with(self, status: int | None) -> None:
        self._failure = status

    def hang(self) -> None:
        self._hanging = True

    def trickle(self) -> None:
        self._trickling = True

    def redirect_to(self, url: str) -> None:
        self._redirect = url

    def reset(self) -> None:
        """For a registry shared by several tests: every knob and the content as after start."""
        self._released.set()  # hanging and trickling handlers end
        self._released = threading.Event()
        self.require_token, self.allow_head, self.refuse_tokens, self.realm = False, True, False, None
        self._failure, self._hanging, self._trickling, self._redirect, self.padding = None, False, False, None, 0
        with self._lock:
            self._manifests.clear()
            self._private.clear()
            self._tokens.clear()
        self.requests = []

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    # -- used by the handler ------------------------------------------------------------

    def _issue_token(self, scope: str) -> str:
        # scope = "repository:<name>:pull[,push]". Like Docker Hub, grant pull only on existing
        # public repositories, so unknown and private ones are indistinguishable (401).
        wanted = {m.group(1) for m in re.finditer(r"repository:([^:\s]+):[\w,]*pull", scope)}
        token = secrets.token_urlsafe(16)
        with self._lock:
            known = {name for name, _ in self._manifests}
            self._tokens[token] = {name for name in wanted if name in known and name not in self._private}
        return token

    def _may_pull(self, authorization: str | None, repository: str) -> bool:
        if not self.require_token:
            return repository not in self._private
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            return scheme.lower() == "bearer" and repository in self._tokens.get(token, set())


class _Handler(BaseHTTPRequestHandler):
    registry: LocalRegistry
    server_version = "LocalRegistry/1.0"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_HEAD(self):
        self._handle(send_body=False)

    def do_GET(self):
        self._handle(send_body=True)

    def _handle(self, send_body: bool) -> None:
        registry = self.registry
        registry.requests.append(SeenRequest(self.command, self.path, dict(self.headers.items())))
        url = urlsplit(self.path)

        if url.path == "/token":
            return self._token(parse_qs(url.query), send_body)
        if not url.path.startswith("/v2/"):
            return self._reply(404, {"errors": [{"code": "NOT_FOUND"}]}, send_body)
        released = registry._released
        if registry._hanging:
            released.wait()
            return  # drop the connection unanswered; the client has long timed out
        if registry._trickling:
            return self._trickle(released)
        if registry._redirect is not None:
            return self._reply(307, None, send_body, extra={"Location": registry._redirect + self.path})
        if registry._failure is not None:
            return self._reply(registry._failure, {"errors": [{"code": "UNKNOWN"}]}, send_body)

        if url.path == "/v2/":
            if registry.require_token and not self.headers.get("Authorization"):
                return self._challenge(scope=None, send_body=send_body)
            return self._reply(200, {}, send_body)

        match = _MANIFEST_PATH.match(url.path)
        if match is None:
            return self._reply(404, {"errors": [{"code": "NOT_FOUND"}]}, send_body)
        if self.command == "HEAD" and not registry.allow_head:
            return self._reply(405, None, send_body)
        name, reference = match["name"], match["reference"]
        if not registry._may_pull(self.headers.get("Authorization"), name):
            # Like Docker Hub, unknown and private repositories look the same to strangers.
            return self._challenge(scope=f"repository:{name}:pull", send_body=send_body)
        body = registry._manifests.get((name, reference))
        if body is not None and registry.padding:
            body = body[:-1] + b', "padding": "' + b"x" * registry.padding + b'"}'
        if body is None:
            return self._reply(
                404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}, send_body
            )
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self._reply(200, body, send_body, content_type=OCI_MANIFEST, extra={"Docker-Content-Digest": digest})

    def _trickle(self, released: threading.Event) -> None:
        """A status line, then one byte of a header line that never ends every 0.1 s, until the
        client hangs up: each read a client makes gets something before any per-read timeout."""
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
            while not released.wait(0.1):
                self.wfile.write(b"x")
        except OSError:
            pass  # the client gave up
        self.close_connection = True

    def _token(self, query: dict[str, list[str]], send_body: bool) -> None:
        if self.registry.refuse_tokens:
            return self._reply(401, {"details": "access to the requested resource is not authorized"}, send_body)
        token = self.registry._issue_token(" ".join(query.get("scope", [])))
        self._reply(200, {"token": token, "access_token": token, "expires_in": 300}, send_body)

    def _challenge(self, scope: str | None, send_body: bool) -> None:
        realm = f"{self.registry.url}/token" if self.registry.realm is None else self.registry.realm
        challenge = (f'Bearer realm="{realm}",' if realm else "Bearer ") + f'service="{SERVICE}"'
        if scope:
            challenge += f',scope="{scope}"'
        if not self.registry.require_token:
            challenge = f'Basic realm="{SERVICE}"'  # no token service: plainly refused
        body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        self._reply(401, body, send_body, extra={"WWW-Authenticate": challenge})

    def _reply(self, status, body, send_body, *, content_type="application/json", extra=None) -> None:
        data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(data)
