"""Uploaders and actors are found through b-trees of the identity's beginning (read_model/tables.py
`identity_index`, read-store migration 22): a PostgreSQL b-tree of the whole text refused a long
`sub`, and a hash index walked every entry of the same uploader on each insert (0.3 ms per
upload at 10^6 results of one uploader). A lookup (`identity_is`) must name the index's very
expression, or the database scans the table."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from read_model.mail_tables import mail_items
from read_model.migrations import migrate, schema_migrations
from read_model.tables import claims, events_index, identity_is, results
from tests.support import store_indexes

LOOKUPS = {
    "results_by_uploader": results.c.uploader_sub,
    "claims_by_uploader": claims.c.uploader_sub,
    "events_index_actor": events_index.c.actor_sub,
    "mail_items_uploader": mail_items.c.uploader_sub,
}
# The indexes as they were before migration 22.
OLD_INDEXES = {
    "results_by_uploader": "CREATE INDEX results_by_uploader ON results {using} (uploader_sub)",
    "claims_by_uploader": "CREATE INDEX claims_by_uploader ON claims {using} (uploader_sub)",
    "events_index_actor": "CREATE INDEX events_index_actor ON events_index {using} (actor_sub)",
    "mail_items_uploader": "CREATE INDEX mail_items_uploader ON mail_items (uploader_sub, uploader_iss)",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty read store."""
    with store_indexes.empty_store(request.param, tmp_path) as engine:
        yield engine


@pytest.mark.parametrize("index", LOOKUPS)
def test_a_lookup_by_identity_reads_its_index(store, index):
    assert index in store_indexes.plan(
        store, select(LOOKUPS[index].table).where(identity_is(LOOKUPS[index], "é" * 3000))
    )


def test_a_store_from_before_gets_the_indexes_a_new_one_has(store):
    new = store_indexes.definitions(store)
    using = "USING hash" if store.dialect.name == "postgresql" else ""
    with store.begin() as conn:
        for name, definition in OLD_INDEXES.items():
            conn.exec_driver_sql(f"DROP INDEX {name}")
            conn.exec_driver_sql(definition.format(using=using))
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 22))
    assert "substr" not in store_indexes.definitions(store)["results_by_uploader"]

    assert migrate(store) == [22]
    assert store_indexes.definitions(store) == new
    if store.dialect.name == "postgresql":  # SQLite's are b-trees of the columns
        assert all("USING btree (substr(" in new[name] for name in OLD_INDEXES)
        assert not [name for name in new if name.endswith("_by_uploader_versions")]  # no mirror of an expression
