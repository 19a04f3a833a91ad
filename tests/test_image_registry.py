"""The container image check (contract §5.1, design Q-14) against a real local registry."""

from __future__ import annotations

import pytest

from command_service.image_registry import ImageNotFound, ImageRegistry
from tests.support.container_registry import LocalRegistry
from tests.support.fixtures_registry import container_registry  # noqa: F401  (fixture)

NOT_FOUND = "Could not validate container image: Error: manifest not found"
NOT_AUTHORIZED = "Could not validate container image: Error: not authorized"
PULLING = "Could not validate container image: Error: pulling manifest"


def failure(registry: ImageRegistry, image: str, tag: str) -> str:
    with pytest.raises(ImageNotFound) as caught:
        registry.check(image, tag)
    return str(caught.value)


def test_existing_image_and_tag_is_accepted(container_registry):
    container_registry.add("org/bench", "1.0")
    ImageRegistry(container_registry.url).check("org/bench", "1.0")
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
    ImageRegistry(container_registry.url).check("org/bench", digest)


def test_single_component_name_is_an_official_library_image(container_registry):
    container_registry.add("library/ubuntu", "22.04")
    ImageRegistry(container_registry.url).check("ubuntu", "22.04")
    assert container_registry.paths() == ["/v2/library/ubuntu/manifests/22.04"]


def test_missing_tag_is_manifest_not_found(container_registry):
    container_registry.add("org/bench", "1.0")
    assert failure(ImageRegistry(container_registry.url), "org/bench", "2.0") == NOT_FOUND


@pytest.mark.parametrize(
    "image, tag",
    [("", "1.0"), ("org/bench", ""), ("Org/Bench", "1.0"), ("org/../bench", "1.0"), ("org/bench", "1.0?x=1"),
     ("org//bench", "1.0"), ("org/bench", "-bad"), (None, "1.0")],
)
def test_malformed_reference_is_manifest_not_found_without_asking(container_registry, image, tag):
    assert failure(ImageRegistry(container_registry.url), image, tag) == NOT_FOUND
    assert container_registry.request_count == 0


def test_anonymous_token_flow(container_registry):
    container_registry.require_token = True
    container_registry.add("org/bench", "1.0")
    ImageRegistry(container_registry.url).check("org/bench", "1.0")

    first, token, retry = container_registry.requests
    assert "Authorization" not in first.headers
    assert token.path.startswith("/token?")
    assert "scope=repository%3Aorg%2Fbench%3Apull" in token.path and "service=local-registry" in token.path
    assert retry.headers["Authorization"].startswith("Bearer ")


def test_token_flow_still_reports_missing_tag(container_registry):
    container_registry.require_token = True
    container_registry.add("org/bench", "1.0")
    assert failure(ImageRegistry(container_registry.url), "org/bench", "nope") == NOT_FOUND


def test_private_repository_is_not_authorized(container_registry):
    container_registry.require_token = True
    container_registry.add("org/secret", "1.0", private=True)
    assert failure(ImageRegistry(container_registry.url), "org/secret", "1.0") == NOT_AUTHORIZED
    assert container_registry.request_count == 3  # challenge, token, refused retry


def test_unknown_repository_behind_token_auth_is_not_authorized(container_registry):
    # Docker Hub hides unknown repositories behind 401 for anonymous tokens; so does ours.
    container_registry.require_token = True
    assert failure(ImageRegistry(container_registry.url), "org/ghost", "1.0") == NOT_AUTHORIZED


def test_refused_token_is_not_authorized(container_registry):
    container_registry.require_token = True
    container_registry.refuse_tokens = True
    container_registry.add("org/bench", "1.0")
    assert failure(ImageRegistry(container_registry.url), "org/bench", "1.0") == NOT_AUTHORIZED


def test_basic_auth_challenge_is_not_authorized(container_registry):
    container_registry.add("org/secret", "1.0", private=True)  # no token service: Basic 401
    assert failure(ImageRegistry(container_registry.url), "org/secret", "1.0") == NOT_AUTHORIZED


@pytest.mark.parametrize("realm", ["", "ftp://127.0.0.1/token", "not a url", "http://127.0.0.1:9/token"])
def test_broken_token_challenge_is_pulling_manifest(container_registry, realm):
    container_registry.require_token = True
    container_registry.realm = realm
    container_registry.add("org/bench", "1.0")
    assert failure(ImageRegistry(container_registry.url), "org/bench", "1.0") == PULLING


def test_token_endpoint_outage_is_pulling_manifest(container_registry):
    container_registry.require_token = True
    container_registry.realm = f"{container_registry.url}/no-token-service"  # answers 404
    container_registry.add("org/bench", "1.0")
    assert failure(ImageRegistry(container_registry.url), "org/bench", "1.0") == PULLING


@pytest.mark.parametrize("status", [500, 502, 503, 400, 429])
def test_registry_errors_are_pulling_manifest(container_registry, status):
    container_registry.add("org/bench", "1.0")
    container_registry.fail_with(status)
    assert failure(ImageRegistry(container_registry.url), "org/bench", "1.0") == PULLING


@pytest.mark.parametrize("status", [403, 404])
def test_plain_status_mapping(container_registry, status):
    container_registry.fail_with(status)
    expected = {403: NOT_AUTHORIZED, 404: NOT_FOUND}[status]
    assert failure(ImageRegistry(container_registry.url), "org/bench", "1.0") == expected


def test_registry_down_is_pulling_manifest():
    registry = LocalRegistry().start()
    url = registry.url
    registry.stop()  # the port is closed now: connection refused
    assert failure(ImageRegistry(url), "org/bench", "1.0") == PULLING


def test_registry_timeout_is_pulling_manifest(container_registry):
    container_registry.hang()
    assert failure(ImageRegistry(container_registry.url, timeout=0.2), "org/bench", "1.0") == PULLING


def test_image_naming_a_registry_host_goes_to_that_host(container_registry):
    with LocalRegistry() as default:
        default.add("org/bench", "1.0")  # must not be consulted
        container_registry.add("org/bench", "1.0")
        checker = ImageRegistry(default.url)

        checker.check(f"{container_registry.host}/org/bench", "1.0")
        assert default.request_count == 0
        assert container_registry.paths() == ["/v2/org/bench/manifests/1.0"]

        # no `library/` prefix on a named registry, even for a single component
        assert failure(checker, f"{container_registry.host}/bench", "1.0") == NOT_FOUND
        assert container_registry.paths()[-1] == "/v2/bench/manifests/1.0"
        assert default.request_count == 0


def test_localhost_registry_host_uses_plain_http(container_registry):
    container_registry.add("bench", "1.0")
    port = container_registry.host.split(":")[1]
    ImageRegistry("http://127.0.0.1:9").check(f"localhost:{port}/bench", "1.0")


def test_head_not_allowed_falls_back_to_get(container_registry):
    container_registry.allow_head = False
    container_registry.add("org/bench", "1.0")
    checker = ImageRegistry(container_registry.url)
    checker.check("org/bench", "1.0")
    assert [r.method for r in container_registry.requests] == ["HEAD", "GET"]
    assert failure(checker, "org/bench", "2.0") == NOT_FOUND


def test_head_fallback_with_token_auth(container_registry):
    container_registry.allow_head = False
    container_registry.require_token = True
    container_registry.add("org/bench", "1.0")
    ImageRegistry(container_registry.url).check("org/bench", "1.0")


@pytest.mark.parametrize(
    "image, expected",
    [
        ("ubuntu", ("https://registry-1.docker.io", "library/ubuntu")),
        ("org/img", ("https://registry-1.docker.io", "org/img")),
        ("docker.io/ubuntu", ("https://registry-1.docker.io", "library/ubuntu")),
        ("ghcr.io/org/img", ("https://ghcr.io", "org/img")),
        ("registry.example.org:5000/a/b/c", ("https://registry.example.org:5000", "a/b/c")),
        ("localhost/img", ("http://localhost", "img")),
        ("127.0.0.1:5000/x", ("http://127.0.0.1:5000", "x")),
        ("[::1]:5000/x", ("http://[::1]:5000", "x")),
        ("localhost", ("https://registry-1.docker.io", "library/localhost")),
    ],
)
def test_reference_parsing(image, expected):
    ref = ImageRegistry()._parse(image, "1.0")
    assert (ref.registry, ref.repository) == expected
