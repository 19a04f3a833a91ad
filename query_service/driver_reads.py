"""Reads of one statement that the database driver runs by itself, for the current state:
psycopg on PostgreSQL, sqlite3 in the embedded default.

A small read (a result by id, a catalog page) spent about a third of its CPU in the query app in
SQLAlchemy's execution of its one statement: its events, its cursor wrapper, its result object
(issue 16: in-process, a result by id took 0.42 ms of CPU, 0.26 this way on PostgreSQL; on
SQLite 0.23 and 0.16). A `DriverRead` keeps the statement's text, compiled by SQLAlchemy once,
and runs it on the pooled connection's driver connection (prepared, on PostgreSQL; SQLite's
driver keeps its statements prepared itself). The connection is still checked out and returned
by SQLAlchemy (the active store's search path, the pool's bounds); errors are raised as
SQLAlchemy's own, so the API answers them as before (http_api/errors.py) and a dropped
connection leaves the pool. On SQLite the read notes its deadline as every statement of a
bounded engine does (read_model/read_store.py `statement_starts`), so it is cut short alike.

SQLAlchemy's own execution is kept where it does more than send the text:
- a read as of a past position: an execution listener puts that state in front of the
  statement (query_service/as_of.py);
- on PostgreSQL, a connection neither in autocommit nor in a transaction SQLAlchemy has begun:
  psycopg would open one that SQLAlchemy does not know of. In autocommit (the query app's reads
  of one statement) or inside SQLAlchemy's transaction (a listing's reads in one snapshot, which
  psycopg began with the transaction's first statement, or begins with this one, at the
  isolation level SQLAlchemy set) the short way reads as SQLAlchemy would. (SQLite's driver
  opens no transaction for a read: a read inside one reads in it.);
- on SQLite, a statement that writes in values of other types than texts and integers, or reads
  columns of other types, and a read given such values: SQLAlchemy's dialect turns dates and
  the like into texts of its own format, both ways (`_plain`, `_plain_values`).
The rows are the same either way: the statements read text and integer columns, which
SQLAlchemy hands on as the driver gives them. A listener on the engine's statements
(`before_cursor_execute`) does not see these reads; those on its connections (connect,
checkout) still run.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Mapping, Sequence

import psycopg
from sqlalchemy import Integer, String
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from query_service import as_of
from read_model import read_store


class DriverRead:
    """A statement read often: compiled at its first read through the driver, then kept with it."""

    def __init__(self, statement: Executable):
        self.statement = statement
        self._compiled: dict[str, tuple | None] = {}  # by dialect: what `_text` gives

    def rows(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> Sequence[Sequence]:
        driver = _driver(conn)
        compiled = None if driver is None else self._text(conn)
        if compiled is None:
            return conn.execute(self.statement, parameters).all()
        text, bound, order = compiled
        if order is not None and parameters and not _plain_values(parameters):  # SQLite, given a date or the like
            return conn.execute(self.statement, parameters).all()
        values = {**bound, **parameters} if parameters else bound
        try:
            if order is None:  # psycopg: parameters by name
                return driver.execute(text, values, prepare=True).fetchall()
            read_store.statement_starts(conn.info)
            return driver.execute(text, [values[name] for name in order]).fetchall()
        except (psycopg.Error, sqlite3.Error) as error:
            # SQLAlchemy's handling of a failed execution: the error wrapped as from its own
            # (OperationalError: a 503, QueryCanceled or SQLite's interruption inside: a 422),
            # and on a dropped connection every pooled connection of that time discarded.
            conn._handle_dbapi_exception(error, text, values, None, None)

    def value(self, conn: Connection, parameters: Mapping[str, Any] | None = None) -> Any | None:
        """The first column of the first row, or None without a row."""
        found = self.rows(conn, parameters)
        return found[0][0] if found else None

    def _text(self, conn: Connection) -> tuple[str, dict, tuple[str, ...] | None] | None:
        """The statement's text, the values written in it, and on SQLite the order of its
        parameters (it takes them by position); None when SQLAlchemy must run it (below)."""
        dialect = conn.dialect.name
        if dialect not in self._compiled:
            compiled = self.statement.compile(dialect=conn.dialect)
            # The values written in the statement; those left to each read (`bindparam("id")`) come with it.
            bound = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
            order = tuple(compiled.positiontup) if compiled.positional else None
            self._compiled[dialect] = (str(compiled), bound, order) if _plain(compiled, bound) else None
        return self._compiled[dialect]


def _plain(compiled, bound: dict) -> bool:
    """Whether the driver gets the values SQLAlchemy would send and gives the rows SQLAlchemy
    would: only texts and integers go in and come out. (SQLite's dialect turns other types,
    dates among them, into texts of its own format, both ways.)"""
    if compiled.dialect.name != "sqlite":
        return True
    # (A text() statement has no typed columns: SQLAlchemy hands its rows on as the driver gives them.)
    columns = getattr(compiled.statement, "selected_columns", ())
    columns_plain = all(isinstance(column.type, (String, Integer)) for column in columns)
    return _plain_values(bound) and columns_plain


def _plain_values(values: Mapping[str, Any]) -> bool:
    """Whether sqlite3 writes the values as SQLAlchemy would: texts, integers (booleans among
    them) and None. Checked for the values in the statement once, and for those of each read
    (a date given to a read goes SQLAlchemy's way)."""
    return all(value is None or isinstance(value, (str, int)) for value in values.values())


def _driver(conn: Connection) -> psycopg.Connection | sqlite3.Connection | None:
    """The driver's connection to run a current read on, or None for SQLAlchemy's way."""
    if as_of.position() is not None:
        return None
    driver = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return driver
    if conn.dialect.name == "postgresql" and (driver.autocommit or conn.in_transaction()):
        return driver
    return None
