"""JSON material of the result tests: documents hard to encode and order, and a reference model
in Python of the filters and sorts over result documents, to compare the service's answers with."""

from __future__ import annotations

import json
import math
import re

# Hard cases for storing, transcoding and ordering documents: deep nesting, escapes, big numbers.
TRICKY_DOCUMENTS = [
    {"zeta": 1, "alpha": {"b": [1, [2, [3, {"z": None, "a": True}]]], "a": False}},
    {"text": "ünïcödé ✓ 𝄞 日本語", "escapes": 'tab\there "quoted" back\\slash\nnew line \u0001 \u2028'},
    {"big": 2**80, "negative": -(2**70), "floats": [0.1, 1e-07, 1.5e300, -0.0, 3.0, 123456789.123456789]},
    {"nested": [[[]], [{}], [[{"deep": [1.25, "x"]}]]], "": "empty key", "_type_": "not a transcoding"},
]

# Reference semantics (contract §4.2, §4.6, design Q-7, and the service's documented choices):
# - path: dot-separated keys; for filters a numeric key indexes an array (negative from the
#   end, as PostgreSQL's #> does); for sorts keys never index arrays (an array is "missing").
# - value typing by the filter text: float() parses -> number; true/false words -> boolean;
#   else text. Missing path or JSON null never matches. Uncastable -> no match.
# - number: only JSON numbers, compared as doubles; NaN is above every number and equal to
#   itself (PostgreSQL float8).
# - boolean: JSON booleans, JSON integers 1/0, strings true/false/t/f/yes/no/on/off/1/0
#   (case-insensitive, surrounding spaces ignored).
# - text: JSON strings raw, booleans true/false, numbers and containers as the JSON text the
#   service serves (compact, sorted keys); compared byte-wise.
# - sorting: missing last ascending / first descending; null < string < number < boolean <
#   array < object; numbers numerically, strings byte-wise, false < true, arrays by length then
#   element by element, objects by number of pairs then key/value pairs in jsonb storage order
#   (keys by length, then bytes); ties by upload order.

MISSING = object()
TRUE_WORDS = ("true", "True", "TRUE")
FALSE_WORDS = ("false", "False", "FALSE")
BOOLEAN_TEXT = {
    "true": True,
    "t": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "off": False,
    "0": False,
}
INDEX = re.compile(r"[+-]?[0-9]+")


def value_at(document, keys, *, index_arrays: bool):
    value = document
    for key in keys:
        if isinstance(value, dict):
            if key not in value:
                return MISSING
            value = value[key]
        elif isinstance(value, list) and index_arrays and INDEX.fullmatch(key):
            index = int(key)
            if not -len(value) <= index < len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def typed(text: str):
    try:
        return "number", float(text)
    except ValueError:
        pass
    if text in TRUE_WORDS or text in FALSE_WORDS:
        return "boolean", text in TRUE_WORDS
    return "text", text


def compare(left, operator: str, right) -> bool:
    return {"==": left == right, ">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[
        operator
    ]


def double(value: float) -> tuple:
    """PostgreSQL float8 order: NaN above everything, equal to itself."""
    return (1, 0.0) if math.isnan(value) else (0, value)


def as_boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {1: True, 0: False}.get(value)
    if isinstance(value, str):
        return BOOLEAN_TEXT.get(value.strip(" ").lower())
    return None


def as_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    # Numbers and containers as the JSON text served (compact, keys sorted, unescaped).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def matches(document, sent: str) -> bool:
    path, operator, text = sent.split(" ")
    kind, wanted = typed(text)
    value = value_at(document, path.split("."), index_arrays=True)
    if value is MISSING or value is None:
        return False
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return compare(double(float(value)), operator, double(wanted))
    if kind == "boolean":
        found = as_boolean(value)
        return found is not None and compare(int(found), operator, int(wanted))
    return compare(as_text(value).encode(), operator, wanted.encode())


def jsonb_key(value) -> tuple:
    if value is None:
        return (0,)
    if isinstance(value, str):
        return (1, value.encode())
    if isinstance(value, bool):
        return (3, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, list):
        return (4, len(value), [jsonb_key(item) for item in value])
    stored = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
    return (5, len(value), [(k.encode(), jsonb_key(value[k])) for k in stored])


def sorted_ids(rows, sort_by: str) -> list[str]:
    """Stable sorts from the last key to the first: ties fall back to upload order."""
    ordered = list(rows)
    for part in reversed([p for p in sort_by.split(",") if p]):
        descending, name = part[0] == "-", part[1:]
        keys = [] if name == "json" else name[len("json.") :].split(".")

        def key(row, keys=keys, descending=descending):
            value = value_at(row["json"], keys, index_arrays=False)
            missing = value is MISSING
            return (missing, ()) if missing else (missing, jsonb_key(value))

        ordered.sort(key=key, reverse=descending)
    return [row["id"] for row in ordered]
