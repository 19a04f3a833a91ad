"""Removal cascades of contract §3.6, shared by deletes, rejections and user removal."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from read_model import counts, numbers
from read_model.tables import benchmarks, claims, flavors, result_tags, results, sites, submits


def remove_results(conn: Connection, condition) -> None:
    """Hard-removes results (cascade); their claims stay and keep their resource_id."""
    doomed = select(results.c.id).where(condition)
    narrowing = [results.c[column] for column in counts.NARROWING]
    visible = select(*narrowing, func.count()).where(condition, results.c.hidden.is_(False)).group_by(*narrowing)
    gone = Counter({tuple(row[:3]): -row[3] for row in conn.execute(visible)})
    numbers.results_removed(conn, condition)
    conn.execute(result_tags.delete().where(result_tags.c.result_id.in_(doomed)))
    conn.execute(results.delete().where(condition))
    counts.add_visible(conn, gone)  # after the delete: a missing count is made from the rows left


def remove_benchmark(conn: Connection, benchmark_id: str) -> None:
    remove_results(conn, results.c.benchmark_id == benchmark_id)
    conn.execute(submits.delete().where(submits.c.resource_id == benchmark_id))
    conn.execute(benchmarks.delete().where(benchmarks.c.id == benchmark_id))


def remove_flavor(conn: Connection, flavor_id: str) -> None:
    remove_results(conn, results.c.flavor_id == flavor_id)
    conn.execute(submits.delete().where(submits.c.resource_id == flavor_id))
    conn.execute(flavors.delete().where(flavors.c.id == flavor_id))


def remove_site(conn: Connection, site_id: str) -> None:
    for flavor_id in conn.execute(select(flavors.c.id).where(flavors.c.site_id == site_id)).scalars().all():
        remove_flavor(conn, flavor_id)
    remove_results(conn, results.c.site_id == site_id)
    conn.execute(submits.delete().where(submits.c.resource_id == site_id))
    conn.execute(sites.delete().where(sites.c.id == site_id))


def remove_claim(conn: Connection, claim_id: str) -> None:
    conn.execute(submits.delete().where(submits.c.resource_id == claim_id))
    conn.execute(claims.delete().where(claims.c.id == claim_id))
