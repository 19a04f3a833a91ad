"""Benchmarks: submitted, updated, approved, rejected, deleted."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from domain.benchmark import Benchmark, unique_name
from http_api import documents
from read_model import cascades, review
from read_model.rows import uploader_columns, utc
from read_model.tables import STATUS, benchmarks, results


def _columns(id, upload_datetime, docker_image, docker_tag, url, json_schema, description) -> dict:
    doc = documents.benchmark(id, upload_datetime, docker_image, docker_tag, url, json_schema, description)
    return {
        "docker_image": docker_image,
        "docker_tag": docker_tag,
        "name": unique_name(docker_image, docker_tag),
        "url": url,
        "json_schema": documents.dumps(json_schema),
        "description": description,
        "doc": documents.dumps(doc),
    }


def benchmark_submitted(conn: Connection, event: Benchmark.Submitted) -> None:
    when = utc(event.timestamp)
    columns = _columns(
        event.originator_id,
        when,
        event.docker_image,
        event.docker_tag,
        event.url,
        event.json_schema,
        event.description,
    )
    conn.execute(
        benchmarks.insert().values(
            id=str(event.originator_id),
            status=STATUS["on_review"],
            upload_datetime=when,
            **uploader_columns(event.actor),
            **columns,
        )
    )
    review.open_submit(conn, "benchmark", event.originator_id, when, event.actor)


def benchmark_updated(conn: Connection, event: Benchmark.Updated) -> None:
    id = str(event.originator_id)
    row = conn.execute(benchmarks.select().where(benchmarks.c.id == id)).first()
    if row is None:
        return
    description = row.description if event.description is None else event.description
    columns = _columns(
        id, row.upload_datetime, event.docker_image, event.docker_tag, event.url, event.json_schema, description
    )
    conn.execute(benchmarks.update().where(benchmarks.c.id == id).values(**columns))
    conn.execute(results.update().where(results.c.benchmark_id == id).values(benchmark_name=columns["name"]))


def benchmark_approved(conn: Connection, event: Benchmark.Approved) -> None:
    review.approve(conn, benchmarks, event.originator_id)


def benchmark_removed(conn: Connection, event: Benchmark.Rejected | Benchmark.Deleted) -> None:
    cascades.remove_benchmark(conn, str(event.originator_id))


HANDLERS = {
    Benchmark.Submitted: benchmark_submitted,
    Benchmark.Updated: benchmark_updated,
    Benchmark.Approved: benchmark_approved,
    Benchmark.Rejected: benchmark_removed,
    Benchmark.Deleted: benchmark_removed,
}
