"""Results: uploaded, tags replaced, claimed (hidden), restored, deleted (hidden for good)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from domain.result import Result
from eosc_perf import documents
from projections.read_model.rows import is_registered, uploader_columns, utc
from projections.tables import benchmarks, flavors, result_tags, results, sites, tags


def _replace_tags(conn: Connection, result_id: str, tags_ids) -> None:
    wanted = {str(tag_id) for tag_id in tags_ids}
    existing = set(conn.execute(select(tags.c.id).where(tags.c.id.in_(wanted))).scalars()) if wanted else set()
    conn.execute(result_tags.delete().where(result_tags.c.result_id == result_id))
    if existing:
        conn.execute(result_tags.insert(), [{"result_id": result_id, "tag_id": tag_id} for tag_id in sorted(existing)])


def result_uploaded(conn: Connection, event: Result.Uploaded) -> None:
    benchmark = conn.execute(select(benchmarks.c.name).where(benchmarks.c.id == str(event.benchmark_id))).first()
    flavor = conn.execute(select(flavors.c.name).where(flavors.c.id == str(event.flavor_id))).first()
    site = conn.execute(select(sites.c.name, sites.c.address).where(sites.c.id == str(event.site_id))).first()
    if not (benchmark and flavor and site and is_registered(conn, event.actor)):
        return  # something it references was removed first: the cascade took it
    id = str(event.originator_id)
    conn.execute(
        results.insert().values(
            id=id,
            benchmark_id=str(event.benchmark_id),
            site_id=str(event.site_id),
            flavor_id=str(event.flavor_id),
            benchmark_name=benchmark.name,
            site_name=site.name,
            site_address=site.address,
            flavor_name=flavor.name,
            execution_datetime=utc(event.execution_datetime),
            upload_datetime=utc(event.timestamp),
            json=event.json,
            json_text=documents.dumps(event.json),
            hidden=False,
            deleted=False,
            **uploader_columns(event.actor),
        )
    )
    _replace_tags(conn, id, event.tags_ids)


def result_tags_replaced(conn: Connection, event: Result.TagsReplaced) -> None:
    id = str(event.originator_id)
    if conn.execute(select(results.c.seq).where(results.c.id == id)).first():
        _replace_tags(conn, id, event.tags_ids)


def _set_hidden(result_id, **flags) -> object:
    return results.update().where(results.c.id == str(result_id)).values(**flags)


def result_claimed(conn: Connection, event: Result.Claimed) -> None:
    conn.execute(_set_hidden(event.originator_id, hidden=True))


def result_restored(conn: Connection, event: Result.Restored) -> None:
    conn.execute(_set_hidden(event.originator_id, hidden=False))


def result_deleted(conn: Connection, event: Result.Deleted) -> None:
    conn.execute(_set_hidden(event.originator_id, hidden=True, deleted=True))


HANDLERS = {
    Result.Uploaded: result_uploaded,
    Result.TagsReplaced: result_tags_replaced,
    Result.Claimed: result_claimed,
    Result.Restored: result_restored,
    Result.Deleted: result_deleted,
}
