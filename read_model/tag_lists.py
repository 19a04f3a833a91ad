"""A result's tags as the API lists them, kept with the result (`results.tags_text`): the tags'
documents in byte order of their names (then of their ids), as one JSON array's text.

Kept so that rendering a result reads one column instead of looking its tags up (0.7-1 ms of
PostgreSQL's CPU for a page of 100 at 10^5 results, a tenth of such a request). The projector
writes it with the result (`text_of`), and again from the tables (`refresh`) when the result's
tags are replaced, or a tag it has is updated or deleted. Read-store migration 20 filled it for
the results already there; a row version from before that holds NULL, and is rendered from the
tables as of its position (`FROM_TABLES`, query_service/views/results.py).
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import literal_column
from sqlalchemy.engine import Connection

from read_model.tables import results

# The array from `result_tags` and `tags`, for the row of `results` at hand. SQLite (3.40) has no
# ORDER BY inside an aggregate; as a window function over the whole frame its order is the window's.
_DOCUMENTS = {
    "postgresql": 'SELECT string_agg(tags.doc, \',\' ORDER BY tags.name COLLATE "C", tags.id COLLATE "C")'
    " FROM result_tags JOIN tags ON tags.id = result_tags.tag_id WHERE result_tags.result_id = results.id",
    "sqlite": "SELECT group_concat(tags.doc, ',') OVER"
    " (ORDER BY tags.name, tags.id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    " FROM result_tags JOIN tags ON tags.id = result_tags.tag_id WHERE result_tags.result_id = results.id"
    " LIMIT 1",
}
FROM_TABLES = {dialect: f"'[' || coalesce(({documents}), '') || ']'" for dialect, documents in _DOCUMENTS.items()}


def text_of(tags: Iterable[tuple[str, str, str]]) -> str:
    """The array of (name, id, document) tags: what FROM_TABLES gives for them (Python compares
    strings by code point, which is the byte order of their UTF-8)."""
    return "[" + ",".join(document for _name, _id, document in sorted(tags)) + "]"


def refresh(conn: Connection, condition) -> None:
    """The kept arrays of the results `condition` selects, written again from the tables."""
    conn.execute(results.update().where(condition).values(tags_text=literal_column(FROM_TABLES[conn.dialect.name])))
