"""A total order of JSON values as bytes: PostgreSQL's jsonb ordering (contract §4.2), for the
SQLite function `eosc_json_order(json_text)` that `+json` sorts use there.

null < string < number < boolean < array < object; strings byte-wise; numbers numerically;
false < true; arrays by length, then element by element; objects by number of pairs, then
pair by pair in jsonb's storage order (shorter keys first, then byte-wise). Each encoding is
prefix-free, so comparing the bytes compares the values.

Stored documents may nest as deep as any earlier version accepted. Neither the reading of the
text nor the encoding recurses: a deep document sorts like any other, where a RecursionError
inside the SQLite function would fail the query (and be reported as an outage, 503).
"""

from __future__ import annotations

import json.decoder
import math
import re
import struct

_TYPE = {"null": b"\x00", "string": b"\x01", "number": b"\x02", "boolean": b"\x03", "array": b"\x10", "object": b"\x11"}


def _text_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _number_bytes(number) -> bytes:
    try:
        value = float(number) + 0.0  # -0.0 == 0.0
    except OverflowError:
        value = math.inf if number > 0 else -math.inf
    bits = struct.unpack(">Q", struct.pack(">d", value))[0]
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return bits.to_bytes(8, "big")


def _storage_order(key: str) -> tuple:
    encoded = key.encode("utf-8", "surrogatepass")
    return len(encoded), encoded


def _scalar_bytes(value) -> bytes:
    if value is None:
        return _TYPE["null"]
    if isinstance(value, str):
        return _TYPE["string"] + _text_bytes(value)
    if isinstance(value, bool):
        return _TYPE["boolean"] + (b"\x01" if value else b"\x00")
    return _TYPE["number"] + _number_bytes(value)


def order_bytes(value) -> bytes:
    """The encoding, written in one pass over the value in document order (an explicit stack:
    what remains to write, last first, each a value or bytes already known)."""
    out = bytearray()
    pending: list = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, bytes):
            out += item
        elif isinstance(item, list):
            out += _TYPE["array"] + len(item).to_bytes(4, "big")
            pending.extend(reversed(item))
        elif isinstance(item, dict):
            pairs = sorted(item.items(), key=lambda pair: _storage_order(pair[0]))
            out += _TYPE["object"] + len(pairs).to_bytes(4, "big")
            for key, member in reversed(pairs):
                pending += (member, _text_bytes(key))
        else:
            out += _scalar_bytes(item)
    return bytes(out)


# -- reading JSON text without recursion (json.loads recurses once per level) --------------------
_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}


def _skip(text: str, position: int) -> int:
    return _SPACE.match(text, position).end()


def _key(text: str, position: int) -> tuple[str, int]:
    """A member's key and its colon; returns the key and where its value starts."""
    if text[position] != '"':
        raise ValueError(f"expected a key at {position}")
    key, position = json.decoder.scanstring(text, position + 1)
    position = _skip(text, position)
    if text[position] != ":":
        raise ValueError(f"expected ':' at {position}")
    return key, _skip(text, position + 1)


def _scalar(text: str, position: int):
    """The string, number or literal starting at `position`, and where it ends."""
    if text[position] == '"':
        return json.decoder.scanstring(text, position + 1)
    number = _NUMBER.match(text, position)
    if number:
        written = number.group()
        return (float(written) if number.group(1) or number.group(2) else int(written)), number.end()
    for word, value in _LITERALS.items():
        if text.startswith(word, position):
            return value, position + len(word)
    raise ValueError(f"unexpected {text[position]!r} at {position}")


def loads(text: str):
    """What json.loads returns for the JSON text (duplicate keys: the last one counts), at any
    depth. `open_` holds the containers not yet closed, innermost last, each with the key its
    next value goes to (None in an array)."""
    open_: list[tuple[dict | list, str | None]] = []
    position = _skip(text, 0)
    try:
        while True:
            if text[position] in "[{":
                container: dict | list = {} if text[position] == "{" else []
                closing = "}" if isinstance(container, dict) else "]"
                position = _skip(text, position + 1)
                if text[position] != closing:
                    key = None
                    if isinstance(container, dict):
                        key, position = _key(text, position)
                    open_.append((container, key))
                    continue  # on to its first value
                value, position = container, position + 1
            else:
                value, position = _scalar(text, position)
            while True:  # `value` is complete: it goes into the innermost open container
                if not open_:
                    if _skip(text, position) != len(text):
                        raise ValueError(f"extra data at {position}")
                    return value
                container, key = open_[-1]
                if isinstance(container, dict):
                    container[key] = value
                else:
                    container.append(value)
                position = _skip(text, position)
                if text[position] == ",":
                    position = _skip(text, position + 1)
                    if isinstance(container, dict):
                        key, position = _key(text, position)
                        open_[-1] = (container, key)
                    break  # on to the next value
                if text[position] != ("}" if isinstance(container, dict) else "]"):
                    raise ValueError(f"expected ',' or the container's end at {position}")
                open_.pop()
                value, position = container, position + 1
    except IndexError:
        raise ValueError("unexpected end of JSON text") from None


def sql_order_bytes(text):
    """The SQLite function `eosc_json_order(json_text)`."""
    return None if text is None else order_bytes(loads(text))


ORDER_FUNCTION = "eosc_json_order"
