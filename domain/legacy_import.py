"""The move from the original EOSC Performance backend: an import of its database (issue 14),
recorded as a fact of its own next to the events it wrote.

The import writes the events that would have produced each legacy row, in batches. Every
batch starts with `BatchImported` (how many events follow it in the same save, and where the
import got to, so a second run continues after it) and, when it holds items waiting for
review, ends with `SubmitsDated` (the original dated each submit report apart from its item).
There is one import per event store: its id is fixed.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.actor import Actor

IMPORT_ID = uuid5(NAMESPACE_URL, "/eosc-perf/legacy-import")
# Who the imported events name where the original kept no actor (approvals, deletions): the
# import itself, whose history says who ran it, when and from where.
ACTOR = Actor(str(IMPORT_ID), "urn:eosc-perf:legacy-import")


class LegacyImport(Aggregate):
    @staticmethod
    def create_id() -> UUID:
        return IMPORT_ID

    @event("Started")
    def __init__(self, source: str, alembic_version: str, operator: str):
        """`source`: the legacy database (without its password); `operator`: who ran the import."""
        self.source = source
        self.alembic_version = alembic_version
        self.operator = operator
        self.phase: str | None = None
        self.last_key: list | None = None  # the sort key of the last row imported in `phase`
        self.completed = False

    @event("BatchImported")
    def batch_imported(self, phase: str, last_key: list, events: int) -> None:
        """`events`: how many events follow this one in its save (consumers such as the mailer
        treat them as history, not news)."""
        self.phase = phase
        self.last_key = last_key

    @event("SubmitsDated")
    def submits_dated(self, dates: dict[str, datetime]) -> None:
        """The time of each pending item's submit report, by item id."""

    @event("Completed")
    def complete(self, rows: dict[str, int], findings: dict[str, int]) -> None:
        """`rows`: imported rows per legacy table; `findings`: rows skipped or adjusted, per kind."""
        self.completed = True
