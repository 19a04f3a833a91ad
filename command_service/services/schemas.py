"""JSON Schema checks: a benchmark's schema must be a valid Draft-7 schema; a result must
satisfy its benchmark's schema (validator chosen by the schema's `$schema`)."""

from __future__ import annotations

import jsonschema
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import validator_for

from eosc_perf import errors


def _violation(error: ValidationError | SchemaError) -> errors.ApiError:
    return errors.detailed(422, "errors", {"error": error.message, "path": error.json_path})


def check_benchmark_schema(schema: dict) -> None:
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except SchemaError as error:
        raise _violation(error) from None


def check_result(document: dict, schema: dict) -> None:
    """`format` is not asserted and unknown keywords (e.g. `suggestToUser`) are allowed."""
    validator_class = validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator_class(schema).validate(document)
    except ValidationError as error:
        raise _violation(error) from None
    except SchemaError as error:  # a schema stored before it was meta-validated
        raise _violation(error) from None
