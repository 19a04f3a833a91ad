"""bench/dataset.py's data set written as rows of the original backend's database (its schema
after its own migrations, Alembic head 112055db4eff): one uploader, the catalog approved, and N
results with their tags. `eosc-perf import-legacy` then carries the same rows into this service,
so both serve identical data.

The data set's claimed share is left visible here: a claim in the original is a report row the
importer turns into more events, and the scenarios read visible results only.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import dataset
import psycopg

UPLOADER_SUB = "bench-uploader"
UPLOADER_ISS = "https://bench.eosc-perf.invalid/oidc"
CATALOG_TIME = datetime(2020, 6, 1)  # the original stores naive UTC times
BATCH = 5000


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def write(url: str, results: int, seed: int = 0) -> int:
    """Writes the catalog and `results` results into the empty original database at `url`;
    returns how many results it holds."""
    catalog = dataset.Catalog.draw(seed)
    uploader = (UPLOADER_SUB, UPLOADER_ISS)
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT count(*) FROM result").fetchone()[0]:
            raise SystemExit(f"{url.split('@')[-1]} already holds results: give an empty database")
        conn.execute(
            'INSERT INTO "user" (sub, iss, email, registration_datetime) VALUES (%s, %s, %s, %s)',
            (*uploader, "bench-uploader@example.org", CATALOG_TIME - timedelta(days=1)),
        )
        approved = (*uploader, CATALOG_TIME, "approved")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO site (id, uploader_sub, uploader_iss, upload_datetime, status, name, address, description)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (site_id, *approved, name, address, f"{name} cloud site")
                    for site_id, (name, address) in zip(catalog.site_ids, dataset.SITES)
                ],
            )
            cursor.executemany(
                "INSERT INTO flavor (id, uploader_sub, uploader_iss, upload_datetime, status, name, description,"
                " site_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (f.id, *approved, f.name, f"{f.cpus} vCPU, {f.memory_gb} GB", catalog.site_ids[f.site_index])
                    for f in catalog.flavors
                ],
            )
            cursor.executemany(
                "INSERT INTO tag (id, name, description) VALUES (%s, %s, %s)",
                [(tag_id, name, f"{name} tag") for tag_id, name in zip(catalog.tag_ids, dataset.TAGS)],
            )
            cursor.executemany(
                "INSERT INTO benchmark (id, uploader_sub, uploader_iss, upload_datetime, status, docker_image,"
                " docker_tag, json_schema, description, url) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (benchmark_id, *approved, image, tag, json.dumps(schema), description, url)
                    for benchmark_id, (image, tag, url, schema, description, _) in zip(
                        catalog.benchmark_ids, dataset.BENCHMARKS
                    )
                ],
            )
        stream = dataset.ResultStream(catalog, seed)
        now = _naive(datetime.now(timezone.utc))
        written = 0
        while written < results:
            specs = stream.take(min(BATCH, results - written))
            with conn.cursor() as cursor:
                with cursor.copy(
                    "COPY result (deleted, id, uploader_sub, uploader_iss, upload_datetime, json,"
                    " execution_datetime, benchmark_id, flavor_id, site_id) FROM STDIN"
                ) as copy:
                    for spec in specs:
                        executed = _naive(spec.execution_datetime)
                        copy.write_row(
                            (
                                False,
                                spec.id,
                                *uploader,
                                min(executed + timedelta(hours=1), now),  # uploaded after it ran
                                json.dumps(spec.json),
                                executed,
                                catalog.benchmark_ids[spec.benchmark_index],
                                spec.flavor.id,
                                catalog.site_ids[spec.flavor.site_index],
                            )
                        )
                with cursor.copy("COPY result_tags (result_id, tag_id) FROM STDIN") as copy:
                    for spec in specs:
                        for index in spec.tag_indexes:
                            copy.write_row((spec.id, catalog.tag_ids[index]))
            conn.commit()
            written += len(specs)
        conn.execute("ANALYZE")
        return conn.execute("SELECT count(*) FROM result").fetchone()[0]
