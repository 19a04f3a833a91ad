"""Databases of the original backend for the import tests: a dump restored into its own database
of the local PostgreSQL server (deploy/local/postgres.sh), dropped afterwards.

The dumps' users belong to the issuer that made them (e.g. http://127.0.0.1:5801); a test's
OpenID provider listens on a free port, so the dump is restored with that issuer in its place,
and recorded answers are compared with the same replacement.
"""

from __future__ import annotations

import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg

from tests.support.legacy_recordings import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


def server_url() -> str:
    """The local server's URL for the eosc_perf role (started when it is not running)."""
    started = subprocess.run(
        [str(ROOT / "deploy" / "local" / "postgres.sh"), "up"], capture_output=True, text=True, timeout=300
    )
    if started.returncode != 0:
        raise RuntimeError(f"postgres.sh up failed:\n{started.stdout}\n{started.stderr}")
    return started.stdout.strip().splitlines()[-1]


def admin_url(url: str) -> str:
    """The server's superuser connects over loopback without a password (postgres.sh)."""
    host = url.split("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql://postgres@{host}/postgres"


def _psql() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), key=lambda path: int(path.parts[-3]))
    return str(found[-1]) if found else "psql"


def dump_text(name: str, issuer: str | None = None, recorded_issuer: str | None = None) -> str:
    """A dump's SQL, without psql 15.14's `\\restrict` guard lines (older clients refuse them),
    with `recorded_issuer` replaced by `issuer`."""
    text = (FIXTURES / name).read_text()
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith(("\\restrict", "\\unrestrict"))]
    text = "".join(lines)
    return text.replace(recorded_issuer, issuer) if issuer and recorded_issuer else text


@contextmanager
def restored(sql: str) -> Iterator[str]:
    """A new database holding the dump `sql`, owned by the eosc_perf role; yields its URL."""
    url = server_url()
    name = f"legacy_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" OWNER eosc_perf')
    database = url.rsplit("/", 1)[0] + "/" + name
    try:
        subprocess.run(
            [_psql(), "-q", "-v", "ON_ERROR_STOP=1", "-d", database],
            input=sql,
            text=True,
            capture_output=True,
            check=True,
            timeout=300,
        )
        yield database
    finally:
        with psycopg.connect(admin_url(url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
