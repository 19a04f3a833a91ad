"""The import from the original backend (domain/legacy_import.py): what it tells the read model
beyond the imported items' own events."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from domain.legacy_import import LegacyImport
from read_model.rows import utc
from read_model.tables import submits


def submits_dated(conn: Connection, event: LegacyImport.SubmitsDated) -> None:
    """The original dated each submit report itself (a moment before its item): its listing
    shows that time. The batch's items were projected just before, in the same save."""
    conn.execute(
        submits.update().where(submits.c.resource_id == bindparam("id")).values(upload_datetime=bindparam("when")),
        [{"id": str(id), "when": utc(when)} for id, when in event.dates.items()],
    )


HANDLERS = {LegacyImport.SubmitsDated: submits_dated}
