"""Container image existence check for benchmarks (contract §5.1, design Q-14).

A benchmark names a container image; before accepting it we ask the image's registry whether
`docker_image:docker_tag` has a manifest, using the Docker Registry v2 / OCI distribution API
(`HEAD /v2/<repository>/manifests/<reference>`) and the registry's anonymous token auth where it
asks for it. Any failure becomes `ImageNotFound`, whose text is the contract's 422 message.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import requests

DOCKER_HUB = "https://registry-1.docker.io"

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
# malformed name is refused here instead of being spliced into a URL path.
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")

_PREFIX = "Could not validate container image: Error: "


class ImageNotFound(Exception):
    """The image could not be validated; `str(e)` is the message for the 422 answer."""

    MANIFEST_NOT_FOUND = _PREFIX + "manifest not found"
    NOT_AUTHORIZED = _PREFIX + "not authorized"
    PULLING_MANIFEST = _PREFIX + "pulling manifest"


@dataclass(frozen=True)
class _Reference:
    registry: str  # base URL, no trailing slash
    repository: str  # e.g. "library/ubuntu"
    reference: str  # tag or digest


class ImageRegistry:
    """Checks that an image:tag exists, talking to its registry over HTTP(S)."""

    def __init__(
        self,
        default_registry_url: str = DOCKER_HUB,
        *,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ):
        self.default_registry_url = default_registry_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def check(self, docker_image: str, docker_tag: str) -> None:
        """Return if the manifest exists; raise `ImageNotFound` with the contract message otherwise."""
        ref = self._parse(docker_image, docker_tag)
        url = f"{ref.registry}/v2/{ref.repository}/manifests/{ref.reference}"
        try:
            response = self._fetch_manifest(url, headers={})
            if response.status_code == 401:
                token = self._anonymous_token(response.headers.get("WWW-Authenticate", ""), ref)
                response = self._fetch_manifest(url, headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException:
            # Timeouts, refused connections, TLS failures, bad realm URLs: the registry could
            # not be asked, which is not the same as the image being absent.
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST) from None
        _raise_for_status(response.status_code)

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

        if host is None:
            registry, hub = self.default_registry_url, True
        elif host.lower() in _DOCKER_HUB_ALIASES:
            registry, hub = DOCKER_HUB, True
        else:
            # Docker talks plain HTTP to loopback registries (they are "insecure" by default);
            # everything else is HTTPS.
            scheme = "http" if _is_loopback(host) else "https"
            registry, hub = f"{scheme}://{host}", False
        if hub and len(components) == 1:
            components = ["library", *components]  # Docker Hub's official images
        return _Reference(registry, "/".join(components), docker_tag)

    # -- HTTP ---------------------------------------------------------------------------

    def _fetch_manifest(self, url: str, headers: dict[str, str]) -> requests.Response:
        headers = {"Accept": _MANIFEST_TYPES, **headers}
        response = self.session.head(url, headers=headers, timeout=self.timeout, allow_redirects=True)
        if response.status_code == 405:  # some registries/proxies only serve GET on manifests
            response = self.session.get(url, headers=headers, timeout=self.timeout, allow_redirects=True)
        return response

    def _anonymous_token(self, challenge: str, ref: _Reference) -> str:
        """Follow a `Bearer realm=...` challenge to get an anonymous pull token."""
        scheme, _, params = challenge.strip().partition(" ")
        if scheme.lower() != "bearer":
            # Basic auth (or none): anonymous access is simply refused.
            raise ImageNotFound(ImageNotFound.NOT_AUTHORIZED)
        fields = {k.lower(): v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', params)}
        realm = fields.get("realm")
        if not realm:
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
        query = {"scope": fields.get("scope") or f"repository:{ref.repository}:pull"}
        if fields.get("service"):
            query["service"] = fields["service"]

        response = self.session.get(realm, params=query, timeout=self.timeout)
        if response.status_code in (401, 403):
            raise ImageNotFound(ImageNotFound.NOT_AUTHORIZED)
        if response.status_code != 200:
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
        try:
            body = response.json()
        except ValueError:
            body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)
        return token


def _raise_for_status(status: int) -> None:
    if status == 200:
        return
    if status == 404:
        raise ImageNotFound(ImageNotFound.MANIFEST_NOT_FOUND)
    if status in (401, 403):
        # Docker Hub answers 401 for repositories that do not exist, too: the original API
        # reports both as "not authorized", and so do we.
        raise ImageNotFound(ImageNotFound.NOT_AUTHORIZED)
    raise ImageNotFound(ImageNotFound.PULLING_MANIFEST)


def _is_loopback(host: str) -> bool:
    """`host` may carry a port and IPv6 brackets: `localhost:5000`, `[::1]:5000`, `127.0.0.1`."""
    if host.startswith("["):
        name = host[1 : host.index("]")]
    else:
        name = host.rsplit(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
