"""Results: uploaded, tags replaced, claimed (hidden), restored, deleted (hidden for good).

Uploads come in runs (a bulk seed, a replay, a busy minute): `results_uploaded` folds a run of
consecutive Uploaded events with one lookup per referenced table and one multi-row insert per
table, instead of eight statements per event. The count of visible results kept in `counters`
moves in the same transaction as the rows (`counts.add_visible`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from sqlalchemy import Text, bindparam, func, literal, null, select, union_all
from sqlalchemy.engine import Connection

from domain.result import Result
from domain.user import User
from http_api import documents
from read_model import counts, numbers, row_versions, tag_lists
from read_model.rows import id_text, insert_rows, stored_time, utc
from read_model.tables import benchmarks, flavors, result_tags, results, sites, tags, users


def _existing_tags(conn: Connection, wanted: set[str]) -> set[str]:
    return set(conn.execute(select(tags.c.id).where(tags.c.id.in_(wanted))).scalars()) if wanted else set()


def _replace_tags(conn: Connection, result_id: str, tags_ids) -> None:
    wanted = {str(tag_id) for tag_id in tags_ids}
    existing = _existing_tags(conn, wanted)
    conn.execute(result_tags.delete().where(result_tags.c.result_id == result_id))
    if existing:
        # Stamped with the projector's clock by insert_rows: a replay runs no insert trigger here.
        insert_rows(conn, result_tags, ("result_id", "tag_id"), [(result_id, tag_id) for tag_id in sorted(existing)])
    tag_lists.refresh(conn, results.c.id == result_id)


@dataclass
class _Referenced:
    """What a run of uploads refers to, as the read tables hold it now."""

    benchmark_names: dict[str, str] = field(default_factory=dict)
    flavor_names: dict[str, str] = field(default_factory=dict)
    sites: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, address)
    registered: set[str] = field(default_factory=set)  # ids of registered uploaders
    tags: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> (name, id, document)


_NO_TEXT = null().cast(Text)


def _kind(name: str, table, *columns):
    return select(literal(name), table.c.id, *columns).where(table.c.id.in_(bindparam(name, expanding=True)))


# Built once: SQLAlchemy builds nothing per run, and the text differs only by how many ids each
# part names (one of each for a single upload), so psycopg prepares it once per connection.
_REFERENCED = union_all(
    _kind("benchmark", benchmarks, benchmarks.c.name, _NO_TEXT),
    _kind("flavor", flavors, flavors.c.name, _NO_TEXT),
    _kind("site", sites, sites.c.name, sites.c.address),
    _kind("user", users, _NO_TEXT, _NO_TEXT),
    _kind("tag", tags, tags.c.name, tags.c.doc),
)


# PostgreSQL: the same as text, each kind's ids one array: SQLAlchemy renders an expanding IN
# anew for every run, which cost about a tenth of the projector's CPU per batch (issue 16).
_REFERENCED_BY_ARRAYS = " UNION ALL ".join(
    f"SELECT '{kind}', id, {name}, {third} FROM {table} WHERE id = ANY(%({kind})s)"
    for kind, table, name, third in (
        ("benchmark", "benchmarks", "name", "NULL::text"),
        ("flavor", "flavors", "name", "NULL::text"),
        ("site", "sites", "name", "address"),
        ("user", "users", "NULL::text", "NULL::text"),
        ("tag", "tags", "name", "doc"),
    )
)


class UploadRows(NamedTuple):
    """What an upload's rows take from its event alone: ids as text, times as stored, the
    document's text and numbers. Pure work, so a replay has it done in worker processes
    (projections/replay_workers.py); the projector makes it itself for the uploads it follows."""

    id: str
    benchmark_id: str
    site_id: str
    flavor_id: str
    tag_ids: tuple[str, ...]  # sorted, each once
    sub: str
    iss: str
    execution_datetime: object  # as `rows.stored_time` stores it
    upload_datetime: object
    json_text: str
    number_paths: tuple[str, ...]  # read_model/numbers.py `paths_and_values`
    number_values: tuple[float, ...]


def upload_rows(event: Result.Uploaded, postgres: bool) -> UploadRows:
    return UploadRows(
        id_text(event.originator_id),
        id_text(event.benchmark_id),
        id_text(event.site_id),
        id_text(event.flavor_id),
        tuple(sorted({id_text(tag_id) for tag_id in event.tags_ids})),
        event.actor.sub,
        event.actor.iss,
        stored_time(utc(event.execution_datetime), postgres),
        stored_time(utc(event.timestamp), postgres),
        documents.dumps(event.json),
        *numbers.paths_and_values(event.json),
    )


class PreparedUpload(NamedTuple):
    """An upload as a replay's worker process hands it over, instead of the decoded event: its
    events index row (read_model/events_index.py `index_row`) and its rows."""

    index_row: tuple
    rows: UploadRows


def _uploader_ids(uploads: Sequence[UploadRows]) -> dict[tuple[str, str], str]:
    """(sub, iss) -> the user's id, once per uploader: a run has few, and each id is a hash."""
    uploaders = {(upload.sub, upload.iss) for upload in uploads}
    return {(sub, iss): str(User.create_id(sub, iss)) for sub, iss in uploaders}


def _referenced(conn: Connection, uploads: Sequence[UploadRows], uploader_ids: dict) -> _Referenced:
    """Benchmarks, flavors, sites, uploaders (an upload by a removed user is gone) and tags,
    in one statement: a round trip each was most of one upload's projection on PostgreSQL."""
    wanted = {
        "benchmark": {upload.benchmark_id for upload in uploads},
        "flavor": {upload.flavor_id for upload in uploads},
        "site": {upload.site_id for upload in uploads},
        "user": set(uploader_ids.values()),
        "tag": {tag_id for upload in uploads for tag_id in upload.tag_ids},
    }
    found = _Referenced()
    ids = {kind: list(ids) for kind, ids in wanted.items()}
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(_REFERENCED_BY_ARRAYS, ids)
    else:
        rows = conn.execute(_REFERENCED, ids)
    for kind, id, name, address in rows:
        if kind == "benchmark":
            found.benchmark_names[id] = name
        elif kind == "flavor":
            found.flavor_names[id] = name
        elif kind == "site":
            found.sites[id] = (name, address)
        elif kind == "user":
            found.registered.add(id)
        else:
            found.tags[id] = (name, id, address)  # a tag's document where a site has its address
    return found


def results_uploaded(conn: Connection, events: Sequence[Result.Uploaded]) -> None:
    """A run of uploads, in order."""
    postgres = conn.dialect.name == "postgresql"
    _store(conn, [upload_rows(event, postgres) for event in events])


def prepared_uploaded(conn: Connection, prepared: Sequence[PreparedUpload]) -> None:
    """A run of uploads a replay's workers prepared, in order."""
    _store(conn, [upload.rows for upload in prepared])


def _store(conn: Connection, uploads: Sequence[UploadRows]) -> None:
    """Each upload is kept only when its benchmark, flavor, site and uploader are still there (a
    removal projected first took it with the cascade)."""
    uploader_ids = _uploader_ids(uploads)
    referenced = _referenced(conn, uploads, uploader_ids)
    rows, tag_rows, added = [], [], []
    for upload in uploads:
        benchmark_name = referenced.benchmark_names.get(upload.benchmark_id)
        flavor_name = referenced.flavor_names.get(upload.flavor_id)
        site = referenced.sites.get(upload.site_id)
        uploader = uploader_ids[upload.sub, upload.iss]
        if benchmark_name is None or flavor_name is None or site is None or uploader not in referenced.registered:
            continue
        site_name, site_address = site
        tag_ids = [tag_id for tag_id in upload.tag_ids if tag_id in referenced.tags]
        added.append((upload.benchmark_id, False, upload.number_paths, upload.number_values))  # hidden: False
        rows.append(
            (
                upload.id,
                upload.benchmark_id,
                upload.site_id,
                upload.flavor_id,
                benchmark_name,
                site_name,
                site_address,
                flavor_name,
                upload.execution_datetime,
                upload.upload_datetime,
                upload.json_text,  # the same document: jsonb parses it; SQLite keeps the text
                upload.json_text,
                tag_lists.text_of(referenced.tags[tag_id] for tag_id in tag_ids),
                False,
                False,
                upload.sub,
                upload.iss,
            )
        )
        # A new result has no tag rows yet: removals delete a result's tag rows with it.
        tag_rows += [(upload.id, tag_id) for tag_id in tag_ids]
    if rows:
        seqs = _new_seqs(conn, len(rows))  # in event order: `seq` follows the log
        insert_rows(conn, results, _RESULT_COLUMNS, [(seq, *row) for seq, row in zip(seqs, rows)])
        counts.add_visible(conn, Counter(tuple(row[at] for at in _NARROWING_AT) for row in rows))
        numbers.results_added(conn, [(seq, *numbered) for seq, numbered in zip(seqs, added)])
    if tag_rows:
        insert_rows(conn, result_tags, ("result_id", "tag_id"), tag_rows)


def _new_seqs(conn: Connection, count: int) -> list[int]:
    """The storage positions (`seq`) of `count` new results, ascending, taken before they are
    inserted: their numbers' rows need them, and asking for them by id afterwards cost a
    replay's PostgreSQL a lookup per result and its process the statement of 10,000 ids.
    PostgreSQL: the next `count` values of the column's sequence, taken by moving it past them
    at once (a value at a time cost 3 µs each). Nothing else can take values from it meanwhile:
    only the projector inserts results, holding its position row's lock
    (projections/projector.py), and an insert that took one anyway would collide on the key, not
    pass unnoticed. A rolled-back batch leaves a gap, as an insert would. SQLite gives a row
    without a rowid the largest plus one, and so does this (its one writer holds the lock)."""
    if conn.dialect.name == "postgresql":
        schema = row_versions.table_schema(conn)
        table = f'"{schema}".results' if schema else "results"
        first = conn.exec_driver_sql(_TAKE_SEQS, (count, table)).scalar_one() - count + 1
    else:
        first = (conn.execute(select(func.max(results.c.seq))).scalar() or 0) + 1
    return list(range(first, first + count))


# The sequence moved on by `count` (%s) values; returns the last of them.
_TAKE_SEQS = (
    "SELECT setval(sequence, nextval(sequence) + %s - 1)"
    " FROM (SELECT pg_get_serial_sequence(%s, 'seq')::regclass AS sequence) AS named"
)


_RESULT_COLUMNS = (
    "seq",
    "id",
    "benchmark_id",
    "site_id",
    "flavor_id",
    "benchmark_name",
    "site_name",
    "site_address",
    "flavor_name",
    "execution_datetime",
    "upload_datetime",
    "json",
    "json_text",
    "tags_text",
    "hidden",
    "deleted",
    "uploader_sub",
    "uploader_iss",
)


# Where a row of `_RESULT_COLUMNS` holds the benchmark, site and flavor its counts go by.
_NARROWING_AT = tuple(_RESULT_COLUMNS.index(column) - 1 for column in counts.NARROWING)  # rows without `seq`


def result_uploaded(conn: Connection, event: Result.Uploaded) -> None:
    results_uploaded(conn, [event])


def one_prepared_uploaded(conn: Connection, prepared: PreparedUpload) -> None:
    prepared_uploaded(conn, [prepared])


def result_tags_replaced(conn: Connection, event: Result.TagsReplaced) -> None:
    id = str(event.originator_id)
    if conn.execute(select(results.c.seq).where(results.c.id == id)).first():
        _replace_tags(conn, id, event.tags_ids)


def _flag(conn: Connection, result_id, condition, **flags) -> tuple | None:
    """Sets `flags` on the result where `condition` holds; then its (benchmark_id, site_id,
    flavor_id), which its counts go by, else None (unknown, or the condition did not hold)."""
    changed = results.update().where(results.c.id == str(result_id), condition).values(**flags)
    row = conn.execute(changed.returning(*(results.c[column] for column in counts.NARROWING))).first()
    return tuple(row) if row else None


def _visibility_changed(conn: Connection, result_id, hidden: bool, key: tuple | None) -> None:
    """The count of visible results and the numbers' copy of `hidden` follow a change."""
    if key is not None:
        counts.add_visible(conn, Counter({key: -1 if hidden else 1}))
        numbers.visibility_changed(conn, str(result_id), hidden)


def result_claimed(conn: Connection, event: Result.Claimed) -> None:
    hidden_now = _flag(conn, event.originator_id, results.c.hidden.is_(False), hidden=True)
    _visibility_changed(conn, event.originator_id, True, hidden_now)


def result_restored(conn: Connection, event: Result.Restored) -> None:
    shown_now = _flag(conn, event.originator_id, results.c.hidden.is_(True), hidden=False)
    _visibility_changed(conn, event.originator_id, False, shown_now)


def result_deleted(conn: Connection, event: Result.Deleted) -> None:
    hidden_now = _flag(conn, event.originator_id, results.c.hidden.is_(False), hidden=True, deleted=True)
    if hidden_now is not None:
        _visibility_changed(conn, event.originator_id, True, hidden_now)
    else:  # hidden already (claimed): mark it deleted
        _flag(conn, event.originator_id, results.c.deleted.is_(False), hidden=True, deleted=True)


HANDLERS = {
    Result.Uploaded: result_uploaded,
    PreparedUpload: one_prepared_uploaded,
    Result.TagsReplaced: result_tags_replaced,
    Result.Claimed: result_claimed,
    Result.Restored: result_restored,
    Result.Deleted: result_deleted,
}

# Runs of consecutive events of these types are handed over together (projections/projector.py).
BULK_HANDLERS = {Result.Uploaded: results_uploaded, PreparedUpload: prepared_uploaded}
