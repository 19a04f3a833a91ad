"""The container image check (contract §5.1, design Q-14) against a real local registry, and
its limits (issue 10): only listed registries, public addresses unless listed, no redirect,
token realms from the registry itself, one deadline, a size cap."""

from __future__ import annotations

import ipaddress
import time

import pytest

from command_service.image_registry import ImageNotFound, ImageRegistry
from command_service.registry_http import is_public
from tests.support.container_registry import LocalRegistry

NOT_FOUND = "Could not validate container image: Error: manifest not found"
NOT_AUTHORIZED = "Could not validate container image: Error: not authorized"
PULLING = "Could not validate container image: Error: pulling manifest"
REFUSED = NOT_AUTHORIZED  # the one answer for registries the service does not ask


def listed(registry: LocalRegistry, **options) -> ImageRegistry:
    """A checker whose default registry is `registry`, listed (it is on 127.0.0.1)."""
    return ImageRegistry(registry.url, [registry.url], **options)


def failure(registry: ImageRegistry, image: str, tag: str) -> str:
    with pytest.raises(ImageNotFound) as caught:
        registry.check(image, tag)
    return str(caught.value)


def test_existing_image_and_tag_is_accepted(container_registry):
    container_registry.add("org/bench", "1.0")
    listed(container_registry).check("org/bench", "1.0")
    (seen,) = container_registry.requests
    assert (seen.method, seen.path) == ("HEAD", "/v2/org/bench/manifests/1.0")
    for media_type in (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ):
        assert media_type in seen.headers["Accept"]


def test_digest_reference_is_accepted(container_registry):
    digest = container_registry.add("org/bench", "1.0")
    listed(container_registry).check("org/bench", digest)


def test_single_component_name_is_an_official_library_image(container_registry):
    container_registry.add("library/ubuntu", "22.04")
    listed(container_registry).check("ubuntu", "22.04")
    assert container_registry.paths() == ["/v2/library/ubuntu/manifests/22.04"]


def test_missing_tag_is_manifest_not_found(container_registry):
    container_registry.add("org/bench", "1.0")
    assert failure(listed(container_registry), "org/bench", "2.0") == NOT_FOUND


@pytest.mark.parametrize(
    "image, tag",
    [
        ("", "1.0"),
        ("org/bench", ""),
        ("Org/Bench", "1.0"),
        ("org/../bench", "1.0"),
        ("org/bench", "1.0?x=1"),
        ("org//bench", "1.0"),
        ("org/bench", "-bad"),
        (None, "1.0"),
    ],
)
def test_malformed_reference_is_manifest_not_found_without_asking(container_registry, image, tag):
    assert failure(listed(container_registry), image, tag) == NOT_FOUND
    assert container_registry.request_count == 0


def test_anonymous_token_flow(container_registry):
    container_registry.require_token = True
    container_registry.add("org/bench", "1.0")
    listed(container_registry).check("org/bench", "1.0")

    first, token, retry = container_registry.requests
    assert "Authorization" not in first.headers
    assert token.path.startswith("/token?")
    assert "scope=repository%3Aorg%2Fbench%3Apull" in token.path and "service=local-registry" in token.path
    assert retry.headers["Authorization"].startswith("Bearer ")


def test_token_flow_still_reports_missing_tag(container_registry):
    container_registry.require_token = True
    container_registry.add("org/bench", "1.0")
    assert failure(listed(container_registry), "org/bench", "nope") == NOT_FOUND


def test_private_repository_is_not_authorized(container_registry):
    container_registry.require_token = True
    container_registry.add("org/secret", "1.0", private=True)
    assert failure(listed(container_registry), "org/secret", "1.0") == NOT_AUTHORIZED
    assert container_registry.request_count == 3  # challenge, token, refused retry


def test_unknown_repository_behind_token_auth_is_not_authorized(container_registry):
    # Docker Hub hides unknown repositories behind 401 for anonymous tokens; so does ours.
    container_registry.require_token = True
    assert failure(listed(container_registry), "org/ghost", "1.0") == NOT_AUTHORIZED


def test_refused_token_is_not_authorized(container_registry):
    container_registry.require_token = True
    container_registry.refuse_tokens = True
    container_registry.add("org/bench", "1.0")
    assert failure(listed(container_registry), "org/bench", "1.0") == NOT_AUTHORIZED


def test_basic_auth_challenge_is_not_authorized(container_registry):
    container_registry.add("org/secret", "1.0", private=True)  # no token service: Basic 401
    assert failure(listed(container_registry), "org/secret", "1.0") == NOT_AUTHORIZED


@pytest.mark.parametrize(
    "realm",
    [
        "",
        "ftp://127.0.0.1/token",
        "not a url",
        "http://127.0.0.1:9/token",
        "http://[::1",
        "http://127.0.0.1:x/token",
        "http://user@127.0.0.1/token",
    ],
)
def test_broken_token_challenge_is_pulling_manifest(container_registry, realm):
    container_registry.require_token = True
    container_registry.realm = realm
    container_registry.add("org/bench", "1.0")
    assert failure(listed(container_registry), "org/bench", "1.0") == PULLING


def test_token_endpoint_outage_is_pulling_manifest(container_registry):
    container_registry.require_token = True
    container_registry.realm = f"{container_registry.url}/no-token-service"  # answers 404
    container_registry.add("org/bench", "1.0")
    assert failure(listed(container_registry), "org/bench", "1.0") == PULLING


@pytest.mark.parametrize("status", [500, 502, 503, 400, 429])
def test_registry_errors_are_pulling_manifest(container_registry, status):
    container_registry.add("org/bench", "1.0")
    container_registry.fail_with(status)
    assert failure(listed(container_registry), "org/bench", "1.0") == PULLING


@pytest.mark.parametrize("status", [403, 404])
def test_plain_status_mapping(container_registry, status):
    container_registry.fail_with(status)
    expected = {403: NOT_AUTHORIZED, 404: NOT_FOUND}[status]
    assert failure(listed(container_registry), "org/bench", "1.0") == expected


def test_registry_down_is_pulling_manifest():
    registry = LocalRegistry().start()
    url = registry.url
    registry.stop()  # the port is closed now: connection refused
    assert failure(ImageRegistry(url, [url]), "org/bench", "1.0") == PULLING


def test_registry_timeout_is_pulling_manifest(container_registry):
    container_registry.hang()
    assert failure(listed(container_registry, deadline=0.2), "org/bench", "1.0") == PULLING


def test_image_naming_a_listed_registry_host_goes_to_that_host(container_registry):
    with LocalRegistry() as default:
        default.add("org/bench", "1.0")  # must not be consulted
        container_registry.add("org/bench", "1.0")
        checker = ImageRegistry(default.url, [default.url, container_registry.url])

        checker.check(f"{container_registry.host}/org/bench", "1.0")
        assert default.request_count == 0
        assert container_registry.paths() == ["/v2/org/bench/manifests/1.0"]

        # no `library/` prefix on a named registry, even for a single component
        assert failure(checker, f"{container_registry.host}/bench", "1.0") == NOT_FOUND
        assert container_registry.paths()[-1] == "/v2/bench/manifests/1.0"
        assert default.request_count == 0


def test_a_listed_localhost_registry_is_asked_over_plain_http_when_listed_so(container_registry):
    container_registry.add("bench", "1.0")
    port = container_registry.host.split(":")[1]
    ImageRegistry("http://127.0.0.1:9", [f"http://localhost:{port}"]).check(f"localhost:{port}/bench", "1.0")


def test_a_registry_listed_without_a_scheme_is_asked_over_https_only(container_registry):
    """The local registry speaks plain HTTP: asked over TLS it cannot answer."""
    container_registry.add("bench", "1.0")
    checker = ImageRegistry("http://127.0.0.1:9", [f"https://{container_registry.host}"])
    assert failure(checker, f"{container_registry.host}/bench", "1.0") == PULLING
    assert container_registry.request_count == 0  # no HTTP request was understood


# --- what the check refuses to ask (issue 10) ----------------------------------------------------
def test_an_unlisted_registry_is_refused_without_a_request(container_registry):
    container_registry.add("org/bench", "1.0")
    with LocalRegistry() as default:
        checker = ImageRegistry(default.url, [default.url])
        assert failure(checker, f"{container_registry.host}/org/bench", "1.0") == REFUSED
        assert f"localhost:{container_registry.host.split(':')[1]}" not in checker.listed
        assert failure(checker, f"localhost:{container_registry.host.split(':')[1]}/org/bench", "1.0") == REFUSED
    assert container_registry.request_count == 0


def test_open_and_closed_ports_of_unlisted_hosts_get_the_same_answer(container_registry):
    closed = LocalRegistry().start()
    closed_host = closed.host
    closed.stop()
    checker = listed(container_registry)
    with LocalRegistry() as other:
        other.add("org/bench", "1.0")
        answers = {failure(checker, f"{host}/org/bench", "1.0") for host in (other.host, closed_host)}
        assert other.request_count == 0
    assert answers == {REFUSED}


def test_a_default_registry_on_a_loopback_address_must_be_listed(container_registry):
    """Resolved first: `localhost` is 127.0.0.1 (or ::1), which only a listed registry may be."""
    container_registry.add("org/bench", "1.0")
    url = f"http://localhost:{container_registry.host.split(':')[1]}"
    assert failure(ImageRegistry(url), "org/bench", "1.0") == REFUSED
    assert container_registry.request_count == 0
    ImageRegistry(url, [url]).check("org/bench", "1.0")


def test_a_redirect_is_not_followed(container_registry):
    container_registry.add("org/bench", "1.0")
    with LocalRegistry() as elsewhere:
        elsewhere.add("org/bench", "1.0")
        container_registry.redirect_to(elsewhere.url)
        assert failure(listed(container_registry), "org/bench", "1.0") == PULLING
        assert elsewhere.request_count == 0
        container_registry.redirect_to(container_registry.url)  # not even to itself: none is needed
        assert failure(listed(container_registry), "org/bench", "1.0") == PULLING


def test_a_token_realm_on_another_host_is_not_asked(container_registry):
    container_registry.require_token = True
    container_registry.add("org/bench", "1.0")
    with LocalRegistry() as elsewhere:
        container_registry.realm = f"{elsewhere.url}/token"
        assert failure(listed(container_registry), "org/bench", "1.0") == PULLING
        assert elsewhere.request_count == 0
        # the realm of a listed registry is asked (a registry whose token service is elsewhere)
        elsewhere_token_service = ImageRegistry(container_registry.url, [container_registry.url, elsewhere.url])
        assert failure(elsewhere_token_service, "org/bench", "1.0") == NOT_AUTHORIZED  # its tokens grant nothing here
        assert elsewhere.paths()[0].startswith("/token?")


def test_a_trickling_registry_cannot_stretch_the_deadline(container_registry):
    """One byte every 0.1 s would satisfy any per-read timeout forever; the deadline is total."""
    container_registry.trickle()
    started = time.monotonic()
    assert failure(listed(container_registry, deadline=1.0), "org/bench", "1.0") == PULLING
    assert time.monotonic() - started < 3.0


def test_an_answer_larger_than_the_cap_is_not_read(container_registry):
    container_registry.allow_head = False  # the manifest comes as a GET body
    container_registry.add("org/bench", "1.0")
    container_registry.padding = 5 << 20  # over the 4 MiB cap
    assert failure(listed(container_registry), "org/bench", "1.0") == PULLING
    container_registry.padding = 1 << 20
    listed(container_registry).check("org/bench", "1.0")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",
        "64:ff9b::a9fe:a9fe",
        "ff02::1",
    ],
)
def test_non_public_addresses(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "140.82.112.3", "2001:4860:4860::8888", "64:ff9b::808:808"])
def test_public_addresses(address):
    assert is_public(ipaddress.ip_address(address))


def test_head_not_allowed_falls_back_to_get(container_registry):
    container_registry.allow_head = False
    container_registry.add("org/bench", "1.0")
    checker = listed(container_registry)
    checker.check("org/bench", "1.0")
    assert [r.method for r in container_registry.requests] == ["HEAD", "GET"]
    assert failure(checker, "org/bench", "2.0") == NOT_FOUND


def test_head_fallback_with_token_auth(container_registry):
    container_registry.allow_head = False
    container_registry.require_token = True
    container_registry.add("org/bench", "1.0")
    listed(container_registry).check("org/bench", "1.0")


LISTED = [
    "https://ghcr.io",
    "registry.example.org:5000",
    "http://localhost",
    "http://127.0.0.1:5000",
    "http://[::1]:5000",
]


@pytest.mark.parametrize(
    "image, expected",
    [
        ("ubuntu", ("registry-1.docker.io", "library/ubuntu")),
        ("org/img", ("registry-1.docker.io", "org/img")),
        ("docker.io/ubuntu", ("registry-1.docker.io", "library/ubuntu")),
        ("index.docker.io/org/img", ("registry-1.docker.io", "org/img")),
        ("ghcr.io/org/img", ("ghcr.io", "org/img")),
        ("GHCR.io/org/img", ("ghcr.io", "org/img")),
        ("registry.example.org:5000/a/b/c", ("registry.example.org:5000", "a/b/c")),
        ("localhost/img", ("localhost", "img")),
        ("127.0.0.1:5000/x", ("127.0.0.1:5000", "x")),
        ("[::1]:5000/x", ("[::1]:5000", "x")),
        ("localhost", ("registry-1.docker.io", "library/localhost")),
    ],
)
def test_reference_parsing(image, expected):
    ref = ImageRegistry("https://registry-1.docker.io", [u if "://" in u else f"https://{u}" for u in LISTED])._parse(
        image, "1.0"
    )
    assert (ref.registry.authority, ref.repository) == expected


@pytest.mark.parametrize(
    "image",
    [
        "quay.io/org/img",
        "ghcr.io:443/org/img",
        "127.0.0.1:5001/x",
        "localhost:5000/x",
        "169.254.169.254/latest",
        "[::2]:5000/x",
    ],
)
def test_images_on_unlisted_registries_are_refused(image):
    checker = ImageRegistry("https://registry-1.docker.io", [u if "://" in u else f"https://{u}" for u in LISTED])
    assert failure(checker, image, "1.0") == REFUSED


def test_docker_hub_is_refused_when_another_default_does_not_list_it():
    checker = ImageRegistry("https://mirror.example.org")
    assert failure(checker, "docker.io/ubuntu", "1.0") == REFUSED
    assert checker._parse("ubuntu", "1.0").registry.authority == "mirror.example.org"
    assert (
        ImageRegistry("https://mirror.example.org", ["https://docker.io"])
        ._parse("docker.io/ubuntu", "1.0")
        .registry.authority
        == "registry-1.docker.io"
    )
