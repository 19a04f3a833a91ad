"""The event store's transcoder (domain/transcoding.py) stores exactly the bytes the library's JSON
transcoder stored, for every event type and for odd values, and reads back what it read."""

from __future__ import annotations

import enum
import importlib
import json
import math
import pkgutil
import typing
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import orjson
import pytest
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import JSONTranscoder, Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

import domain
from domain import envelope
from domain.actor import Actor
from domain.event_store import EventStore
from domain.transcoding import FastJSONTranscoder, loads
from http_api import documents
from read_model import events_index

STORE = EventStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
LIBRARY = JSONTranscoder()
STORE.register_transcodings(LIBRARY)
FAST = STORE.mapper.transcoder

ODD_STRINGS = [
    "",
    "plain",
    "é ü ß",
    "日本語",
    "😀 \U0001f680",
    'quote " backslash \\ slash /',
    "\x00\x01\x1f\x7f",
    "\b\f\n\r\t",
    "\u2028\u2029",
    "1e-5",
    "0.00001",
    "null",
    "8f14e45f-ceea-467f-a0e6-7a4f3c2b1d0e",
    '{"_type_":"uuid_hex","_data_":"x"}',
    "_type_",
]
ODD_FLOATS = [
    0.0,
    -0.0,
    0.1,
    1.0,
    -1.5,
    410.982,
    1e15,
    1e16,
    9999999999999998.0,
    1.5e17,
    1e300,
    1.7976931348623157e308,
    1e-4,
    9.999999999999999e-05,
    1e-5,
    1.5e-5,
    1e-9,
    5e-324,
    -2.5e-7,
    10.00001,
    123456789.123456789,
]
ODD_INTS = [0, -1, 1, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 2**64, -(2**63) - 1, 10**30, 123456789012345678]


def document(variant: int) -> dict:
    """A result document of the kinds users upload: nested, unicode, numbers of every range."""
    floats = ODD_FLOATS[variant % len(ODD_FLOATS) :] + ODD_FLOATS[: variant % len(ODD_FLOATS)]
    return {
        "test": ODD_STRINGS[variant % len(ODD_STRINGS)],
        "result": {"score": floats[0], "all": floats, "ints": ODD_INTS[: 1 + variant % len(ODD_INTS)]},
        "machine": {
            "cpu": {
                "flags": ["sse", "avx2"] * (variant + 1),
                "hz": [2294608000, 0],
                "null": None,
                "ok": True,
                "no": False,
                "empty": {},
                "none": [],
            }
        },
        "deep": [[[{"level": 3, "value": ODD_STRINGS[-variant % len(ODD_STRINGS)]}]]],
    }


def value_for(hint, variant: int):
    """A value of the annotated type; `variant` picks among odd ones."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, __import__("types").UnionType):
        choices = [arg for arg in args if arg is not type(None)]
        return None if variant % 3 == 2 else value_for(choices[variant % len(choices)], variant)
    if origin is list:
        return [value_for(args[0], variant + index) for index in range(variant % 4)] if args else [variant]
    if origin is dict:
        return (
            {
                str(value_for(args[0], variant + index)) if args else str(index): value_for(args[1], variant + index)
                if args
                else index
                for index in range(variant % 3)
            }
            if args
            else document(variant)
        )
    if hint is dict:
        return document(variant)
    if hint is list:
        return [ODD_STRINGS[variant % len(ODD_STRINGS)], variant, document(variant)["result"]]
    if hint is UUID:
        return uuid4() if variant % 2 else uuid5(NAMESPACE_URL, f"/odd/{variant}")
    if hint is datetime:
        moment = datetime(2021, 5, 9, 0, 35, 15, variant * 137 % 1_000_000)
        return moment if variant % 2 else moment.replace(tzinfo=timezone(timedelta(hours=variant % 5)))
    if hint is Actor:
        return Actor(ODD_STRINGS[variant % len(ODD_STRINGS)] or "sub", "http://127.0.0.1:5801")
    if hint is str:
        return ODD_STRINGS[variant % len(ODD_STRINGS)]
    if hint is bool:
        return bool(variant % 2)
    if hint is int:
        return ODD_INTS[variant % len(ODD_INTS)]
    if hint is float:
        return ODD_FLOATS[variant % len(ODD_FLOATS)]
    if hint is Decimal:
        return Decimal("3.14159") if variant % 2 else Decimal("-1E+30")
    raise AssertionError(f"no value for {hint!r}: teach value_for this type")


def event_classes() -> list[type]:
    found = {}
    for info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"domain.{info.name}")
        for aggregate in vars(module).values():
            if (
                isinstance(aggregate, type)
                and issubclass(aggregate, Aggregate)
                and aggregate.__module__ == module.__name__
            ):
                for name in dir(aggregate):
                    event = getattr(aggregate, name)
                    if (
                        isinstance(event, type)
                        and issubclass(event, DomainEvent)
                        and event.__qualname__.startswith(aggregate.__qualname__ + ".")
                    ):
                        found[f"{event.__module__}:{event.__qualname__}"] = event
    return [found[name] for name in sorted(found)]


def events(cls: type, variants: int = 6) -> list:
    hints = {
        name: hint
        for name, hint in typing.get_type_hints(cls).items()
        if typing.get_origin(hint) is not typing.ClassVar and name not in ("originator_id", "originator_version")
    }
    made = []
    for variant in range(variants):
        event = object.__new__(cls)
        object.__setattr__(
            event,
            "__dict__",
            {
                "originator_id": uuid4(),
                "originator_version": variant + 1,
                **{name: value_for(hint, variant) for name, hint in hints.items()},
            },
        )
        made.append(event)
    return made


def same(a, b) -> bool:
    """Equal and of the same types all the way down (1 is not 1.0 nor True)."""
    return repr(a) == repr(b)


def assert_stored_alike(state) -> None:
    try:
        expected = LIBRARY.encode(state)
    except Exception as refused:  # the fast one refuses it the same way
        with pytest.raises(type(refused)):
            FAST.encode(state)
        return
    assert FAST.encode(state) == expected
    try:
        read = LIBRARY.decode(expected)
    except Exception as refused:  # e.g. a plain dict that looks like an envelope of no transcoding
        with pytest.raises(type(refused)):
            FAST.decode(expected)
        return
    assert same(FAST.decode(expected), read)


def test_there_are_events_of_every_aggregate():
    classes = event_classes()
    assert len(classes) > 50 and {"Result", "User", "Claim", "LegacyImport", "Benchmark"} <= {
        cls.__qualname__.split(".")[0] for cls in classes
    }


@pytest.mark.parametrize("cls", event_classes(), ids=lambda cls: f"{cls.__module__}:{cls.__qualname__}")
def test_every_event_type_is_stored_byte_for_byte_as_the_library_stored_it(cls):
    # The transcoders alone: the store's mapper also seals personal data (tests/test_personal_data.py).
    library_mapper, fast_mapper = Mapper(LIBRARY), Mapper(FAST)
    for event in events(cls):
        expected = library_mapper.to_stored_event(event)
        stored = fast_mapper.to_stored_event(event)
        assert stored == expected, f"{cls.__qualname__}: {stored.state!r} != {expected.state!r}"
        # An old stored log reads back into the same event, through the store's mapper too.
        assert same(vars(STORE.mapper.to_domain_event(expected)), vars(library_mapper.to_domain_event(expected)))


def events_index_reference(event) -> str:
    """The events index's JSON of an event's fields as the standard encoder writes it, from
    their plain form (envelope.plain), which the fast path must equal."""
    fields = {name: value for name, value in vars(event).items() if name not in events_index.NOT_DATA}
    plain = envelope.plain(fields, events_index._api_scalar)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("cls", event_classes(), ids=lambda cls: f"{cls.__module__}:{cls.__qualname__}")
def test_the_events_index_writes_every_event_type_as_the_standard_encoder_does(cls):
    for event in events(cls, variants=12):
        assert events_index.data_of(event) == events_index_reference(event)


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    SMALL = 1


class Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        *ODD_STRINGS,
        *ODD_FLOATS,
        *ODD_INTS,
        math.nan,
        math.inf,
        -math.inf,
        {"nested": {"id": uuid4(), "at": datetime.now(timezone.utc), "amount": Decimal("1.10")}},
        [uuid4(), [datetime(2020, 1, 1)], (1, 2.5e-7, "x")],
        (1, 2),
        {"tuple": (1, "a")},
        {1: "int key"},
        {None: 1, True: 2, 1.5: 3},
        {"enum": Colour.RED},
        {"registered?": Size.SMALL},
        {"name": Name("subclass")},
        Name("top"),
        {"nan": [1, math.nan]},
        {"inf": {"x": math.inf}},
        {"surrogate": "\ud800"},
        {"long": [2**64]},
        {"fragment": orjson.Fragment(b"1")},
        {"deep": json.loads("[" * 300 + "]" * 300)},
        {"set": {1, 2}},
        {"dt": {"_type_": "not", "_data_": 1}},
        {"_type_": "actor", "_data_": {"sub": "s", "iss": "i"}},
    ],
    ids=repr,
)
def test_odd_values_are_stored_as_the_library_stored_them(value):
    assert_stored_alike({"timestamp": datetime.now(timezone.utc), "value": value})
    assert_stored_alike({"document": {"inside": value}, "list": [value]})


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text()
    | st.uuids()
    | st.datetimes()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_any_value_is_stored_as_the_library_stored_it(value):
    assert_stored_alike({"timestamp": datetime(2026, 1, 1, tzinfo=timezone.utc), "value": value, "doc": {"v": value}})


# Documents of the kinds orjson writes as `json` does (no null, floats of the common range): the
# events index's fast path takes these, and the odd ones (JSON_VALUES) go to the standard encoder.
COMMON_DOCUMENTS = st.recursive(
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(min_value=1e-4, max_value=1e15)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)
TIME_ZONES = st.none() | st.builds(lambda hours: timezone(timedelta(hours=hours)), st.integers(-12, 12))
# Moments with a time in UTC, as every one the commands take (http_api/fields.py refuses
# 0001-01-01T00:00+01:00, which has none): a day from either end of the calendar.
MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=TIME_ZONES)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, COMMON_DOCUMENTS, st.lists(st.uuids(), max_size=3), MOMENTS)
def test_the_events_index_writes_any_value_as_the_standard_encoder_does(value, document, ids, moment):
    event = SimpleNamespace(originator_id=uuid4(), ids=ids, at=moment, document=document, text="é\n", number=7)
    assert events_index.data_of(event) == events_index_reference(event)
    event.value, event.doc = value, {"v": value}  # odd values: the standard encoder's
    assert events_index.data_of(event) == events_index_reference(event)


DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(st.text(max_size=5), DOCUMENTS, max_size=6) | st.lists(DOCUMENTS, max_size=5))
def test_a_document_is_written_as_json_writes_it_with_sorted_keys(document):
    """documents.dumps takes orjson's text when it is the same: keys of any plane, escapes, floats."""
    expected = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert documents.dumps(document) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":2}',
        "123456789012345678",
        "1234567890123456789",
        "-9223372036854775809",
        "18446744073709551616",
        "123456789012345678901234567890",
        "1E400",
        "1e-400",
        "NaN",
        "-Infinity",
        '"\\ud800"',
        "-0",
        "-0.0",
        "[1e5, 2E-3]",
        '"\\u0000 é \\u00e9 😀"',
        "0.1000000000000000055511151231257827",
        "3.141592653589793238462643383279",
        '{"x": [1, 2.5, {"y": null}]}',
        "[" * 2000 + "]" * 2000,
        "",
        "[1,]",
        " {} ",
        '"\ud800 lone"',
    ],
)
def test_loads_reads_what_json_loads_reads(text):
    try:
        expected = json.loads(text)
    except (ValueError, RecursionError) as refused:
        with pytest.raises(type(refused)):
            loads(text)
        return
    assert same(loads(text), expected)
    if "\ud800" not in text:  # a lone surrogate has no UTF-8 bytes
        assert same(loads(text.encode()), expected)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(min_value=-(2**80), max_value=2**80))
def test_loads_reads_numbers_as_json_loads_does(number):
    text = json.dumps({"n": number, "l": [number]})
    assert same(loads(text), json.loads(text))


def test_the_store_uses_the_fast_transcoder():
    assert type(STORE.mapper.transcoder) is FastJSONTranscoder
