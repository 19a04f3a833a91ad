"""JSON filters and JSON sort keys over result documents, compiled to SQL per dialect.

Filters are `path op value` (contract §4.6). The value's text decides the comparison:
a float -> numeric, true/false words -> boolean, anything else -> text. A result whose
document lacks the path, or whose value cannot be read as that type, does not match (Q-7).
Paths and values are always bound parameters; keys are validated, never spliced into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Float, String, and_, case, cast, func, literal, null
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from eosc_perf import errors

OPERATORS = ("==", ">", "<", ">=", "<=")
TRUE_WORDS = ("true", "True", "TRUE")
FALSE_WORDS = ("false", "False", "FALSE")
# What PostgreSQL reads as a boolean (case-insensitive): also true for JSON 1 and "yes".
BOOLEAN_TEXT = {"true": 1, "t": 1, "yes": 1, "on": 1, "1": 1, "false": 0, "f": 0, "no": 0, "off": 0, "0": 0}
FLOAT_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.IGNORECASE)
FILTER_EXAMPLE = "filters=machine.cpu.count%20%3E%205"


@dataclass(frozen=True)
class JsonFilter:
    path: tuple[str, ...]
    operator: str
    kind: str  # number | boolean | text
    value: object


def _path(text: str, location: str, sent: str) -> tuple[str, ...]:
    keys = tuple(text.split("."))
    if any(key == "" or '"' in key for key in keys):
        raise errors.detailed(422, location, {
            "filter": sent, "reason": [f"Invalid JSON path '{text}'"],
            "hint": "Use dot-separated keys, e.g. machine.cpu.count", "example": FILTER_EXAMPLE})
    return keys


def parse_filter(sent: str) -> JsonFilter:
    parts = sent.split(" ")
    if len(parts) != 3:
        raise errors.detailed(422, "errors", {
            "filter": sent,
            "reason": [f"Expected 3 space-separated parts (path operator value), got {len(parts)}"],
            "hint": "Probably missing spaces (%20)",
            "example": FILTER_EXAMPLE,
        })
    path, operator, value = parts
    if operator not in OPERATORS:
        raise errors.detailed(422, "message", {
            "filter": sent,
            "reason": [f"Unknown operator '{operator}'"],
            "hint": f"Use only one of {list(OPERATORS)}",
            "example": FILTER_EXAMPLE,
        })
    keys = _path(path, "errors", sent)
    if FLOAT_TEXT.fullmatch(value):
        return JsonFilter(keys, operator, "number", float(value))
    if value in TRUE_WORDS or value in FALSE_WORDS:
        return JsonFilter(keys, operator, "boolean", value in TRUE_WORDS)
    return JsonFilter(keys, operator, "text", value)


def sort_path(name: str) -> tuple[str, ...] | None:
    """`json` (the whole document) or `json.<dot path>`; None when the name is no JSON field."""
    if name == "json":
        return ()
    if not name.startswith("json."):
        return None
    keys = tuple(name[len("json."):].split("."))
    return None if any(key == "" or '"' in key for key in keys) else keys


def _compare(left, operator: str, right) -> ColumnElement:
    return {
        "==": left == right, ">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right,
    }[operator]


class SqliteJson:
    """JSON1 functions on a TEXT column holding the document."""

    def __init__(self, column):
        self.column = column

    def _path(self, keys: tuple[str, ...]):
        """A JSON1 path; a numeric key indexes an array when the value there is one."""
        path = literal("$")
        for key in keys:
            quoted = literal(f'."{key}"')
            if key.isdigit():
                path = path.concat(
                    case((func.json_type(self.column, path) == "array", literal(f"[{key}]")), else_=quoted)
                )
            else:
                path = path.concat(quoted)
        return path

    def condition(self, flt: JsonFilter) -> ColumnElement:
        path = self._path(flt.path)
        kind = func.json_type(self.column, path)
        value = func.json_extract(self.column, path)
        if flt.kind == "number":
            return and_(kind.in_(("integer", "real")), _compare(cast(value, Float), flt.operator, flt.value))
        if flt.kind == "boolean":
            lowered = func.lower(func.trim(cast(value, String)))
            as_boolean = case(
                (kind == "true", 1), (kind == "false", 0),
                *((and_(kind.in_(("integer", "text")), lowered == text), number)
                  for text, number in BOOLEAN_TEXT.items()),
                else_=null(),
            )
            return _compare(as_boolean, flt.operator, int(flt.value))
        as_text = case((kind == "true", "true"), (kind == "false", "false"), else_=cast(value, String))
        return _compare(as_text, flt.operator, flt.value)

    def sort_keys(self, keys: tuple[str, ...]) -> list:
        """Missing paths last ascending (first descending); then by type as PostgreSQL's jsonb
        orders them (null < string < number < boolean < array < object); then by value."""
        if not keys:
            return [self.column]
        path = self._path(keys)
        kind = func.json_type(self.column, path)
        rank = case(
            (kind == "null", 0), (kind == "text", 1), (kind.in_(("integer", "real")), 2),
            (kind.in_(("true", "false")), 3), (kind == "array", 4), (kind == "object", 5),
        )
        return [kind.is_(None), rank, func.json_extract(self.column, path)]


class PostgresJson:
    """jsonb operators; a path is a bound text[] (`#>` indexes arrays with numeric keys)."""

    def __init__(self, column):
        self.column = column

    def _at(self, keys: tuple[str, ...]):
        return self.column.op("#>")(cast(literal(list(keys), ARRAY(String)), ARRAY(String)))

    def _text_at(self, keys: tuple[str, ...]):
        return self.column.op("#>>")(cast(literal(list(keys), ARRAY(String)), ARRAY(String)))

    def condition(self, flt: JsonFilter) -> ColumnElement:
        value = self._at(flt.path)
        kind = func.jsonb_typeof(value)
        text = self._text_at(flt.path)
        if flt.kind == "number":
            number = case((kind == "number", cast(text, Float)), else_=null())
            return _compare(number, flt.operator, flt.value)
        if flt.kind == "boolean":
            lowered = func.lower(func.btrim(text))
            as_boolean = case(
                (kind == "boolean", case((text == "true", 1), else_=0)),
                *((and_(kind.in_(("number", "string")), lowered == word), number)
                  for word, number in BOOLEAN_TEXT.items()),
                else_=null(),
            )
            return _compare(as_boolean, flt.operator, int(flt.value))
        return _compare(text.collate("C"), flt.operator, flt.value)

    def sort_keys(self, keys: tuple[str, ...]) -> list:
        return [self.column] if not keys else [self._at(keys)]


def json_dialect(dialect_name: str, column):
    return PostgresJson(column) if dialect_name == "postgresql" else SqliteJson(column)


