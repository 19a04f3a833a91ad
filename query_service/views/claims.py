"""Claims: all of them (admins), a result's (owner or admin), the caller's own.

A result's owner who is no admin sees who claimed it (sub, iss) but not their e-mail: the
owner learns of the claim, not how to reach the claimer outside the service.
"""

from __future__ import annotations

from typing import Mapping

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from domain.actor import Actor
from http_api import documents
from query_service import listing
from read_model.tables import claims, identity_is, users

SORTABLE = {
    "id": claims.c.id,
    "status": claims.c.status,
    "upload_datetime": claims.c.upload_datetime,
    "resource_type": [],  # always "result": ordering by it changes nothing
    "message": claims.c.message,
}
_FROM = claims.join(users, and_(users.c.sub == claims.c.uploader_sub, users.c.iss == claims.c.uploader_iss))
_COLUMNS = (claims.c.id, claims.c.upload_datetime, claims.c.message, claims.c.result_id, users.c.doc)
_WITHOUT_EMAIL = (*_COLUMNS[:-1], users.c.sub, users.c.iss, users.c.registration_datetime)


def _claim(row, uploader: str) -> str:
    return documents.claim(row.id, row.upload_datetime, row.message, row.result_id, uploader)


def _render(rows) -> list[str]:
    return [_claim(row, row.doc) for row in rows]


def _render_without_email(rows) -> list[str]:
    return [
        _claim(row, documents.dumps(documents.user(row.sub, row.iss, None, row.registration_datetime))) for row in rows
    ]


def _list(conn: Connection, query: Mapping, *scope, with_email: bool = True) -> str:
    conditions = [*scope, listing.status_condition(claims, query), *listing.upload_conditions(claims, query)]
    order = [*listing.order_by(query["sort_by"], SORTABLE), claims.c.upload_datetime, claims.c.id]
    columns, render = (_COLUMNS, _render) if with_email else (_WITHOUT_EMAIL, _render_without_email)
    return listing.paginate(
        conn, listing.Rows(columns, _FROM, conditions, order, render), listing.PageRequest.of(query)
    )


def list_claims(conn: Connection, query: Mapping) -> str:
    return _list(conn, query)


def list_of_result(conn: Connection, result_id, query: Mapping, *, with_email: bool) -> str:
    """`with_email=False` for the result's owner who is no admin."""
    return _list(conn, query, claims.c.result_id == str(result_id), with_email=with_email)


def list_by(conn: Connection, uploader: Actor, query: Mapping) -> str:
    return _list(conn, query, identity_is(claims.c.uploader_sub, uploader.sub), claims.c.uploader_iss == uploader.iss)


def get_claim(conn: Connection, id) -> str | None:
    rows = conn.execute(select(*_COLUMNS).select_from(_FROM).where(claims.c.id == str(id))).all()
    return _render(rows)[0] if rows else None
