"""Development-mode tokens: a local issuer whose key lives in the data directory (design §5).

The server trusts this issuer only in development mode, so a newcomer can mint a token with
`eosc-perf dev-token` and follow the seed's curl examples without an EGI account. The key is
kept across restarts so tokens minted yesterday still work today.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Sequence

from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from jose.exceptions import JWKError
from jose.utils import base64url_encode

from configuration.private_files import private_folder
from configuration.settings import ConfigurationError

DEV_ISSUER = "urn:eosc-perf:dev"
KEY_FILE_NAME = "dev-oidc-key.json"
ALGORITHM = "RS256"
_PUBLIC_MEMBERS = ("kty", "n", "e", "kid", "alg")


class LocalIssuer:
    """Signs development tokens with an RSA-2048 key stored as a private JWK (mode 0600)."""

    issuer = DEV_ISSUER

    def __init__(self, data_dir: Path):
        self.key_file = Path(data_dir) / KEY_FILE_NAME
        if not self.key_file.exists():
            private_folder(self.key_file.parent)
            _store_new_key(self.key_file)
        self._private_jwk = _load_key(self.key_file)

    @property
    def kid(self) -> str:
        return self._private_jwk["kid"]

    def jwks(self) -> dict:
        public = {name: self._private_jwk[name] for name in _PUBLIC_MEMBERS}
        return {"keys": [{**public, "use": "sig"}]}

    def mint(
        self,
        sub: str,
        email: str | None = "dev@example.org",
        entitlements: Sequence[str] = (),
        lifetime: int = 3600,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "eduperson_entitlement": list(entitlements),
        }
        if email is not None:
            claims.update(email=email, email_verified=True)
        return jwt.encode(claims, self._private_jwk, algorithm=ALGORITHM, headers={"kid": self.kid})


def _store_new_key(key_file: Path) -> None:
    """Write a fresh key atomically; when another process got there first, keep its key."""
    key = jwk.construct(rsa.generate_private_key(public_exponent=65537, key_size=2048), ALGORITHM).to_dict()
    key["kid"] = _thumbprint(key)
    descriptor, draft = tempfile.mkstemp(dir=key_file.parent, prefix=".dev-oidc-key-")  # created 0600
    try:
        with os.fdopen(descriptor, "w") as stream:
            json.dump(key, stream)
        os.link(draft, key_file)  # unlike rename, never replaces a key another process stored
    except FileExistsError:
        pass
    finally:
        os.unlink(draft)


def _load_key(key_file: Path) -> dict:
    try:
        key = json.loads(key_file.read_text())
        jwk.construct(key, ALGORITHM)
        if not all(isinstance(key.get(name), str) for name in _PUBLIC_MEMBERS + ("d",)):
            raise ValueError("not a private RSA JWK with kid and alg")
    except (OSError, ValueError, TypeError, AttributeError, JWKError) as error:
        raise ConfigurationError(f"{key_file} does not hold the development signing key: {error}") from error
    return key


def _thumbprint(key: dict) -> str:
    """RFC 7638 key id: derived from the public key, so it identifies that key everywhere."""
    canonical = json.dumps({name: key[name] for name in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64url_encode(hashlib.sha256(canonical.encode()).digest()).decode()
