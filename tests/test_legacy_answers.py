"""`eosc-perf import-legacy` (issue 14): databases made by the original backend, imported into
each deployment, answer as the original answered them (tests/fixtures/legacy/*.json, recorded
from the original running on the same dumps; docs/operations.md tells how), apart from the
differences design §6 decided (tests/support/legacy_answers.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

import falcon.testing
import psycopg
import pytest

from eosc_perf import cli
from eosc_perf.embedded import build
from tests.support import legacy_answers, legacy_recordings
from tests.support.api import BACKENDS, Api, service_settings
from tests.support.legacy_databases import dump_text, restored
from tests.support.oidc_provider import LocalOpenIDProvider

pytestmark = pytest.mark.stack  # the original's databases live in the local PostgreSQL server

RECORDINGS = {"mixed": "mixed.json", "n1000": "n1000.json"}


@dataclass
class Imported:
    api: Api
    legacy_url: str
    report: list[dict]
    header: dict
    exchanges: list[dict]


def _import_embedded(tmp_path: Path, provider, legacy_url: str, report: Path) -> Api:
    data = tmp_path / "data"
    assert cli.main(["import-legacy", legacy_url, "--data", str(data), "--report", str(report)]) == 0
    service = build(service_settings(data, provider))
    return Api(service, falcon.testing.TestClient(service.app), provider)


def _import_production(request, provider, legacy_url: str, report: Path) -> Api:
    from tests.support.production_stack import HttpClient

    stack = request.getfixturevalue("production_stack")
    fence = stack.reset()
    done = stack.run_eosc_perf("import-legacy", legacy_url, "--report", str(report))
    assert done.returncode == 0, done.stderr
    stack.wait_until_projected(120)
    return Api(None, HttpClient(stack.base_url, fence), provider)


@pytest.fixture(
    params=[(name, backend) for name in RECORDINGS for backend in BACKENDS], ids=lambda param: f"{param[0]}-{param[1]}"
)
def imported(request, tmp_path: Path, identity_provider: LocalOpenIDProvider) -> Iterator[Imported]:
    name, backend = request.param
    header, exchanges = legacy_recordings.read(legacy_recordings.FIXTURES / RECORDINGS[name])
    sql = dump_text(header["fixture"], identity_provider.issuer, header["issuer"])
    report = tmp_path / "report.json"
    with restored(sql) as legacy_url:
        if backend == "embedded":
            api = _import_embedded(tmp_path, identity_provider, legacy_url, report)
        else:
            api = _import_production(request, identity_provider, legacy_url, report)
        try:
            yield Imported(api, legacy_url, json.loads(report.read_text()), header, exchanges)
        finally:
            if api.service is not None:
                api.service.close()


def _differences(legacy_url: str, callers: dict) -> legacy_answers.Differences:
    """Where design §6 decided to differ, found in the legacy database itself."""
    with psycopg.connect(legacy_url) as legacy:
        orphans = {
            row[0]
            for row in legacy.execute(
                "SELECT id::text FROM claim c WHERE NOT EXISTS (SELECT 1 FROM result r WHERE r._claim_report_id = c.id)"
            )
        }
        deleted = {
            row[0] for row in legacy.execute("SELECT id::text FROM result WHERE deleted AND _claim_report_id IS NULL")
        }
        registrations = {
            (sub, iss): first.isoformat()
            for sub, iss, first in legacy.execute(
                'SELECT u.sub, u.iss, min(up.t) FROM "user" u JOIN ('
                " SELECT uploader_sub s, uploader_iss i, upload_datetime t FROM benchmark UNION ALL"
                " SELECT uploader_sub, uploader_iss, upload_datetime FROM site UNION ALL"
                " SELECT uploader_sub, uploader_iss, upload_datetime FROM flavor UNION ALL"
                " SELECT uploader_sub, uploader_iss, upload_datetime FROM result UNION ALL"
                " SELECT uploader_sub, uploader_iss, upload_datetime FROM claim) up ON up.s = u.sub AND up.i = u.iss"
                " GROUP BY u.sub, u.iss, u.registration_datetime HAVING min(up.t) < u.registration_datetime"
            )
        }
    non_admins = {role for role, caller in callers.items() if not caller["admin"]}
    return legacy_answers.Differences(orphans, deleted, registrations, non_admins)


def _with_issuer(value, recorded: str, issuer: str):
    if isinstance(value, str):
        return value.replace(recorded, issuer)
    if isinstance(value, list):
        return [_with_issuer(item, recorded, issuer) for item in value]
    if isinstance(value, dict):
        return {key: _with_issuer(item, recorded, issuer) for key, item in value.items()}
    return value


def test_the_imported_database_answers_as_the_original_did(imported: Imported):
    api, header = imported.api, imported.header
    issuer = api.provider.issuer
    exchanges = [_with_issuer(exchange, header["issuer"], issuer) for exchange in imported.exchanges]
    differences = _differences(imported.legacy_url, header["callers"])
    tokens = {role: api.token(caller["sub"], admin=caller["admin"]) for role, caller in header["callers"].items()}
    expected = legacy_answers.expected_answers(exchanges, differences)
    answers, found = [], []
    for item in expected:
        exchange = item.exchange
        answer = api.get(
            exchange["path"],
            tokens.get(exchange["caller"]),
            query_string=urlencode([tuple(pair) for pair in exchange["query"]]),
        )
        body = answer.json if answer.text else None
        answers.append((answer.status_code, body))
        found += legacy_answers.problems(item, answer.status_code, body)
    found += legacy_answers.union_problems(expected, answers)
    assert not found, f"{len(found)} answers differ from the original's:\n" + "\n".join(found[:40])
