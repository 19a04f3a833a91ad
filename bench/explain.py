#!/usr/bin/env python3
"""EXPLAIN (ANALYZE, BUFFERS) of the SQL the query service really sends for the scenarios of
issue 6, captured from the view functions themselves (no hand-written copies).

    .venv/bin/python bench/explain.py --read-store postgresql://... [--threshold 4 --term CLOUD --page 50]

Prints, per scenario, each statement with its parameters and PostgreSQL's plan (or SQLite's
EXPLAIN QUERY PLAN with the time taken, for a sqlite:/// read store).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, select  # noqa: E402

from http_api.operations import BY_ROUTE  # noqa: E402
from http_api.requests import parse_query  # noqa: E402
from query_service.views import catalog  # noqa: E402
from query_service.views import results as views  # noqa: E402
from read_model import read_store  # noqa: E402
from read_model.tables import benchmarks, results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--read-store", required=True)
    parser.add_argument("--threshold", default="4")
    parser.add_argument("--term", default="CLOUD")
    parser.add_argument("--page", type=int, default=50)
    args = parser.parse_args()
    engine = read_store.connect(args.read_store)
    postgres = engine.dialect.name == "postgresql"
    captured: list[tuple[str, object]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    with engine.connect() as conn:
        cray = conn.execute(select(benchmarks.c.id).where(benchmarks.c.docker_image == "deephdc/c-ray")).scalar()
        some_id = conn.execute(select(results.c.id).limit(1).offset(777)).scalar()
    filtered = (
        f"benchmark_id={cray}&filters={quote(f'machine.cpu.count > {args.threshold}', safe='')}"
        f"&sort_by=-json.result.score&per_page=100"
    )
    scenarios = [
        ("(a) GET /results?per_page=100", "/results", "per_page=100", views.list_results),
        (f"(b) GET /results?{filtered}", "/results", filtered, views.list_results),
        (
            f"(c) GET /results:search?terms={args.term}&per_page=20",
            "/results:search",
            f"terms={args.term}&per_page=20",
            views.search_results,
        ),
        (f"(f) page {args.page} of (b)", "/results", f"{filtered}&page={args.page}", views.list_results),
        ("(e) GET /benchmarks", "/benchmarks", "", lambda conn, q: catalog.BENCHMARKS.list(conn, q)),
        (f"(d) GET /results/{some_id}", None, None, lambda conn, q: views.get_result(conn, some_id)),
    ]
    for title, route, query_string, view in scenarios:
        query = parse_query(BY_ROUTE[("GET", route)], query_string) if route else {}
        print("=" * 100)
        print(title)
        with engine.connect() as conn:
            captured.clear()
            started = time.perf_counter()
            view(conn, query)
            took = time.perf_counter() - started
            statements = list(captured)
            print(f"-- view answered in {took * 1000:.1f} ms with {len(statements)} statement(s)")
            for statement, parameters in statements:
                print("-" * 100)
                print(statement.strip())
                shown = str(parameters)
                print(f"-- parameters: {shown[:400]}{'...' if len(shown) > 400 else ''}")
                cursor = conn.connection.driver_connection.cursor()
                if postgres:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    print("\n".join(row[0] for row in cursor.fetchall()))
                else:
                    cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                    print("\n".join(str(row) for row in cursor.fetchall()))
                    started = time.perf_counter()
                    cursor.execute(statement, parameters).fetchall()
                    print(f"-- ran in {(time.perf_counter() - started) * 1000:.1f} ms")
                cursor.close()


if __name__ == "__main__":
    main()
