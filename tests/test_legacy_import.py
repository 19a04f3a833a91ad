"""`eosc-perf import-legacy` (issue 14) as an operator meets it: read only, dry run, resumable,
idempotent, every odd row reported, original times kept, the import recorded, no mail sent,
and the imported items take part in every command as if they had been created here.
(The answers of imported databases are compared with the original's in test_legacy_answers.py.)"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Iterator

import falcon.testing
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import resolve_topic
from sqlalchemy import select

from configuration.stores import open_event_store
from domain.legacy_import import ACTOR, IMPORT_ID
from domain.personal_data import PERSONAL_FIELDS
from eosc_perf import cli
from eosc_perf.embedded import build
from eosc_perf.history import history_lines
from legacy_import import event_writes
from legacy_import.importer import Importer
from legacy_import.source import LegacySource
from projections.mail.directory import mail_outbox
from tests.support.api import Api, service_settings
from tests.support.legacy_databases import admin_url, dump_text, restored
from tests.support.oidc_provider import LocalOpenIDProvider

pytestmark = pytest.mark.stack  # the original's databases live in the local PostgreSQL server

MIXED = "legacy-eosc-perf-mixed.sql"
RECORDED_ISSUER = "http://127.0.0.1:5801"
USER = "user-16a49870e67f40838451614609f81f76"  # uploaded most of the mixed database
OTHER = "other-34b6014410d449a7a3535bdd65fc9286"  # made its claims
ADMIN = "admin-9d26ac605c014353b56a816115b63c71"


@pytest.fixture(scope="module")
def mixed(identity_provider: LocalOpenIDProvider) -> Iterator[str]:
    """The mixed dump, restored once (the import only reads it), its users at the test issuer."""
    with restored(dump_text(MIXED, identity_provider.issuer, RECORDED_ISSUER)) as url:
        yield url


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["import-legacy", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def events_of(data: Path) -> list[tuple]:
    """Every stored event: (notification id, aggregate id, version, topic)."""
    store = open_event_store(f"sqlite:///{data / 'events.sqlite'}")
    return [
        (n.id, n.originator_id, n.originator_version, n.topic)
        for n in store.recorder.select_notifications(start=1, limit=10**9)
    ]


def service(data: Path, provider: LocalOpenIDProvider) -> Api:
    built = build(service_settings(data, provider))
    return Api(built, falcon.testing.TestClient(built.app), provider)


# -- what the operator runs -------------------------------------------------------------------------


def test_a_dry_run_reports_and_writes_nothing(capsys, tmp_path, mixed):
    code, out, _ = run(capsys, mixed, "--data", str(tmp_path / "data"), "--dry-run")
    assert code == 0
    assert "dry run: 28 users, 40 tags, 149 sites, 111 flavors, 144 benchmarks, 95 results, 27 claims" in out
    assert "would write 1,427 events" in out
    assert "SKIPPED 2: claims no result refers to" in out
    assert not (tmp_path / "data").exists()


def test_the_import_is_recorded_and_a_second_run_writes_nothing(capsys, tmp_path, mixed):
    data = tmp_path / "data"
    code, out, err = run(capsys, mixed, "--data", str(data))
    assert code == 0, err
    assert "imported: 28 users" in out and "wrote 1,427 events" in out
    assert "result: 95 of 95 rows" in err  # progress on the terminal
    written = events_of(data)
    assert len(written) == 1427  # the record's start, the batches, the record's end

    code, out, _ = run(capsys, mixed, "--data", str(data))
    assert code == 0
    assert "already imported from" in out and "nothing to do" in out
    assert events_of(data) == written

    store = open_event_store(f"sqlite:///{data / 'events.sqlite'}")
    record = list(history_lines(store, IMPORT_ID))
    source = mixed.replace(":eosc_perf@", "@")  # recorded without its password
    assert "eosc_perf:eosc_perf" not in "\n".join(record)
    assert "LegacyImport.Started  by -  alembic_version=112055db4eff operator=" in record[0]
    assert f"source={source}" in record[0]
    assert "LegacyImport.BatchImported" in record[1] and "phase=user" in record[1]
    assert "LegacyImport.Completed" in record[-1] and '"orphan-claim":2' in record[-1]


def test_imported_events_keep_the_original_times_and_ids(capsys, tmp_path, mixed):
    data = tmp_path / "data"
    assert run(capsys, mixed, "--data", str(data))[0] == 0
    with psycopg.connect(mixed) as legacy:
        id, uploaded = legacy.execute(
            "SELECT id, upload_datetime FROM benchmark WHERE status = 'approved' ORDER BY id LIMIT 1"
        ).fetchone()
        claim, claimed, result = legacy.execute(
            "SELECT c.id, c.upload_datetime, r.id FROM claim c JOIN result r ON r._claim_report_id = c.id "
            "WHERE c.status = 'approved' ORDER BY c.id LIMIT 1"
        ).fetchone()
    store = open_event_store(f"sqlite:///{data / 'events.sqlite'}")
    benchmark = list(history_lines(store, id))
    assert benchmark[0].startswith(f"v1  {uploaded.isoformat()}Z  Benchmark.Submitted  by {USER}@")
    assert benchmark[1] == f"v2  {uploaded.isoformat()}Z  Benchmark.Approved  by {ACTOR.sub}@{ACTOR.iss}"
    trail = list(history_lines(store, result))
    assert trail[1].startswith(f"v2  {claimed.isoformat()}Z  Result.Claimed  by {OTHER}@") and str(claim) in trail[1]
    assert [line.split("  ")[2] for line in history_lines(store, claim)] == ["Claim.Submitted", "Claim.Approved"]


def test_an_event_store_that_holds_other_events_is_refused(capsys, tmp_path, mixed, identity_provider):
    data = tmp_path / "data"
    api = service(data, identity_provider)
    api.register("early-bird")
    api.service.close()
    code, _, err = run(capsys, mixed, "--data", str(data))
    assert code == 2
    assert "the event store already holds events (up to position 1): the import starts the event store of a new" in err


@pytest.mark.parametrize(
    "sql, message",
    [
        ("DROP TABLE alembic_version", "has no alembic_version table: not a database of the original"),
        (
            "UPDATE alembic_version SET version_num = 'ffffffffffff'",
            "is at Alembic revision ffffffffffff; the import knows",
        ),
    ],
)
def test_a_database_the_import_does_not_know_is_refused(capsys, tmp_path, sql, message):
    with restored(dump_text(MIXED)) as url:
        with psycopg.connect(url, autocommit=True) as legacy:
            legacy.execute(sql)
        code, _, err = run(capsys, url, "--data", str(tmp_path / "data"))
    assert code == 2
    assert message in err
    assert not (tmp_path / "data").exists()


# -- read only ------------------------------------------------------------------------------------------


def test_the_legacy_database_is_only_read(capsys, tmp_path, identity_provider):
    """Through a role that may only SELECT, and in a transaction that refuses writes."""
    with restored(dump_text(MIXED, identity_provider.issuer, RECORDED_ISSUER)) as url:
        database = url.rsplit("/", 1)[1]
        role = f"reader_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url(url).rsplit("/", 1)[0] + f"/{database}", autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'reader'")
            admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        try:
            reader = url.replace("eosc_perf:eosc_perf@", f"{role}:reader@")
            code, out, err = run(capsys, reader, "--data", str(tmp_path / "data"))
            assert code == 0, err
            assert "imported: 28 users" in out
            with LegacySource(url) as source:  # the owner's connection: writes are refused all the same
                with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                    source.connection.execute("DELETE FROM tag")
        finally:
            with psycopg.connect(admin_url(url).rsplit("/", 1)[0] + f"/{database}", autocommit=True) as admin:
                admin.execute(f"DROP OWNED BY {role}")
                admin.execute(f"DROP ROLE {role}")


# -- resumable ----------------------------------------------------------------------------------------


def test_an_interrupted_import_continues_after_its_last_batch(tmp_path, mixed):
    """The legacy connection is cut in the middle of the results; the second run writes what
    the first did not, and the store ends as one uninterrupted import leaves it."""
    interrupted = open_event_store(f"sqlite:///{tmp_path / 'interrupted.sqlite'}")
    with LegacySource(mixed) as source:

        def cut_at_the_40th_result(table, done, *_args, **_kwargs):
            if table == "result" and done == 40:
                with psycopg.connect(mixed, autocommit=True) as other:
                    other.execute("SELECT pg_terminate_backend(%s)", (source.connection.info.backend_pid,))

        with pytest.raises(psycopg.OperationalError):
            Importer(source, interrupted, "tester", progress=cut_at_the_40th_result, rows_per_batch=25).run()
    record = interrupted.repository.get(IMPORT_ID)
    assert record.phase == "result" and not record.completed
    with LegacySource(mixed) as source:
        resumed = Importer(source, interrupted, "tester", progress=lambda *a, **k: None, rows_per_batch=25).run()
    assert resumed.state == "imported"
    assert {finding.kind for finding in resumed.findings.found} == {"orphan-claim", "invalid-benchmark-schema"}

    fresh = open_event_store(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    with LegacySource(mixed) as source:
        Importer(source, fresh, "tester", progress=lambda *a, **k: None, rows_per_batch=25).run()

    def aggregates(store):
        return sorted(
            (str(n.originator_id), n.originator_version, n.topic)
            for n in store.recorder.select_notifications(start=1, limit=10**9)
            if n.originator_id != IMPORT_ID
        )

    assert aggregates(interrupted) == aggregates(fresh)


def test_results_translated_in_worker_processes_are_written_as_in_one(tmp_path, mixed):
    def stored(workers: int) -> list[tuple]:
        store = open_event_store(f"sqlite:///{tmp_path / f'{workers}.sqlite'}")
        with LegacySource(mixed) as source:
            Importer(source, store, "tester", progress=lambda *a, **k: None, workers=workers).run()
        return [
            (n.originator_id, n.originator_version, n.topic, json.loads(n.state).get("json"))
            for n in store.recorder.select_notifications(start=1, limit=10**9)
            if n.originator_id != IMPORT_ID
        ]

    assert stored(2) == stored(0)


# -- odd rows ---------------------------------------------------------------------------------------------


ODD_ROWS = """
-- The original's own constraints would have kept these out; its API refused the rest.
ALTER TABLE flavor DROP CONSTRAINT flavor_site_id_fkey;
ALTER TABLE benchmark DROP CONSTRAINT benchmark_uploader_iss_uploader_sub_fkey;
ALTER TABLE site DROP CONSTRAINT site_name_key;
ALTER TABLE result_tags DROP CONSTRAINT result_tags_tag_id_fkey;
INSERT INTO flavor (id, uploader_sub, uploader_iss, upload_datetime, status, name, site_id)
  SELECT 'f1a70000-0000-4000-8000-000000000001', uploader_sub, uploader_iss, upload_datetime, 'approved',
         'flavor-of-no-site', 'f1a70000-0000-4000-8000-0000000000ff' FROM flavor ORDER BY id LIMIT 1;
INSERT INTO benchmark (id, uploader_sub, uploader_iss, upload_datetime, status, docker_image, docker_tag, json_schema, url)
  VALUES ('be000000-0000-4000-8000-000000000001', 'gone', 'http://gone', '2026-11-28 05:13:40', 'approved',
          'orphan/image', 'v1', '{"type": "object"}', 'https://example.org');
INSERT INTO site (id, uploader_sub, uploader_iss, upload_datetime, status, name, address)
  SELECT '517e0000-0000-4000-8000-000000000001', uploader_sub, uploader_iss, upload_datetime + interval '1 hour',
         'approved', name, 'elsewhere' FROM site WHERE name = 'site-3cb8a3fe8828';
UPDATE benchmark SET status = NULL WHERE id = '1700a338-7ef2-4900-af2c-8f2a8d94db40';
UPDATE site SET _submit_report_id = NULL
  WHERE id = (SELECT id FROM site WHERE status = 'on_review' ORDER BY id LIMIT 1);
INSERT INTO submit (id, resource_type, upload_datetime) VALUES ('5b000000-0000-4000-8000-000000000001', 'flavor', now());
UPDATE flavor SET _submit_report_id = '5b000000-0000-4000-8000-000000000001' WHERE id = '53724da9-1865-4738-b4e5-efc26954faa8';
UPDATE result SET deleted = false WHERE id = 'a1e9ab97-9fe6-4c07-a2e5-987270287b4b';
INSERT INTO result_tags (result_id, tag_id) VALUES ('6ac14fdf-31cb-48ea-a6e3-31d28b00f51b', '7a900000-0000-4000-8000-000000000001');
UPDATE result SET json = '[1, 2]' WHERE id = '1b47f467-a5c2-40a9-b94e-ea18eec8a5e0';
UPDATE result SET json = '{"time": "slow"}' WHERE id = '6d58c828-e0cb-4157-97b8-ad5d1c58b9dc';
UPDATE result SET site_id = 'c9b134a8-888f-4154-84e5-363866b1b937' WHERE id = 'c6d81739-3fbb-4b17-b128-04d75abbe88c';
UPDATE result SET execution_datetime = upload_datetime + interval '1 day' WHERE id = 'a4001610-a554-4371-b04e-b00ed40fd3a5';
UPDATE result SET upload_datetime = '2020-01-01' WHERE id = 'f5ac861e-202c-4a82-acde-ce92272a721e';
UPDATE "user" SET registration_datetime = '2026-12-01' WHERE sub = 'other-34b6014410d449a7a3535bdd65fc9286';
INSERT INTO submit (id, resource_type, upload_datetime) VALUES ('5b000000-0000-4000-8000-000000000002', 'benchmark', now());
UPDATE benchmark SET status = 'on_review', _submit_report_id = '5b000000-0000-4000-8000-000000000002'
  WHERE id = '2d3a94c9-aa6a-4708-80de-fa523387760d';
"""

EXPECTED_FINDINGS = {
    ("orphan-claim", "claim", "15422819-531e-4798-836e-c294f6f3a2c7"),
    ("orphan-claim", "claim", "adfe1c51-31c9-4bc1-bb77-c7ca4092e3f6"),
    ("invalid-benchmark-schema", "benchmark", "d586e90b-d9a0-4b67-bace-880850cefb71"),
    ("missing-reference", "flavor", "f1a70000-0000-4000-8000-000000000001"),
    ("missing-reference", "benchmark", "be000000-0000-4000-8000-000000000001"),
    ("duplicate-key", "site", "517e0000-0000-4000-8000-000000000001"),
    ("status-missing", "benchmark", "1700a338-7ef2-4900-af2c-8f2a8d94db40"),
    ("submit-missing", "benchmark", "1700a338-7ef2-4900-af2c-8f2a8d94db40"),
    ("submit-left", "flavor", "53724da9-1865-4738-b4e5-efc26954faa8"),
    ("claimed-but-visible", "result", "a1e9ab97-9fe6-4c07-a2e5-987270287b4b"),
    ("unknown-tag", "result", "6ac14fdf-31cb-48ea-a6e3-31d28b00f51b"),
    ("not-an-object", "result", "1b47f467-a5c2-40a9-b94e-ea18eec8a5e0"),
    ("schema-violation", "result", "6d58c828-e0cb-4157-97b8-ad5d1c58b9dc"),
    ("site-mismatch", "result", "c6d81739-3fbb-4b17-b128-04d75abbe88c"),
    ("uploaded-before-reference", "result", "c6d81739-3fbb-4b17-b128-04d75abbe88c"),  # its new site came later
    ("executed-after-upload", "result", "a4001610-a554-4371-b04e-b00ed40fd3a5"),
    ("uploaded-before-reference", "result", "f5ac861e-202c-4a82-acde-ce92272a721e"),
    ("executed-after-upload", "result", "f5ac861e-202c-4a82-acde-ce92272a721e"),  # in 2021, uploaded in 2020
}


def test_odd_rows_are_imported_as_faithfully_as_possible_or_skipped_and_each_is_named(
    capsys,
    tmp_path,
    identity_provider,
):
    with restored(dump_text(MIXED, identity_provider.issuer, RECORDED_ISSUER)) as url:
        with psycopg.connect(url, autocommit=True) as legacy:
            legacy.execute(ODD_ROWS)
            pending_site = legacy.execute(
                "SELECT id FROM site WHERE status = 'on_review' AND _submit_report_id IS NULL"
            ).fetchone()[0]
            unapproved = legacy.execute(
                "SELECT id FROM result WHERE benchmark_id = '2d3a94c9-aa6a-4708-80de-fa523387760d'"
            ).fetchone()[0]
            dangling = legacy.execute(
                "SELECT id FROM submit s WHERE NOT EXISTS "
                "(SELECT 1 FROM site WHERE _submit_report_id = s.id) AND resource_type = 'site'"
            ).fetchall()
        data, report = tmp_path / "data", tmp_path / "report.json"
        code, out, err = run(capsys, url, "--data", str(data), "--report", str(report))
    assert code == 0, err
    found = {(f["kind"], f["table"], f["key"]) for f in json.loads(report.read_text())}
    other = f"{OTHER}@{identity_provider.issuer}"
    expected = EXPECTED_FINDINGS | {
        ("submit-missing", "site", str(pending_site)),
        ("registered-after-upload", "user", other),
        ("registered-after-upload", "user", f"{USER}@{identity_provider.issuer}"),  # a result of 2020
        ("unapproved-reference", "result", str(unapproved)),
        *(("dangling-submit", "submit", str(id)) for (id,) in dangling),
    }
    assert found == expected
    assert "SKIPPED 2: claims no result refers to" in out and f"  user {other}: registered 2026-12-01T00:00:00" in out

    api = service(data, identity_provider)
    try:
        assert api.get("/flavors/f1a70000-0000-4000-8000-000000000001").status_code == 404
        assert api.get("/benchmarks/be000000-0000-4000-8000-000000000001").status_code == 404
        assert api.get("/sites/51e7e000-0000-4000-8000-000000000001").status_code == 404
        assert api.get("/results/1b47f467-a5c2-40a9-b94e-ea18eec8a5e0").status_code == 404
        kept = api.get("/results/6d58c828-e0cb-4157-97b8-ad5d1c58b9dc")
        assert kept.status_code == 200 and kept.json["json"] == {"time": "slow"}
        assert api.get("/results/6ac14fdf-31cb-48ea-a6e3-31d28b00f51b").json["tags"] == []
        assert api.get("/results/c6d81739-3fbb-4b17-b128-04d75abbe88c").json["site"]["name"] == "site-08ec88724a00"
        visible = {item["id"] for item in api.get("/results", query_string="per_page=100").json["items"]}
        assert "a1e9ab97-9fe6-4c07-a2e5-987270287b4b" not in visible  # hidden by its claim
        pending = api.get("/benchmarks", query_string="status=on_review&per_page=100").json["items"]
        assert "1700a338-7ef2-4900-af2c-8f2a8d94db40" in {item["id"] for item in pending}
        admin = api.token(ADMIN, admin=True)
        submits = api.get("/reports/submits", admin, query_string="per_page=100").json["items"]
        assert {s["resource_id"] for s in submits} >= {str(pending_site), "1700a338-7ef2-4900-af2c-8f2a8d94db40"}
        assert "53724da9-1865-4738-b4e5-efc26954faa8" not in {s["resource_id"] for s in submits}
    finally:
        api.service.close()
    assert cli.main(["verify", "--data", str(data)]) == 0  # the read tables equal a replay of the events
    assert "read tables equal a fresh replay" in capsys.readouterr().out


# -- the service on imported data ----------------------------------------------------------------------


def test_an_import_sends_no_mail_but_what_happens_after_it_does(capsys, tmp_path, mixed, identity_provider):
    """The mailer has run before the import (so it is not silent by being new): the imported
    history sends nothing; an approval after the import tells the imported uploader."""
    data = tmp_path / "data"
    service(data, identity_provider).service.close()
    assert run(capsys, mixed, "--data", str(data))[0] == 0
    api = service(data, identity_provider)
    try:
        api.service.mail.work()
        with api.service.projection.consumer.engine.connect() as conn:
            assert conn.execute(select(mail_outbox)).all() == []
        with psycopg.connect(mixed) as legacy:
            pending = legacy.execute(
                "SELECT id FROM benchmark WHERE status = 'on_review' AND uploader_sub = %s ORDER BY id LIMIT 1", (USER,)
            ).fetchone()[0]
        assert api.post(f"/benchmarks/{pending}:approve", api.token(ADMIN, admin=True)).status_code == 204
        api.service.mail.work()
        with api.service.projection.consumer.engine.connect() as conn:
            mails = conn.execute(select(mail_outbox.c.to, mail_outbox.c.subject)).all()
        assert mails == [(f"{USER}@acceptance.example.org", f"Resource approved: {pending}")]
    finally:
        api.service.close()


def test_imported_items_take_part_in_commands_as_if_created_here(capsys, tmp_path, mixed, identity_provider):
    data = tmp_path / "data"
    assert run(capsys, mixed, "--data", str(data))[0] == 0
    api = service(data, identity_provider)
    try:
        admin, user, other = (api.token(ADMIN, admin=True), api.token(USER), api.token(OTHER))
        with psycopg.connect(mixed) as legacy:
            (site_name,) = legacy.execute("SELECT name FROM site ORDER BY id LIMIT 1").fetchone()
            benchmark, flavor = legacy.execute(
                "SELECT r.benchmark_id, r.flavor_id FROM result r JOIN benchmark b ON b.id = r.benchmark_id "
                "JOIN flavor f ON f.id = r.flavor_id WHERE b.status = 'approved' AND f.status = 'approved' "
                "AND r.uploader_sub = %s ORDER BY r.id LIMIT 1",
                (USER,),
            ).fetchone()
            (visible,) = legacy.execute(
                "SELECT id FROM result WHERE NOT deleted AND uploader_sub = %s ORDER BY id LIMIT 1", (USER,)
            ).fetchone()
            (claim,) = legacy.execute(
                "SELECT c.id FROM claim c JOIN result r ON r._claim_report_id = c.id "
                "WHERE c.status = 'on_review' ORDER BY c.id LIMIT 1"
            ).fetchone()
        assert api.post("/sites", user, json={"name": site_name, "address": "x"}).status_code == 409
        assert api.post(f"/results/{visible}:claim", other, json={"message": "too fast"}).status_code == 201
        assert api.post(f"/reports/claims/{claim}:reject", admin).status_code == 204
        uploaded = api.post(
            "/results",
            user,
            json={"time": 3},
            query_string=(
                f"execution_datetime=2026-11-01T00:00:00%2B00:00&benchmark_id={benchmark}&flavor_id={flavor}"
            ),
        )
        assert uploaded.status_code == 201, uploaded.text
        assert api.get("/users/self", user).json["sub"] == USER
    finally:
        api.service.close()


# -- PostgreSQL event store ----------------------------------------------------------------------------


def test_an_import_into_postgresql_stores_what_one_into_sqlite_does(tmp_path, mixed):
    """The import writes PostgreSQL its own way (legacy_import/event_writes.py): the same events
    in the same order, readable by the library, each batch with its marker."""

    def imported(store) -> list[tuple]:
        with LegacySource(mixed) as source:
            Importer(source, store, "tester", progress=lambda *a, **k: None, rows_per_batch=25).run()
        # Some events take the import's start as their time (tags no result used): not compared.
        return [
            (
                n.originator_id,
                n.originator_version,
                n.topic,
                comparable(store, n) if n.originator_id != IMPORT_ID else None,
            )
            for n in store.recorder.select_notifications(start=1, limit=10**9)
        ]

    def comparable(store, notification) -> dict:
        """The stored state; a sealed address as it opens (each store seals under keys of its own)."""
        state = {**json.loads(notification.state), "timestamp": None}
        for field in PERSONAL_FIELDS.get(resolve_topic(notification.topic), ()):
            state[field] = getattr(store.mapper.to_domain_event(notification), field)
        return state

    with restored("") as events_url:
        into_postgresql = open_event_store(events_url)
        written = imported(into_postgresql)
        assert written == imported(open_event_store(f"sqlite:///{tmp_path / 'events.sqlite'}"))
        record = into_postgresql.repository.get(IMPORT_ID)
        assert record.completed and sum(1 for event in written if event[0] == IMPORT_ID) > 3  # batch markers
        again = open_event_store(events_url)  # a second run finds it done and writes nothing
        with LegacySource(mixed) as source:
            assert Importer(source, again, "tester", progress=lambda *a, **k: None).run().state == "already imported"
        assert again.recorder.max_notification_id() == into_postgresql.recorder.max_notification_id()


def test_a_batch_written_into_postgresql_is_all_or_nothing():
    with restored("") as events_url:
        store = open_event_store(events_url)
        first = StoredEvent(uuid.uuid4(), 1, "domain.tag:Tag.Created", b'{"a":1}')
        assert event_writes.insert(store, [first]) == store.recorder.max_notification_id()
        clash = StoredEvent(first.originator_id, 1, first.topic, b'{"a":2}')
        with pytest.raises(IntegrityError):  # as the library raises it
            event_writes.insert(store, [StoredEvent(uuid.uuid4(), 1, first.topic, b"{}"), clash])
        assert [n.state for n in store.recorder.select_notifications(start=1, limit=10)] == [b'{"a":1}']
