"""Read-store schema, created and evolved by numbered migrations (`eosc-perf init`).

Each migration runs once, in order, in its own transaction; on PostgreSQL an advisory lock
lets concurrent `init` runs take turns. New schema changes are appended, never edited.
"""

from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import BigInteger, Column, MetaData, Table, Text, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from read_model import mail_tables, position_feed
from read_model.tables import metadata, results

log = logging.getLogger(__name__)

_bookkeeping = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _bookkeeping,
    Column("version", BigInteger, primary_key=True),
    Column("description", Text, nullable=False),
)
ADVISORY_LOCK = 4242_0001


# Indexes of the first read tables that migration 23 drops: made here, as they were, so that
# a new store goes through the states an old one went through (and its row versions mirror them
# under the same names, migration 13).
FIRST_RESULT_INDEXES = (
    "CREATE INDEX IF NOT EXISTS results_visible_execution ON results (hidden, execution_datetime)",
    "CREATE INDEX IF NOT EXISTS results_benchmark ON results (benchmark_id, hidden, execution_datetime)",
)


def _read_tables(conn: Connection) -> None:
    metadata.create_all(conn)
    for statement in FIRST_RESULT_INDEXES:
        conn.execute(text(statement))


def _mail_tables(conn: Connection) -> None:
    mail_tables.metadata.create_all(conn)  # users' e-mails, uploaders, the outbox


# PostgreSQL indexes for the contract's result queries: trigram GIN indexes serve
# `:search` substring terms (LIKE '%term%'); the (hidden, execution_datetime, seq) b-tree
# served the default listing order, so a page is read from the index, not sorted (since
# migration 23 the as-of index of migration 15, which starts with the same columns, does).
POSTGRES_LISTING_INDEXES = (  # dropped by migration 23
    "CREATE INDEX IF NOT EXISTS results_listing ON results (hidden, execution_datetime, seq)",
    "CREATE INDEX IF NOT EXISTS results_benchmark_listing ON results (benchmark_id, hidden, execution_datetime, seq)",
)
POSTGRES_RESULT_INDEXES = (
    # In public: the indexes below name its operator class there, also when a replay migrates a
    # scratch schema first on its search path (projections/replay.py) in a database without it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
    *POSTGRES_LISTING_INDEXES,
    "CREATE INDEX IF NOT EXISTS results_benchmark_name_trgm ON results USING gin (benchmark_name public.gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS results_site_name_trgm ON results USING gin (site_name public.gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS results_site_address_trgm ON results USING gin (site_address public.gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS results_flavor_name_trgm ON results USING gin (flavor_name public.gin_trgm_ops)",
)


def _postgres_result_indexes(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for statement in POSTGRES_RESULT_INDEXES:
            conn.execute(text(statement))


def _counters(conn: Connection) -> None:
    """The projector's counts (read_model/counts.py), started from the rows."""
    from read_model.counts import VISIBLE_RESULTS
    from read_model.tables import counters, results

    counters.create(conn, checkfirst=True)
    visible = conn.execute(select(func.count()).select_from(results).where(results.c.hidden.is_(False))).scalar_one()
    conn.execute(counters.delete().where(counters.c.name == VISIBLE_RESULTS))
    conn.execute(counters.insert().values(name=VISIBLE_RESULTS, value=visible))


def _visible_counts_of_items(conn: Connection) -> None:
    """The totals of listings and searches narrowed to benchmarks, sites or flavors alone
    (read_model/counts.py `visible_of`), started from the rows."""
    from read_model import counts

    counts.start_visible_of(conn)


def _search_indexes(conn: Connection) -> None:
    """(site_id, hidden) and (flavor_id, hidden): a search counts its matching visible results
    with an index-only scan (query_service/views/results.py)."""
    for statement in (
        "CREATE INDEX IF NOT EXISTS results_site_visible ON results (site_id, hidden)",
        "CREATE INDEX IF NOT EXISTS results_flavor_visible ON results (flavor_id, hidden)",
    ):
        conn.execute(text(statement))


def _drop_trigram_indexes(conn: Connection) -> None:
    """Searches match terms against the few catalog rows and select results by id (migration 5),
    so the trigram indexes of migration 3 serve no query; each upload paid for four GIN updates."""
    if conn.dialect.name == "postgresql":
        for column in ("benchmark_name", "site_name", "site_address", "flavor_name"):
            conn.execute(text(f"DROP INDEX IF EXISTS results_{column}_trgm"))


def _result_numbers(conn: Connection) -> None:
    """The numbers of result documents by path, for number filters and sorts through an index
    (read_model/numbers.py), filled from the documents already stored. (On a new
    store migration 1 created the tables, and there are no results yet.)"""
    from read_model import numbers
    from read_model.tables import benchmark_results, result_number_paths, result_number_values, result_numbers

    metadata.create_all(conn, tables=[result_numbers, result_number_paths, result_number_values, benchmark_results])
    numbers.backfill(conn)


def _mail_give_up(conn: Connection) -> None:
    """Mails refused for good are given up, not retried (projections/mail/delivery.py), and a
    removed user's items are found by uploader. (A new store got both from migration 2.)"""
    if "given_up_at" not in {column["name"] for column in inspect(conn).get_columns("mail_outbox")}:
        kind = "TIMESTAMP WITHOUT TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
        conn.execute(text(f"ALTER TABLE mail_outbox ADD COLUMN given_up_at {kind}"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS mail_items_uploader ON mail_items (uploader_sub, uploader_iss)"))


# Indexes of text columns before migration 9: b-trees on the whole text (PostgreSQL refuses an
# entry of more than 2704 bytes), replaced by the bounded ones of read_model/tables.py.
UNBOUNDED_INDEXES = (
    "users_identity",
    "users_email",
    "benchmarks_status_image",
    "sites_status_name",
    "flavors_site_status_name",
    "tags_name",
    "results_uploader",
    "claims_uploader",
)


def _bounded_indexes(conn: Connection) -> None:
    """Every index takes any text a user may store (tables.py `_text_index`), and
    `result_numbers` keeps only paths of at most numbers.MAX_PATH_BYTES (the query service
    reads longer ones from the documents). (On a new store migration 1 made the new indexes.)"""
    from read_model import numbers
    from read_model.tables import benchmarks, claims, flavors, results, sites, tags, users

    for name in UNBOUNDED_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    _create_indexes(conn, users, benchmarks, sites, flavors, tags, results, claims)
    numbers.forget_long_paths(conn)


def _create_indexes(conn: Connection, *tables) -> None:
    """The tables' indexes that are missing (of this database: tables.py `identity_index`)."""
    for table in tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _parked_events(conn: Connection) -> None:
    """Where consumers record the events they pass over (projections/parking.py)."""
    from read_model.tables import parked_events

    parked_events.create(conn, checkfirst=True)


def _position_notices(conn: Connection) -> None:
    """PostgreSQL announces every change of `positions` itself (read_model/position_feed.py), so
    the query workers know the read model's position without asking for it on each request,
    whatever changed it: a projector, a replay, an operator's TRUNCATE. The schema is in the
    notice because scratch stores (replays) have `positions` of their own in the same database."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(
        text(
            f"""
            CREATE OR REPLACE FUNCTION announce_position() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'TRUNCATE' THEN
                    PERFORM pg_notify('{position_feed.CHANNEL}', TG_TABLE_SCHEMA || ' ' || '{position_feed.RESET}');
                ELSIF TG_OP = 'DELETE' THEN
                    PERFORM pg_notify('{position_feed.CHANNEL}', TG_TABLE_SCHEMA || ' ' || OLD.name || ' 0');
                ELSE
                    PERFORM pg_notify(
                        '{position_feed.CHANNEL}', TG_TABLE_SCHEMA || ' ' || NEW.name || ' ' || NEW.position
                    );
                END IF;
                RETURN NULL;
            END $$
            """
        )
    )
    conn.execute(
        text(
            "CREATE TRIGGER announce_position AFTER INSERT OR UPDATE OR DELETE ON positions"
            " FOR EACH ROW EXECUTE FUNCTION announce_position()"
        )
    )
    conn.execute(
        text(
            "CREATE TRIGGER announce_positions_reset AFTER TRUNCATE ON positions"
            " FOR EACH STATEMENT EXECUTE FUNCTION announce_position()"
        )
    )


def _events_index(conn: Connection) -> None:
    """Every event in one indexed table (read_model/events_index.py). A migration cannot read the
    event log: the index of a store migrated from an earlier version holds the events projected
    after it, until the read store is rebuilt from the log (`eosc-perf verify` shows the gap)."""
    from read_model.tables import events_index

    events_index.create(conn, checkfirst=True)


def _row_versions(conn: Connection) -> None:
    """Every read table keeps its rows' superseded versions (read_model/row_versions.py), for
    answers as of a past position. The state before this migration is not known: reads as of an
    older position are refused until the read store is rebuilt from the log."""
    from read_model import row_versions

    row_versions.install(conn)


# The result listings' indexes (all results; one benchmark's) with each row's `valid_from`: an
# as-of page and count walk them and skip the rows stamped after their position without reading
# the rows (query_service/as_of_pages.py); SQLite keeps `valid_from` after the documents (added
# by ALTER TABLE), often on overflow pages.
AS_OF_LISTING_INDEXES = {
    "sqlite": (
        "CREATE INDEX IF NOT EXISTS results_listing_as_of ON results (hidden, execution_datetime, seq, valid_from)",
        "CREATE INDEX IF NOT EXISTS results_benchmark_as_of"
        " ON results (benchmark_id, hidden, execution_datetime, seq, valid_from)",
    ),
    "postgresql": (
        "CREATE INDEX IF NOT EXISTS results_listing_as_of"
        " ON results (hidden, execution_datetime, seq) INCLUDE (valid_from)",
        "CREATE INDEX IF NOT EXISTS results_benchmark_as_of"
        " ON results (benchmark_id, hidden, execution_datetime, seq) INCLUDE (valid_from)",
    ),
}


def _row_version_indexes(conn: Connection) -> None:
    """The versions tables get their tables' indexes, and the result listings indexes with the
    rows' positions: an as-of listing walks them as a current one walks its table's
    (read_model/row_versions.py, query_service/as_of_pages.py)."""
    from read_model import row_versions

    for statement in AS_OF_LISTING_INDEXES[conn.dialect.name]:
        conn.execute(text(statement))
    row_versions.mirror_indexes(conn)


# Listings and counts narrowed by site or flavor (a site's or flavor's results, `:search` by
# site name or address or flavor name) as of N, as migration 15's indexes serve the unnarrowed
# and one benchmark's: walked with each row's `valid_from` at hand instead of reading every
# matching row. Each replaces migration 5's (site_id, hidden) or (flavor_id, hidden), which it
# starts with: a search still counts from the index alone, handlers still find a site's or
# flavor's results by it, and a result insert writes as many index entries as before. (The
# bare (site_id) and (flavor_id) stay: their entries are in `seq` order, a search's default.)
AS_OF_NARROWED_INDEXES = {
    "sqlite": (
        "CREATE INDEX IF NOT EXISTS results_site_as_of"
        " ON results (site_id, hidden, execution_datetime, seq, valid_from)",
        "CREATE INDEX IF NOT EXISTS results_flavor_as_of"
        " ON results (flavor_id, hidden, execution_datetime, seq, valid_from)",
    ),
    "postgresql": (
        "CREATE INDEX IF NOT EXISTS results_site_as_of"
        " ON results (site_id, hidden, execution_datetime, seq) INCLUDE (valid_from)",
        "CREATE INDEX IF NOT EXISTS results_flavor_as_of"
        " ON results (flavor_id, hidden, execution_datetime, seq) INCLUDE (valid_from)",
    ),
}


def _narrowed_as_of_indexes(conn: Connection) -> None:
    """The site's and flavor's listing indexes with the rows' positions, in place of (site_id,
    hidden) and (flavor_id, hidden) and their versions' mirrors; the new ones are mirrored."""
    from read_model import row_versions

    for statement in AS_OF_NARROWED_INDEXES[conn.dialect.name]:
        conn.execute(text(statement))
    for name in ("results_site_visible", "results_flavor_visible"):
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        conn.execute(text(f"DROP INDEX IF EXISTS {name}{row_versions.SUFFIX}"))
    row_versions.mirror_indexes(conn)


def _numbers_as_of_index(conn: Connection) -> None:
    """The number index (migration 7) with each number's `valid_from`: a number filter's count
    and a numeric sort's page as of N walk it and skip the numbers stamped after N without
    reading them (query_service/as_of_pages.py), as migration 15's indexes serve the result
    listings. It replaces (benchmark_id, path, hidden, value, seq) and that one's versions'
    mirror: an upload writes as many index entries as before, and a current filter or sort walks
    it as it walked that one. The new one is mirrored."""
    from read_model import row_versions

    key = "benchmark_id, path, hidden, value, seq"
    columns = f"({key}) INCLUDE (valid_from)" if conn.dialect.name == "postgresql" else f"({key}, valid_from)"
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS result_numbers_as_of ON result_numbers {columns}"))
    conn.execute(text("DROP INDEX IF EXISTS result_numbers_range"))
    conn.execute(text(f"DROP INDEX IF EXISTS result_numbers_range{row_versions.SUFFIX}"))
    row_versions.mirror_indexes(conn)


def _number_values(conn: Connection) -> None:
    """Per benchmark, path and number, the visible results with that number there: the total
    of a listing narrowed by one number filter is summed from it (query_service/json_numbers.py)
    instead of counting the filter's matches. Counted from `result_numbers` (on a store from
    before migration 7, that migration filled both)."""
    from read_model import numbers
    from read_model.tables import result_number_values

    result_number_values.create(conn, checkfirst=True)
    numbers.count_values(conn)


def _result_tags_text(conn: Connection) -> None:
    """Each result's tags as served, kept with it (read_model/tag_lists.py), and filled for the
    results there. Through the row versions' triggers: as of a position before this migration,
    a result's tags are still read from the tables as they were then (its version holds NULL)."""
    from read_model import row_versions, tag_lists

    if "tags_text" not in {column["name"] for column in inspect(conn).get_columns("results")}:
        conn.execute(text("ALTER TABLE results ADD COLUMN tags_text TEXT"))
    if inspect(conn).has_table(row_versions.row_versions.name):
        row_versions.install(conn)  # the versions table gets the column, the triggers copy it
    tag_lists.refresh(conn, results.c.tags_text.is_(None))


def _row_versions_stamped_by_default(conn: Connection) -> None:
    """PostgreSQL: an inserted row's `valid_from` comes from the column's default (the clock)
    rather than a trigger per row, so a bulk insert may stamp its rows itself (read_model/rows.py);
    the triggers keep only updated and deleted versions. SQLite's triggers already skip rows
    inserted with a stamp: renewing them changes nothing."""
    from read_model import row_versions

    row_versions.install(conn)


# Indexes of identities (uploaders, actors) before migration 22: on PostgreSQL, hash indexes,
# whose insert walks every entry of the same value (and their mirrors on the row versions), and
# the mailer's b-tree on the whole text, which refused a long `sub`.
IDENTITY_INDEXES = (
    "results_by_uploader",
    "results_by_uploader_versions",
    "claims_by_uploader",
    "claims_by_uploader_versions",
    "events_index_actor",
    "mail_items_uploader",
)


def _identity_indexes(conn: Connection) -> None:
    """The indexes of uploaders and actors are b-trees, of the identity's beginning on
    PostgreSQL (tables.py `identity_index`). The row versions' mirrors of the old ones go too:
    an index of an expression has none (row_versions.py). (On a new store migrations 1 and 2
    made the indexes.)"""
    from read_model import row_versions
    from read_model.mail_tables import mail_items
    from read_model.tables import claims, events_index, results

    for name in IDENTITY_INDEXES:
        _drop_index(conn, name)
    _create_indexes(conn, results, claims, events_index, mail_items)
    row_versions.mirror_indexes(conn)  # SQLite's are indexes of columns, mirrored again


# Indexes of the results that an as-of index of migration 15 starts with, the same columns in
# the same order: every read and every handler's look-up walks the as-of index as it walked
# these. Each was one more entry to write per result inserted, hidden or removed: on PostgreSQL
# at 3x10^5 results the four cost about 0.4 ms of the server's CPU per upload (issue 16).
COVERED_RESULT_INDEXES = (
    "results_visible_execution",
    "results_benchmark",
    "results_listing",
    "results_benchmark_listing",
)


def _drop_covered_indexes(conn: Connection) -> None:
    """Drops COVERED_RESULT_INDEXES (results_listing and results_benchmark_listing exist on
    PostgreSQL only). Their row versions' mirrors stay: as-of listings walk them."""
    for name in COVERED_RESULT_INDEXES:
        _drop_index(conn, name)


def _drop_index(conn: Connection, name: str) -> None:
    """Drops the index if it is there, in the schema being migrated: in a scratch store's schema,
    not a live index of the same name further along the search path (projections/replay.py)."""
    from read_model import row_versions

    schema = row_versions.table_schema(conn)
    qualified = f"{conn.dialect.identifier_preparer.quote(schema)}.{name}" if schema else name
    conn.execute(text(f"DROP INDEX IF EXISTS {qualified}"))


def _version_intervals(conn: Connection) -> None:
    """PostgreSQL: the versions of the counts the projector keeps are found by their intervals
    as of any position (read_model/row_versions.py STEADILY_CHANGED)."""
    from read_model import row_versions

    row_versions.interval_indexes(conn)


def _version_interval_tables(conn: Connection) -> None:
    """SQLite: the versions of the counts the projector keeps are found by their intervals as of
    any position, in an R*Tree (read_model/row_versions.py `interval_tables`)."""
    from read_model import row_versions

    row_versions.interval_tables(conn)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "read tables", _read_tables),
    (2, "mailer tables", _mail_tables),
    (3, "PostgreSQL indexes for result listing and search", _postgres_result_indexes),
    (4, "counters kept by the projector (visible results)", _counters),
    (5, "indexes for searches: results by site or flavor, with their visibility", _search_indexes),
    (6, "PostgreSQL: drop the trigram indexes searches no longer use", _drop_trigram_indexes),
    (7, "numbers of result documents by path, for number filters and sorts", _result_numbers),
    (8, "mailer: mails given up, a removed user's items by uploader", _mail_give_up),
    (9, "indexes that take text of any length; numbers kept only at paths of bounded length", _bounded_indexes),
    (10, "events the consumers could not handle and passed over", _parked_events),
    (11, "PostgreSQL: every change of a consumer's position announced (LISTEN/NOTIFY)", _position_notices),
    (12, "the events index: every event, for histories, the audit search and the change feed", _events_index),
    (13, "row versions of every read table, for answers as of a past position", _row_versions),
    (15, "indexes of the row versions, as their tables have, for as-of listings", _row_version_indexes),
    (
        16,
        "row versions: inserts stamped by the column default, not a trigger per row",
        _row_versions_stamped_by_default,
    ),
    (17, "as-of indexes of the results by site and by flavor", _narrowed_as_of_indexes),
    (18, "as-of index of the numbers of result documents", _numbers_as_of_index),
    (19, "visible results per number of result documents, for the totals of number filters", _number_values),
    (20, "each result's tags as served, kept with it", _result_tags_text),
    (21, "visible results per benchmark, site and flavor, kept by the projector", _visible_counts_of_items),
    (22, "indexes of uploaders and actors: b-trees of the identity's beginning", _identity_indexes),
    (23, "indexes of the results that the as-of indexes cover, dropped", _drop_covered_indexes),
    (24, "PostgreSQL: indexes of the intervals of the kept counts' versions", _version_intervals),
    (25, "SQLite: R*Trees of the intervals of the kept counts' versions", _version_interval_tables),
]
ROW_VERSIONS = 13


def pending(engine: Engine) -> list[int]:
    """The versions of the migrations a store has not had yet (all of them for an empty one)."""
    inspector = inspect(engine)
    if not inspector.has_table(schema_migrations.name):
        return [version for version, _, _ in MIGRATIONS]
    with engine.connect() as conn:
        done = set(conn.execute(select(schema_migrations.c.version)).scalars())
    return [version for version, _, _ in MIGRATIONS if version not in done]


def migrate(engine: Engine, *, quiet: bool = False) -> list[int]:
    """Applies the migrations not applied yet; returns their versions. `quiet`: for scratch
    stores (replays), whose migrations are no news to an operator."""
    _bookkeeping.create_all(engine)
    applied_now = []
    for version, description, apply in MIGRATIONS:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
            done = conn.execute(select(schema_migrations.c.version).where(schema_migrations.c.version == version))
            if done.first():
                continue
            log.log(logging.DEBUG if quiet else logging.INFO, "read store migration %d: %s", version, description)
            apply(conn)
            conn.execute(schema_migrations.insert().values(version=version, description=description))
            applied_now.append(version)
    if applied_now and ROW_VERSIONS not in applied_now:
        _renew_row_versions(engine)
    return applied_now


def _renew_row_versions(engine: Engine) -> None:
    """After migrations that came after the row versions' (or were applied again): tables and
    columns they added get versions and triggers too (read_model/row_versions.py)."""
    from read_model import row_versions

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        done = conn.execute(select(schema_migrations.c.version).where(schema_migrations.c.version == ROW_VERSIONS))
        if done.first():
            row_versions.install(conn)
