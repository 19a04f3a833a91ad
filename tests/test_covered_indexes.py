"""Read-store migration 23 drops the indexes of the results that an as-of index starts with
(read_model/migrations.py COVERED_RESULT_INDEXES): each cost one more entry per result written.
Listings, counts and the projector's look-up of a benchmark's results walk the as-of indexes
instead, and a store from before ends with the indexes of a new one."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from read_model.migrations import COVERED_RESULT_INDEXES, migrate, schema_migrations
from read_model.tables import results
from tests.support import covered_indexes, store_indexes

BENCHMARK = "6d3e9f4e-1c1b-4a55-9a0e-0c6bde0c8d11"
# The reads that walked a dropped index, and the index each walks now.
WALKS = {
    "results_listing_as_of": select(results.c.seq)
    .where(results.c.hidden.is_(False))
    .order_by(results.c.execution_datetime, results.c.seq)
    .limit(100),
    "results_benchmark_as_of": select(results.c.seq)
    .where(results.c.benchmark_id == BENCHMARK, results.c.hidden.is_(False))
    .order_by(results.c.execution_datetime.desc(), results.c.seq.desc())
    .limit(100),
}
# The projector's look-up of a benchmark's results (read_model/benchmarks.py, cascades.py).
BENCHMARK_RESULTS = select(func.count()).select_from(results).where(results.c.benchmark_id == BENCHMARK)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty read store."""
    with store_indexes.empty_store(request.param, tmp_path) as engine:
        yield engine


def test_a_new_store_has_none_of_the_covered_indexes(store):
    assert not set(COVERED_RESULT_INDEXES) & set(store_indexes.definitions(store))


@pytest.mark.parametrize("index", WALKS)
def test_listings_walk_the_as_of_indexes_without_sorting(store, index):
    plan = store_indexes.plan(store, WALKS[index])
    assert index in plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan


def test_the_projector_finds_a_benchmarks_results_by_its_as_of_index(store):
    assert "results_benchmark_as_of" in store_indexes.plan(store, BENCHMARK_RESULTS)


def test_a_store_from_before_loses_the_covered_indexes_and_keeps_their_versions_mirrors(store):
    new = store_indexes.definitions(store)
    with store.begin() as conn:
        restored_indexes = covered_indexes.restore(conn)
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 23))
    assert len(set(COVERED_RESULT_INDEXES) & set(store_indexes.definitions(store))) == restored_indexes

    assert migrate(store) == [23]
    assert store_indexes.definitions(store) == new
    # The versions table keeps the mirrors made from them: as-of listings walk those.
    mirrors = {name for name in new if name.startswith("results_") and name.endswith("_versions")}
    listing = "results_listing_versions" if store.dialect.name == "postgresql" else "results_visible_execution_versions"
    assert {listing, "results_benchmark_versions"} <= mirrors
