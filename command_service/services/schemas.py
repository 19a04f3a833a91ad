"""JSON Schema checks: a benchmark's schema must be a valid Draft-7 schema that this service can
apply safely; a result must satisfy its benchmark's schema (validator chosen by the schema's
`$schema`).

Applying a schema is running a program its author wrote. What the author could make the server
do is bounded here and in the modules this one uses: its regular expressions run on RE2 with a
work budget (schema_patterns), its references never leave the document (schema_references),
and a schema or document that drives the validator into too deep a recursion, or into any other
failure, is the client's 422, never the server's 500.
"""

from __future__ import annotations

import functools
import logging
from urllib.parse import urljoin
from uuid import UUID

import jsonschema
from jsonschema.exceptions import SchemaError, UnknownType, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from command_service.services import schema_patterns, schema_references, schema_walk
from domain.benchmark import Benchmark
from domain.errors import InvalidDocument

log = logging.getLogger(__name__)

# A message longer than this is cut: jsonschema repeats the whole `enum` in its message, and a
# schema may hold a very long one.
MESSAGE_LIMIT = 2000
TOO_DEEP = "The JSON Schema is nested too deeply, or refers to itself without end"

LATEST = jsonschema.Draft202012Validator


def _refusal(message: str, path: str = "$") -> InvalidDocument:
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "…"
    return InvalidDocument(message, path)


def _violation(error: ValidationError | SchemaError) -> InvalidDocument:
    return _refusal(error.message, error.json_path)


@functools.cache
def _format_checker(validator_class: type[Validator]) -> jsonschema.FormatChecker:
    return schema_patterns.format_checker(validator_class)


def _meta_validate(schema: dict, validator_class: type[Validator]) -> None:
    try:
        validator_class.check_schema(schema, format_checker=_format_checker(validator_class))
    except SchemaError as error:
        raise _violation(error) from None
    except RecursionError:
        raise _refusal(TOO_DEEP) from None


def _dialect(schema: dict) -> type[Validator]:
    """The validator named by the schema's `$schema`, 2020-12 without one."""
    declared = schema.get("$schema")
    return validator_for(schema, default=LATEST) if isinstance(declared, str) else LATEST


def _is_uri_reference(text: str) -> bool:
    try:
        urljoin("https://example.org/", text)
    except ValueError:  # e.g. an unclosed IPv6 bracket: the resolver would fail on it
        return False
    return True


def _check_contents(schema: dict, validator_class: type[Validator]) -> None:
    """What meta-validation cannot see, in every object of the document (a `$ref` can make any of
    them a subschema): `$schema` is a string, `$id` a URI reference, every pattern compiles in
    RE2 (each `patternProperties` also as the one alternation additionalProperties matches) and
    all of them stay within RE2's limit per schema, and every reference resolves within the
    document to a schema."""
    patterns: dict[str, schema_walk.Path] = {}  # each pattern, and where it is first
    for path, _, node in schema_walk.objects(schema, lambda node: None):
        if "$schema" in node and not isinstance(node["$schema"], str):
            raise _refusal("$schema must be a string", schema_walk.json_path(path + ("$schema",)))
        if isinstance(node.get("$id"), str) and not _is_uri_reference(node["$id"]):
            raise _refusal(f"$id {node['$id']!r} is not a URI reference", schema_walk.json_path(path + ("$id",)))
        if isinstance(node.get("pattern"), str):
            patterns.setdefault(node["pattern"], path + ("pattern",))
        if isinstance(node.get("patternProperties"), dict):
            keys = list(node["patternProperties"])
            for pattern in [*keys, "|".join(keys)]:
                patterns.setdefault(pattern, path + ("patternProperties",))
    try:
        schema_patterns.check_schema_patterns(patterns)
    except schema_patterns.PatternRefused as refused:
        raise _refusal(str(refused), schema_walk.json_path(patterns[refused.pattern])) from None
    try:
        schema_references.check(schema, validator_class)
    except schema_references.ReferenceRefused as refused:
        raise _refusal(str(refused), schema_walk.json_path(refused.path)) from None


def check_benchmark_schema(schema: dict) -> None:
    """At submission: Draft-7 meta-validation (contract §5.1), then the contents under the dialect
    the uploads will be validated with."""
    _meta_validate(schema, jsonschema.Draft7Validator)
    _check_contents(schema, _dialect(schema))


class ResultValidators:
    """Compiled validators per benchmark version, so an upload skips the meta-validation of its
    benchmark's schema (most of an upload's validation time) and the compiling of it.

    A benchmark's schema only changes by an event, which makes a new aggregate version: the
    schema of (benchmark id, version) never changes, so the cache cannot serve an old schema.
    A schema that fails its checks is not cached: it is checked, and refused with the same
    answer, on every upload. Request threads share the dict without a lock: two may compile the
    same schema at once, and either validator is right.

    `pattern_work`: the RE2 work one upload may spend on its schema's patterns (schema_patterns)."""

    def __init__(self, capacity: int, pattern_work: int):
        self._capacity = capacity
        self.pattern_work = pattern_work
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
    """The schema's validator, after the checks of submission under its own dialect: stored
    schemas may predate them, or be valid Draft-7 and not valid in the draft they name."""
    validator_class = _dialect(schema)
    _meta_validate(schema, validator_class)
    _check_contents(schema, validator_class)
    return validator_class(schema, registry=schema_references.REGISTRY)


def check_result(document: dict, benchmark: Benchmark, validators: ResultValidators) -> None:
    """`format` is not asserted and unknown keywords (e.g. `suggestToUser`) are allowed.

    The benchmark's schema passed the checks of submission, but under Draft-7 meta-validation,
    and the validator chosen here may be another draft (Draft-7 tuple `items` is invalid in
    2020-12): that, and anything the schema makes the validator fail on, is a 422."""
    try:
        validator = validators.validator(benchmark)
        with schema_patterns.matching_budget(validators.pattern_work):
            validator.validate(document)
    except InvalidDocument:
        raise  # the schema's own checks refused it
    except ValidationError as error:
        raise _violation(error) from None
    except schema_patterns.PatternRefused as refused:
        raise _refusal(str(refused)) from None
    except Unresolvable as error:
        raise _refusal(f"The benchmark's JSON Schema has an unresolvable reference: {error}") from None
    except UnknownType as error:
        raise _refusal(f"The benchmark's JSON Schema names an unknown type: {error.type!r}") from None
    except RecursionError:
        raise _refusal(
            "The result is nested too deeply for its benchmark's JSON Schema, "
            "or the schema refers to itself without end"
        ) from None
    except Exception:
        # Nothing above: the validator failed on a schema shape not foreseen. The schema is the
        # client's (its benchmark's author's), so is the failure; the log keeps the trace.
        log.warning("benchmark %s: its JSON Schema could not be applied", benchmark.id, exc_info=True)
        raise _refusal("The benchmark's JSON Schema cannot be applied to this result") from None
