"""Reading a database of the original backend, read only, in one consistent snapshot.

The connection is opened with `default_transaction_read_only` and every query runs in ONE
REPEATABLE READ READ ONLY transaction: the import never writes to the legacy database, and
it sees every table as of one instant even if the old service is still running.

Tables and columns are those of the original's Alembic migrations: 7fc773c5907d (initial)
and 112055db4eff (adds `benchmark.url`), the head of v1.2.x.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

# Alembic revisions of the original, oldest first; the import knows each one's tables.
INITIAL = "7fc773c5907d"
WITH_URL = "112055db4eff"
KNOWN_REVISIONS = (INITIAL, WITH_URL)

# Rows fetched per round trip when streaming results.
FETCH = 2000


class LegacySourceError(Exception):
    """The database cannot be imported; the message says why."""


def without_password(url: str) -> str:
    """The URL as it may be recorded and printed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class LegacySource:
    def __init__(self, url: str):
        if not urlsplit(url).scheme.startswith("postgres"):
            raise LegacySourceError(f"the legacy database URL must be postgresql://..., not {without_password(url)!r}")
        self.name = without_password(url)
        try:
            self.connection = psycopg.connect(
                url, options="-c default_transaction_read_only=on", row_factory=dict_row, connect_timeout=30
            )
        except psycopg.OperationalError as error:
            raise LegacySourceError(f"cannot connect to {self.name}: {error}".strip()) from None
        self.connection.read_only = True
        self.connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.revision = self._revision()

    def close(self) -> None:
        self.connection.close()  # the server ends the read-only transaction (and its snapshot)

    def __enter__(self) -> "LegacySource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rows(self, sql: str, *args) -> list[dict]:
        with self.connection.cursor() as cursor:
            try:
                cursor.execute(sql, args)
            except psycopg.errors.InsufficientPrivilege as error:
                raise LegacySourceError(f"{self.name}: {error} (the import needs SELECT on every table)") from None
            return cursor.fetchall()

    def _revision(self) -> str:
        try:
            rows = self._rows("SELECT version_num FROM alembic_version")
        except psycopg.errors.UndefinedTable:
            raise LegacySourceError(
                f"{self.name} has no alembic_version table: not a database of the original EOSC Performance backend"
            ) from None
        revisions = [row["version_num"] for row in rows]
        if len(revisions) != 1 or revisions[0] not in KNOWN_REVISIONS:
            raise LegacySourceError(
                f"{self.name} is at Alembic revision {', '.join(revisions) or 'none'}; the import "
                f"knows {', '.join(KNOWN_REVISIONS)} (EOSC Performance backend up to v1.2.x)"
            )
        return revisions[0]

    # -- counts and cross-table facts -----------------------------------------------------------

    def counts(self) -> dict[str, int]:
        tables = ("user", "tag", "site", "flavor", "benchmark", "result", "claim", "submit")
        return {table: self._rows(f'SELECT count(*) AS n FROM "{table}"')[0]["n"] for table in tables}

    def first_uploads(self) -> dict[tuple[str, str], datetime]:
        """(sub, iss) -> the earliest upload of anything by that user."""
        rows = self._rows(
            "SELECT uploader_sub AS sub, uploader_iss AS iss, min(t) AS first FROM ("
            " SELECT uploader_sub, uploader_iss, min(upload_datetime) AS t FROM benchmark GROUP BY 1, 2 UNION ALL"
            " SELECT uploader_sub, uploader_iss, min(upload_datetime) FROM site GROUP BY 1, 2 UNION ALL"
            " SELECT uploader_sub, uploader_iss, min(upload_datetime) FROM flavor GROUP BY 1, 2 UNION ALL"
            " SELECT uploader_sub, uploader_iss, min(upload_datetime) FROM result GROUP BY 1, 2 UNION ALL"
            " SELECT uploader_sub, uploader_iss, min(upload_datetime) FROM claim GROUP BY 1, 2"
            ") AS uploads GROUP BY 1, 2"
        )
        return {(row["sub"], row["iss"]): row["first"] for row in rows}

    def first_uses(self) -> dict[str, datetime]:
        """Tag id -> the earliest upload of a result carrying it."""
        rows = self._rows(
            "SELECT rt.tag_id::text AS id, min(r.upload_datetime) AS first FROM result_tags rt "
            "JOIN result r ON r.id = rt.result_id GROUP BY rt.tag_id"
        )
        return {row["id"]: row["first"] for row in rows}

    def orphan_claims(self) -> list[dict]:
        """Claims no result refers to: the original keeps only a result's latest claim (Q-4)."""
        return self._rows(
            "SELECT c.id::text AS id, c.uploader_sub, c.uploader_iss, c.upload_datetime FROM claim c "
            "WHERE NOT EXISTS (SELECT 1 FROM result r WHERE r._claim_report_id = c.id) ORDER BY c.id"
        )

    def dangling_submits(self) -> list[dict]:
        """Submit reports of no benchmark, site, flavor or claim."""
        return self._rows(
            "SELECT s.id::text AS id, s.resource_type FROM submit s WHERE NOT EXISTS ("
            " SELECT 1 FROM benchmark WHERE _submit_report_id = s.id UNION ALL"
            " SELECT 1 FROM site WHERE _submit_report_id = s.id UNION ALL"
            " SELECT 1 FROM flavor WHERE _submit_report_id = s.id UNION ALL"
            " SELECT 1 FROM claim WHERE _submit_report_id = s.id) ORDER BY s.id"
        )

    # -- the rows, each table in its key order --------------------------------------------------

    def users(self) -> list[dict]:
        return self._rows('SELECT sub, iss, email, registration_datetime FROM "user" ORDER BY iss, sub')

    def tags(self) -> list[dict]:
        return self._rows("SELECT id::text AS id, name, description FROM tag ORDER BY id")

    def _reviewed(self, table: str, columns: str) -> list[dict]:
        return self._rows(
            f"SELECT t.id::text AS id, t.uploader_sub, t.uploader_iss, t.upload_datetime, t.status::text AS status, "
            f"{columns}, s.upload_datetime AS submitted "
            f"FROM {table} t LEFT JOIN submit s ON s.id = t._submit_report_id "
            "ORDER BY t.id"
        )

    def sites(self) -> list[dict]:
        return self._reviewed("site", "t.name, t.address, t.description")

    def flavors(self) -> list[dict]:
        return self._reviewed("flavor", "t.name, t.description, t.site_id::text AS site_id")

    def benchmarks(self) -> list[dict]:
        # Before 112055db4eff there is no url: that migration sets it to the image's Docker Hub page.
        url = "t.url" if self.revision != INITIAL else "concat('https://hub.docker.com/r/', t.docker_image) AS url"
        return self._reviewed("benchmark", f"t.docker_image, t.docker_tag, t.json_schema, t.description, {url}")

    def results(self) -> Iterator[dict]:
        """Every result in id order (the primary key's index: no sort), with its tags and the
        claim it refers to. The document comes as JSON text: parsed by the translation
        (domain/transcoding.py's `loads`), it takes a tenth of the driver's JSONB loader's time."""
        with self.connection.cursor(name="legacy_results") as cursor:
            cursor.itersize = FETCH
            cursor.execute(
                "SELECT r.id::text AS id, r.uploader_sub, r.uploader_iss, r.upload_datetime, r.json::text AS json, "
                "r.execution_datetime, r.benchmark_id::text AS benchmark_id, r.flavor_id::text AS flavor_id, "
                "r.site_id::text AS site_id, r.deleted, "
                "ARRAY(SELECT rt.tag_id::text FROM result_tags rt WHERE rt.result_id = r.id "
                "ORDER BY rt.tag_id) AS tags_ids, "
                "c.id::text AS claim_id, c.uploader_sub AS claim_sub, c.uploader_iss AS claim_iss, "
                "c.status::text AS claim_status, c.message AS claim_message, c.upload_datetime AS claim_datetime, "
                "cs.upload_datetime AS claim_submitted "
                "FROM result r LEFT JOIN claim c ON c.id = r._claim_report_id "
                "LEFT JOIN submit cs ON cs.id = c._submit_report_id ORDER BY r.id"
            )
            yield from cursor
