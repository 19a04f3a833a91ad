"""Claims on results: submitted (pending review), approved, rejected (removed)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from domain.claim import Claim
from read_model import cascades, review
from read_model.rows import is_registered, uploader_columns, utc
from read_model.tables import STATUS, claims


def claim_submitted(conn: Connection, event: Claim.Submitted) -> None:
    if not is_registered(conn, event.actor):
        return
    when = utc(event.timestamp)
    conn.execute(
        claims.insert().values(
            id=str(event.originator_id),
            result_id=str(event.result_id),
            message=event.message,
            status=STATUS["on_review"],
            upload_datetime=when,
            **uploader_columns(event.actor),
        )
    )
    review.open_submit(conn, "claim", event.originator_id, when, event.actor)


def claim_approved(conn: Connection, event: Claim.Approved) -> None:
    review.approve(conn, claims, event.originator_id)


def claim_rejected(conn: Connection, event: Claim.Rejected) -> None:
    cascades.remove_claim(conn, str(event.originator_id))


HANDLERS = {Claim.Submitted: claim_submitted, Claim.Approved: claim_approved, Claim.Rejected: claim_rejected}
