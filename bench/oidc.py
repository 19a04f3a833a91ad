#!/usr/bin/env python3
"""A local OpenID provider for benchmarking the production topology (loopback only).

Starts the test suite's LocalOpenIDProvider (tests/support/oidc_provider.py: discovery, JWKS,
userinfo on 127.0.0.1), writes its issuer URL and a few long-lived tokens, then serves until
SIGTERM/SIGINT. Start the stack with TRUSTED_OP_LIST set to the issuer:

    .venv/bin/python bench/oidc.py --out /var/tmp/eosc-perf/bench/oidc &
    TRUSTED_OP_LIST=$(cat /var/tmp/eosc-perf/bench/oidc/issuer) deploy/local/stack.sh up

Files written in --out: `issuer` (the URL), `tokens` (one bearer token per line, subjects
bench-writer-1..N), `admin-token` (with the admin entitlement of bench/run_all.sh). With --tls
it serves HTTPS with a self-signed certificate for 127.0.0.1, written to `certificate.pem` for
the verifier to trust (the original backend's flaat asks issuers by https:// only).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import signal
import ssl
import sys
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.oidc_provider import LocalOpenIDProvider  # noqa: E402

ADMIN_ENTITLEMENT = "urn:mace:egi.eu:group:eosc-perf:role=admin"


def self_signed_tls(folder: Path) -> ssl.SSLContext:
    """A server context with a new self-signed certificate for 127.0.0.1 (valid one day), whose
    PEM is written to `folder/certificate.pem` for clients to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "certificate.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file = folder / "key.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "certificate.pem", key_file)
    return context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for issuer, tokens, admin-token")
    parser.add_argument("--writers", type=int, default=8, help="how many writer tokens")
    parser.add_argument("--lifetime", type=int, default=6 * 3600, help="token lifetime, seconds")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (self-signed, certificate.pem)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tls = self_signed_tls(out) if args.tls else None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with LocalOpenIDProvider(tls=tls) as provider:
        tokens = [
            provider.mint(f"bench-writer-{n}", email=f"bench-writer-{n}@example.org", expires_in=args.lifetime)
            for n in range(1, args.writers + 1)
        ]
        admin = provider.mint(
            "bench-admin-http",
            email="bench-admin-http@example.org",
            entitlements=(ADMIN_ENTITLEMENT,),
            expires_in=args.lifetime,
        )
        (out / "tokens").write_text("\n".join(tokens) + "\n")
        (out / "admin-token").write_text(admin + "\n")
        (out / "issuer").write_text(provider.issuer + "\n")  # written last: readers wait for it
        print(provider.issuer, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
