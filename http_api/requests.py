"""Parsing of query strings and JSON bodies against an operation's declared fields."""

from __future__ import annotations

import json
import math
from typing import Any

import falcon.uri

from configuration.settings import Limits
from http_api import bounds, errors
from http_api.fields import MISSING, NULL, UNKNOWN, Field, Invalid
from http_api.operations import ANY_OBJECT, Operation


def query_arguments(query_string: str) -> dict[str, list[str]]:
    """Repeated keys become lists; a `[]` suffix is dropped (PHP/axios style arrays)."""
    parsed = falcon.uri.parse_query_string(query_string, keep_blank=True, csv=False)
    arguments: dict[str, list[str]] = {}
    for key, value in parsed.items():
        name = key[:-2] if key.endswith("[]") else key
        arguments.setdefault(name, []).extend(value if isinstance(value, list) else [value])
    return arguments


def parse_query(operation: Operation, query_string: str) -> dict[str, Any]:
    declared = operation.query or ()
    arguments = query_arguments(query_string)
    problems: dict[str, Any] = {}
    if operation.strict_query:
        problems.update({name: [UNKNOWN] for name in arguments if name not in operation.field_names})
    values: dict[str, Any] = {}
    for field in declared:
        given = arguments.get(field.name)
        if given is None:
            if field.required:
                problems[field.name] = [MISSING]
            else:
                values[field.name] = list(field.default) if field.many else field.default
            continue
        try:
            values[field.name] = field.convert(given if field.many else given[0])
        except Invalid as error:
            problems[field.name] = error.messages
    if problems:
        raise errors.invalid("query", problems)
    return values


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):  # 1e400 overflows to infinity
        raise ValueError(f"{text} is out of range")
    return number


def _body(req: falcon.Request, limits: Limits) -> bytes:
    """The body, read only up to the limit: a larger one is a 413 whether or not it says its
    length (a chunked body does not)."""
    too_large = errors.message(413, f"The request body is larger than {limits.body_bytes} bytes")
    if req.content_length is not None and req.content_length > limits.body_bytes:
        _discard(req, DISCARDED_BYTES)
        raise too_large
    raw = req.bounded_stream.read(limits.body_bytes + 1)
    if len(raw) > limits.body_bytes:
        _discard(req, DISCARDED_BYTES)
        raise too_large
    return raw


# A refused body is read and dropped, up to this much, before the 413: a server that closes the
# connection with a body unread makes the kernel reset it, and a proxy still sending the body
# (nginx, which allows up to 10 MiB) may meet the reset before the answer and report a 502.
DISCARDED_BYTES = 16 * 2**20
_CHUNK = 2**16


def _discard(req: falcon.Request, most: int) -> None:
    while most > 0 and (chunk := req.bounded_stream.read(min(_CHUNK, most))):
        most -= len(chunk)


def _document(req: falcon.Request, limits: Limits) -> Any:
    """The JSON body; non-JSON content types count as an empty object (as the original).

    Invalid JSON is a 400, and so is what Python's parser accepts beyond RFC 8259 but no store
    or client can take: NaN/Infinity (also 1e400), lone UTF-16 surrogates (`"\\ud800"`) and NUL
    characters (PostgreSQL text and jsonb refuse them). Then the body as a whole must be within
    the limits (http_api/bounds.py): nesting too deep for the parser is one of them."""
    if not (req.content_type or "").lower().startswith("application/json"):
        return {}
    raw = _body(req, limits)
    if not raw.strip():
        return {}
    try:
        document = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
        text = json.dumps(document, ensure_ascii=False)
        text.encode("utf-8")  # lone surrogates cannot be stored
        if "\\u0000" in text:
            raise ValueError("NUL character")
    except RecursionError:
        raise bounds.too_deep(limits) from None
    except (ValueError, UnicodeError):
        raise errors.ApiError(
            400, {"code": 400, "status": "Bad Request", "errors": {"json": ["Invalid JSON body."]}}
        ) from None
    bounds.check(document, limits)
    return document


def _bounded(field: Field, value: Any, limits: Limits) -> Any:
    """A string field's length, a JSON Schema's stored size, against the field's limit."""
    if not field.limit:
        return value
    bound = limits.of_field(field.limit)
    if isinstance(value, str) and len(value) > bound:
        raise Invalid([f"Longer than maximum length {bound}."])
    if isinstance(value, dict) and len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) > bound:
        raise Invalid([f"Larger than maximum size {bound} bytes."])
    return value


def parse_body(operation: Operation, req: falcon.Request, limits: Limits) -> Any:
    if operation.body is None:
        return None
    document = _document(req, limits)
    if not isinstance(document, dict):
        raise errors.invalid("json", {"_schema": ["Invalid input type."]})
    if operation.body == ANY_OBJECT:
        return document
    declared = {field.name: field for field in operation.body}
    problems: dict[str, Any] = {name: [UNKNOWN] for name in document if name not in declared}
    values: dict[str, Any] = {}
    for name, field in declared.items():
        if name not in document:
            if field.required:
                problems[name] = [MISSING]
            continue
        if document[name] is None:
            problems[name] = [NULL]
            continue
        try:
            values[name] = _bounded(field, field.convert(document[name]), limits)
        except Invalid as error:
            problems[name] = error.messages
    if problems:
        raise errors.invalid("json", problems)
    return values
