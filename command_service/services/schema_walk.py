"""Every object inside a JSON Schema document, with where it sits, without recursion.

The checks at submission look at all objects, not only at those in the positions a dialect
reads as subschemas: a `$ref` may point anywhere in the document (into `$defs` of a later
draft, into an unknown keyword), and the validator then applies whatever it finds there. The
price is that data shaped like a keyword (an `examples` entry holding `{"$ref": ...}`) is
checked like one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import urldefrag, urljoin

Path = tuple[str | int, ...]

# jsonschema's own rule for `ValidationError.json_path`, so paths read the same in every answer.
_PLAIN_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")


def objects(document: object, id_of: Callable[[dict], object]) -> Iterator[tuple[Path, str, dict]]:
    """(path, base URI, object) for every JSON object in `document`, parents before children.

    `id_of` is the dialect's identifier rule (`$id`, or `id` before draft 6); an object's
    identifier, resolved against its parent's base URI, is the base URI of the object and of
    what it holds, as for the validator's resolver."""
    pending: list[tuple[Path, str, object]] = [((), "", document)]
    while pending:
        path, base, value = pending.pop()
        if isinstance(value, dict):
            identifier = id_of(value)
            if isinstance(identifier, str):
                try:
                    base = urldefrag(urljoin(base, identifier))[0]
                except ValueError:
                    pass  # not a URI (`http://[::1`): identifies nothing, and the base stays
            yield path, base, value
            pending.extend((path + (key,), base, item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((path + (index,), base, item) for index, item in reversed(list(enumerate(value))))


def json_path(path: Path) -> str:
    text = "$"
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            text += f"['{escaped}']"
    return text
