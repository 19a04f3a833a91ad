"""The public JSON of each resource (contract §3.2): one definition for both services.

The command service renders created items from aggregates; projectors store the same
documents in read tables. Keys are sorted and `None` values omitted, as the original does.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any


def timestamp(value: datetime) -> str:
    """ISO-8601 without offset (stored times are UTC); microseconds only when non-zero."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat()


def dumps(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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


def claim(id, upload_datetime, message, resource_id, uploader: dict) -> dict:
    return _without_none(
        {
            "id": str(id),
            "upload_datetime": timestamp(upload_datetime),
            "message": message,
            "resource_type": "result",
            "resource_id": str(resource_id) if resource_id else None,
            "uploader": uploader,
        }
    )


def result(
    id, upload_datetime, execution_datetime, benchmark: dict, site: dict, flavor: dict, tags: list, json_doc
) -> dict:
    return {
        "id": str(id),
        "upload_datetime": timestamp(upload_datetime),
        "execution_datetime": timestamp(execution_datetime),
        "benchmark": benchmark,
        "site": site,
        "flavor": flavor,
        "tags": tags,
        "json": json_doc,
    }
