"""Generated hostile schemas against the schema checks (issue 10, item 12): whatever a schema
holds, submission and upload either accept it or answer 422, and none needs the last-resort
catch-all (every failure found is foreseen with its own message)."""

from __future__ import annotations

import logging
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from command_service.services import schemas
from domain.errors import InvalidDocument

REFS = [
    "#",
    "#/properties/a",
    "#/definitions/x",
    "#/$defs/x",
    "#/items/0",
    "#/type",
    "#foo",
    "#/enum",
    "#/not",
    "#/properties/a/type/0",
    "#/allOf/0",
    "#/prefixItems/1",
    "#/%25",
    "#/a~2",
    "%",
    "x.json",
    "urn:x",
    "http://127.0.0.1:9/x",
    "file:///etc/hostname",
    "http://[::1",
    "http://json-schema.org/draft-07/schema#",
]
DIALECTS = [
    "http://json-schema.org/draft-03/schema#",
    "http://json-schema.org/draft-04/schema#",
    "http://json-schema.org/draft-06/schema#",
    "http://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft/2019-09/schema",
    "https://json-schema.org/draft/2020-12/schema",
    "http://example.org/unknown",
    5,
    {},
    None,
    ["x"],
]
PATTERNS = ["^a$", "(?=a)", "(a+)+$", "[", "\\1", "\\p{L}", "a{2,1}", "", "(?P<x>a)", "\\d+"]
IDS = ["http://example.org/root.json", "sub.json", "#foo", "urn:a", 5, "http://[::1", "tag:x"]
TYPES = [
    "string",
    "integer",
    "object",
    "array",
    "null",
    "number",
    "boolean",
    "any",
    "x",
    ["string", "null"],
    [{"type": "x"}],
    5,
]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-10, 10), st.text(max_size=3))


def _keywords(children):
    lists = st.lists(children, max_size=2)
    return st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(TYPES),
            "properties": st.dictionaries(st.sampled_from(["a", "b", "id", "$id"]), children, max_size=2),
            "patternProperties": st.dictionaries(st.sampled_from(PATTERNS), children, max_size=2),
            "additionalProperties": children,
            "unevaluatedProperties": children,
            "unevaluatedItems": children,
            "items": st.one_of(children, lists),
            "prefixItems": lists,
            "allOf": lists,
            "anyOf": lists,
            "oneOf": lists,
            "not": children,
            "if": children,
            "then": children,
            "else": children,
            "contains": children,
            "propertyNames": children,
            "extends": children,
            "disallow": st.one_of(st.sampled_from(TYPES), children),
            "$ref": st.sampled_from(REFS),
            "$dynamicRef": st.sampled_from(REFS),
            "$recursiveRef": st.sampled_from(REFS),
            "$id": st.sampled_from(IDS),
            "id": st.sampled_from(IDS),
            "$anchor": st.sampled_from(["foo", "bar", 5]),
            "$dynamicAnchor": st.sampled_from(["foo", "bar"]),
            "$recursiveAnchor": st.booleans(),
            "$schema": st.sampled_from(DIALECTS),
            "pattern": st.sampled_from(PATTERNS),
            "enum": st.lists(SCALARS, max_size=3),
            "const": SCALARS,
            "minLength": st.integers(0, 3),
            "multipleOf": st.sampled_from([1e-300, 0.1, 3, 0.5]),
            "divisibleBy": st.sampled_from([0, 2, 0.5]),
            "uniqueItems": st.booleans(),
            "minContains": st.integers(0, 2),
            "maxContains": st.integers(0, 2),
            "dependencies": st.dictionaries(
                st.sampled_from(["a", "b"]), st.one_of(children, st.just(["a"]), st.just("b")), max_size=1
            ),
            "dependentSchemas": st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=1),
            "definitions": st.dictionaries(st.sampled_from(["x", "y"]), children, max_size=2),
            "$defs": st.dictionaries(st.sampled_from(["x", "y"]), children, max_size=2),
            "required": st.one_of(st.booleans(), st.lists(st.sampled_from(["a", "b"]), max_size=2)),
            "format": st.sampled_from(["regex", "date", "x"]),
            "maximum": SCALARS,
            "exclusiveMaximum": st.one_of(st.booleans(), SCALARS),
        },
    )


SCHEMAS = st.recursive(
    st.one_of(st.booleans(), st.just({}), st.builds(lambda t: {"type": t}, st.sampled_from(TYPES))),
    _keywords,
    max_leaves=12,
).filter(lambda schema: isinstance(schema, dict))
DOCUMENTS = st.dictionaries(
    st.sampled_from(["a", "b", "id", "aaaa"]),
    st.recursive(
        SCALARS,
        lambda c: st.one_of(
            st.lists(c, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "aaaa"]), c, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=3,
)


class Benchmark:
    def __init__(self, schema: dict):
        self.id = uuid4()
        self.version = 1
        self.json_schema = schema


def _accepted(check) -> bool:
    try:
        check()
    except InvalidDocument:  # the client's 422 (http_api/errors.py); anything else fails the test
        return False
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(SCHEMAS, st.lists(DOCUMENTS, min_size=1, max_size=3))
def test_no_schema_or_document_fails_the_checks_otherwise_than_with_a_422(schema, documents):
    if not _accepted(lambda: schemas.check_benchmark_schema(schema)):
        return
    validators = schemas.ResultValidators(capacity=4, pattern_work=10**8)
    unforeseen = _CatchAll()
    logging.getLogger(schemas.__name__).addHandler(unforeseen)
    try:
        for document in documents:
            _accepted(lambda document=document: schemas.check_result(document, Benchmark(schema), validators))
    finally:
        logging.getLogger(schemas.__name__).removeHandler(unforeseen)
    assert unforeseen.records == [], schema


class _CatchAll(logging.Handler):
    """Collects the warning the catch-all of `check_result` logs."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
