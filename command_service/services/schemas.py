"""JSON Schema checks: a benchmark's schema must be a valid Draft-7 schema; a result must
satisfy its benchmark's schema (validator chosen by the schema's `$schema`)."""

from __future__ import annotations

import jsonschema
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from eosc_perf import errors


def _violation(error: ValidationError | SchemaError) -> errors.ApiError:
    return errors.detailed(422, "errors", {"error": error.message, "path": error.json_path})


def check_benchmark_schema(schema: dict) -> None:
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except SchemaError as error:
        raise _violation(error) from None


def check_result(document: dict, schema: dict) -> None:
    """`format` is not asserted and unknown keywords (e.g. `suggestToUser`) are allowed.

    The benchmark's schema passed Draft-7 meta-validation, but the validator chosen here may
    be another draft (Draft-7 tuple `items` is invalid in 2020-12) and `$ref`s are resolved
    only now: both are reported as 422, never as a crash of the validator."""
    declared = schema.get("$schema")
    default = jsonschema.Draft202012Validator
    validator_class = validator_for(schema, default=default) if isinstance(declared, str) else default
    try:
        validator_class.check_schema(schema)
        validator_class(schema).validate(document)
    except (ValidationError, SchemaError) as error:
        raise _violation(error) from None
    except Unresolvable as error:
        raise errors.detailed(
            422, "errors", {"error": f"The benchmark's JSON Schema has an unresolvable reference: {error}", "path": "$"}
        ) from None
