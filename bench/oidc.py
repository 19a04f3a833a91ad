#!/usr/bin/env python3
"""A local OpenID provider for benchmarking the production topology (loopback only).

Starts the test suite's LocalOpenIDProvider (tests/support/oidc_provider.py: discovery, JWKS,
userinfo on 127.0.0.1), writes its issuer URL and a few long-lived tokens, then serves until
SIGTERM/SIGINT. Start the stack with TRUSTED_OP_LIST set to the issuer:

    .venv/bin/python bench/oidc.py --out /var/tmp/eosc-perf/bench/oidc &
    TRUSTED_OP_LIST=$(cat /var/tmp/eosc-perf/bench/oidc/issuer) deploy/local/stack.sh up

Files written in --out: `issuer` (the URL), `tokens` (one bearer token per line, subjects
bench-writer-1..N), `admin-token` (with the admin entitlement of bench/run_all.sh).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.oidc_provider import LocalOpenIDProvider  # noqa: E402

ADMIN_ENTITLEMENT = "urn:mace:egi.eu:group:eosc-perf:role=admin"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for issuer, tokens, admin-token")
    parser.add_argument("--writers", type=int, default=8, help="how many writer tokens")
    parser.add_argument("--lifetime", type=int, default=6 * 3600, help="token lifetime, seconds")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with LocalOpenIDProvider() as provider:
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
