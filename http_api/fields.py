"""Declared request fields and their parsing, with the original API's validation messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable
from uuid import UUID

MISSING = "Missing data for required field."
NULL = "Field may not be null."
UNKNOWN = "Unknown field."


class Invalid(Exception):
    """A field's value is not acceptable; `messages` is a list, or a dict of list items by index."""

    def __init__(self, messages):
        super().__init__(messages)
        self.messages = messages


def _integer(value: Any) -> int:
    """`int()` of the text, as the original's marshmallow field: "1.0" and "1e1" are not integers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        if isinstance(value, str):
            return int(value)
    except ValueError:
        pass
    raise Invalid(["Not a valid integer."])


def _uuid(text: Any) -> UUID:
    try:
        return UUID(str(text)) if isinstance(text, (str, UUID)) else _fail("Not a valid UUID.")
    except ValueError:
        raise Invalid(["Not a valid UUID."]) from None


def _fail(message: str):
    raise Invalid([message])


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date(text: str) -> date:
    # Only YYYY-MM-DD: Python's fromisoformat also takes week dates such as 2020-W01-1.
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(["Not a valid date."]) from None


def _datetime(text: str) -> datetime:
    # Date-only strings are not datetimes here (contract §1.2).
    try:
        if len(text) <= 10 or "T" not in text.upper().replace(" ", "T"):
            raise ValueError
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if value.tzinfo is not None:
            value.astimezone(timezone.utc)  # stored in UTC: 0001-01-01T00:00+01:00 has no UTC time
        return value
    except (ValueError, OverflowError):
        raise Invalid(["Not a valid datetime."]) from None


def datetime_with_offset(text: str) -> datetime:
    """A datetime that names its offset from UTC (a moment, not a wall-clock time)."""
    value = _datetime(text)
    if value.tzinfo is None:
        raise Invalid(["Not a valid datetime."])
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(["Not a valid string."])
    if "\x00" in value:  # no store keeps NUL characters in text
        raise Invalid(["Not a valid string."])
    return value


def _mapping(value: Any) -> dict:
    if not isinstance(value, dict):
        raise Invalid(["Not a valid mapping type."])
    return value


@dataclass(frozen=True)
class Field:
    """One query argument or body field.

    kind: string | integer | uuid | date | datetime | enum | object
    many: a list (repeated query key, or JSON array); errors of items are reported by index.
    limit: which of the configured limits bounds a body field (settings.Limits.of_field):
        name | url | text (characters of a string) | schema (bytes of an object as stored).
    """

    name: str
    kind: str = "string"
    required: bool = False
    default: Any = None
    many: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    limit: str = ""
    description: str = ""
    example: Any = None
    openapi: dict = field(default_factory=dict)  # extra OpenAPI keywords for the documentation

    def convert_one(self, value: Any) -> Any:
        converter: Callable[[Any], Any] = {
            "string": _string,
            "integer": _integer,
            "uuid": _uuid,
            "date": lambda v: _date(_string(v)),
            "datetime": lambda v: _datetime(_string(v)),
            "object": _mapping,
            "enum": self._choice,
        }[self.kind]
        value = converter(value)
        self._check_range(value)
        return value

    def _choice(self, value: Any) -> str:
        if value not in self.choices:
            raise Invalid([f"Must be one of: {', '.join(self.choices)}."])
        return value

    def _check_range(self, value: Any) -> None:
        if self.kind != "integer":
            return
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                raise Invalid([f"Must be greater than or equal to {low}."])
            raise Invalid([f"Must be greater than or equal to {low} and less than or equal to {high}."])

    def convert(self, value: Any) -> Any:
        if not self.many:
            return self.convert_one(value)
        if not isinstance(value, list):
            raise Invalid(["Not a valid list."])
        converted, errors = [], {}
        for index, item in enumerate(value):
            try:
                converted.append(self.convert_one(item))
            except Invalid as error:
                errors[str(index)] = error.messages
        if errors:
            raise Invalid(errors)
        return converted
