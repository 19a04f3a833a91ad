"""Items waiting for review: benchmarks, sites, flavors and claims on review.

An item a removed user submitted stays on review without an uploader: only a registration
made before the upload owns it (a removed user who registers again owns nothing of before).
"""

from __future__ import annotations

from typing import Mapping

from sqlalchemy import and_
from sqlalchemy.engine import Connection

from http_api import documents
from query_service import listing
from read_model.tables import submits, users

SORTABLE = {
    "id": submits.c.resource_id,
    "upload_datetime": submits.c.upload_datetime,
    "resource_type": submits.c.resource_type,
}
_FROM = submits.outerjoin(
    users,
    and_(
        users.c.sub == submits.c.uploader_sub,
        users.c.iss == submits.c.uploader_iss,
        users.c.registration_datetime <= submits.c.upload_datetime,
    ),
)


def _render(rows) -> list[str]:
    return [
        '{"resource_id":"%s","resource_type":"%s","upload_datetime":"%s"%s}'
        % (
            row.resource_id,
            row.resource_type,
            documents.timestamp(row.upload_datetime),
            ',"uploader":%s' % row.doc if row.doc is not None else "",
        )
        for row in rows
    ]


def list_submits(conn: Connection, query: Mapping) -> str:
    conditions = listing.upload_conditions(submits, query)
    if query.get("resource_type"):
        conditions.append(submits.c.resource_type == query["resource_type"])
    order = [*listing.order_by(query["sort_by"], SORTABLE), submits.c.upload_datetime, submits.c.resource_id]
    columns = [submits.c.resource_id, submits.c.resource_type, submits.c.upload_datetime, users.c.doc]
    return listing.paginate(
        conn, listing.Rows(columns, _FROM, conditions, order, _render), listing.PageRequest.of(query)
    )
