"""Counts the projector keeps with the rows, in the same transaction: the number of visible
results answers an unfiltered `GET /results` without counting the table (query_service)."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from read_model.tables import counters, results

VISIBLE_RESULTS = "visible_results"  # results not hidden (by a claim or a deletion)


def add_visible(conn: Connection, delta: int) -> None:
    """After the rows changed by `delta` visible results. A missing row (tables emptied by hand,
    e.g. TRUNCATE) is created from a count of the rows, so the count heals itself."""
    if not delta:
        return
    updated = conn.execute(
        counters.update().where(counters.c.name == VISIBLE_RESULTS).values(value=counters.c.value + delta)
    ).rowcount
    if not updated:
        visible_now = select(func.count()).select_from(results).where(results.c.hidden.is_(False))
        conn.execute(counters.insert().values(name=VISIBLE_RESULTS, value=conn.execute(visible_now).scalar_one()))


_VISIBLE = text(f"SELECT value FROM counters WHERE name = '{VISIBLE_RESULTS}'")  # read on every unfiltered page


def visible(conn: Connection) -> int | None:
    return conn.execute(_VISIBLE).scalar()
