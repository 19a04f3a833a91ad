"""JSON filters and JSON sort keys over result documents, compiled to SQL per dialect.

Filters are `path op value` (contract §4.6). The value's text decides the comparison:
a float -> numeric, true/false words -> boolean, anything else -> text. A result whose
document lacks the path, or whose value cannot be read as that type, does not match (Q-7).
Paths and values are always bound parameters; keys are validated, never spliced into SQL.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from sqlalchemy import Float, String, and_, case, cast, false, func, literal, null
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement, Grouping

from http_api import errors
from query_service.json_order import ORDER_FUNCTION, sql_order_bytes
from read_model import read_store

OPERATORS = ("==", ">", "<", ">=", "<=")
TRUE_WORDS = ("true", "True", "TRUE")
FALSE_WORDS = ("false", "False", "FALSE")
# What PostgreSQL reads as a boolean (case-insensitive): also true for JSON 1 and "yes".
BOOLEAN_TEXT = {"true": 1, "t": 1, "yes": 1, "on": 1, "1": 1, "false": 0, "f": 0, "no": 0, "off": 0, "0": 0}
ARRAY_INDEX = re.compile(r"[+-]?[0-9]+")
# Keys of a filter path that may index an array. On SQLite each doubles the expression that
# finds the value (SqliteJson._path): more would let one short filter take seconds to compile.
ARRAY_STEPS = 4
FILTER_EXAMPLE = "filters=machine.cpu.count%20%3E%205"


@dataclass(frozen=True)
class JsonFilter:
    path: tuple[str, ...]
    operator: str
    kind: str  # number | boolean | text
    value: object


def _path(text: str, location: str, sent: str) -> tuple[str, ...]:
    """Dot-separated keys; an empty key is a key like any other (`a..b`). A key holding `"`
    cannot be written in an SQLite JSON path: refused rather than silently never matched."""
    keys = tuple(text.split("."))
    if any('"' in key for key in keys):
        raise _invalid_path(location, sent, f"Invalid JSON path '{text}': keys may not contain '\"'")
    if sum(1 for key in keys if ARRAY_INDEX.fullmatch(key)) > ARRAY_STEPS:
        raise _invalid_path(
            location, sent, f"Invalid JSON path '{text}': at most {ARRAY_STEPS} keys may be numbers (array indexes)"
        )
    return keys


def _invalid_path(location: str, sent: str, reason: str) -> errors.ApiError:
    return errors.detailed(
        422,
        location,
        {
            "filter": sent,
            "reason": [reason],
            "hint": "Use dot-separated keys, e.g. machine.cpu.count",
            "example": FILTER_EXAMPLE,
        },
    )


def parse_filter(sent: str) -> JsonFilter:
    parts = sent.split(" ")
    if len(parts) != 3:
        raise errors.detailed(
            422,
            "errors",
            {
                "filter": sent,
                "reason": [f"Expected 3 space-separated parts (path operator value), got {len(parts)}"],
                "hint": "Probably missing spaces (%20)",
                "example": FILTER_EXAMPLE,
            },
        )
    path, operator, value = parts
    if operator not in OPERATORS:
        raise errors.detailed(
            422,
            "message",
            {
                "filter": sent,
                "reason": [f"Unknown operator '{operator}'"],
                "hint": f"Use only one of {list(OPERATORS)}",
                "example": FILTER_EXAMPLE,
            },
        )
    keys = _path(path, "errors", sent)
    number = _float(value)
    if number is not None:
        return JsonFilter(keys, operator, "number", number)
    if value in TRUE_WORDS or value in FALSE_WORDS:
        return JsonFilter(keys, operator, "boolean", value in TRUE_WORDS)
    return JsonFilter(keys, operator, "text", value)


def _float(text: str) -> float | None:
    """What Python's float() reads (as the original decides): `5`, `-2`, `11.0`, `1e1`, `1_000`,
    `nan`, `inf`, `Infinity`..."""
    try:
        return float(text)
    except ValueError:
        return None


def sort_path(name: str) -> tuple[str, ...] | None:
    """`json` (the whole document) or `json.<dot path>`; None when the name is no JSON field."""
    if name == "json":
        return ()
    if not name.startswith("json."):
        return None
    keys = tuple(name[len("json.") :].split("."))
    return None if any('"' in key for key in keys) else keys


def compare(left, operator: str, right) -> ColumnElement:
    return {
        "==": left == right,
        ">": left > right,
        "<": left < right,
        ">=": left >= right,
        "<=": left <= right,
    }[operator]


def _nan_condition(is_number: ColumnElement, operator: str) -> ColumnElement:
    """NaN as a double (PostgreSQL float8): above every number and equal only to itself, which
    no JSON number is. SQLite binds NaN as NULL, so this is spelt out rather than compared."""
    return is_number if operator in ("<", "<=") else false()


def _array_step(key: str) -> str | None:
    """`[n]` (or `[#-n]` from the end) when the key reads as an array index, as PostgreSQL's
    `#>` reads one (an optional sign and ASCII digits)."""
    if not ARRAY_INDEX.fullmatch(key):
        return None
    index = int(key)
    return f"[{index}]" if index >= 0 else f"[#{index}]"


class SqliteJson:
    """JSON1 functions over the document's text as served (`json_text`: compact, unescaped)."""

    def __init__(self, column):
        self.column = column

    def _path(self, keys: tuple[str, ...], *, index_arrays: bool):
        """A JSON1 path. Keys are written as they are escaped in the stored text (JSON1 compares
        labels with the raw text). A numeric key indexes an array when the value there is one,
        and names an object member otherwise; sort paths never index arrays (contract §4.2)."""
        path = literal("$")
        for key in keys:
            member = literal('."%s"' % json.dumps(key, ensure_ascii=False)[1:-1])
            step = _array_step(key) if index_arrays else None
            if step is None:
                path = path.concat(member)
            else:
                path = path.concat(case((func.json_type(self.column, path) == "array", literal(step)), else_=member))
        return path

    def _raw(self, path):
        """The JSON text at the path (numbers as written). The path is grouped: SQLite's `->`
        binds as tightly as `||`."""
        return self.column.op("->")(Grouping(path))

    def condition(self, flt: JsonFilter) -> ColumnElement:
        path = self._path(flt.path, index_arrays=True)
        kind = func.json_type(self.column, path)
        value = func.json_extract(self.column, path)
        if flt.kind == "number":
            is_number = kind.in_(("integer", "real"))
            if math.isnan(flt.value):
                return _nan_condition(is_number, flt.operator)
            return and_(is_number, compare(cast(value, Float), flt.operator, flt.value))
        if flt.kind == "boolean":
            lowered = func.lower(func.trim(cast(value, String), " "))
            as_boolean = case(
                (kind == "true", 1),
                (kind == "false", 0),
                *(
                    (and_(kind.in_(("integer", "text")), lowered == text), number)
                    for text, number in BOOLEAN_TEXT.items()
                ),
                else_=null(),
            )
            return compare(as_boolean, flt.operator, int(flt.value))
        # Strings unquoted; numbers, booleans and containers as their JSON text; null never matches.
        as_text = case((kind == "null", null()), (kind == "text", value), else_=self._raw(path))
        return compare(as_text, flt.operator, flt.value)

    def sort_keys(self, keys: tuple[str, ...]) -> list:
        """Missing paths last ascending (first descending); then by type as PostgreSQL's jsonb
        orders them (null < string < number < boolean < array < object); then by value, with
        arrays and objects in jsonb order through `eosc_json_order`."""
        if not keys:
            return [getattr(func, ORDER_FUNCTION)(self.column)]  # the document: always an object
        path = self._path(keys, index_arrays=False)
        kind = func.json_type(self.column, path)
        rank = case(
            (kind == "null", 0),
            (kind == "text", 1),
            (kind.in_(("integer", "real")), 2),
            (kind.in_(("true", "false")), 3),
            (kind == "array", 4),
            (kind == "object", 5),
        )
        value = case(
            (kind.in_(("array", "object")), getattr(func, ORDER_FUNCTION)(self._raw(path))),
            else_=func.json_extract(self.column, path),
        )
        return [kind.is_(None), rank, value]


class PostgresJson:
    """jsonb operators; a filter path is a bound text[] (`#>` indexes arrays with numeric keys),
    a sort path a chain of `->` (object keys only, contract §4.2)."""

    def __init__(self, column):
        self.column = column

    def _path(self, keys: tuple[str, ...]):
        return cast(literal(list(keys), ARRAY(String)), ARRAY(String))

    def condition(self, flt: JsonFilter) -> ColumnElement:
        kind = func.jsonb_typeof(self.column.op("#>")(self._path(flt.path)))
        text = self.column.op("#>>", return_type=String)(self._path(flt.path))
        if flt.kind == "number":
            number = case((kind == "number", cast(text, Float)), else_=null())
            return compare(number, flt.operator, flt.value)  # float8 NaN ordering is native
        if flt.kind == "boolean":
            lowered = func.lower(func.btrim(text, " "))
            as_boolean = case(
                (kind == "boolean", case((text == "true", 1), else_=0)),
                *(
                    (and_(kind.in_(("number", "string")), lowered == word), number)
                    for word, number in BOOLEAN_TEXT.items()
                ),
                else_=null(),
            )
            return compare(as_boolean, flt.operator, int(flt.value))
        return compare(text.collate("C"), flt.operator, flt.value)

    def sort_keys(self, keys: tuple[str, ...]) -> list:
        """As SQLite: missing last (ascending), type rank first (so an empty array does not sort
        below null, a jsonb quirk), strings byte-wise, then jsonb's own order."""
        if not keys:
            return [self.column]
        value, text = self.column, None
        for key in keys:
            step = cast(literal(key), String)
            value, text = value.op("->")(step), value.op("->>", return_type=String)(step)
        kind = func.jsonb_typeof(value)
        rank = case(
            (kind == "null", 0),
            (kind == "string", 1),
            (kind == "number", 2),
            (kind == "boolean", 3),
            (kind == "array", 4),
            (kind == "object", 5),
        )
        string = case((kind == "string", text.collate("C")), else_=null())
        return [value.is_(None), rank, string, value]


def json_dialect(conn: Connection, table):
    """The JSON expressions of the connection's database over a results table; on SQLite this
    also makes `eosc_json_order` available to the connection, once: registering a function
    expires every statement SQLite has prepared on the connection, so each listing re-prepared
    its statements (an as-of one's, long, 2-4 ms a request). The pool clears `info` when it
    replaces a connection, and the new one gets the function again."""
    if conn.dialect.name == "postgresql":
        return PostgresJson(table.c.json)
    if ORDER_FUNCTION not in conn.info:
        driver = conn.connection.driver_connection
        driver.create_function(ORDER_FUNCTION, 1, _sql_order_function(driver, conn.info), deterministic=True)
        conn.info[ORDER_FUNCTION] = True
    return SqliteJson(table.c.json_text)


def _sql_order_function(driver, info: dict):
    """`eosc_json_order` of one connection. A call takes as long as its document is large,
    unseen by the progress handler that bounds the statement: each call ends by interrupting
    the statement once it is past its deadline."""

    def order(text):
        value = sql_order_bytes(text)
        if read_store.past_deadline(info):
            driver.interrupt()
        return value

    return order
