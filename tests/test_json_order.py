"""The order of JSON values behind `+json` sorts on SQLite (query_service/json_order.py): the
stored text read back as json.loads reads it, and encoded, at any depth (issue 10: a result
nested ~950 levels made every `sort_by=+json` a 503, the recursive encoder failing inside
SQLite). The order itself is checked against PostgreSQL's in test_result_queries.py."""

from __future__ import annotations

import json
import random

import pytest

from query_service.json_order import loads, order_bytes, sql_order_bytes
from tests.support.json_reference import TRICKY_DOCUMENTS


def random_value(rng: random.Random, depth: int = 0):
    choice = rng.random()
    if depth > 4 or choice < 0.4:
        return rng.choice(
            [None, True, False, 0, -0.0, 7, 1.5, 1e-07, 1e300, 2**70, -(2**64), "", "ü ✓", "a\u0000b", 'q"\\', "\u2028"]
        )
    if choice < 0.7:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(["a", "bb", "", "é", "0", "_type_"]): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))
    }


def test_stored_text_reads_back_as_json_loads_reads_it():
    rng = random.Random(10)
    for value in [*TRICKY_DOCUMENTS, *(random_value(rng) for _ in range(2000))]:
        for text in (json.dumps(value, ensure_ascii=False, separators=(",", ":")), json.dumps(value, indent=1)):
            assert repr(loads(text)) == repr(json.loads(text)), text


def test_duplicate_keys_keep_the_last_value_as_json_loads_does():
    text = '{"a": 1, "b": [2], "a": {"c": 3}}'
    assert loads(text) == json.loads(text) == {"a": {"c": 3}, "b": [2]}


@pytest.mark.parametrize("text", ["", "{", "[1,", "[1,]", '{"a" 1}', '{"a":1,}', "1 2", "tru", "[1]]", "-", "{1:2}"])
def test_what_is_no_json_text_is_refused(text):
    with pytest.raises(ValueError):
        loads(text)


def test_the_order_is_that_of_jsonb():
    """null < string < number < boolean < array < object; arrays by length first, objects by
    their number of pairs first, then pair by pair."""
    ordered = [
        None,
        "",
        "a",
        "b",
        -1e300,
        -1,
        0,
        0.5,
        2**70,
        False,
        True,
        [],
        [None],
        [1],
        [0, 0],
        {},
        {"a": 2},
        {"aa": 0},
        {"b": 1},
        {"a": 1, "b": 1},
    ]
    shuffled = ordered[:]
    random.Random(1).shuffle(shuffled)
    assert sorted(shuffled, key=order_bytes) == ordered
    assert order_bytes(-0.0) == order_bytes(0)


def test_any_depth_is_read_and_encoded():
    depth = 100_000
    objects = '{"k":' * depth + "1" + "}" * depth
    arrays = "[" * depth + "]" * depth
    assert sql_order_bytes(objects).startswith(b"\x11\x00\x00\x00\x01k\x00\x00\x11")
    assert len(sql_order_bytes(arrays)) == 5 * depth
    shallower = "[" * (depth - 1) + "]" * (depth - 1)
    assert sql_order_bytes(shallower) < sql_order_bytes(arrays)
