"""Each result's tags as served, kept with it by the projector (read_model/tag_lists.py): the
same text the tables give, through uploads, replaced tags, renamed and deleted tags; equal to a
replay's, and to read-store migration 20's backfill."""

from __future__ import annotations

from sqlalchemy import delete, literal_column, select, update

from read_model import read_store, tag_lists
from read_model.migrations import migrate, schema_migrations
from read_model.tables import results
from tests.support import catalog
from tests.support.api import assert_equal_to_a_replay, read_store_url


def _kept_and_from_tables(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        from_tables = literal_column(tag_lists.FROM_TABLES[conn.dialect.name])
        return [tuple(row) for row in conn.execute(select(results.c.id, results.c.tags_text, from_tables))]


def test_kept_tag_lists_equal_the_tables_a_replay_and_a_backfill(api, callers, request, tmp_path):
    user, admin = callers.user, callers.admin
    where = catalog.setup(api, user, admin)
    # Names whose byte order is not their order by case or accents: "B" < "a" < "z" < "é".
    tags = [catalog.tag(api, user, name=name)["id"] for name in (catalog.unique("z"), "é" + catalog.unique(""))]
    tags += [
        catalog.tag(api, user, name=catalog.unique("a"))["id"],
        catalog.tag(api, user, name=catalog.unique("B"))["id"],
    ]
    ids = [
        catalog.upload(api, user, where, {"n": n}, tags=chosen)["id"]
        for n, chosen in enumerate([tags, tags[:2], [], tags[2:]])
    ]
    assert api.put(f"/results/{ids[2]}/tags", user, json={"tags_ids": [tags[3], tags[0]]}).status_code == 204
    assert api.put(f"/tags/{tags[0]}", admin, json={"name": catalog.unique("0")}).status_code == 204
    assert api.delete(f"/tags/{tags[2]}", admin).status_code == 204
    shown = {id: api.get(f"/results/{id}").json["tags"] for id in ids}
    assert [tag["id"] for tag in shown[ids[0]]] == [tags[0], tags[3], tags[1]]  # "0…" < "B…" < "é…"

    engine = read_store.connect(read_store_url(api, request, tmp_path))
    assert_equal_to_a_replay(api, request, engine)
    kept = _kept_and_from_tables(engine)
    assert all(text == from_tables for _id, text, from_tables in kept)
    assert [[tag["id"] for tag in shown[id]] for id in ids[1:]] == [tags[:2], [tags[0], tags[3]], [tags[3]]]

    # A store from before migration 20: its backfill writes what the projector wrote.
    with engine.begin() as conn:
        conn.execute(update(results).values(tags_text=None))
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 20))
    assert migrate(engine) == [20]
    assert _kept_and_from_tables(engine) == kept
    engine.dispose()
