"""The read tables: denormalised rows built for filtered, sorted, paginated listing.

Each catalog row keeps its rendered public JSON (`doc`) so a page is assembled by joining
stored strings. Results keep the names of what they reference (for search and sort) and are
rendered at read time with the current benchmark/site/flavor/tag documents.
`status` is 0 (on_review) or 1 (approved): numeric, so it sorts in the contract's enum order.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

metadata = MetaData()

ID = String(36)
JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")
STATUS = {"on_review": 0, "approved": 1}


def _uploader() -> list[Column]:
    return [Column("uploader_sub", Text, nullable=False), Column("uploader_iss", Text, nullable=False)]


def _text_index(name: str, column: str) -> Index:
    """An index on text people choose (names, e-mails, identities), whatever its length: a hash
    index on PostgreSQL, whose b-trees refuse an entry of more than 2704 bytes (one long name
    would stop the projector for good), a b-tree on SQLite, which has no such bound. Either
    answers equality lookups exactly; the tables it serves are small or looked up by equality.
    Not for a column where one value has many rows (`identity_index`)."""
    return Index(name, column, postgresql_using="hash")


# Characters of an identity (an OIDC `sub`) that its index keeps on PostgreSQL: at most 4 bytes
# each, an entry stays below the 2704 bytes a b-tree takes, however long the identity. A subject
# longer than this shares its entries with those of the same beginning, and the lookup's
# equality on the whole column (`identity_is`) tells them apart.
IDENTITY_PREFIX = 256


def identity_key(column) -> ColumnElement:
    """The identity's first IDENTITY_PREFIX characters. The bounds are SQL constants, not
    parameters: PostgreSQL uses an index of an expression for a statement with the same one."""
    return func.substr(column, literal_column("1"), literal_column(str(IDENTITY_PREFIX)))


def identity_index(name: str, column) -> None:
    """The index of a column of identities (uploaders, actors), on its table: a b-tree of
    `identity_key` on PostgreSQL, of the column itself on SQLite (no bound on its entries;
    and SQLite puts the value of `column = ?` into `identity_key(column)`, so the key's index
    would go unused). Not a hash index (`_text_index`): PostgreSQL keeps all entries of one
    value in one chain of pages and walks it on every insert, so each upload by an uploader
    with 10^6 results cost 0.3 ms more (docs/performance.md), and building the index grew with
    the square of one uploader's rows."""
    Index(name, identity_key(column)).ddl_if(dialect="postgresql")
    Index(name, column).ddl_if(dialect="sqlite")


def identity_is(column, value: str) -> ColumnElement:
    """`column == value`, found through the column's `identity_index`."""
    return and_(identity_key(column) == value[:IDENTITY_PREFIX], column == value)


positions = Table(
    "positions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# Events a consumer (read_model, mailer) could not handle and passed over (projections/parking.py),
# written with the position that moved past them.
parked_events = Table(
    "parked_events",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("event_type", Text, nullable=False),
    Column("aggregate_id", Text),  # None when even that could not be read
    Column("aggregate_version", BigInteger),
    Column("error", Text, nullable=False),
    Column("parked_at", DateTime, nullable=False),
)

# Counts kept by the projector with the rows they count (read_model/counts.py).
counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),  # uuid5 of (sub, iss), the User aggregate's id
    Column("sub", Text, nullable=False),
    Column("iss", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("registration_datetime", DateTime, nullable=False),
    Column("doc", Text, nullable=False),
    _text_index("users_by_sub", "sub"),  # the id is unique: uuid5 of (sub, iss)
    _text_index("users_by_email", "email"),
)

benchmarks = Table(
    "benchmarks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("docker_image", Text, nullable=False),
    Column("docker_tag", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text),
    Column("json_schema", Text, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("upload_datetime", DateTime, nullable=False),
    *_uploader(),
    Column("doc", Text, nullable=False),
    _text_index("benchmarks_by_image", "docker_image"),
)

sites = Table(
    "sites",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("description", Text),
    Column("status", SmallInteger, nullable=False),
    Column("upload_datetime", DateTime, nullable=False),
    *_uploader(),
    Column("doc", Text, nullable=False),
    _text_index("sites_by_name", "name"),
)

flavors = Table(
    "flavors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("site_id", ID, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("status", SmallInteger, nullable=False),
    Column("upload_datetime", DateTime, nullable=False),
    *_uploader(),
    Column("doc", Text, nullable=False),
    Index("flavors_site_status", "site_id", "status"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("doc", Text, nullable=False),
    _text_index("tags_by_name", "name"),
)

results = Table(
    "results",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False, unique=True),
    Column("benchmark_id", ID, nullable=False),
    Column("site_id", ID, nullable=False),
    Column("flavor_id", ID, nullable=False),
    Column("benchmark_name", Text, nullable=False),
    Column("site_name", Text, nullable=False),
    Column("site_address", Text, nullable=False),
    Column("flavor_name", Text, nullable=False),
    Column("execution_datetime", DateTime, nullable=False),
    Column("upload_datetime", DateTime, nullable=False),
    Column("json", JSON_DOCUMENT, nullable=False),
    Column("json_text", Text, nullable=False),  # the uploaded document as served, no re-encoding per read
    Column("tags_text", Text),  # its tags as served (read_model/tag_lists.py): read-store migration 20
    Column("hidden", Boolean, nullable=False, default=False),
    Column("deleted", Boolean, nullable=False, default=False),
    *_uploader(),
    # Listings walk the as-of indexes (read-store migrations 15 and 23), which handlers use to
    # find a benchmark's results too.
    Index("results_site", "site_id"),
    Index("results_flavor", "flavor_id"),
    # (site_id, hidden, ...) and (flavor_id, hidden, ...): read-store migration 17.
)
identity_index("results_by_uploader", results.c.uploader_sub)  # read-store migration 22

# The numbers in result documents, kept by the projector (read_model/numbers.py) so
# that number filters and numeric sorts on a JSON path read an index range instead of every
# document: one row per number reachable from the document through object keys alone.
result_numbers = Table(
    "result_numbers",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),  # results.seq
    Column("path", Text, primary_key=True),  # the keys joined by "." (at most numbers.MAX_PATH_BYTES)
    Column("benchmark_id", ID, nullable=False),
    Column("hidden", Boolean, nullable=False),  # a copy of results.hidden
    Column("value", Double, nullable=False),  # the number as a double (beyond its range: infinite)
    # Its range index, (benchmark_id, path, hidden, value, seq) with each number's valid_from:
    # read-store migration 18.
    sqlite_with_rowid=False,  # the key is the table: one b-tree less to write per number
)

# Per benchmark and path: how many results have a number there, and how many of those numbers
# are beyond ±2^53 (where a double no longer orders or compares them as the JSON does).
result_number_paths = Table(
    "result_number_paths",
    metadata,
    Column("benchmark_id", ID, primary_key=True),
    Column("path", Text, primary_key=True),
    Column("results", BigInteger, nullable=False),
    Column("unsafe", BigInteger, nullable=False),
)

# Per benchmark, path and number: how many visible results have that number there (rows with
# none are deleted). A number filter's total is the sum over the filter's range of this table,
# which holds as many rows as distinct numbers (a few for counts and sizes), rather than a count
# of the matching rows of `result_numbers`: at 10^5 results, 0.1 ms instead of 14. Current rows
# only, not versioned: as of a past position, totals are counted from `result_numbers`.
result_number_values = Table(
    "result_number_values",
    metadata,
    Column("benchmark_id", ID, primary_key=True),
    Column("path", Text, primary_key=True),
    Column("value", Double, primary_key=True),
    Column("results", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Results per benchmark, hidden and deleted ones included: a sort through `result_numbers` is
# exact only when every result of the benchmark has a number at the path.
benchmark_results = Table(
    "benchmark_results",
    metadata,
    Column("benchmark_id", ID, primary_key=True),
    Column("results", BigInteger, nullable=False),
)

result_tags = Table(
    "result_tags",
    metadata,
    Column("result_id", ID, primary_key=True),
    Column("tag_id", ID, primary_key=True),
    Index("result_tags_tag", "tag_id", "result_id"),
)

claims = Table(
    "claims",
    metadata,
    Column("id", ID, primary_key=True),
    Column("result_id", ID, nullable=False),
    Column("message", Text, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("upload_datetime", DateTime, nullable=False),
    *_uploader(),
    Index("claims_result", "result_id"),
)
identity_index("claims_by_uploader", claims.c.uploader_sub)  # read-store migration 22

submits = Table(
    "submits",
    metadata,
    Column("resource_id", ID, primary_key=True),
    Column("resource_type", String(16), nullable=False),
    Column("upload_datetime", DateTime, nullable=False),
    *_uploader(),
)

# Every event of the log, one row each, written by the projector with the other read tables
# (read_model/events_index.py): item histories, the audit search and the public change feed.
events_index = Table(
    "events_index",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),  # the notification id
    Column("item_id", ID, nullable=False),  # the aggregate's id
    Column("related_id", ID),  # the item whose history also shows this event: a claim's result
    Column("version", BigInteger, nullable=False),
    Column("topic", Text, nullable=False),  # as the envelope names it: domain.result:Result.Claimed
    Column("type", String(64), nullable=False),  # Result.Claimed
    Column("timestamp", DateTime, nullable=False),  # naive UTC
    Column("actor_sub", Text),  # None for events without an actor (unique keys, the legacy import's own)
    Column("actor_iss", Text),
    Column("role", String(8)),  # the capacity the event was caused in: "user" or "admin"
    Column("data", Text, nullable=False),  # the event's other fields as JSON, dates as the API writes them
    Index("events_index_item", "item_id", "position"),
    Index("events_index_related", "related_id", "position"),
    Index("events_index_type", "type", "position"),
    Index("events_index_timestamp", "timestamp", "position"),
)
identity_index("events_index_actor", events_index.c.actor_sub)  # read-store migration 22
