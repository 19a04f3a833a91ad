"""The OpenAPI 3.0.2 document, generated from the operation declarations (one source of truth)."""

from __future__ import annotations

import re

from configuration.settings import Limits
from http_api.fields import Field
from http_api.guide import GUIDE
from http_api.operations import ANY_OBJECT, OPERATIONS, WITHOUT_AS_OF, Operation

LICENSE_URL = "https://github.com/EOSC-synergy/eosc-perf-backend/blob/main/LICENSE"
# Answers carry datetimes without offset (contract §1.5), which `format: date-time` (RFC 3339: an offset
# is required) would declare invalid.
DATETIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$",
    "description": "ISO 8601 without offset (UTC).",
    "example": "2024-05-21T07:31:00",
}
UUID = {"type": "string", "format": "uuid"}
TEXT = {"type": "string"}


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required}


USER = _object(
    {"sub": TEXT, "iss": TEXT, "email": TEXT, "registration_datetime": DATETIME},
    ["sub", "iss", "email", "registration_datetime"],
)
# A claim's uploader: without email when a result's owner who is no admin lists its claims.
CLAIMER = {**USER, "required": ["sub", "iss", "registration_datetime"]}
SCHEMAS = {
    "Benchmark": _object(
        {
            "id": UUID,
            "upload_datetime": DATETIME,
            "docker_image": TEXT,
            "docker_tag": TEXT,
            "url": TEXT,
            "json_schema": {"type": "object"},
            "description": TEXT,
        },
        ["id", "upload_datetime", "docker_image", "docker_tag", "url", "json_schema"],
    ),
    "Site": _object(
        {"id": UUID, "upload_datetime": DATETIME, "name": TEXT, "address": TEXT, "description": TEXT},
        ["id", "upload_datetime", "name", "address"],
    ),
    "Flavor": _object(
        {"id": UUID, "upload_datetime": DATETIME, "name": TEXT, "description": TEXT}, ["id", "upload_datetime", "name"]
    ),
    "Tag": _object({"id": UUID, "name": TEXT, "description": TEXT}, ["id", "name"]),
    "User": USER,
    "Result": _object(
        {
            "id": UUID,
            "upload_datetime": DATETIME,
            "execution_datetime": DATETIME,
            "benchmark": {"$ref": "#/components/schemas/Benchmark"},
            "site": {"$ref": "#/components/schemas/Site"},
            "flavor": {"$ref": "#/components/schemas/Flavor"},
            "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
            "json": {"type": "object"},
        },
        ["id", "upload_datetime", "execution_datetime", "benchmark", "site", "flavor", "tags", "json"],
    ),
    "Claim": _object(
        {
            "id": UUID,
            "upload_datetime": DATETIME,
            "message": TEXT,
            "resource_type": TEXT,
            "resource_id": UUID,
            "uploader": CLAIMER,
        },
        ["id", "upload_datetime", "message", "resource_type", "uploader"],
    ),
    "Submit": _object(  # no uploader for the items of a removed user
        {
            "upload_datetime": DATETIME,
            "resource_type": {"type": "string", "enum": ["benchmark", "site", "flavor", "claim"]},
            "resource_id": UUID,
            "uploader": {"$ref": "#/components/schemas/User"},
        },
        ["upload_datetime", "resource_type", "resource_id"],
    ),
    # An entry of a history or the audit search (docs/audit.md): `actor` is {sub, iss}, or
    # only a role ("user", "admin") when a non-admin reads another's event.
    "Event": _object(
        {
            "position": {"type": "integer"},
            "item_id": UUID,
            "version": {"type": "integer"},
            "type": TEXT,
            "timestamp": DATETIME,
            "actor": {"nullable": True},
            "data": {"type": "object"},
        },
        ["position", "item_id", "version", "type", "timestamp", "actor", "data"],
    ),
    # GET /events: envelopes of docs/event-bus.md, actors as roles, no personal data.
    "EventFeed": _object(
        {
            "events": {"type": "array", "items": {"type": "object"}},
            "last_position": {"type": "integer"},
        },
        ["events", "last_position"],
    ),
    "Error": {
        "type": "object",
        "properties": {
            "code": {"type": "integer"},
            "status": TEXT,
            "errors": {"type": "object"},
            "message": {"type": "object"},
            "error": TEXT,
            "error_description": TEXT,
        },
    },
}
PAGE_FIELDS = {
    "total": {"type": "integer"},
    "pages": {"type": "integer"},
    "page": {"type": "integer"},
    "per_page": {"type": "integer"},
    "has_next": {"type": "boolean"},
    "has_prev": {"type": "boolean"},
    "next_num": {"type": "integer"},
    "prev_num": {"type": "integer"},
}
ERRORS = {
    "400": "Invalid JSON body",
    "401": "Missing or invalid bearer token",
    "403": "The caller does not meet the access level",
    "404": "Not found",
    "409": "Conflicts with an existing item",
    "413": "The request body is too large",
    "422": "Invalid arguments or body",
}


def _field_schema(field: Field) -> dict:
    schema = {
        "string": {"type": "string"},
        "integer": {"type": "integer"},
        "uuid": dict(UUID),
        "date": {"type": "string", "format": "date"},
        "datetime": {"type": "string", "format": "date-time"},
        "enum": {"type": "string", "enum": list(field.choices)},
        "object": {"type": "object"},
    }[field.kind]
    if field.minimum is not None:
        schema["minimum"] = field.minimum
    if field.maximum is not None:
        schema["maximum"] = field.maximum
    if field.many:
        schema = {"type": "array", "items": schema}
    if field.default not in (None, ()) and not field.many:
        schema["default"] = field.default
    return schema


# Every read but the stream answers as of a past position (query_service/as_of.py).
AS_OF = {
    "name": "as_of",
    "in": "query",
    "required": False,
    "schema": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "format": "date-time"}]},
    "description": "Answer as the read model was at this event position (an ETag or X-Event-Position"
    " of an earlier answer), or after the last event at or before this time (ISO 8601 with offset)."
    " Beyond the newest position: 422.",
}


def _parameters(operation: Operation) -> list[dict]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": dict(UUID)} for name in _path_ids(operation)]
    if operation.method == "GET" and operation.operation_id not in WITHOUT_AS_OF:
        parameters.append(dict(AS_OF))
    for field in operation.query or ():
        parameter = {"name": field.name, "in": "query", "required": field.required, "schema": _field_schema(field)}
        if field.many:
            parameter.update(style="form", explode=True)
        if field.description:
            parameter["description"] = field.description
        if field.example is not None:
            parameter["example"] = field.example
        parameters.append(parameter)
    return parameters


def _body_field_schema(field: Field, limits: Limits) -> dict:
    schema = {**_field_schema(field), **field.openapi}
    if field.kind == "string" and field.limit:
        schema["maxLength"] = limits.of_field(field.limit)
    return schema


def _request_body(operation: Operation, limits: Limits) -> dict | None:
    if operation.body is None:
        return None
    if operation.body == ANY_OBJECT:
        schema = {"type": "object", "description": "The result document, valid against the benchmark's JSON Schema."}
    else:
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {f.name: _body_field_schema(f, limits) for f in operation.body},
        }
        required = [f.name for f in operation.body if f.required]
        if required:  # OpenAPI 3.0 forbids an empty `required` list
            schema["required"] = required
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _response_schema(response: str) -> dict:
    if response.startswith("Page:"):
        item = response.split(":", 1)[1]
        return {
            "type": "object",
            "properties": {
                **PAGE_FIELDS,
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            },
        }
    return {"$ref": f"#/components/schemas/{response}"}


def _path_ids(operation: Operation) -> list[str]:
    return re.findall(r"{(\w+)}", operation.path)


# Item schema -> the path parameter that names one such item, taken from the operation that
# retrieves it (GET /benchmarks/{benchmark_id} -> Benchmark: benchmark_id).
ITEM_IDS = {
    operation.response: _path_ids(operation)[-1]
    for operation in OPERATIONS
    if operation.method == "GET" and operation.path.endswith("}") and operation.response in SCHEMAS
}


def _links(operation: Operation) -> dict:
    """OpenAPI links from a created item to the operations that take its id, in the path or as a
    required query argument (a flavor's id to upload a result): documentation for clients, and
    the transitions schemathesis' stateful phase follows."""
    id_name = ITEM_IDS.get(operation.response) if operation.status == 201 else None
    if id_name is None:
        return {}
    links = {}
    for target in OPERATIONS:
        if id_name in _path_ids(target):
            parameter = id_name
        elif any(field.name == id_name and field.required for field in target.query or ()):
            parameter = f"query.{id_name}"
        else:
            continue
        links[target.operation_id] = {
            "operationId": target.operation_id,
            "parameters": {parameter: "$response.body#/id"},
        }
    return links


def _responses(operation: Operation) -> dict:
    success: dict = {"description": "Success"}
    if operation.response:
        success["content"] = {"application/json": {"schema": _response_schema(operation.response)}}
    links = _links(operation)
    if links:
        success["links"] = links
    responses = {str(operation.status): success}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for status, description in ERRORS.items():
        responses[status] = {"description": description, **error}
    return responses


def _operation(operation: Operation, limits: Limits) -> dict:
    document = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": _parameters(operation),
        "responses": _responses(operation),
    }
    body = _request_body(operation, limits)
    if body:
        document["requestBody"] = body
    if operation.access == "public":
        document["security"] = []
    else:
        document["description"] = f"Access level: {operation.access}."
    return document


def openapi_document(backend_route: str = "/", limits: Limits = Limits()) -> dict:
    """`limits`: the service's, so that the document states the lengths it accepts."""
    paths: dict[str, dict] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation, limits)
    return {
        "openapi": "3.0.2",
        "info": {
            "title": "EOSC Performance API",
            "version": "1.0.0",
            "description": GUIDE,
            "license": {"name": "MIT", "url": LICENSE_URL},
        },
        "servers": [{"url": backend_route}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": SCHEMAS,
        },
    }
