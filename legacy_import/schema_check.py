"""Whether imported result documents satisfy their benchmark's JSON Schema, fast enough for a
million rows.

The verdict is the command service's (`schemas.check_result`: python-jsonschema, the draft the
schema names). It costs about half a millisecond per document on a c-ray schema, ten times the
rest of a row's import, so most documents are first checked by a validator compiled to Python
code (fastjsonschema, drafts 4 to 7), which says "valid" only where python-jsonschema would
too: its schema must use only keywords that mean the same in every draft the original's
benchmarks name (below), and where it is stricter (it asserts `format`, it counts 1.0 as no
integer) a document it refuses is judged again by python-jsonschema. Every refusal, and every
document of another schema, gets the command service's verdict and message.
"""

from __future__ import annotations

from typing import Callable

import fastjsonschema

from command_service.services import schemas
from configuration.settings import Settings
from domain.benchmark import Benchmark
from domain.errors import InvalidDocument

# Keywords whose meaning is the same from draft 6 to 2020-12 (and in fastjsonschema's draft 7).
# Names outside every draft (e.g. `suggestToUser`) are annotations to both validators.
SAME_IN_EVERY_DRAFT = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "contains",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "format",
        "title",
        "description",
        "default",
        "examples",
        "readOnly",
        "writeOnly",
        "$comment",
        "$id",
        "$schema",
        "contentMediaType",
        "contentEncoding",
        "items",
    }
)
# Keywords of some draft outside that set, and the regular expressions (fastjsonschema matches
# them with Python's backtracking `re`; the command service's validator with RE2 and a work
# budget, docs/security.md): a schema using one is left to python-jsonschema.
DRAFT_SPECIFIC = frozenset(
    {
        "pattern",
        "patternProperties",
        "$ref",
        "$defs",
        "definitions",
        "dependencies",
        "dependentRequired",
        "dependentSchemas",
        "prefixItems",
        "additionalItems",
        "unevaluatedItems",
        "unevaluatedProperties",
        "minContains",
        "maxContains",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
    }
)
SUBSCHEMA_MAPS = ("properties",)
SUBSCHEMAS = ("additionalProperties", "propertyNames", "contains", "not", "if", "then", "else", "items")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _portable(schema) -> bool:
    """Whether every (sub)schema uses only keywords of SAME_IN_EVERY_DRAFT, `items` as one schema."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or DRAFT_SPECIFIC.intersection(schema):
        return False
    if isinstance(schema.get("items"), list):
        return False  # a tuple in draft 7, an error in 2020-12
    return (
        all(_portable(sub) for name in SUBSCHEMA_MAPS for sub in (schema.get(name) or {}).values())
        and all(_portable(schema[name]) for name in SUBSCHEMAS if name in schema)
        and all(_portable(sub) for name in SUBSCHEMA_LISTS for sub in schema.get(name) or [])
    )


class ResultCheck:
    """`violation(document, benchmark)`: None, or the message the command service would give."""

    def __init__(self, pattern_work: int = Settings.schema_pattern_work):
        self.pattern_work = pattern_work
        self._fast: dict[tuple, Callable | None] = {}
        self._validators = schemas.ResultValidators(capacity=256, pattern_work=pattern_work)

    def __getstate__(self) -> dict:
        return {"pattern_work": self.pattern_work}  # compiled validators are code of this process

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["pattern_work"])  # a worker compiles its own

    def _compiled(self, benchmark: Benchmark) -> Callable | None:
        key = (benchmark.id, benchmark.version)
        if key not in self._fast:
            schema = benchmark.json_schema
            try:
                self._fast[key] = (
                    fastjsonschema.compile(
                        {name: value for name, value in schema.items() if name != "$schema"}, use_default=False
                    )
                    if _portable(schema)
                    else None
                )
            except (fastjsonschema.JsonSchemaDefinitionException, TypeError, ValueError):
                self._fast[key] = None  # python-jsonschema judges (and words) what is wrong with it
        return self._fast[key]

    def violation(self, document: dict, benchmark: Benchmark) -> str | None:
        fast = self._compiled(benchmark)
        if fast is not None:
            try:
                fast(document)
                return None
            except fastjsonschema.JsonSchemaException:
                pass  # stricter than the verdict in places: ask python-jsonschema
        try:
            schemas.check_result(document, benchmark, self._validators)
        except InvalidDocument as error:
            return described(error)
        return None


def described(error: InvalidDocument) -> str:
    """A JSON Schema refusal of the command service as one line: the message and where."""
    return f"{error.message} at {error.path}"
