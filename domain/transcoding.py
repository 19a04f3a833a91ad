"""The event store's JSON transcoder: the library's `JSONTranscoder`, byte for byte, faster.

The library writes an event's state with the standard `json` encoder, calling back into Python
for every UUID, datetime and actor, and reads it with `json`'s decoder and an object hook on
every dict. orjson writes and reads the same JSON several times faster (a result's document:
2 µs against 20) but does some things its own way: UUIDs and datetimes in its own forms instead
of the `{"_type_": ..., "_data_": ...}` envelopes of our transcodings, enums by value, NaN as
null, floats below 1e-4 as `1e-5` or `0.00001` where Python writes `1e-05`, and it decodes
integers beyond 64 bits as floats.

Encoding: the state's own values are prepared in Python (envelopes, floats); a dict or list in it
(a result's document) is written by orjson alone and kept only when that text provably is what
`json` writes: `marshal` accepts it (only exact built-in types: no UUID, enum, datetime or
subclass), it has no null (None, or a NaN orjson wrote so) and no float of the kinds that differ.
Otherwise it is walked value by value, and whatever orjson
cannot write as `json` does (subclasses of the JSON types, keys that are not strings, NaN, huge
integers, lone surrogates, deep nesting) goes to the library's encoder, which does exactly what
it did before. Decoding: orjson reads the text; the envelopes are revived where they are; text
orjson reads differently goes to the library's decoder. Stored bytes do not change; old logs
decode; tests/test_transcoding.py pins both on a corpus of every event type.
"""

from __future__ import annotations

import json
import marshal
import math
import operator
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoding

# Values orjson writes as `json` does (ensure_ascii=False, compact): exact types only, since
# `json` writes subclasses (enums, numpy floats) as their base type and orjson may not.
_PLAIN = frozenset({str, int, bool, type(None)})
_STRING = frozenset({str})
_BUILTIN = (str, int, float, list, tuple, dict)

# orjson and Python write a float alike in this range, where Python uses no exponent (both the
# shortest digits that read back); below it they differ. From 1e16 on both wrote exponents alike
# (`1e+16`) in the checks made, but only this range is relied on: outside it Python's text is used.
_FIXED_FLOATS = (1e-4, 1e16)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789+", b"000000000-")
_EXPONENT = b"0e-0"  # in orjson's text with digits as 0 and + as -: `1e-5`, `2.5e+16`
_BELOW_FIXED = b"0.0000"  # in orjson's text: `0.00001`

# orjson decodes an integer of more than 64 bits (19 digits and more) as a float.
_LONG_NUMBER = b"0" * 19


def json_text(value: dict | list, sort_keys: bool = False) -> bytes | None:
    """orjson's text of a dict or list when it provably is what `json` writes for it (compact,
    ensure_ascii=False, and with `sort_keys` the keys sorted: orjson sorts them by their UTF-8
    bytes, which is the order of their code points, `json`'s); None when it may not be."""
    try:
        marshal.dumps(value)  # refuses all but exact built-in types: UUIDs, enums, subclasses...
        text = orjson.dumps(
            value, option=orjson.OPT_SORT_KEYS if sort_keys else None
        )  # ...and orjson what `json` cannot
    except (ValueError, orjson.JSONEncodeError):
        return None
    if b"null" in text or _BELOW_FIXED in text or _EXPONENT in text.translate(_DIGITS_AS_ZERO):
        return None  # None or NaN (orjson writes both as null); a float Python writes otherwise
    return text


def loads(text: str | bytes) -> Any:
    """What `json.loads` returns for the JSON text, read by orjson where it reads the same (no
    number of 19 digits or more, no NaN or Infinity, no lone surrogate)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text  # orjson refuses surrogates
    if _LONG_NUMBER not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class _Unusual(Exception):
    """The value needs the library's own encoder or decoder."""


class FastJSONTranscoder(JSONTranscoder):
    def __init__(self) -> None:
        super().__init__()
        # The transcodings `json` reaches: it writes subclasses of its own types as those types.
        self._enveloped: dict[type, Transcoding] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if not issubclass(transcoding.type, _BUILTIN):
            self._enveloped[transcoding.type] = transcoding

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._state(obj) if type(obj) is dict else self._prepared(obj))
        except (_Unusual, orjson.JSONEncodeError, RecursionError):
            return super().encode(obj)

    def decode(self, data: bytes) -> Any:
        value = loads(data)  # as the library's decoder reads it, before its object hook
        if type(value) is dict and data.count(b'"_type_":') == self._envelopes_at_top(value):
            return self._revived_at_top(value)
        return self._revived(value)

    # -- encoding ----------------------------------------------------------------------------------

    def _state(self, state: dict) -> dict:
        """An event's state: its values prepared, its dicts and lists written by orjson if it can."""
        if not set(map(type, state)) <= _STRING:
            raise _Unusual  # `json` turns number, bool and None keys into strings
        prepared = {}
        for key, value in state.items():
            kind = type(value)
            if kind in _PLAIN:
                prepared[key] = value
            elif (kind is dict or kind is list) and not set(
                map(type, value.values() if kind is dict else value)
            ) <= _PLAIN:
                prepared[key] = self._document(value)
            else:
                prepared[key] = self._prepared(value)
        return prepared

    def _document(self, value: dict | list) -> Any:
        """orjson's text of the value, if it is `json`'s; else the value prepared."""
        text = json_text(value)
        return self._prepared(value) if text is None else orjson.Fragment(text)

    def _prepared(self, value: Any) -> Any:
        """The value with only what orjson writes as `json` does: JSON types, envelopes and
        fragments. A container that needs no change is the value itself, not a copy."""
        kind = type(value)
        if kind is dict:
            if not set(map(type, value)) <= _STRING:
                raise _Unusual
            if set(map(type, value.values())) <= _PLAIN:
                return value
            copy = None
            for key, item in value.items():
                if type(item) not in _PLAIN:
                    prepared = self._prepared(item)
                    if prepared is not item:
                        if copy is None:
                            copy = dict(value)
                        copy[key] = prepared
            return value if copy is None else copy
        if kind is list or kind is tuple:
            if set(map(type, value)) <= _PLAIN:
                return value
            items = [item if type(item) in _PLAIN else self._prepared(item) for item in value]
            return value if all(map(operator.is_, items, value)) else items
        if kind is float:
            if _FIXED_FLOATS[0] <= abs(value) < _FIXED_FLOATS[1] or value == 0.0:
                return value
            if not math.isfinite(value):
                raise _Unusual  # NaN and infinities: `json` writes them (not JSON); orjson writes null
            return orjson.Fragment(float.__repr__(value))
        if kind in _PLAIN:
            return value
        transcoding = self._enveloped.get(kind)
        if transcoding is None:
            raise _Unusual  # a subclass of a JSON type, or a type without transcoding (the library raises)
        data = transcoding.encode(value)
        return {"_type_": transcoding.name, "_data_": data if type(data) in _PLAIN else self._prepared(data)}

    # -- decoding ----------------------------------------------------------------------------------

    @staticmethod
    def _envelopes_at_top(state: dict) -> int:
        """Objects with a `_type_` key: the state, its values and the items of its lists. When they
        are all the text has, nothing deeper needs reviving."""
        found = "_type_" in state
        for value in state.values():
            kind = type(value)
            if kind is dict:
                found += "_type_" in value
            elif kind is list:
                found += sum(type(item) is dict and "_type_" in item for item in value)
        return found

    def _revived_at_top(self, state: dict) -> Any:
        for key, value in state.items():
            kind = type(value)
            if kind is dict and len(value) == 2:
                state[key] = self._decode_obj(value)
            elif kind is list:
                for index, item in enumerate(value):
                    if type(item) is dict and len(item) == 2:
                        value[index] = self._decode_obj(item)
        return self._decode_obj(state) if len(state) == 2 else state

    def _revived(self, value: Any) -> Any:
        """The decoded value with its envelopes turned back into objects, innermost first (as the
        library's object hook sees them)."""
        kind = type(value)
        if kind is dict:
            if not set(map(type, value.values())) <= _PLAIN:
                for key, item in value.items():
                    if type(item) is dict or type(item) is list:
                        value[key] = self._revived(item)
            return self._decode_obj(value) if len(value) == 2 else value
        if kind is list:
            if not set(map(type, value)) <= _PLAIN:
                for index, item in enumerate(value):
                    if type(item) is dict or type(item) is list:
                        value[index] = self._revived(item)
        return value
