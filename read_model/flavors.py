"""Flavors of a site: submitted, updated, approved, rejected, deleted."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from domain.flavor import Flavor
from http_api import documents
from read_model import cascades, review
from read_model.rows import row_exists, uploader_columns, utc
from read_model.tables import STATUS, flavors, results, sites


def _columns(id, upload_datetime, name, description) -> dict:
    doc = documents.flavor(id, upload_datetime, name, description)
    return {"name": name, "description": description, "doc": documents.dumps(doc)}


def flavor_submitted(conn: Connection, event: Flavor.Submitted) -> None:
    if not row_exists(conn, sites, event.site_id):
        return
    when = utc(event.timestamp)
    conn.execute(
        flavors.insert().values(
            id=str(event.originator_id),
            site_id=str(event.site_id),
            status=STATUS["on_review"],
            upload_datetime=when,
            **uploader_columns(event.actor),
            **_columns(event.originator_id, when, event.name, event.description),
        )
    )
    review.open_submit(conn, "flavor", event.originator_id, when, event.actor)


def flavor_updated(conn: Connection, event: Flavor.Updated) -> None:
    id = str(event.originator_id)
    row = conn.execute(flavors.select().where(flavors.c.id == id)).first()
    if row is None:
        return
    description = row.description if event.description is None else event.description
    conn.execute(
        flavors.update().where(flavors.c.id == id).values(**_columns(id, row.upload_datetime, event.name, description))
    )
    conn.execute(results.update().where(results.c.flavor_id == id).values(flavor_name=event.name))


def flavor_approved(conn: Connection, event: Flavor.Approved) -> None:
    review.approve(conn, flavors, event.originator_id)


def flavor_removed(conn: Connection, event: Flavor.Rejected | Flavor.Deleted) -> None:
    cascades.remove_flavor(conn, str(event.originator_id))


HANDLERS = {
    Flavor.Submitted: flavor_submitted,
    Flavor.Updated: flavor_updated,
    Flavor.Approved: flavor_approved,
    Flavor.Rejected: flavor_removed,
    Flavor.Deleted: flavor_removed,
}
