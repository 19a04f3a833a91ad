"""Bearer-token verification (contract §2.1, design §5, §8) against a real local OpenID provider."""

from __future__ import annotations

import logging
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from configuration.settings import ConfigurationError
from http_api.errors import ApiError
from identity import tokens
from identity.dev_tokens import DEV_ISSUER, LocalIssuer
from identity.tokens import ISSUER_UNAVAILABLE, Identity, TokenVerifier
from tests.support.oidc_provider import LocalOpenIDProvider, with_forged_claims, with_tampered_signature

ADMIN = "urn:mace:egi.eu:group:eosc-perf:role=admin#aai.egi.eu"


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(oidc_provider, clock) -> TokenVerifier:
    return TokenVerifier([oidc_provider.issuer], clock=clock)


def refusal(call, *args) -> str:
    """Run a verification that must be refused with 401; return the error description."""
    with pytest.raises(ApiError) as caught:
        call(*args)
    assert caught.value.status == 401
    body = caught.value.body
    assert set(body) == {"error", "error_description"} and body["error"] == "Unauthenticated"
    return body["error_description"]


# -- accepted tokens -------------------------------------------------------------------------


def test_a_valid_token_yields_the_callers_identity(oidc_provider, verifier):
    token = oidc_provider.mint(sub="alice", email="alice@example.org", entitlements=(ADMIN,))

    assert verifier.verify(token) == Identity(
        sub="alice", iss=oidc_provider.issuer, email="alice@example.org", email_verified=True, entitlements=(ADMIN,)
    )
    assert oidc_provider.hits["/userinfo"] == 0  # the token had everything


def test_an_issuer_listed_with_a_trailing_slash_is_the_same_issuer(oidc_provider):
    identity = TokenVerifier([oidc_provider.issuer + "/"]).verify(oidc_provider.mint())
    assert identity.iss == oidc_provider.issuer


def test_a_single_entitlement_string_becomes_a_tuple(oidc_provider, verifier):
    token = oidc_provider.mint(extra_claims={"eduperson_entitlement": ADMIN})
    assert verifier.verify(token).entitlements == (ADMIN,)


def test_a_token_without_kid_uses_the_issuers_only_key(oidc_provider, verifier):
    assert verifier.verify(oidc_provider.mint(headers={"kid": None})).sub == "user-1"


def test_a_token_without_kid_is_refused_when_the_issuer_has_several_keys(oidc_provider, verifier):
    oidc_provider.rotate_key()
    assert refusal(verifier.verify, oidc_provider.mint(headers={"kid": None})) == "Unknown signing key"


def test_jwks_without_alg_still_verify_with_the_rsa_allow_list(oidc_provider, verifier):
    oidc_provider.publish_alg = False
    assert verifier.verify(oidc_provider.mint()).sub == "user-1"
    assert refusal(verifier.verify, oidc_provider.mint(headers={"alg": "RS512"})) == "Signature verification failed"


# -- caching of the provider's documents -----------------------------------------------------


def test_discovery_and_jwks_are_fetched_once_for_many_concurrent_verifications(oidc_provider, verifier):
    tokens = [oidc_provider.mint(sub=f"user-{n}") for n in range(40)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        identities = list(pool.map(verifier.verify, tokens))

    assert [identity.sub for identity in identities] == [f"user-{n}" for n in range(40)]
    assert oidc_provider.hits["/.well-known/openid-configuration"] == 1
    assert oidc_provider.hits["/jwks"] == 1


def test_a_rotated_key_is_fetched_once_then_cached(oidc_provider, verifier):
    old_token = oidc_provider.mint()
    verifier.verify(old_token)

    oidc_provider.rotate_key()
    new_token = oidc_provider.mint()
    verifier.verify(new_token)
    verifier.verify(new_token)
    verifier.verify(old_token)

    assert oidc_provider.hits["/jwks"] == 2
    assert oidc_provider.hits["/.well-known/openid-configuration"] == 1


def test_unknown_kids_refetch_the_jwks_at_most_once_per_pause(oidc_provider, verifier, clock):
    verifier.verify(oidc_provider.mint())
    unknown = oidc_provider.mint(kid="no-such-key")

    assert refusal(verifier.verify, unknown) == "Unknown signing key"
    assert refusal(verifier.verify, oidc_provider.mint(kid="another-made-up-key")) == "Unknown signing key"
    assert oidc_provider.hits["/jwks"] == 2

    clock.advance(10)
    assert refusal(verifier.verify, unknown) == "Unknown signing key"
    assert oidc_provider.hits["/jwks"] == 3


def test_a_token_is_verified_once_per_process_and_its_times_checked_on_every_use(oidc_provider, verifier, monkeypatch):
    checked = []
    decode = tokens._decode
    monkeypatch.setattr(tokens, "_decode", lambda *args: checked.append(args[0]) or decode(*args))
    token = oidc_provider.mint(expires_in=30)
    first = verifier.verify(token)

    assert verifier.verify(token) == verifier.verify(token) == first
    assert checked == [token]  # the later uses reused the first verification
    other = oidc_provider.mint(sub="user-2")
    assert verifier.verify(other).sub == "user-2" and checked == [token, other]
    long = oidc_provider.mint(extra_claims={"padding": "x" * tokens.VERIFIED_TOKEN_MAX_CHARS})
    assert verifier.verify(long) == verifier.verify(long)
    assert checked == [token, other, long, long]  # not kept: verified on every use
    for altered in (with_tampered_signature(token), with_forged_claims(token, sub="admin-1")):
        assert refusal(verifier.verify, altered) == "Signature verification failed"

    later = time.time() + 60  # past exp and its leeway
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: later))
    assert refusal(verifier.verify, token) == "Token has expired"


# -- refused tokens --------------------------------------------------------------------------


def test_an_expired_token_is_refused(oidc_provider, verifier):
    assert refusal(verifier.verify, oidc_provider.mint(expires_in=-60)) == "Token has expired"


def test_a_token_not_yet_valid_is_refused(oidc_provider, verifier):
    assert refusal(verifier.verify, oidc_provider.mint(not_before=60)) == "Token is not yet valid"


def test_a_token_claiming_another_issuer_is_refused_without_asking_anyone(oidc_provider, verifier):
    token = oidc_provider.mint(extra_claims={"iss": "https://evil.example"})
    assert refusal(verifier.verify, token) == "Issuer https://evil.example is not trusted"
    assert oidc_provider.hits == {}


def test_a_token_of_an_untrusted_provider_is_refused(oidc_provider, verifier):
    with LocalOpenIDProvider() as stranger:
        description = refusal(verifier.verify, stranger.mint())
        assert description == f"Issuer {stranger.issuer} is not trusted"
        assert stranger.hits == {}


def test_a_tampered_signature_is_refused(oidc_provider, verifier):
    token = with_tampered_signature(oidc_provider.mint())
    assert refusal(verifier.verify, token) == "Signature verification failed"


def test_claims_forged_under_a_genuine_signature_are_refused(oidc_provider, verifier):
    token = with_forged_claims(oidc_provider.mint(sub="user-1"), sub="admin-1")
    assert refusal(verifier.verify, token) == "Signature verification failed"


def test_an_unsigned_token_is_refused_before_any_key_is_fetched(oidc_provider, verifier):
    token = oidc_provider.mint_unsigned()
    assert refusal(verifier.verify, token) == "Token signed with unsupported algorithm none"
    assert oidc_provider.hits == {}


@pytest.mark.parametrize("encoding", ["PEM", "DER"])
def test_hs256_keyed_with_the_public_key_is_refused(oidc_provider, verifier, encoding):
    verifier.verify(oidc_provider.mint())  # the key is cached: the attack token names its kid
    token = oidc_provider.mint_hmac_with_public_key(encoding)
    assert refusal(verifier.verify, token) == "Token signed with unsupported algorithm HS256"


def test_a_header_algorithm_other_than_the_keys_is_refused(oidc_provider, verifier):
    token = oidc_provider.mint(headers={"alg": "RS512"})
    assert refusal(verifier.verify, token) == "Token algorithm RS512 does not match its signing key"


def test_a_token_without_sub_is_refused(oidc_provider, verifier):
    assert refusal(verifier.verify, oidc_provider.mint(sub=None)) == "Token is missing the sub claim"


def test_a_token_without_exp_is_refused(oidc_provider, verifier):
    token = oidc_provider.mint(extra_claims={"exp": None})
    assert refusal(verifier.verify, token) == "Token is missing the exp claim"


@pytest.mark.parametrize("exp", ["soon", "9999999999", [1], {"at": 1}, True, float("inf"), float("nan")])
def test_a_token_with_a_malformed_exp_is_refused(oidc_provider, verifier, exp):
    token = oidc_provider.mint(extra_claims={"exp": exp})
    assert refusal(verifier.verify, token) == "Token claims are invalid: exp, nbf and iat must be numbers"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize("value", ["0", [0], False, float("-inf")])
def test_a_token_with_a_malformed_nbf_or_iat_is_refused(oidc_provider, verifier, claim, value):
    token = oidc_provider.mint(extra_claims={claim: value})
    assert refusal(verifier.verify, token) == "Token claims are invalid: exp, nbf and iat must be numbers"


@pytest.mark.parametrize("sub", [42, ["alice"], {"id": "alice"}, "", True])
def test_a_token_whose_sub_is_no_string_is_refused(oidc_provider, verifier, sub):
    assert refusal(verifier.verify, oidc_provider.mint(extra_claims={"sub": sub})) == "Token is missing the sub claim"


def test_a_string_exp_is_refused_on_every_use_even_with_userinfo_cached(oidc_provider, verifier):
    """python-jose takes an exp of "9999999999" (it calls int()); the userinfo cache then
    compared the string with a time on the token's second use: a 500 before, 401 every time now."""
    token = oidc_provider.mint(include_email_in_token=False, extra_claims={"exp": "9999999999"})
    for _ in range(3):
        assert refusal(verifier.verify, token) == "Token claims are invalid: exp, nbf and iat must be numbers"
    assert oidc_provider.hits["/userinfo"] == 0


@pytest.mark.parametrize("exp", [10**30, 10**400])
def test_a_large_integer_exp_is_a_number_like_any_other(oidc_provider, verifier, exp):
    token = oidc_provider.mint(include_email_in_token=False, extra_claims={"exp": exp})
    for _ in range(2):
        assert verifier.verify(token).email == "user-1@example.org"
    assert oidc_provider.hits["/userinfo"] == 1


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30", ""])
def test_a_string_that_is_no_jwt_is_refused(verifier, token):
    assert refusal(verifier.verify, token) == "Token is not a valid JWT"


def test_an_unreachable_provider_means_401_without_its_address(clock, caplog):
    provider = LocalOpenIDProvider().start()
    token = provider.mint()
    provider.stop()

    with caplog.at_level(logging.WARNING, logger="identity.tokens"):
        description = refusal(TokenVerifier([provider.issuer], clock=clock).verify, token)
    assert description == ISSUER_UNAVAILABLE
    assert "127.0.0.1" not in description and "http" not in description
    assert f"cannot connect to {provider.issuer}/.well-known/openid-configuration" in caplog.text  # for operators


def test_a_provider_answering_garbage_means_401_without_details(oidc_provider, clock, caplog):
    oidc_provider.discovery_issuer = "https://elsewhere.example"
    with caplog.at_level(logging.WARNING, logger="identity.tokens"):
        description = refusal(TokenVerifier([oidc_provider.issuer], clock=clock).verify, oidc_provider.mint())
    assert description == ISSUER_UNAVAILABLE
    assert "elsewhere" in caplog.text and "elsewhere" not in description


# -- the discovery document and the audience -------------------------------------------------


def test_a_discovery_document_naming_another_issuer_is_not_used(oidc_provider, verifier, clock):
    """OIDC Discovery 4.3: the issuer in the document must be the one we trust, or an attacker
    who can serve that URL could point us at keys of their choosing."""
    oidc_provider.discovery_issuer = oidc_provider.issuer + "/other"
    assert refusal(verifier.verify, oidc_provider.mint()) == ISSUER_UNAVAILABLE
    assert oidc_provider.hits["/jwks"] == 0

    oidc_provider.discovery_issuer = oidc_provider.issuer + "/"  # the same issuer, with a trailing slash
    clock.advance(10)
    assert verifier.verify(oidc_provider.mint()).sub == "user-1"


def test_without_client_ids_the_audience_is_not_checked(oidc_provider, verifier):
    for audience in (None, "another-client", ["a", "b"]):
        assert verifier.verify(oidc_provider.mint(audience=audience)).sub == "user-1"


def test_with_client_ids_a_token_must_name_one_in_its_audience(oidc_provider, clock):
    verifier = TokenVerifier([oidc_provider.issuer], client_ids=["eosc-perf", "eosc-perf-cli"], clock=clock)
    assert verifier.verify(oidc_provider.mint(audience="eosc-perf")).sub == "user-1"
    assert verifier.verify(oidc_provider.mint(audience=["other", "eosc-perf-cli"])).sub == "user-1"
    not_ours = "Token is not meant for this service: its audience names no client id of it"
    for audience in ("another-client", ["a", "b"], None, 42, [42], {"eosc-perf": 1}):
        token = oidc_provider.mint(extra_claims={"aud": audience})
        assert refusal(verifier.verify, token) == not_ours, audience


def test_client_ids_do_not_apply_to_development_tokens(tmp_path):
    issuer = LocalIssuer(tmp_path)
    verifier = TokenVerifier([], client_ids=["eosc-perf"], local_issuer=issuer)
    assert verifier.verify(issuer.mint("dev-user")).sub == "dev-user"


# -- refreshing the provider's documents -----------------------------------------------------


def test_discovery_and_jwks_are_fetched_anew_once_older_than_their_max_age(oidc_provider, clock):
    verifier = TokenVerifier([oidc_provider.issuer], keys_max_age=600, clock=clock)
    old_token = oidc_provider.mint()
    verifier.verify(old_token)
    oidc_provider.rotate_key()
    oidc_provider.withdraw_old_keys()  # the old key is compromised: the issuer drops it

    clock.advance(599)
    assert verifier.verify(old_token).sub == "user-1"  # still within the max age
    clock.advance(1)
    assert refusal(verifier.verify, old_token) == "Unknown signing key"
    assert oidc_provider.hits["/.well-known/openid-configuration"] == 2
    assert oidc_provider.hits["/jwks"] == 2
    assert verifier.verify(oidc_provider.mint()).sub == "user-1"  # the new key was fetched with it


def test_a_failed_refresh_keeps_the_keys_and_retries_after_a_pause(oidc_provider, clock):
    verifier = TokenVerifier([oidc_provider.issuer], keys_max_age=600, clock=clock)
    token = oidc_provider.mint()
    verifier.verify(token)
    oidc_provider.discovery_issuer = "https://impostor.example"  # every refresh fails from now on
    discovery = "/.well-known/openid-configuration"

    clock.advance(600)
    assert verifier.verify(token).sub == "user-1"  # the keys we had still serve
    assert verifier.verify(token).sub == "user-1"
    assert oidc_provider.hits[discovery] == 2  # one failed attempt, then a pause
    clock.advance(10)
    assert verifier.verify(token).sub == "user-1"
    assert oidc_provider.hits[discovery] == 3

    oidc_provider.discovery_issuer = None
    clock.advance(10)
    assert verifier.verify(token).sub == "user-1"
    assert (oidc_provider.hits[discovery], oidc_provider.hits["/jwks"]) == (4, 2)


# -- userinfo --------------------------------------------------------------------------------


def test_an_email_missing_from_the_token_comes_from_userinfo_once_per_token(oidc_provider, verifier):
    token = oidc_provider.mint(email="bob@example.org", include_email_in_token=False)

    for _ in range(3):
        identity = verifier.verify(token)
        assert (identity.email, identity.email_verified) == ("bob@example.org", True)
    assert oidc_provider.hits["/userinfo"] == 1


def test_entitlements_missing_from_the_token_come_from_userinfo(oidc_provider, verifier):
    token = oidc_provider.mint(entitlements=(ADMIN,), extra_claims={"eduperson_entitlement": None})
    assert verifier.verify(token).entitlements == (ADMIN,)


def test_a_failing_userinfo_leaves_the_identity_without_email(oidc_provider, verifier):
    token = oidc_provider.mint(include_email_in_token=False)
    oidc_provider.fail_userinfo = True

    identity = verifier.verify(token)
    assert (identity.sub, identity.email, identity.email_verified) == ("user-1", None, None)

    oidc_provider.fail_userinfo = False  # failures are not cached
    assert verifier.verify(token).email == "user-1@example.org"


def test_an_unreachable_userinfo_leaves_the_identity_without_email(oidc_provider, verifier):
    verifier.verify(oidc_provider.mint())  # keys cached while the provider is up
    token = oidc_provider.mint(include_email_in_token=False)
    oidc_provider.stop()

    assert verifier.verify(token).email is None


# -- the Authorization header ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header, description",
    [
        (None, "No authorization header"),
        ("", "No authorization header"),
        ("Basic dXNlcjpwYXNzd29yZA==", "Authorization header must use the Bearer scheme"),
        ("Bearer", "Authorization header has no bearer token"),
        ("Bearer   ", "Authorization header has no bearer token"),
        ("Bearer not-a-jwt", "Token is not a valid JWT"),
    ],
)
def test_unusable_authorization_headers_are_refused(verifier, header, description):
    assert refusal(verifier.identify, header) == description


def test_the_bearer_scheme_is_case_insensitive(oidc_provider, verifier):
    assert verifier.identify(f"bearer {oidc_provider.mint(sub='carol')}").sub == "carol"


# -- the development issuer ------------------------------------------------------------------


def test_a_development_token_verifies_without_any_http(tmp_path):
    issuer = LocalIssuer(tmp_path)
    verifier = TokenVerifier([], local_issuer=issuer)

    assert verifier.verify(issuer.mint("dev-user", entitlements=[ADMIN])) == Identity(
        sub="dev-user", iss=DEV_ISSUER, email="dev@example.org", email_verified=True, entitlements=(ADMIN,)
    )
    assert verifier.verify(issuer.mint("no-mail", email=None)).email is None


def test_the_development_key_persists_privately_across_instances(tmp_path):
    data_dir = tmp_path / "data" / "nested"
    token = LocalIssuer(data_dir).mint("dev-user")

    again = LocalIssuer(data_dir)
    assert TokenVerifier([], local_issuer=again).verify(token).sub == "dev-user"
    assert stat.S_IMODE(os.stat(again.key_file).st_mode) == 0o600
    assert os.listdir(data_dir) == ["dev-oidc-key.json"]


def test_a_development_token_is_refused_outside_development_mode(oidc_provider, tmp_path):
    token = LocalIssuer(tmp_path).mint("dev-user")
    assert refusal(TokenVerifier([oidc_provider.issuer]).verify, token) == f"Issuer {DEV_ISSUER} is not trusted"


def test_a_development_token_of_another_installation_is_refused(tmp_path):
    foreign = LocalIssuer(tmp_path / "elsewhere").mint("dev-user")
    verifier = TokenVerifier([], local_issuer=LocalIssuer(tmp_path / "here"))
    assert refusal(verifier.verify, foreign) == "Unknown signing key"


def test_an_expired_development_token_is_refused(tmp_path):
    issuer = LocalIssuer(tmp_path)
    token = issuer.mint("dev-user", lifetime=-60)
    assert refusal(TokenVerifier([], local_issuer=issuer).verify, token) == "Token has expired"


def test_a_damaged_development_key_file_is_a_configuration_error(tmp_path):
    (tmp_path / "dev-oidc-key.json").write_text('{"kty": "RSA"}')
    with pytest.raises(ConfigurationError, match="dev-oidc-key.json"):
        LocalIssuer(tmp_path)
