"""The limits of a JSON body as a whole (docs/security.md, "Input limits"): how deep it nests,
how many keys and numbers it holds, how long a key is. Checked on every body before its fields
are, so no part of a request makes an event the projectors, the relay or the mailer cannot take.

Also refused: an object whose keys are exactly `_type_` and `_data_`. The event store writes
its own values (UUIDs, times, identities) in that shape and decodes every such object back as
one of them: a document holding it would be stored, and then could not be read back.
"""

from __future__ import annotations

from typing import Any

from configuration.settings import Limits
from http_api import errors

RESERVED_SHAPE = frozenset({"_type_", "_data_"})


def too_deep(limits: Limits, path: str = "$") -> errors.ApiError:
    return _refused(f"Nested deeper than {limits.json_depth} levels", path)


def _refused(text: str, path: str) -> errors.ApiError:
    """The shape of a result document's schema violations: an error and where it is."""
    return errors.detailed(422, "errors", {"error": text, "path": path})


def _path(trail: tuple | None) -> str:
    """`trail` is (parent trail, key or index): built only for an error, never per value."""
    steps = []
    while trail is not None:
        trail, step = trail
        steps.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return "$" + "".join(reversed(steps))


def check(document: Any, limits: Limits) -> None:
    """Raises a 422 for the first limit the document exceeds. Iterative: any depth is safe."""
    if not isinstance(document, (dict, list)):
        return
    keys = numbers = 0
    pending: list[tuple[Any, int, tuple | None]] = [(document, 1, None)]
    while pending:
        value, depth, trail = pending.pop()
        if isinstance(value, dict):
            if value.keys() == RESERVED_SHAPE:
                raise _refused(
                    "An object of exactly the keys _type_ and _data_ cannot be stored "
                    "(the event store reserves that shape)",
                    _path(trail),
                )
            keys += len(value)
            if keys > limits.json_keys:
                raise _refused(f"More than {limits.json_keys} keys", _path(trail))
            members = value.items()
        else:
            members = enumerate(value)
        for key, item in members:
            if isinstance(key, str) and len(key) > limits.key_length:
                raise _refused(f"A key is longer than {limits.key_length} characters: {key[:40]!r}...", _path(trail))
            if isinstance(item, (dict, list)):
                if depth == limits.json_depth:
                    raise too_deep(limits, _path((trail, key)))
                pending.append((item, depth + 1, (trail, key)))
            elif isinstance(item, (int, float)) and not isinstance(item, bool):
                numbers += 1
                if numbers > limits.json_numbers:
                    raise _refused(f"More than {limits.json_numbers} numbers", _path((trail, key)))
