"""Recorded answers of the original EOSC Performance backend (tests/fixtures/legacy/*.json).

A recording holds the fixture it was made on, the issuer its users belong to, its callers
(role -> sub, and whether the token carries the admin entitlement) and the exchanges
(caller role, path, query, status, body). Items repeat across answers (a result appears in its
GET, in listings and in searches), so each object with an `id` is stored once under
`documents` and referred to as {"$document": id} wherever it appears unchanged: packing
and unpacking are exact inverses on the parsed JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"
REFERENCE = "$document"


def _same(a, b) -> bool:
    """Equal as JSON texts: Python's 1 == 1.0 == True must not merge different documents."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def pack(exchanges: list[dict]) -> tuple[dict, list[dict]]:
    documents: dict[str, object] = {}

    def shrink(value):
        if isinstance(value, list):
            return [shrink(item) for item in value]
        if not isinstance(value, dict):
            return value
        inner = {key: shrink(item) for key, item in value.items()}
        id = inner.get("id")
        if isinstance(id, str):
            stored = documents.setdefault(id, inner)
            if _same(stored, inner):
                return {REFERENCE: id}
        return inner

    packed = [{**exchange, "body": shrink(exchange["body"])} for exchange in exchanges]
    return documents, packed


def unpack(documents: dict, value, unpacked: dict | None = None):
    """`value` with its references replaced; each document is unpacked once and shared by its
    references (`unpacked` keeps them), so treat the result as read only."""
    unpacked = {} if unpacked is None else unpacked
    if isinstance(value, list):
        return [unpack(documents, item, unpacked) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {REFERENCE}:
        id = value[REFERENCE]
        if id not in unpacked:
            unpacked[id] = unpack(documents, documents[id], unpacked)
        return unpacked[id]
    return {key: unpack(documents, item, unpacked) for key, item in value.items()}


def write(path: Path, header: dict, exchanges: list[dict]) -> None:
    documents, packed = pack(exchanges)
    lines = [json.dumps({**header, "documents": documents}, ensure_ascii=False, separators=(",", ":"))]
    lines += [json.dumps(exchange, ensure_ascii=False, separators=(",", ":")) for exchange in packed]
    path.write_text("\n".join(lines) + "\n")


def read(path: Path) -> tuple[dict, list[dict]]:
    """(header without documents, exchanges with bodies unpacked). One JSON value per line:
    the header, then one exchange per line (so a re-recording diffs line by line)."""
    header, *rest = path.read_text().splitlines()
    head = json.loads(header)
    documents = head.pop("documents")
    exchanges, unpacked = [], {}
    for line in rest:
        exchange = json.loads(line)
        exchange["body"] = unpack(documents, exchange["body"], unpacked)
        exchanges.append(exchange)
    return head, exchanges
