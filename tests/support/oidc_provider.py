"""A tiny, real OpenID provider on 127.0.0.1 for tests of token verification (no internet).

It serves discovery, JWKS and userinfo over HTTP, mints RS256 access tokens and mints the
attack tokens a verifier must refuse (claims of the wrong type go through `extra_claims`,
e.g. `{"exp": "9999999999"}`, and are signed like any other). It signs with `cryptography`
and `hmac` directly, not with python-jose, so the library under test never checks its own
homework.

    with LocalOpenIDProvider() as provider:
        TokenVerifier([provider.issuer]).verify(provider.mint(sub="alice"))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(f"key-{secrets.token_hex(4)}", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def public_jwk(self, *, with_alg: bool) -> dict:
        numbers = self.private_key.public_key().public_numbers()
        jwk = {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _b64_int(numbers.n), "e": _b64_int(numbers.e)}
        return {**jwk, "alg": "RS256"} if with_alg else jwk

    def public_key_bytes(self, encoding: Literal["PEM", "DER"]) -> bytes:
        return self.private_key.public_key().public_bytes(
            getattr(serialization.Encoding, encoding), serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign_rs256(self, signing_input: bytes) -> bytes:
        return self.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


class LocalOpenIDProvider:
    """An OpenID provider on a free 127.0.0.1 port, serving from a daemon thread.

    Knobs (all may be changed while running):
      fail_userinfo  True makes /userinfo answer 503
      publish_alg    False leaves `alg` out of the JWKS entries (allowed by RFC 7517)
      discovery_issuer  the `issuer` its discovery document names (None: its own, as it must)
    `hits` counts requests per path, e.g. `hits["/jwks"]`, to check the verifier's caching.
    `audience`: the `aud` of the tokens it mints unless `mint` says otherwise (None: no aud).
    `tls`: a server context to serve HTTPS with (its issuer then says https://), for verifiers
    that ask only https:// issuers, as the original backend's flaat does (bench/side_by_side.py).
    """

    def __init__(self, audience: str | None = None, tls: ssl.SSLContext | None = None):
        self.audience = audience
        self.tls = tls
        self.hits: Counter[str] = Counter()
        self.fail_userinfo = False
        self.publish_alg = True
        self.discovery_issuer: str | None = None
        self._keys = [SigningKey.generate()]  # the last one signs; the JWKS publishes all
        self._userinfo: dict[str, dict] = {}  # access token -> its claims
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._issuer: str | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> "LocalOpenIDProvider":
        class Handler(_Handler):
            provider = self

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        # A short poll interval keeps stop(), and so every test's teardown, quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="local-oidc", daemon=True
        )
        self._thread.start()
        scheme = "http" if self.tls is None else "https"
        self._issuer = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        """Shut down; the issuer URL then refuses connections (an unreachable provider)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def __enter__(self) -> "LocalOpenIDProvider":
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def issuer(self) -> str:
        assert self._issuer is not None, "provider not started"
        return self._issuer

    # -- keys ---------------------------------------------------------------------------

    @property
    def kid(self) -> str:
        """The kid of the key that signs new tokens."""
        return self._keys[-1].kid

    def rotate_key(self) -> str:
        """Sign with a new key from now on; the JWKS keeps the old ones, as OPs do. Returns the new kid."""
        with self._lock:
            self._keys.append(SigningKey.generate())
        return self.kid

    def withdraw_old_keys(self) -> None:
        """The JWKS keeps only the key that signs now (as after a key compromise)."""
        with self._lock:
            self._keys = self._keys[-1:]

    def jwks(self) -> dict:
        return {"keys": [key.public_jwk(with_alg=self.publish_alg) for key in self._keys]}

    def public_key_bytes(self, encoding: Literal["PEM", "DER"] = "PEM") -> bytes:
        return self._keys[-1].public_key_bytes(encoding)

    # -- tokens -------------------------------------------------------------------------

    def mint(
        self,
        sub: str | None = "user-1",
        *,
        email: str | None = "user-1@example.org",
        email_verified: bool | None = True,
        audience: str | list[str] | None = "",
        entitlements: tuple[str, ...] | list[str] = (),
        expires_in: int = 3600,
        not_before: int | None = None,
        kid: str | None = None,
        include_email_in_token: bool = True,
        extra_claims: dict | None = None,
        headers: dict | None = None,
    ) -> str:
        """A signed RS256 access token; its claims are also served by /userinfo for it.

        `not_before` is in seconds from now (negative for the past), like `expires_in`.
        `audience`: the `aud` claim (the client ids the token was issued for); by default the
        provider's, none when None.
        `include_email_in_token=False` leaves email and email_verified to /userinfo.
        `extra_claims` and `headers` add or override entries; a None value removes one.
        """
        now = int(time.time())
        profile = {
            "sub": sub,
            "email": email,
            "email_verified": email_verified,
            "eduperson_entitlement": list(entitlements),
        }
        claims = {"iss": self.issuer, "iat": now, "exp": now + expires_in, **profile}
        audience = self.audience if audience == "" else audience
        if audience is not None:
            claims["aud"] = audience
        if not_before is not None:
            claims["nbf"] = now + not_before
        if not include_email_in_token:
            del claims["email"], claims["email_verified"]
        header = {"alg": "RS256", "typ": "JWT", "kid": kid or self.kid, **(headers or {})}
        token = _seal(_present(header), _present({**claims, **(extra_claims or {})}), self._keys[-1].sign_rs256)
        with self._lock:
            self._userinfo[token] = _present(profile)
        return token

    def mint_unsigned(self, **mint_args) -> str:
        """An `alg: none` token with an empty signature (RFC 7519 unsecured JWT)."""
        return resign(self.mint(**mint_args), "none", lambda signing_input: b"")

    def mint_hmac_with_public_key(self, encoding: Literal["PEM", "DER"] = "PEM", **mint_args) -> str:
        """HS256 keyed with the published public key, same kid (algorithm confusion, CVE-2024-33663)."""
        secret = self.public_key_bytes(encoding)
        return resign(
            self.mint(**mint_args), "HS256", lambda signing_input: hmac.digest(secret, signing_input, hashlib.sha256)
        )

    def _userinfo_for(self, authorization: str | None) -> dict | None:
        scheme, _, token = (authorization or "").partition(" ")
        with self._lock:
            return self._userinfo.get(token) if scheme.lower() == "bearer" else None

    def _count(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1


def resign(token: str, alg: str, sign: Callable[[bytes], bytes]) -> str:
    """The token's header and claims under another `alg`, signed by `sign`."""
    header, claims, _ = _parts(token)
    return _seal({**header, "alg": alg}, claims, sign)


def with_tampered_signature(token: str) -> str:
    """The token with one signature byte changed."""
    signing_input, _, signature = token.rpartition(".")
    raw = bytearray(_b64_decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{signing_input}.{_b64(bytes(raw))}"


def with_forged_claims(token: str, **changes) -> str:
    """The token's header and original signature over changed claims."""
    header, claims, signature = _parts(token)
    signing_input = _signing_input(header, {**claims, **changes})
    return f"{signing_input.decode()}.{signature}"


def _seal(header: dict, claims: dict, sign: Callable[[bytes], bytes]) -> str:
    signing_input = _signing_input(header, claims)
    return f"{signing_input.decode()}.{_b64(sign(signing_input))}"


def _signing_input(header: dict, claims: dict) -> bytes:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}".encode()


def _parts(token: str) -> tuple[dict, dict, str]:
    header, claims, signature = token.split(".")
    return json.loads(_b64_decode(header)), json.loads(_b64_decode(claims)), signature


def _present(entries: dict) -> dict:
    return {name: value for name, value in entries.items() if value is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64_int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class _Handler(BaseHTTPRequestHandler):
    provider: LocalOpenIDProvider
    server_version = "LocalOpenIDProvider/1.0"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        provider = self.provider
        path = urlsplit(self.path).path
        provider._count(path)
        if path == "/.well-known/openid-configuration":
            issuer = provider.issuer
            return self._reply(
                200,
                {
                    "issuer": provider.discovery_issuer or issuer,
                    "jwks_uri": f"{issuer}/jwks",
                    "userinfo_endpoint": f"{issuer}/userinfo",
                },
            )
        if path == "/jwks":
            return self._reply(200, provider.jwks())
        if path == "/userinfo":
            if provider.fail_userinfo:
                return self._reply(503, {"error": "temporarily_unavailable"})
            claims = provider._userinfo_for(self.headers.get("Authorization"))
            if claims is None:
                return self._reply(401, {"error": "invalid_token"})
            return self._reply(200, claims)
        self._reply(404, {"error": "not_found"})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
