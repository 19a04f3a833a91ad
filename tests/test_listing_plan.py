"""The parts of a listing's plan that need no database: `sort_by` parsed once into sort keys
(query_service/listing.py), with the original's judgement of a bad key; the pagination object
written around rendered items."""

from __future__ import annotations

import pytest

from http_api.errors import ApiError
from query_service.listing import PageRequest, SortKey, page_document, parse_sort

KNOWN = {"name", "upload_datetime", "json.a.b"}.__contains__


def test_sort_by_is_parsed_into_keys_in_order_empty_parts_ignored():
    assert parse_sort("+name,,-upload_datetime,", KNOWN) == [
        SortKey("name", descending=False),
        SortKey("upload_datetime", descending=True),
    ]
    assert parse_sort("", KNOWN) == []


def refusal(sort_by: str) -> dict:
    with pytest.raises(ApiError) as refused:
        parse_sort(sort_by, KNOWN)
    assert refused.value.status == 422
    return refused.value.body["message"]["KeyError"]


def test_the_field_is_judged_before_the_operator_and_the_first_bad_key_answers():
    assert refusal("name") == "Unexpected field 'ame'"
    assert refusal("*name") == "Unknown order operator '*'"
    assert refusal("+name,-nope,*name") == "Unexpected field 'nope'"


def test_a_key_applies_its_direction_to_every_expression_of_its_field():
    class Expression:
        def asc(self):
            return "asc"

        def desc(self):
            return "desc"

    assert SortKey("json.a.b", descending=True).applied([Expression(), Expression()]) == ["desc", "desc"]
    assert SortKey("name", descending=False).applied([Expression()]) == ["asc"]


@pytest.mark.parametrize(
    ("page", "total", "expected"),
    [
        (1, 0, '{"has_next":false,"has_prev":false,"items":[],"page":1,"pages":0,"per_page":2,"total":0}'),
        (
            1,
            5,
            '{"has_next":true,"has_prev":false,"items":[{"a":1},{"b":"é"}],"next_num":2,"page":1,"pages":3,"per_page":2,"total":5}',
        ),
        (
            2,
            5,
            '{"has_next":true,"has_prev":true,"items":[{"a":1},{"b":"é"}],"next_num":3,"page":2,"pages":3,"per_page":2,"prev_num":1,"total":5}',
        ),
        (
            3,
            5,
            '{"has_next":false,"has_prev":true,"items":[{"a":1},{"b":"é"}],"page":3,"pages":3,"per_page":2,"prev_num":2,"total":5}',
        ),
    ],
)
def test_the_pagination_object_is_written_in_the_originals_order_around_the_items(page, total, expected):
    items = [] if total == 0 else ['{"a":1}', '{"b":"é"}']
    assert page_document(items, total, PageRequest(page=page, per_page=2)) == expected
