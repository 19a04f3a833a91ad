"""References inside benchmark schemas: resolved within the schema, never retrieved.

jsonschema's default registry fetches a `$ref` it does not know over HTTP or from a file
(`http://...`, `file:///...`), on every upload and without a timeout: a benchmark author could
make the server send requests where they like, and read local JSON files through its answers.
Validators here get `REGISTRY`, which retrieves nothing (jsonschema adds the published
meta-schemas, which stay resolvable). `check` runs when a schema is submitted, so a reference
that cannot work is refused then, by name, rather than on every upload.
"""

from __future__ import annotations

from collections.abc import Iterator

import referencing
import referencing.jsonschema
from jsonschema.protocols import Validator
from jsonschema_specifications import REGISTRY as META_SCHEMAS

from command_service.services import schema_walk

REGISTRY: referencing.Registry = referencing.Registry()  # no `retrieve`: unknown URIs stay unknown

_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


class ReferenceRefused(Exception):
    """`str(e)` is the message for the 422 answer; `path` is where the reference sits."""

    def __init__(self, message: str, path: schema_walk.Path):
        super().__init__(message)
        self.path = path


def specification(validator_class: type[Validator]) -> referencing.Specification:
    return referencing.jsonschema.specification_with(validator_class.ID_OF(validator_class.META_SCHEMA))


def _identifier(spec: referencing.Specification, node: dict) -> str | None:
    """The dialect's rule for an object's identifier, kept off objects whose `$id`/`id` is no
    string (a `properties` map with a property named `id`): referencing calls `.startswith` on it."""
    if not all(isinstance(node.get(key, ""), str) for key in ("$id", "id")):
        return None
    return spec.id_of(node)


def references(schema: dict, spec: referencing.Specification) -> Iterator[tuple[schema_walk.Path, str, str]]:
    """(path, base URI, reference) for every reference keyword with a string value."""
    for path, base, node in schema_walk.objects(schema, lambda node: _identifier(spec, node)):
        for keyword in _KEYWORDS:
            if isinstance(node.get(keyword), str):
                yield path + (keyword,), base, node[keyword]


def check(schema: dict, validator_class: type[Validator]) -> None:
    """Every reference resolves within `schema` (or to a published meta-schema) and points at a
    schema: an object or a boolean. Raises `ReferenceRefused` for the first that does not."""
    spec = specification(validator_class)
    found = list(references(schema, spec))
    if not found:
        return
    root = spec.create_resource(schema)
    registry = META_SCHEMAS.combine(REGISTRY).with_resource(_identifier(spec, schema) or "", root)
    try:
        registry = registry.crawl()  # finds embedded resources (`$id`) and anchors, once
    except Exception:
        # Crawling reads subschema positions by the dialect's rules; a document it cannot
        # read (e.g. `$defs: 5`) cannot have its references resolved either.
        path, _, ref = found[0]
        raise ReferenceRefused(f"The reference {ref!r} does not resolve within the schema", path) from None
    for path, base, ref in found:
        try:
            target = registry.resolver(base_uri=base).lookup(ref).contents
        except Exception:
            # Unresolvable, or a JSON pointer through a string or past a list's end: any
            # failure to resolve is the reference's.
            raise ReferenceRefused(
                f"The reference {ref!r} does not resolve within the schema (other documents are never retrieved)",
                path,
            ) from None
        if not isinstance(target, (dict, bool)):
            raise ReferenceRefused(f"The reference {ref!r} does not point to a schema", path)
