"""`as_of`: any read answered as it was at a past event position, or at a past time (the state
after the last event at or before it).

The argument is taken out of the query string before the operation's arguments are parsed (it
is the same for every GET). Once the request has passed the gate (same access rules as now),
the position is resolved and set for the request's thread; every SELECT the read runs then
reads the tables as of that position (read_model/row_versions.py puts the tables' state at the
position in front of it), so each view builds its statements as for the current state. The
answer is the one the same request got when the read model was at that position; it never
changes, so public ones may be kept by any cache.

Every answer known to be of one position (as-of ones, and current ones during which the read
model did not move) names it in `X-Event-Position`, the value a client sends in `as_of` to ask
for it again; public answers carry it as their ETag too.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import timezone
from functools import lru_cache
from typing import Callable
from urllib.parse import parse_qsl, urlencode

import falcon
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from http_api import errors, fields
from http_api.operations import WITHOUT_AS_OF
from query_service.response_cache import tag
from read_model import row_versions
from read_model.tables import events_index

PARAMETER = "as_of"
POSITION = re.compile(r"[0-9]{1,19}")
LARGEST = 2**63 - 1  # notification ids are PostgreSQL bigints
# An as-of answer never changes: a year, as long as RFC 9111 advises for "never expires".
IMMUTABLE = ["public", "max-age=31536000", "immutable"]
HEADER = "X-Event-Position"  # the position of every answer known to be of one, private ones too
INVALID = "Not a valid event position or ISO 8601 time with offset."

_position: ContextVar[int | None] = ContextVar("as_of_position", default=None)


def position() -> int | None:
    """The position the request's reads are as of (None: the current state)."""
    return _position.get()


# A statement's execution option: the tables its as-of state computes once (row_versions.as_of_prefix).
MATERIALIZED = "as_of_materialized"


_NAMES = row_versions.as_of_names()


def _named(statement: str) -> frozenset[str]:
    """The read tables whose state as of a position `statement` may read: each whose name is in
    its text (a name within another, as `tags` in `result_tags`, only adds one it does not read)."""
    return frozenset(name for name in _NAMES if name in statement)


@lru_cache(maxsize=256)
def _prefix(dialect: str, position: int, named: frozenset[str], materialized: frozenset[str]) -> str:
    return row_versions.as_of_prefix(dialect, position, named, materialized)


@lru_cache(maxsize=64)
def _bound_prefix(named: frozenset[str], materialized: frozenset[str]) -> tuple[str, int]:
    """SQLite's prefix with the position as a parameter, and how many places it has. SQLite
    prepares a statement once per text: with the position written in, each position's statements
    were prepared again (2-3 ms a listing, the as-of state of every table being in each)."""
    prefix = row_versions.as_of_prefix("sqlite", None, named, materialized)
    return prefix, prefix.count("?")


# Where a PostgreSQL connection keeps psycopg's threshold for preparing statements while an
# as-of statement runs on it unprepared (`_prepared_unless_as_of`).
_THRESHOLD = "as_of_kept_prepare_threshold"


def _prepared_unless_as_of(conn, cursor, as_of: bool) -> None:
    """psycopg prepares no as-of statement (PostgreSQL plans each for its values). Their texts
    hold the position, so each position's statements would take places in psycopg's cache of
    prepared statements (100 per connection) from the current reads'; and a generic plan, which
    PostgreSQL may choose for a statement prepared and run five times, does not know how much of
    the versions tables the position reaches: one was 2.5 times slower than planning each time
    (bench/generic_plans.py). Other statements are prepared as psycopg decides."""
    if as_of:
        if cursor.connection.prepare_threshold is not None:
            conn.info[_THRESHOLD] = cursor.connection.prepare_threshold
            cursor.connection.prepare_threshold = None
    elif _THRESHOLD in conn.info:
        cursor.connection.prepare_threshold = conn.info.pop(_THRESHOLD)


def _as_of(conn, cursor, statement: str, parameters, context, executemany):
    position = _position.get()
    postgresql = conn.dialect.name == "postgresql"
    if position is None:  # a current read: every statement of it passes here, untouched
        if postgresql:
            _prepared_unless_as_of(conn, cursor, as_of=False)
        return statement, parameters
    start = statement.lstrip()[:6].upper()
    named = _named(statement) if start == "SELECT" or start.startswith("WITH") else None
    if postgresql:
        _prepared_unless_as_of(conn, cursor, as_of=bool(named))
    if not named:
        return statement, parameters
    materialized = context.execution_options.get(MATERIALIZED, frozenset())
    if conn.dialect.name == "sqlite" and isinstance(parameters, (tuple, list)):
        # The prefix comes first in the text: its parameters come first.
        prefix, places = _bound_prefix(named, materialized)
        parameters = (position,) * places + tuple(parameters)
    else:  # PostgreSQL (a statement's plan may depend on the position), or named parameters
        prefix = _prefix(conn.dialect.name, position, named, materialized)
    if start == "SELECT":
        return f"WITH {prefix} {statement}", parameters
    # WITH: the statement's own expressions may name the tables too.
    return f"WITH {prefix}, {statement.lstrip()[4:]}", parameters


def read_as_of(engine: Engine) -> None:
    """Every SELECT on `engine` made while a request's as_of position is set reads that state."""
    event.listen(engine, "before_cursor_execute", _as_of, retval=True)


def invalid() -> errors.ApiError:
    return errors.invalid("query", {PARAMETER: [INVALID]})


class AsOf:
    def __init__(self, engine: Engine, current_position: Callable[[], int]):
        self.engine = engine
        self.current_position = current_position

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Takes the argument out of the query string before anything parses it."""
        pairs = parse_qsl(req.query_string, keep_blank_values=True)
        given = [value for key, value in pairs if key == PARAMETER]
        if given:
            req.query_string = urlencode([(k, v) for k, v in pairs if k != PARAMETER])
            req.context.as_of_given = given[-1]

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource, params) -> None:
        """After the gate: the position (422 when it cannot be answered), set for the read."""
        if req.context.get("operation") is None or req.method not in ("GET", "HEAD"):
            return
        given = req.context.get("as_of_given")
        if given is None:
            req.context.tag_position = self.current_position()
            return
        if req.context.operation.operation_id in WITHOUT_AS_OF:
            raise errors.message(422, "as_of does not apply to a stream: read /events?after=... instead")
        position = self._resolve(given)
        req.context.as_of = position
        req.context.as_of_token = _position.set(position)

    def _resolve(self, given: str) -> int:
        head = self.current_position()
        with self.engine.connect() as conn:
            if POSITION.fullmatch(given):
                position = int(given)
                if position > LARGEST:
                    raise invalid()
            else:
                try:
                    moment = fields.datetime_with_offset(given)
                except fields.Invalid:
                    raise invalid() from None
                last = select(func.max(events_index.c.position)).where(
                    events_index.c.timestamp <= moment.astimezone(timezone.utc).replace(tzinfo=None),
                    events_index.c.position <= head,
                )
                position = conn.execute(last).scalar() or 0
            if position > head:
                raise errors.message(
                    422, f"as_of {position} is beyond the newest event position the read model holds ({head})"
                )
            since = row_versions.since(conn)
        if since is None or position < since:
            raise errors.message(
                422,
                f"The read store keeps past states from event position {since or head} on, not {position}:"
                " rebuild it from the event log for older ones",
            )
        return position

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        token = req.context.get("as_of_token")
        if token is not None:
            _position.reset(token)
        if resp.status not in (200, falcon.HTTP_200):
            return
        operation = req.context.get("operation")
        public = operation is not None and operation.access == "public"
        position = req.context.get("as_of")
        if position is not None:
            if public:
                resp.cache_control = IMMUTABLE
        else:
            position = req.context.get("tag_position")
            if position is None or self.current_position() != position:
                return  # the projector committed while the answer was computed: its position is unknown
        resp.set_header(HEADER, str(position))
        # The response cache tags the answers it keeps. A caller's own answer gets no entity tag:
        # the same URL answers each caller differently at one position.
        if public and resp.etag is None:
            tag(req, resp, position)
