"""Users: registered, email updated, removed (with their results and claims).

The benchmarks, sites and flavors a removed user submitted stay (a removal stored before the
ban, version 1 of the event, took them along), owned by no one: their rows
keep the uploader's (sub, iss), which no registration made after them matches
(query_service/views/submits.py), as the command side decides (services/liveness.py)."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from domain.personal_data import ERASED
from domain.user import User
from http_api import documents
from read_model import cascades, events_index, row_versions
from read_model.rows import utc
from read_model.tables import benchmarks, claims, flavors, identity_is, results, sites, users

_USERS_VERSIONS = row_versions.versions_of(users)


def _store(conn: Connection, user_id, sub: str, iss: str, email: str, registration) -> None:
    doc = documents.dumps(documents.user(sub, iss, email, registration))
    conn.execute(users.delete().where(users.c.id == str(user_id)))
    conn.execute(
        users.insert().values(
            id=str(user_id), sub=sub, iss=iss, email=email, registration_datetime=registration, doc=doc
        )
    )


def user_registered(conn: Connection, event: User.Registered) -> None:
    _store(conn, event.originator_id, event.sub, event.iss, event.email, utc(event.timestamp))


def user_registered_again(conn: Connection, event: User.RegisteredAgain) -> None:
    # Only the user themself registers, so the actor is the user's identity.
    _store(conn, event.originator_id, event.actor.sub, event.actor.iss, event.email, utc(event.timestamp))


def user_email_updated(conn: Connection, event: User.EmailUpdated) -> None:
    row = conn.execute(select(users).where(users.c.id == str(event.originator_id))).first()
    if row:
        _store(conn, row.id, row.sub, row.iss, event.email, row.registration_datetime)


def _erase_versions(conn: Connection, user_id) -> None:
    """The removed user's address leaves the superseded versions of their row too
    (read_model/row_versions.py): as-of reads show it erased, as a replay stores it once the
    user's key is gone."""
    versions = _USERS_VERSIONS
    for row in conn.execute(select(versions).where(versions.c.id == str(user_id))).all():
        doc = documents.dumps(documents.user(row.sub, row.iss, ERASED, row.registration_datetime))
        conn.execute(
            versions.update()
            .where(versions.c.id == row.id, versions.c.valid_to == row.valid_to)
            .values(email=ERASED, doc=doc)
        )


def user_removed(conn: Connection, event: User.Removed) -> None:
    events_index.erase_personal_data(conn, event.originator_id)
    row = conn.execute(select(users).where(users.c.id == str(event.originator_id))).first()
    if row is None:
        return

    def uploaded_by(table):
        return and_(identity_is(table.c.uploader_sub, row.sub), table.c.uploader_iss == row.iss)

    if not event.catalog_kept:  # a removal of version 1 took the user's catalog along
        for benchmark_id in conn.execute(select(benchmarks.c.id).where(uploaded_by(benchmarks))).scalars().all():
            cascades.remove_benchmark(conn, benchmark_id)
        for site_id in conn.execute(select(sites.c.id).where(uploaded_by(sites))).scalars().all():
            cascades.remove_site(conn, site_id)
        for flavor_id in conn.execute(select(flavors.c.id).where(uploaded_by(flavors))).scalars().all():
            cascades.remove_flavor(conn, flavor_id)
    cascades.remove_results(conn, uploaded_by(results))
    for claim_id in conn.execute(select(claims.c.id).where(uploaded_by(claims))).scalars().all():
        cascades.remove_claim(conn, claim_id)
    conn.execute(users.delete().where(users.c.id == row.id))
    _erase_versions(conn, row.id)  # the versions kept of the row, the one the delete just kept too


HANDLERS = {
    User.Registered: user_registered,
    User.RegisteredAgain: user_registered_again,
    User.EmailUpdated: user_email_updated,
    User.Removed: user_removed,
}
