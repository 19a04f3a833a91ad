"""Reads of the events index (read_model/events_index.py): item histories, the admins' audit
search and the public change feed.

Who is shown how: an admin sees every actor as {"sub", "iss"}; anyone else sees their own
identity and only the role ("user" or "admin") of everyone else. E-mails are in the data of a
user's own events only (registration, e-mail change), which only that user and admins read;
the public feed leaves them out, with every other identity (docs/audit.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from domain.actor import Actor
from http_api import documents
from query_service import listing
from read_model import counts
from read_model.tables import events_index, identity_is

_COLUMNS = (
    events_index.c.position,
    events_index.c.item_id,
    events_index.c.version,
    events_index.c.topic,
    events_index.c.type,
    events_index.c.timestamp,
    events_index.c.actor_sub,
    events_index.c.actor_iss,
    events_index.c.role,
    events_index.c.data,
)
SORTABLE = {"position": events_index.c.position}
ENTRY = '{"actor":%s,"data":%s,"item_id":"%s","position":%d,"timestamp":"%s","type":"%s","version":%d}'
# Fields naming or reaching a person, by event type: the public feed leaves them out.
PERSONAL_FIELDS = {
    "User.Registered": ("email", "sub", "iss"),
    "User.RegisteredAgain": ("email",),
    "User.EmailUpdated": ("email",),
    "LegacyImport.Started": ("operator",),
}


@dataclass(frozen=True)
class Item:
    """What a history's access check needs: the item's type and who created it."""

    type: str
    creator: Actor | None


def item(conn: Connection, item_id) -> Item | None:
    row = conn.execute(
        select(events_index.c.type, events_index.c.actor_sub, events_index.c.actor_iss).where(
            events_index.c.item_id == str(item_id), events_index.c.version == 1
        )
    ).first()
    if row is None:
        return None
    return Item(row.type, Actor(row.actor_sub, row.actor_iss) if row.actor_sub is not None else None)


def _identity(row) -> str:
    return documents.dumps({"iss": row.actor_iss, "sub": row.actor_sub}) if row.actor_sub is not None else "null"


def _as_seen_by(viewer: Actor | None) -> Callable[[object], str]:
    """The actor as `viewer` sees it: None for an admin (who sees everyone)."""
    if viewer is None:
        return _identity

    def actor(row) -> str:
        if row.actor_sub == viewer.sub and row.actor_iss == viewer.iss:
            return _identity(row)
        return documents.dumps(row.role)

    return actor


def _render(actor: Callable[[object], str]) -> Callable[[list], list[str]]:
    def render(rows) -> list[str]:
        return [
            ENTRY
            % (
                actor(row),
                row.data,
                row.item_id,
                row.position,
                documents.timestamp(row.timestamp),
                row.type,
                row.version,
            )
            for row in rows
        ]

    return render


@dataclass(frozen=True)
class _Events:
    """A listing of the index's rows (query_service/listing.py). A page's positions are found
    first, from the indexes alone, then their rows: a deep page skips positions, not rows."""

    conditions: list
    order: list
    render: Callable[[list], list[str]]
    counted: int | None  # the total, when known without counting

    def total(self, conn: Connection) -> int:
        if self.counted is not None:
            return self.counted
        return conn.execute(
            select(func.count()).select_from(events_index).where(and_(True, *self.conditions))
        ).scalar_one()

    def items(self, conn: Connection, offset: int, limit: int, total: int) -> list[str]:
        page = (
            select(events_index.c.position)
            .where(and_(True, *self.conditions))
            .order_by(*self.order)
            .limit(limit)
            .offset(offset)
            .subquery()
        )
        rows = select(*_COLUMNS).join(page, page.c.position == events_index.c.position).order_by(*self.order)
        return self.render(conn.execute(rows).all())


def _page(conn: Connection, conditions: list, query: Mapping, viewer: Actor | None, counted: int | None = None) -> str:
    order = listing.order_by(query.get("sort_by") or "+position", SORTABLE)
    events = _Events(conditions, order, _render(_as_seen_by(viewer)), counted)
    return listing.paginate(conn, events, listing.PageRequest.of(query))


def history(conn: Connection, item_id, query: Mapping, viewer: Actor | None, *, with_related: bool = False) -> str:
    """An item's events, oldest first; `with_related`: also those of the items about it (a
    result's claims). `viewer`: the caller who is no admin, None for an admin."""
    id = str(item_id)
    condition = events_index.c.item_id == id
    if with_related:
        condition = or_(condition, events_index.c.related_id == id)
    return _page(conn, [condition], query, viewer)


def _utc(value: datetime) -> datetime:
    """An argument's time as the index keeps it (naive UTC); without an offset it is UTC."""
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


SEARCH_FILTERS = ("item_id", "type", "actor_sub", "actor_iss", "after", "before", "from_position")


def _counted(conn: Connection, query: Mapping) -> int | None:
    """The total of a broad search, which would count up to every row of the index: everything,
    or one type, as the projector counts them, or from a position on; None when the rows are to
    be counted."""
    given = [name for name in SEARCH_FILTERS if query.get(name) is not None]
    if not given:
        return counts.events(conn)
    if given == ["type"]:
        return counts.events(conn, query["type"])
    everything = counts.events(conn)
    if given == ["from_position"] and everything is not None and query["from_position"] <= everything // 2:
        # Fewer rows before it than after it (positions are nearly row numbers): count those.
        before = select(func.count()).select_from(events_index).where(events_index.c.position < query["from_position"])
        return everything - conn.execute(before).scalar_one()
    return None


def search(conn: Connection, query: Mapping) -> str:
    """The admins' audit search."""
    conditions = []
    if query.get("item_id") is not None:
        conditions.append(events_index.c.item_id == str(query["item_id"]))
    for name in ("type", "actor_iss"):
        if query.get(name) is not None:
            conditions.append(events_index.c[name] == query[name])
    if query.get("actor_sub") is not None:
        conditions.append(identity_is(events_index.c.actor_sub, query["actor_sub"]))
    if query.get("after") is not None:
        conditions.append(events_index.c.timestamp > _utc(query["after"]))
    if query.get("before") is not None:
        conditions.append(events_index.c.timestamp < _utc(query["before"]))
    if query.get("from_position") is not None:
        conditions.append(events_index.c.position >= query["from_position"])
    if query.get("after") is None and query.get("before") is None:
        return _page(conn, conditions, query, None, _counted(conn, query))
    # A time window: its events' positions span a part of the log, where the page is looked for
    # (the events of a window are close in the log, but walking the positions from the first
    # would read every event before them). One scan of the time index counts them too.
    total, first, last = conn.execute(
        select(func.count(), func.min(events_index.c.position), func.max(events_index.c.position)).where(*conditions)
    ).one()
    if total:
        conditions.append(events_index.c.position.between(first, last))
    return _page(conn, conditions, query, None, total)


def public_payload(type_name: str, data: str) -> str:
    personal = PERSONAL_FIELDS.get(type_name)
    if personal is None:
        return data
    fields = json.loads(data)
    return documents.dumps({name: value for name, value in fields.items() if name not in personal})


def feed_events(conn: Connection, after: int, limit: int) -> list[tuple[int, str]]:
    """(position, envelope) of the events after position `after`, at most `limit`: envelopes of
    docs/event-bus.md without personal data, actors as roles."""
    rows = conn.execute(
        select(*_COLUMNS).where(events_index.c.position > after).order_by(events_index.c.position).limit(limit)
    ).all()
    return [
        (
            row.position,
            '{"notification_id":%d,"event_type":%s,"aggregate_id":"%s","aggregate_version":%d,'
            '"timestamp":"%s+00:00","actor":%s,"payload":%s}'
            % (
                row.position,
                documents.dumps(row.topic),
                row.item_id,
                row.version,
                row.timestamp.isoformat(),
                documents.dumps(row.role),
                public_payload(row.type, row.data),
            ),
        )
        for row in rows
    ]


def feed(conn: Connection, after: int, limit: int) -> str:
    """GET /events: `last_position` is where the next request starts."""
    events = feed_events(conn, after, limit)
    last = events[-1][0] if events else after
    return '{"events":[%s],"last_position":%d}' % (",".join(text for _, text in events), last)
