"""Tags: created, updated, deleted (dropped from every result)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from domain.tag import Tag
from http_api import documents
from read_model import tag_lists
from read_model.tables import result_tags, results, tags


def _columns(id, name, description) -> dict:
    return {"name": name, "description": description, "doc": documents.dumps(documents.tag(id, name, description))}


def _tagged_with(tag_id: str):
    return results.c.id.in_(select(result_tags.c.result_id).where(result_tags.c.tag_id == tag_id))


def tag_created(conn: Connection, event: Tag.Created) -> None:
    conn.execute(
        tags.insert().values(
            id=str(event.originator_id), **_columns(event.originator_id, event.name, event.description)
        )
    )


def tag_updated(conn: Connection, event: Tag.Updated) -> None:
    id = str(event.originator_id)
    row = conn.execute(tags.select().where(tags.c.id == id)).first()
    if row is None:
        return
    description = row.description if event.description is None else event.description
    conn.execute(tags.update().where(tags.c.id == id).values(**_columns(id, event.name, description)))
    tag_lists.refresh(conn, _tagged_with(id))


def tag_deleted(conn: Connection, event: Tag.Deleted) -> None:
    id = str(event.originator_id)
    conn.execute(tags.delete().where(tags.c.id == id))
    # Its results' lists are written again while their rows still name it (a subquery, not a list
    # of ids: a tag may have more results than a statement takes parameters); the tag is gone.
    tag_lists.refresh(conn, _tagged_with(id))
    conn.execute(result_tags.delete().where(result_tags.c.tag_id == id))


HANDLERS = {Tag.Created: tag_created, Tag.Updated: tag_updated, Tag.Deleted: tag_deleted}
