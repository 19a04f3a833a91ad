"""The public JSON of each resource (contract §3.2): one definition for both services.

The command service renders created items from aggregates; projectors store the same
documents in read tables, and the query service renders claims and results from them with the
same functions. Keys are sorted and `None` values omitted, as the original does.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from domain import transcoding


def timestamp(value: datetime) -> str:
    """ISO-8601 without offset (stored times are UTC); microseconds only when non-zero."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat()


def dumps(document: Any, default: Callable[[Any], Any] | None = None) -> str:
    """`default`: the JSON form of a value JSON lacks (as json.dumps takes it). A document of
    JSON values alone is written by orjson where that is the same text (a result's: 2 µs
    rather than 10, on each upload's projection and each replay)."""
    if default is None and type(document) in (dict, list):
        text = transcoding.json_text(document, sort_keys=True)
        if text is not None:
            return text.decode()
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)


def _without_none(fields: dict) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


def benchmark(id, upload_datetime, docker_image, docker_tag, url, json_schema, description) -> dict:
    return _without_none(
        {
            "id": str(id),
            "upload_datetime": timestamp(upload_datetime),
            "docker_image": docker_image,
            "docker_tag": docker_tag,
            "url": url,
            "json_schema": json_schema,
            "description": description,
        }
    )


def site(id, upload_datetime, name, address, description) -> dict:
    return _without_none(
        {
            "id": str(id),
            "upload_datetime": timestamp(upload_datetime),
            "name": name,
            "address": address,
            "description": description,
        }
    )


def flavor(id, upload_datetime, name, description) -> dict:
    return _without_none(
        {"id": str(id), "upload_datetime": timestamp(upload_datetime), "name": name, "description": description}
    )


def tag(id, name, description) -> dict:
    return _without_none({"id": str(id), "name": name, "description": description})


def user(sub, iss, email, registration_datetime) -> dict:
    """`email=None` where the reader may not see it (claims listed to a result's owner)."""
    return _without_none(
        {"sub": sub, "iss": iss, "email": email, "registration_datetime": timestamp(registration_datetime)}
    )


# A claim and a result embed documents that each side already holds as JSON text (the query
# service reads them from the read tables, rendering a page without parsing them): both are
# written as text around those documents, keys in the order `dumps` sorts them. The query
# service has the database write a result from the same template (`RESULT`'s parts around the
# same values), so both services send the same bytes.
_CLAIM = '{"id":"%s","message":%s,"resource_id":"%s","resource_type":"result","upload_datetime":"%s","uploader":%s}'
RESULT = (
    '{"benchmark":%s,"execution_datetime":"%s","flavor":%s,"id":"%s","json":%s,"site":%s,"tags":%s,'
    '"upload_datetime":"%s"}'
)


def claim(id, upload_datetime, message: str, resource_id, uploader: str) -> str:
    """`uploader`: the claimer's `user` document as JSON text."""
    return _CLAIM % (id, dumps(message), resource_id, timestamp(upload_datetime), uploader)


def result(
    id,
    upload_datetime,
    execution_datetime,
    benchmark: str,
    site: str,
    flavor: str,
    tags: Sequence[str],
    json_text: str,
) -> str:
    """The embedded documents as JSON text: `tags` in the order listed (by name), `json_text`
    the result's own document as `dumps` writes it."""
    return RESULT % (
        benchmark,
        timestamp(execution_datetime),
        flavor,
        id,
        json_text,
        site,
        "[" + ",".join(tags) + "]",
        timestamp(upload_datetime),
    )
