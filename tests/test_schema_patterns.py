"""How schema patterns reach RE2 (command_service/services/schema_patterns.py), and the cache of
compiled validators: units of logic, checked against the installed jsonschema."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import uuid4

import jsonschema
import pytest

from command_service.services import schema_patterns, schemas
from domain.errors import InvalidDocument

JSONSCHEMA = Path(jsonschema.__file__).parent


def test_jsonschema_matches_regular_expressions_only_where_they_are_routed_to_re2():
    """If a jsonschema release matches patterns somewhere else, schema_patterns must follow it."""
    uses = set()
    for source in JSONSCHEMA.glob("*.py"):
        for attribute in re.findall(r"\bre\.(\w+)\(", source.read_text()):
            uses.add((source.stem, attribute))
    assert uses == {
        ("_keywords", "search"),
        ("_utils", "search"),
        ("_legacy_keywords", "search"),  # routed to RE2
        ("_format", "compile"),  # the `regex` format: replaced by schema_patterns.format_checker
        ("exceptions", "compile"),  # a constant pattern of jsonschema's own
    }
    for module in schema_patterns._JSONSCHEMA_MATCHERS:
        assert module.re is schema_patterns._ENGINE


@pytest.mark.parametrize(
    "schema, instance",
    [
        ({"pattern": "a"}, "a"),
        ({"patternProperties": {"a": {}}}, {"a": 1}),
        ({"propertyNames": {"pattern": "a"}}, {"a": 1}),
        ({"patternProperties": {"a": {}}, "additionalProperties": False}, {"a": 1}),
        ({"patternProperties": {"a": {}}, "unevaluatedProperties": False}, {"a": 1}),
        (
            {
                "$schema": "https://json-schema.org/draft/2019-09/schema",
                "patternProperties": {"a": {}},
                "unevaluatedProperties": False,
            },
            {"a": 1},
        ),
    ],
    ids=[
        "pattern",
        "patternProperties",
        "propertyNames",
        "additionalProperties",
        "unevaluatedProperties",
        "unevaluatedProperties-2019-09",
    ],
)
def test_every_keyword_that_matches_spends_the_budget(schema, instance):
    """With a budget of 1 no match can be paid for: each keyword's match goes through RE2."""
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    with schema_patterns.matching_budget(1), pytest.raises(schema_patterns.PatternRefused, match="take too long"):
        validator_class(schema).validate(instance)
    with schema_patterns.matching_budget(10_000):
        validator_class(schema).validate(instance)


def test_outside_a_budget_jsonschema_matches_as_before():
    """Other users of jsonschema in the process (none in the services) keep Python's `re`:
    lookahead, which RE2 refuses, still works for them."""
    jsonschema.validate("ab", {"pattern": "a(?=b)"})


def test_meta_validation_leaves_patterns_to_the_pattern_checks():
    """Python's re compiles `(?=a)` (RE2 refuses it) and fails with RecursionError on 5,000 nested
    groups: meta-validation compiles no pattern, check_schema_patterns judges them all."""
    checker = schema_patterns.format_checker(jsonschema.Draft7Validator)
    for pattern in ("(?=a)", "(" * 5000 + ")" * 5000, "["):
        assert checker.conforms(pattern, "regex")
    assert set(checker.checkers) == set(jsonschema.Draft7Validator.FORMAT_CHECKER.checkers) - {"regex"}


def test_the_patterns_of_one_schema_have_a_limit_together():
    heavy = [f"^.{{0,{1000 - n}}}$" for n in range(20)]  # about 9,000 instructions each
    schema_patterns.check_schema_patterns(heavy[:10])
    with pytest.raises(schema_patterns.PatternRefused, match="too large together") as refused:
        schema_patterns.check_schema_patterns(heavy)
    assert refused.value.pattern == heavy[11]  # compiling stopped there


class Benchmark:
    def __init__(self, schema: dict, version: int = 1):
        self.id = uuid4()
        self.version = version
        self.json_schema = schema


def test_a_compiled_validator_serves_every_upload_of_its_benchmark_version():
    validators = schemas.ResultValidators(capacity=4, pattern_work=10_000)
    benchmark = Benchmark({"type": "object"})
    first = validators.validator(benchmark)
    assert validators.validator(benchmark) is first
    benchmark.version, benchmark.json_schema = 2, {"type": "array"}
    assert validators.validator(benchmark) is not first
    schemas.check_result([], benchmark, validators)


def test_a_schema_that_fails_its_checks_is_not_cached():
    validators = schemas.ResultValidators(capacity=4, pattern_work=10_000)
    benchmark = Benchmark({"properties": {"v": {"pattern": "(?=a)"}}})
    for _ in range(2):
        with pytest.raises(InvalidDocument):
            validators.validator(benchmark)
    assert validators._validators == {}
