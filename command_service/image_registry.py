"""Container image existence check for benchmarks (contract §5.1, design Q-14).

A benchmark names a container image; before accepting it we ask the image's registry whether
`docker_image:docker_tag` has a manifest, using the Docker Registry v2 / OCI distribution API
(`HEAD /v2/<repository>/manifests/<reference>`) and the registry's anonymous token auth where it
asks for it. Any failure becomes `ImageNotFound`, whose text is the contract's 422 message.

The image name chooses where the server sends requests, so only registries the operator chose
are asked: images without a registry host go to the default registry (`IMAGE_REGISTRY_URL`,
Docker Hub unless set), images naming a host go there only when `IMAGE_REGISTRIES` lists it.
Any other image is refused with one message (`ImageNotFound.REFUSED`) before any request, so
the answers tell nothing about other hosts and ports. The limits of each request (addresses,
TLS, one deadline for the whole check, a size cap, no redirects) are in registry_http.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlencode, urlsplit

from command_service import registry_http
from command_service.registry_http import Answer, Origin
from domain.errors import Refused

log = logging.getLogger(__name__)

DOCKER_HUB = "https://registry-1.docker.io"
_DOCKER_HUB_HOST = "registry-1.docker.io"
# Docker Hub's token service lives on a host of its own; it is taken from Docker Hub only.
_DOCKER_HUB_AUTH_HOST = "auth.docker.io"

# Names under which people spell Docker Hub explicitly; they mean the hub, not a host to call.
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

# Accept every manifest shape a registry may hold for a tag; without these, registries fall
# back to (or fail on) the legacy schema-1 format, and multi-arch images would look missing.
_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)

# Reference grammar of the distribution spec (docker/distribution `reference` package), so a
# malformed name is refused here instead of being spliced into a URL path. ASCII only: the
# spec's `\w` is ASCII, Python's is not.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
# What a token or a realm URL may hold before it goes into a request: printable ASCII, no space.
_PRINTABLE = re.compile(r"[\x21-\x7e]+")

# containerd refuses manifests over 4 MiB; no answer of a registry we need is larger.
ANSWER_LIMIT = 4 << 20

_PREFIX = "Could not validate container image: Error: "


class ImageNotFound(Refused):
    """The image could not be validated; its message is the contract's 422 answer. A domain
    refusal, so that ImageRegistry is the ImageCheck of the benchmark commands
    (command_service/services/catalog.py)."""

    MANIFEST_NOT_FOUND = _PREFIX + "manifest not found"
    NOT_AUTHORIZED = _PREFIX + "not authorized"
    PULLING_MANIFEST = _PREFIX + "pulling manifest"
    # A registry this service does not ask, or one resolving to an address it may not reach:
    # one of the contract's three messages, the same for every such image and decided before
    # any request to the host.
    REFUSED = NOT_AUTHORIZED


def _hub_for_alias(url: str) -> str:
    """A listed Docker Hub alias (`docker.io`) means the hub's registry host."""
    return DOCKER_HUB if urlsplit(url).hostname in _DOCKER_HUB_ALIASES else url


def registry_origin(url: str, *, private_ok: bool) -> Origin:
    """`https://host[:port]` or `http://host[:port]` (settings checked the form)."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return Origin(parts.scheme, parts.hostname, parts.port or default, private_ok)


@dataclass(frozen=True)
class _Reference:
    registry: Origin
    repository: str  # e.g. "library/ubuntu"
    reference: str  # tag or digest

    @property
    def path(self) -> str:
        return f"/v2/{self.repository}/manifests/{self.reference}"


class ImageRegistry:
    """Checks that an image:tag exists, asking only the registries it was given.

    `default_registry_url`: for images without a registry host. `listed`: the registries images
    may name (`https://host[:port]`, or `http://...` for plain HTTP); only these may resolve to
    private, loopback or link-local addresses. `deadline`: seconds for the whole check."""

    def __init__(self, default_registry_url: str = DOCKER_HUB, listed: Iterable[str] = (), *, deadline: float = 10.0):
        self.listed = {
            origin.authority: origin
            for origin in (registry_origin(_hub_for_alias(url), private_ok=True) for url in listed)
        }
        default = registry_origin(default_registry_url, private_ok=False)
        self.default = self.listed.get(default.authority, default)
        self.deadline = deadline

    def check(self, docker_image: str, docker_tag: str) -> None:
        """Return if the manifest exists; raise `ImageNotFound` with the contract message otherwise."""
        ref = self._parse(docker_image, docker_tag)
        deadline = time.monotonic() + self.deadline
        try:
            answer = self._fetch_manifest(ref, {}, deadline)
            if answer.status == 401:
                token = self._anonymous_token(answer.headers.get("WWW-Authenticate", ""), ref, deadline)
                answer = self._fetch_manifest(ref, {"Authorization": f"Bearer {token}"}, deadline)
        except registry_http.AddressRefused as refused:
            # The operator's business (a registry to list, or a DNS answer to look into), not
            # the client's: the answer is the uniform refusal.
            log.warning("image check refused %s: %s", docker_image, refused)
            raise ImageNotFound(ImageNotFound.REFUSED) from None
        except registry_http.Unreachable as error:
            # Timeouts, refused connections, TLS failures, oversized or broken answers: the
            # registry could not be asked, which is not the same as the image being absent.
            log.info("image check could not ask the registry of %s: %s", docker_image, error)
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST) from None
        _raise_for_status(answer.status)

    # -- reference parsing ---------------------------------------------------------------

    def _parse(self, docker_image: str, docker_tag: str) -> _Reference:
        if not isinstance(docker_image, str) or not isinstance(docker_tag, str):
            raise ImageNotFound(ImageNotFound.MANIFEST_NOT_FOUND)
        components = docker_image.split("/")
        # Docker's rule: the first component is a registry host only if it looks like one;
        # otherwise `org/img` would be mistaken for host "org".
        first = components[0]
        if len(components) > 1 and ("." in first or ":" in first or first == "localhost"):
            host, components = first, components[1:]
        else:
            host = None

        if host is not None and not _HOST.fullmatch(host):
            raise ImageNotFound(ImageNotFound.MANIFEST_NOT_FOUND)
        if not all(_PATH_COMPONENT.fullmatch(c) for c in components):
            raise ImageNotFound(ImageNotFound.MANIFEST_NOT_FOUND)
        if not (_TAG.fullmatch(docker_tag) or _DIGEST.fullmatch(docker_tag)):
            raise ImageNotFound(ImageNotFound.MANIFEST_NOT_FOUND)

        hub = host is None or host.lower() in _DOCKER_HUB_ALIASES
        registry = self._registry(host)
        if registry is None:
            raise ImageNotFound(ImageNotFound.REFUSED)
        if hub and len(components) == 1:
            components = ["library", *components]  # Docker Hub's official images
        return _Reference(registry, "/".join(components), docker_tag)

    def _registry(self, host: str | None) -> Origin | None:
        """The registry an image's host names, if this service asks it."""
        if host is None:
            return self.default
        if host.lower() in _DOCKER_HUB_ALIASES:
            host = _DOCKER_HUB_HOST
        if self.default.authority == host.lower():
            return self.default
        return self.listed.get(host.lower())

    # -- HTTP ---------------------------------------------------------------------------

    def _fetch_manifest(self, ref: _Reference, headers: dict[str, str], deadline: float) -> Answer:
        headers = {"Accept": _MANIFEST_TYPES, **headers}
        answer = registry_http.exchange(ref.registry, "HEAD", ref.path, headers, deadline=deadline, limit=ANSWER_LIMIT)
        if answer.status == 405:  # some registries/proxies only serve GET on manifests
            answer = registry_http.exchange(
                ref.registry, "GET", ref.path, headers, deadline=deadline, limit=ANSWER_LIMIT
            )
        return answer

    def _anonymous_token(self, challenge: str, ref: _Reference, deadline: float) -> str:
        """Follow a `Bearer realm=...` challenge to get an anonymous pull token."""
        scheme, _, params = challenge.strip().partition(" ")
        if scheme.lower() != "bearer":
            # Basic auth (or none): anonymous access is simply refused.
            raise ImageNotFound(ImageNotFound.NOT_AUTHORIZED)
        fields = {k.lower(): v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', params)}
        realm, target = self._realm(fields.get("realm", ""), ref.registry)
        query = {"scope": fields.get("scope") or f"repository:{ref.repository}:pull"}
        if fields.get("service"):
            query["service"] = fields["service"]
        target += ("&" if "?" in target else "?") + urlencode(query)

        answer = registry_http.exchange(realm, "GET", target, {}, deadline=deadline, limit=ANSWER_LIMIT)
        if answer.status in (401, 403):
            raise ImageNotFound(ImageNotFound.NOT_AUTHORIZED)
        if answer.status != 200:
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
        try:
            body = json.loads(answer.body)
        except ValueError:
            body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not _PRINTABLE.fullmatch(token):
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
        return token

    def _realm(self, realm: str, registry: Origin) -> tuple[Origin, str]:
        """Where the token service is, and the path to ask it: on the registry itself, on a
        listed registry, or for Docker Hub on its own token host; nowhere else. A registry
        cannot send the check to another host through its challenge."""
        try:
            parts = urlsplit(realm) if _PRINTABLE.fullmatch(realm) else None
            port = parts.port if parts else None
        except ValueError:  # an unclosed IPv6 bracket, a port that is no number
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
        origin = Origin(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), False)
        if origin.authority == registry.authority:
            trusted = registry
        elif origin.authority in self.listed:
            trusted = self.listed[origin.authority]
        elif registry.host == _DOCKER_HUB_HOST and origin.authority == _DOCKER_HUB_AUTH_HOST:
            trusted = Origin("https", _DOCKER_HUB_AUTH_HOST, 443, private_ok=False)
        else:
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
        if origin.scheme == "http" and trusted.scheme != "http":  # plain HTTP only where listed so
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
        origin = replace(origin, private_ok=trusted.private_ok)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return origin, target


def _raise_for_status(status: int) -> None:
    if status == 200:
        return
    if status == 404:
        raise ImageNotFound(ImageNotFound.MANIFEST_NOT_FOUND)
    if status in (401, 403):
        # Docker Hub answers 401 for repositories that do not exist, too: the original API
        # reports both as "not authorized", and so do we.
        raise ImageNotFound(ImageNotFound.NOT_AUTHORIZED)
    # Everything else, redirects included (never followed: a registry cannot send the check on
    # to another host), means the registry could not be asked.
    raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
