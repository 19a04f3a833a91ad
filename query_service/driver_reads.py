"""Reads of one statement that psycopg runs by itself, on PostgreSQL, for the current state.

A small read (a result by id, a catalog page) spent about a third of its CPU in the query app in
SQLAlchemy's execution of its one statement: its events, its cursor wrapper, its result object
(issue 16: in-process, a result by id took 0.42 ms of CPU, 0.26 this way). A `DriverRead` keeps
the statement's text, compiled by SQLAlchemy once, and runs it on the pooled connection's
psycopg connection, prepared. The connection is still checked out and returned by SQLAlchemy
(the active store's search path, the pool's bounds); errors are raised as SQLAlchemy's own, so
the API answers them as before (http_api/errors.py) and a dropped connection leaves the pool.

SQLAlchemy's own execution is kept where it does more than send the text:
- a read as of a past position: an execution listener puts that state in front of the
  statement (query_service/as_of.py);
- a connection inside a transaction: psycopg would open one that SQLAlchemy does not know of.
  Only connections in autocommit (the query app's reads of one statement) take the short way;
- SQLite (the embedded default), whose driver takes its parameters another way.
The rows are the same either way: the statements read text and integer columns, which
SQLAlchemy hands on as the driver gives them. A listener on the engine's statements
(`before_cursor_execute`) does not see these reads; those on its connections (connect,
checkout) still run.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import psycopg
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from query_service import as_of


class DriverRead:
    """A statement read often: compiled at its first read through psycopg, then kept with it."""

    def __init__(self, statement: Executable):
        self.statement = statement
        self._compiled: tuple[str, dict] | None = None  # the text, and the values bound in the statement

    def rows(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> Sequence[Sequence]:
        driver = _driver(conn)
        if driver is None:
            return conn.execute(self.statement, parameters).all()
        text, bound = self._text(conn)
        values = {**bound, **parameters} if parameters else bound
        try:
            return driver.execute(text, values, prepare=True).fetchall()
        except psycopg.Error as error:
            # SQLAlchemy's handling of a failed execution: the error wrapped as from its own
            # (OperationalError: a 503, QueryCanceled inside: a 422), and on a dropped
            # connection every pooled connection of that time discarded.
            conn._handle_dbapi_exception(error, text, values, None, None)

    def value(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> Any | None:
        """The first column of the first row, or None without a row."""
        found = self.rows(conn, parameters)
        return found[0][0] if found else None

    def _text(self, conn: Connection) -> tuple[str, dict]:
        if self._compiled is None:
            compiled = self.statement.compile(dialect=conn.dialect)
            # The values written in the statement; those left to each read (`bindparam("id")`) come with it.
            bound = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
            self._compiled = (str(compiled), bound)
        return self._compiled


def _driver(conn: Connection) -> psycopg.Connection | None:
    """The psycopg connection to run a current read on, or None for SQLAlchemy's way."""
    if conn.dialect.name != "postgresql" or as_of.position() is not None:
        return None
    driver = conn.connection.driver_connection
    return driver if driver.autocommit else None
