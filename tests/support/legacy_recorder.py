"""Records the answers of a running EOSC Performance API to the request set of
tests/support/legacy_requests.py, for tests/test_legacy_import.py. It only sends HTTP requests
to the base URL it is given; docs/operations.md ("How the recordings were made") tells how the
original backend was run to answer them.

    python -m tests.support.legacy_recorder --legacy postgresql://... --base-url http://127.0.0.1:5901 \
        --tokens tokens.json --user SUB --admin SUB [--claimer SUB] --fixture legacy-eosc-perf-mixed.sql \
        --out tests/fixtures/legacy/mixed.json

`--tokens`: a JSON object mapping each caller's sub (and `nobody-legacy`, the unregistered
caller) to a bearer token of the issuer the database's users belong to; the admin's token must
carry the admin entitlement.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import psycopg
import requests

from tests.support import legacy_recordings
from tests.support.legacy_requests import Callers, exchanges


def record(legacy_url: str, base_url: str, tokens: dict[str, str], callers: Callers) -> list[dict]:
    session = requests.Session()
    roles = {
        callers.user: "user",
        callers.admin: "admin",
        callers.claimer: "claimer",
        callers.unregistered: "unregistered",
        None: None,
    }

    def fetch(caller, path, query):
        headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller else {}
        answer = session.get(base_url + path, params=query, headers=headers, timeout=60)
        return answer.status_code, answer.json() if answer.content else None

    with psycopg.connect(legacy_url, options="-c default_transaction_read_only=on") as legacy:
        found = exchanges(legacy, callers, fetch)
    return [{**exchange, "caller": roles[exchange["caller"]]} for exchange in found]


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--legacy", required=True, help="URL of the legacy database the API serves")
    arguments.add_argument("--base-url", required=True)
    arguments.add_argument("--tokens", required=True, type=Path)
    arguments.add_argument("--user", required=True)
    arguments.add_argument("--admin", required=True)
    arguments.add_argument("--claimer")
    arguments.add_argument("--issuer", required=True, help="the issuer of the database's users")
    arguments.add_argument("--fixture", required=True, help="name of the dump the database was restored from")
    arguments.add_argument("--answered-by", default="EOSC Performance backend v1.2.3 (EOSC-synergy/eosc-perf-backend)")
    arguments.add_argument("--out", required=True, type=Path)
    args = arguments.parse_args()
    callers = Callers(user=args.user, admin=args.admin, claimer=args.claimer)
    found = record(args.legacy, args.base_url, json.loads(args.tokens.read_text()), callers)
    header = {
        "fixture": args.fixture,
        "answered_by": args.answered_by,
        "issuer": args.issuer,
        "callers": {
            "user": {"sub": callers.user, "admin": False},
            "admin": {"sub": callers.admin, "admin": True},
            **({"claimer": {"sub": callers.claimer, "admin": False}} if callers.claimer else {}),
            "unregistered": {"sub": callers.unregistered, "admin": False},
        },
    }
    legacy_recordings.write(args.out, header, found)
    print(f"{len(found)} exchanges written to {args.out}")


if __name__ == "__main__":
    main()
