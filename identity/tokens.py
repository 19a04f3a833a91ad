"""Who is calling: OIDC access tokens (JWT) verified locally against their issuer's keys (design §5).

python-jose's pitfalls shape this module (design §8): `jwt.decode` trusts the header's `alg`
unless `algorithms` is given, and its guard against HS256 signed with a public key misses
DER-encoded keys. So only asymmetric algorithms are allowed, they are checked before decoding,
and keys are built only from JWK dicts of the issuer's JWKS, matched by `kid`.

python-jose only checks the signature here: the claims (their types, exp, nbf, aud) are
checked by this module, because python-jose converts an `exp` of "9999999999" with `int()`
and lets a string through that later comparisons trip over.

Errors answer 401 with a fixed description: what went wrong with a provider (its URLs, the
exception) goes to the log, never to the caller.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import requests
from jose import jwk, jwt
from jose.exceptions import JOSEError, JWTError

from http_api.errors import unauthenticated
from identity.dev_tokens import LocalIssuer

log = logging.getLogger(__name__)

# python-jose 3.5.0 implements no PS256/384/512, so RSA-PSS tokens are refused as unsupported.
ALGORITHMS_BY_KEY_TYPE = {"RSA": ("RS256", "RS384", "RS512"), "EC": ("ES256", "ES384", "ES512")}
ALLOWED_ALGORITHMS = tuple(alg for algorithms in ALGORITHMS_BY_KEY_TYPE.values() for alg in algorithms)
KEY_TYPE_OF_ALGORITHM = {alg: kty for kty, algorithms in ALGORITHMS_BY_KEY_TYPE.items() for alg in algorithms}

CLOCK_SKEW_SECONDS = 5  # leeway on exp and nbf between our clock and the issuer's
FRUITLESS_FETCH_PAUSE_SECONDS = 10.0  # after a fetch that failed or did not yield the wanted key
KEYS_MAX_AGE_SECONDS = 3600.0  # discovery and JWKS are fetched anew when older (OIDC_KEYS_MAX_AGE)
USERINFO_CACHE_SIZE = 1024
CONSTRUCTED_KEYS_CACHE_SIZE = 64  # issuers x keys in their JWKS x algorithms: a handful
VERIFIED_TOKENS_CACHE_SIZE = 1024
VERIFIED_TOKEN_MAX_CHARS = 4096  # longer tokens are verified on every use: the cache stays a few MiB
USERINFO_CLAIMS = ("email", "email_verified", "eduperson_entitlement")  # asked of userinfo when missing

# The signature only: every claim is checked by `_checked_claims`, with its type first.
DECODE_OPTIONS = {
    name: False
    for name in (
        "verify_aud",
        "verify_iat",
        "verify_exp",
        "verify_nbf",
        "verify_iss",
        "verify_sub",
        "verify_jti",
        "verify_at_hash",
    )
}
INVALID_TIMES = "Token claims are invalid: exp, nbf and iat must be numbers"
ISSUER_UNAVAILABLE = "The signing keys of the token's issuer cannot be fetched; retry shortly"


@dataclass(frozen=True)
class Identity:
    sub: str
    iss: str
    email: str | None
    email_verified: bool | None
    entitlements: tuple[str, ...]


class ProviderUnavailable(Exception):
    """An OpenID provider endpoint did not answer with a JSON object."""


class TokenVerifier:
    """Turns bearer tokens into identities; safe to share between request threads."""

    def __init__(
        self,
        trusted_issuers: Sequence[str],
        *,
        client_ids: Sequence[str] = (),
        timeout: float = 1.2,
        keys_max_age: float = KEYS_MAX_AGE_SECONDS,
        local_issuer: LocalIssuer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        """`client_ids`: when given, a token of a trusted issuer must name one of them in `aud`
        (tokens the provider issued to other clients are refused); empty: `aud` is not checked."""
        self._timeout = timeout
        self._client_ids = frozenset(client_ids)
        # Keyed without trailing slash: "https://op/" and "https://op" are one trusted issuer.
        self._issuers: dict[str, IssuerKeys | LocalIssuerKeys] = {
            issuer.rstrip("/"): IssuerKeys(issuer.rstrip("/"), timeout, keys_max_age, clock)
            for issuer in trusted_issuers
        }
        if local_issuer is not None:
            self._issuers[local_issuer.issuer] = LocalIssuerKeys(local_issuer)
        self._userinfo = UserinfoCache(USERINFO_CACHE_SIZE)
        self._constructed = ConstructedKeys(CONSTRUCTED_KEYS_CACHE_SIZE)
        self._verified = VerifiedTokens(VERIFIED_TOKENS_CACHE_SIZE)

    def identify(self, authorization_header: str | None) -> Identity:
        if not authorization_header:
            raise unauthenticated("No authorization header")
        scheme, _, token = authorization_header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise unauthenticated("Authorization header must use the Bearer scheme")
        if not token.strip():
            raise unauthenticated("Authorization header has no bearer token")
        return self.verify(token.strip())

    def verify(self, token: str) -> Identity:
        issuer, keys, signed = self._signed_claims(token)
        claims = _checked_claims(signed)
        if self._client_ids and keys.audience_checked:
            _check_audience(claims.get("aud"), self._client_ids)
        sub = claims["sub"]
        if any(name not in claims for name in USERINFO_CLAIMS):
            # Token claims win; userinfo (cached per token) only fills in what the token leaves out.
            claims = {**self._userinfo_claims(keys.userinfo_endpoint, token, claims), **claims}

        email, verified = claims.get("email"), claims.get("email_verified")
        return Identity(
            sub=sub,
            iss=issuer,
            email=email if isinstance(email, str) else None,
            email_verified=verified if isinstance(verified, bool) else None,
            entitlements=_entitlements(claims.get("eduperson_entitlement")),
        )

    def _signed_claims(self, token: str) -> tuple[str, IssuerKeys | LocalIssuerKeys, dict]:
        """The token's issuer, that issuer's keys and the claims its signature covers, unchecked.
        A token verified before is not decoded and verified again while its issuer still serves
        the key that signed it: its claims, times included, are checked on every use all the same."""
        verified = self._verified.get(token)
        if verified is not None:
            issuer, keys, header, signing_key, signed = verified
            # A key withdrawn since refuses the token here, as a first verification would.
            if keys.signing_key(header) == signing_key:
                return issuer, keys, signed
        header, unverified = _unverified_parts(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
            raise unauthenticated(f"Token signed with unsupported algorithm {algorithm}")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise unauthenticated("Token is missing the iss claim")
        keys = self._issuers.get(issuer.rstrip("/"))
        if keys is None:
            raise unauthenticated(f"Issuer {issuer} is not trusted")

        signing_key = keys.signing_key(header)
        allowed = _algorithms_of(signing_key)
        if algorithm not in allowed:
            raise unauthenticated(f"Token algorithm {algorithm} does not match its signing key")
        signed = _decode(token, self._constructed.key(signing_key, algorithm), allowed)
        if len(token) <= VERIFIED_TOKEN_MAX_CHARS:
            self._verified.put(token, (issuer, keys, header, signing_key, signed))
        return issuer, keys, signed

    def _userinfo_claims(self, endpoint: str | None, token: str, claims: dict) -> dict:
        """The issuer's userinfo for this token; {} when unavailable, which is not fatal."""
        if endpoint is None:
            return {}
        cached = self._userinfo.get(token)
        if cached is not None:
            return cached
        try:
            answer = _fetch_json(endpoint, self._timeout, bearer=token)
        except ProviderUnavailable as error:
            log.warning("userinfo of %s@%s unavailable: %s", claims["sub"], claims["iss"], error)
            return {}
        if answer.get("sub") != claims["sub"]:
            # OIDC Core 5.3.2: userinfo about another subject must not be used.
            log.warning("userinfo of %s@%s names subject %r", claims["sub"], claims["iss"], answer.get("sub"))
            return {}
        self._userinfo.put(token, claims["exp"], answer)
        return answer


class IssuerKeys:
    """A trusted issuer's discovery document and JWKS, fetched on first use and cached.

    Both are fetched anew once older than `max_age` (a key the issuer withdrew stops being
    trusted), and the JWKS when a token names an unknown `kid` (the issuer may have rotated
    its keys). A fetch that fails or still lacks the key pauses fetching for
    FRUITLESS_FETCH_PAUSE_SECONDS, so tokens with made-up kids cannot make us hammer the
    provider; a failed refresh keeps the keys we had, so a provider outage does not log
    everyone out. The discovery document must name this very issuer (OIDC Discovery 4.3):
    a document naming another one is not used.
    """

    audience_checked = True

    def __init__(self, issuer: str, timeout: float, max_age: float, clock: Callable[[], float]):
        self.issuer = issuer
        self._timeout = timeout
        self._max_age = max_age
        self._clock = clock
        # Held during fetches too: concurrent requests wait for one fetch instead of each fetching.
        self._lock = threading.Lock()
        self._discovery: dict | None = None
        self._keys: list = []
        self._stale_at = float("-inf")  # when the fetched documents are due for a refresh
        self._next_fetch = float("-inf")  # no fetch before this time (the pause)

    @property
    def userinfo_endpoint(self) -> str | None:
        endpoint = (self._discovery or {}).get("userinfo_endpoint")
        return endpoint if isinstance(endpoint, str) else None

    def signing_key(self, header: dict) -> dict:
        with self._lock:
            now = self._clock()
            if now >= self._next_fetch:
                if now >= self._stale_at:
                    self._fetch(now, discovery=True)
                elif _select_key(self._keys, header) is None:
                    self._fetch(now, discovery=False)
            key = _select_key(self._keys, header)
            if key is None:
                self._next_fetch = max(self._next_fetch, now + FRUITLESS_FETCH_PAUSE_SECONDS)
                raise unauthenticated("Unknown signing key" if self._keys else ISSUER_UNAVAILABLE)
            return key

    def _fetch(self, now: float, *, discovery: bool) -> None:
        """Fetch the JWKS (and the discovery document first, when due); on failure keep what
        we had, log why and pause."""
        try:
            document = self._discovery
            if discovery or document is None:
                document = _fetch_json(f"{self.issuer}/.well-known/openid-configuration", self._timeout)
                named = document.get("issuer")
                if not isinstance(named, str) or named.rstrip("/") != self.issuer:
                    raise ProviderUnavailable(f"discovery document names issuer {named!r}")
                if not isinstance(document.get("jwks_uri"), str):
                    raise ProviderUnavailable("discovery document has no jwks_uri")
            keys = _fetch_json(document["jwks_uri"], self._timeout).get("keys")
            if not isinstance(keys, list):
                raise ProviderUnavailable("JWKS has no keys list")
        except ProviderUnavailable as error:
            log.warning("cannot fetch the signing keys of %s: %s", self.issuer, error)
            self._next_fetch = now + FRUITLESS_FETCH_PAUSE_SECONDS
            return
        self._discovery, self._keys = document, keys
        if discovery:
            self._stale_at = now + self._max_age


class LocalIssuerKeys:
    """The development issuer's keys: in-process, nothing to fetch, no userinfo endpoint.
    Its tokens are minted for this installation only, so they carry no audience."""

    userinfo_endpoint = None
    audience_checked = False

    def __init__(self, local_issuer: LocalIssuer):
        self._keys = local_issuer.jwks()["keys"]

    def signing_key(self, header: dict) -> dict:
        key = _select_key(self._keys, header)
        if key is None:
            raise unauthenticated("Unknown signing key")
        return key


class ConstructedKeys:
    """python-jose key objects built from JWKs, kept between requests: building one (decoding the
    JWK, loading it into OpenSSL) costs about as much as verifying the signature.

    Keyed by the algorithm and the JWK's whole content, not by `kid` alone: a key that the
    issuer replaced under the same kid is built anew. The oldest entries go first when full."""

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._keys: OrderedDict[tuple[str, str], jwk.Key] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, signing_key: dict, algorithm: str) -> jwk.Key:
        cache_key = (algorithm, json.dumps(signing_key, sort_keys=True))
        with self._lock:
            key = self._keys.get(cache_key)
        if key is not None:
            return key
        try:
            key = jwk.construct(signing_key, algorithm)
        except (JOSEError, TypeError, ValueError):
            raise unauthenticated(f"Signing key {signing_key.get('kid')} of the issuer is unusable") from None
        with self._lock:
            self._keys[cache_key] = key
            while len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
        return key


class VerifiedTokens:
    """Tokens whose signature this process verified, with what the verification found, so that
    a client's next request with the same token costs no decoding and no signature check. Only
    successes are kept; the oldest go first when full."""

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple | None:
        with self._lock:
            return self._entries.get(token)

    def put(self, token: str, verified: tuple) -> None:
        with self._lock:
            self._entries[token] = verified
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


class UserinfoCache:
    """Userinfo answers per token until the token expires; the oldest entries go first when full."""

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> dict | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is None or entry[0] <= time.time():
                return None
            return entry[1]

    def put(self, token: str, expires_at: float, answer: dict) -> None:
        with self._lock:
            self._entries[token] = (expires_at, answer)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


def _unverified_parts(token: str) -> tuple[dict, dict]:
    try:
        return jwt.get_unverified_header(token), jwt.get_unverified_claims(token)
    except JWTError:
        raise unauthenticated("Token is not a valid JWT") from None


def _select_key(keys: list, header: dict) -> dict | None:
    """The JWK named by the token's kid; without a kid, the issuer's only key of the right type."""
    signing_keys = [key for key in keys if isinstance(key, dict) and key.get("use", "sig") == "sig"]
    kid = header.get("kid")
    if kid is not None:
        return next((key for key in signing_keys if key.get("kid") == kid), None)
    key_type = KEY_TYPE_OF_ALGORITHM[header["alg"]]
    candidates = [key for key in signing_keys if key.get("kty") == key_type]
    return candidates[0] if len(candidates) == 1 else None


def _algorithms_of(signing_key: dict) -> list[str]:
    """The algorithms a JWK may verify: its own `alg` if allowed, else those of its key type."""
    if "alg" in signing_key:
        return [signing_key["alg"]] if signing_key["alg"] in ALLOWED_ALGORITHMS else []
    return list(ALGORITHMS_BY_KEY_TYPE.get(signing_key.get("kty"), ()))


def _decode(token: str, key: jwk.Key, allowed: list[str]) -> dict:
    """Verify the signature with a key built from the JWK, never from raw bytes."""
    try:
        return jwt.decode(token, key, algorithms=allowed, options=DECODE_OPTIONS)
    except JWTError:
        raise unauthenticated("Signature verification failed") from None


def _number(value) -> bool:
    """An int (any size: JSON has no limit) or a finite float; a bool is no number here."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or isinstance(value, float) and math.isfinite(value)


def _checked_claims(claims: dict) -> dict:
    """The signed claims, once their types and times are right: whatever a trusted issuer
    signed, a claim of the wrong type is a refused token (401), never an error later on."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise unauthenticated("Token is missing the sub claim")
    if "exp" not in claims:
        raise unauthenticated("Token is missing the exp claim")
    if not all(_number(claims[name]) for name in ("exp", "nbf", "iat") if name in claims):
        raise unauthenticated(INVALID_TIMES)
    now = time.time()
    if claims["exp"] < now - CLOCK_SKEW_SECONDS:
        raise unauthenticated("Token has expired")
    if "nbf" in claims and claims["nbf"] > now + CLOCK_SKEW_SECONDS:
        raise unauthenticated("Token is not yet valid")
    return claims


def _check_audience(aud, client_ids: frozenset[str]) -> None:
    """`aud` is one string or a list of strings (RFC 7519 4.1.3); one must be ours."""
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_ids.isdisjoint(item for item in audiences if isinstance(item, str)):
        raise unauthenticated("Token is not meant for this service: its audience names no client id of it")


def _fetch_json(url: str, timeout: float, *, bearer: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    try:
        response = requests.get(url, headers=headers, timeout=timeout)
        response.raise_for_status()
        document = response.json()
    except requests.HTTPError as error:
        raise ProviderUnavailable(f"{url} answered HTTP {error.response.status_code}") from error
    except requests.Timeout as error:
        raise ProviderUnavailable(f"{url} timed out") from error
    except requests.ConnectionError as error:
        raise ProviderUnavailable(f"cannot connect to {url}") from error
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"{url} did not answer JSON ({type(error).__name__})") from error
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} did not answer a JSON object")
    return document


def _entitlements(value) -> tuple[str, ...]:
    """`eduperson_entitlement` arrives as a list of strings or, from some issuers, one string."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()
