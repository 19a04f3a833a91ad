"""Sites: submitted, updated, approved, rejected, deleted (flavors and results go with them)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from domain.site import Site
from http_api import documents
from read_model import cascades, review
from read_model.rows import uploader_columns, utc
from read_model.tables import STATUS, results, sites


def _columns(id, upload_datetime, name, address, description) -> dict:
    doc = documents.site(id, upload_datetime, name, address, description)
    return {"name": name, "address": address, "description": description, "doc": documents.dumps(doc)}


def site_submitted(conn: Connection, event: Site.Submitted) -> None:
    when = utc(event.timestamp)
    conn.execute(
        sites.insert().values(
            id=str(event.originator_id),
            status=STATUS["on_review"],
            upload_datetime=when,
            **uploader_columns(event.actor),
            **_columns(event.originator_id, when, event.name, event.address, event.description),
        )
    )
    review.open_submit(conn, "site", event.originator_id, when, event.actor)


def site_updated(conn: Connection, event: Site.Updated) -> None:
    id = str(event.originator_id)
    row = conn.execute(sites.select().where(sites.c.id == id)).first()
    if row is None:
        return
    description = row.description if event.description is None else event.description
    conn.execute(
        sites.update()
        .where(sites.c.id == id)
        .values(**_columns(id, row.upload_datetime, event.name, event.address, description))
    )
    conn.execute(
        results.update().where(results.c.site_id == id).values(site_name=event.name, site_address=event.address)
    )


def site_approved(conn: Connection, event: Site.Approved) -> None:
    review.approve(conn, sites, event.originator_id)


def site_removed(conn: Connection, event: Site.Rejected | Site.Deleted) -> None:
    cascades.remove_site(conn, str(event.originator_id))


HANDLERS = {
    Site.Submitted: site_submitted,
    Site.Updated: site_updated,
    Site.Approved: site_approved,
    Site.Rejected: site_removed,
    Site.Deleted: site_removed,
}
