"""JSON Schema checks: a benchmark's schema must be a valid Draft-7 schema; a result must
satisfy its benchmark's schema (validator chosen by the schema's `$schema`)."""

from __future__ import annotations

from uuid import UUID

import jsonschema
from jsonschema.protocols import Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from domain.benchmark import Benchmark
from eosc_perf import errors


def _violation(error: ValidationError | SchemaError) -> errors.ApiError:
    return errors.detailed(422, "errors", {"error": error.message, "path": error.json_path})


def check_benchmark_schema(schema: dict) -> None:
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except SchemaError as error:
        raise _violation(error) from None


class ResultValidators:
    """Compiled validators per benchmark version, so an upload skips the meta-validation of its
    benchmark's schema (most of an upload's validation time) and the compiling of it.

    A benchmark's schema only changes by an event, which makes a new aggregate version: the
    schema of (benchmark id, version) never changes, so the cache cannot serve an old schema.
    A schema that fails its own meta-validation is not cached: it is checked, and refused with
    the same answer, on every upload. Request threads share the dict without a lock: two may
    compile the same schema at once, and either validator is right."""

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._validators: dict[tuple[UUID, int], Validator] = {}

    def validator(self, benchmark: Benchmark) -> Validator:
        key = (benchmark.id, benchmark.version)
        validator = self._validators.get(key)
        if validator is None:
            validator = _compiled(benchmark.json_schema)
            if len(self._validators) >= self._capacity:
                self._validators.clear()  # benchmarks are few; this only bounds a long-lived worker
            self._validators[key] = validator
        return validator


def _compiled(schema: dict) -> Validator:
    """The validator named by the schema's `$schema` (2020-12 without one), after checking the
    schema against that draft's meta-schema."""
    declared = schema.get("$schema")
    default = jsonschema.Draft202012Validator
    validator_class = validator_for(schema, default=default) if isinstance(declared, str) else default
    try:
        validator_class.check_schema(schema)
    except SchemaError as error:
        raise _violation(error) from None
    return validator_class(schema)


VALIDATORS = ResultValidators(capacity=256)


def check_result(document: dict, benchmark: Benchmark) -> None:
    """`format` is not asserted and unknown keywords (e.g. `suggestToUser`) are allowed.

    The benchmark's schema passed Draft-7 meta-validation, but the validator chosen here may
    be another draft (Draft-7 tuple `items` is invalid in 2020-12) and `$ref`s are resolved
    only now: both are reported as 422, never as a crash of the validator."""
    validator = VALIDATORS.validator(benchmark)
    try:
        validator.validate(document)
    except ValidationError as error:
        raise _violation(error) from None
    except Unresolvable as error:
        raise errors.detailed(
            422, "errors", {"error": f"The benchmark's JSON Schema has an unresolvable reference: {error}", "path": "$"}
        ) from None
