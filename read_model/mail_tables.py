"""The mailer's tables, in the read store database but apart from the read model.

The mailer runs as its own consumer (in production its own Kafka consumer group), ahead of
or behind the projector, so it never reads the read-model tables: it keeps just what it
needs to address mails (users' e-mails, who uploaded what) and an outbox of mails to send.
Its tables have their own MetaData (created by read-store migration 2), so rebuilding the
read model never touches them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text

from read_model.tables import identity_index

metadata = MetaData()

ID = String(36)

mail_users = Table(
    "mail_users",
    metadata,
    Column("id", ID, primary_key=True),  # the User aggregate's id: uuid5 of (sub, iss)
    Column("sub", Text, nullable=False),
    Column("iss", Text, nullable=False),
    Column("email", Text, nullable=False),
)

# Benchmarks, sites, flavors, claims and results: whom to tell when they are reviewed or claimed.
mail_items = Table(
    "mail_items",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("uploader_sub", Text, nullable=False),
    Column("uploader_iss", Text, nullable=False),
)
# A removed user's items (migration 8; of the identity's beginning since migration 22: a b-tree on
# the whole text refused a long `sub`, and the mailer passed over that user's events).
identity_index("mail_items_uploader", mail_items.c.uploader_sub)

# One row per mail: (notification id of the event, n-th mail of that event). Written with
# the mailer's position in one transaction; `sent_at` is set once the SMTP server took it.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("to", Text, nullable=False),
    Column("cc", Text, nullable=False),  # "" when none
    Column("subject", Text, nullable=False),
    Column("headers", Text, nullable=False),  # JSON object of the extra headers (Resource-ID, ...)
    Column("body", Text, nullable=False),
    Column("sent_at", DateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("retry_at", DateTime),  # not before this time after a refusal (backoff per mail)
    Column("given_up_at", DateTime),  # refused for good by the SMTP server: never retried (migration 8)
    Index("mail_outbox_unsent", "sent_at", "notification_id", "seq"),
)
