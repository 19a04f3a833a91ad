"""`as_of` on every GET (issue 12 part 1): an answer recorded with its ETag while writes, claims,
approvals, renames and deletions go on is answered again, byte for byte, as of that ETag."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

from sqlalchemy import delete, inspect

from query_service import as_of_pages
from read_model import read_store, row_versions
from read_model.migrations import migrate, schema_migrations
from tests.support import catalog, covered_indexes
from tests.support.api import read_store_url
from tests.support.catalog import query_string


def _etag(answer) -> int | None:
    """The position an answer is of: its ETag, or for a caller's own answer X-Event-Position."""
    tag = answer.headers.get("etag")
    position = answer.headers.get("x-event-position")
    if tag is not None:
        assert tag == f'"{position}"'
    return int(position) if position else None


def _urls(where: catalog.Setup, results: list[str], claims: list[str], tag_name: str, callers) -> list[tuple]:
    """(path, query, token): listings with filters, sorts, pages and searches, and items."""
    site_id, benchmark_id = where.site["id"], where.benchmark["id"]
    anonymous, user, admin = callers.anonymous, callers.user, callers.admin
    urls = [
        ("/results", "", anonymous),
        ("/results", "per_page=2&page=2", anonymous),
        ("/results", query_string(sort_by="-execution_datetime,+id"), anonymous),
        ("/results", query_string(benchmark_id=benchmark_id, filters="time > 1", sort_by="-json.time"), anonymous),
        ("/results", query_string(benchmark_id=benchmark_id, sort_by="+json.time"), anonymous),
        ("/results:search", query_string(terms=where.site["name"]), anonymous),
        ("/results:search", query_string(terms=tag_name), anonymous),
        ("/benchmarks", "", anonymous),
        ("/benchmarks", "status=on_review", anonymous),
        ("/sites", query_string(sort_by="-name"), anonymous),
        ("/sites:search", query_string(terms="renamed"), anonymous),
        (f"/sites/{site_id}", "", anonymous),
        (f"/sites/{site_id}/flavors", "", anonymous),
        (f"/flavors/{where.flavor['id']}/site", "", anonymous),
        ("/tags", "", anonymous),
        ("/users/self", "", user),
        ("/users/self/results", query_string(sort_by="+upload_datetime"), user),
        ("/users/self/claims", "", admin),
        ("/reports/submits", "", admin),
        ("/reports/claims", "", admin),
        ("/reports/claims", "status=approved", admin),
        ("/users", "", admin),
        ("/users:search", query_string(terms="example"), admin),
    ]
    for result_id in results:
        urls += [
            (f"/results/{result_id}", "", anonymous),
            (f"/results/{result_id}/claims", "", admin),
            (f"/results/{result_id}/uploader", "", admin),
        ]
    urls += [(f"/reports/claims/{claim_id}", "", admin) for claim_id in claims]
    return urls


def _record(api, urls, seen: list) -> None:
    for path, query, token in urls:
        answer = api.get(path, token, query_string=query)
        position = _etag(answer)
        if answer.status_code == 200:
            assert position is not None, (path, query)
        if position is not None:
            seen.append((path, query, token, position, answer.status_code, answer.text))


def test_every_recorded_answer_is_answered_again_as_of_its_etag(api, callers):
    user, admin = callers.user, callers.admin
    where = catalog.setup(api, user, admin, schema=catalog.TIME_SCHEMA)
    other_site = catalog.site(api, user, admin)
    tag = catalog.tag(api, user)
    results: list[str] = []
    claims: list[str] = []
    seen: list = []

    def record():
        _record(api, _urls(where, results, claims, tag["name"], callers), seen)

    record()
    for time in (3, 1, 2):
        results.append(catalog.upload(api, user, where, {"time": time}, tags=[tag["id"]])["id"])
        record()
    claims.append(catalog.claim(api, callers.other, results[0])["id"])
    record()
    assert api.post(f"/reports/claims/{claims[0]}:approve", admin).status_code == 204  # hides the result
    record()
    claims.append(catalog.claim(api, admin, results[1], "again")["id"])
    record()
    assert api.post(f"/reports/claims/{claims[1]}:reject", admin).status_code == 204
    record()
    answer = api.put(f"/sites/{where.site['id']}", admin, json={"name": "renamed", "address": "elsewhere"})
    assert answer.status_code == 204, answer.text
    record()
    assert api.put(f"/tags/{tag['id']}", admin, json={"name": catalog.unique("renamed")}).status_code == 204
    record()
    assert api.put(f"/results/{results[2]}/tags", user, json={"tags_ids": []}).status_code == 204
    record()
    assert api.delete(f"/results/{results[1]}", admin).status_code == 204
    record()
    catalog.submit_benchmark(api, user)
    record()
    assert api.delete(f"/sites/{other_site['id']}", admin).status_code == 204
    assert api.delete(f"/tags/{tag['id']}", admin).status_code == 204
    record()

    assert len({position for *_, position, _, _ in seen}) >= 12
    now = {(path, query): api.get(path, token, query_string=query).text for path, query, token, *_ in seen}
    assert sum(text != now[path, query] for path, query, _, _, _, text in seen) > len(seen) / 3  # many past states
    for path, query, token, position, status, text in seen:
        again = api.get(path, token, query_string="&".join(part for part in (query, f"as_of={position}") if part))
        assert (again.status_code, again.text) == (status, text), (path, query, position)
        assert _etag(again) == position


def test_pages_mixing_stored_rows_and_versions_are_answered_again_in_order(
    api, callers, monkeypatch, request, tmp_path
):
    """An as-of page is chosen from the stored rows and the superseded versions at once
    (query_service/as_of_pages.py): pages in which both interleave, in several orders, filtered
    and not, deep ones, ones found from the listing's end and the one past the end, are answered
    again byte for byte. In the embedded service every page but the first is chosen as a deep
    one is (its stored rows before it skipped in the stored half); the production stack chooses
    them all by the plain merge."""
    monkeypatch.setattr(as_of_pages, "DEEP", 1)
    user, admin = callers.user, callers.admin
    first, second = catalog.setup(api, user, admin), catalog.setup(api, user, admin)
    results = []
    for hour in range(8):
        where = (first, second)[hour % 2]
        executed = f"2024-01-01T{10 + (hour * 5) % 8:02d}:00:00+00:00"  # not in upload order
        results.append(catalog.upload(api, user, where, {"hour": hour}, executed=executed)["id"])
    # Of 8 results: pages nearer the start (walked from it) and nearer the end (from the end).
    urls = [
        ("/results", query_string(per_page=per_page, page=page, **sort), callers.anonymous)
        for per_page, page in ((3, 1), (3, 2), (3, 3), (3, 4), (2, 2))
        for sort in ({}, {"sort_by": "-execution_datetime"}, {"sort_by": "+site_name,-upload_datetime"})
    ]
    urls += [
        ("/results", query_string(per_page=2, page=2, site_id=first.site["id"]), callers.anonymous),
        ("/users/self/results", query_string(per_page=3, page=2), user),
    ]
    # Pages chosen from the number index (a number filter, a numeric sort, both), whose rows of a
    # hidden or deleted result go to the numbers' versions.
    for where in (first, second):
        benchmark = where.benchmark["id"]
        urls += [
            ("/results", query_string(per_page=2, page=page, benchmark_id=benchmark, **arguments), callers.anonymous)
            for page in (1, 2, 3)
            for arguments in (
                {"filters": "hour > 0", "sort_by": "-json.hour"},
                {"sort_by": "+json.hour"},
                {"filters": "hour < 7"},
            )
        ]
    seen: list = []
    _record(api, urls, seen)
    # The first site's results get new rows (their site's name is copied into them); the second's stay.
    answer = api.put(f"/sites/{first.site['id']}", admin, json={"name": "renamed first", "address": "here"})
    assert answer.status_code == 204, answer.text
    _record(api, urls, seen)
    claim = catalog.claim(api, callers.other, results[3])["id"]
    assert api.post(f"/reports/claims/{claim}:approve", admin).status_code == 204  # hides it
    assert api.delete(f"/results/{results[4]}", admin).status_code == 204
    _record(api, urls, seen)
    assert len({position for *_, position, _, _ in seen}) == 3
    now = {(path, query): api.get(path, token, query_string=query).text for path, query, token, *_ in seen}
    assert sum(text != now[path, query] for path, query, _, _, _, text in seen) > len(seen) / 2
    for path, query, token, position, status, text in seen:
        again = api.get(path, token, query_string=f"{query}&as_of={position}")
        assert (again.status_code, again.text) == (status, text), (path, query, position)
    _numbers_change_with_their_result(read_store_url(api, request, tmp_path))


def _numbers_change_with_their_result(url: str) -> None:
    """What as-of number filters rely on (as_of_pages._Held): a result's numbers are written and
    superseded only by an event that writes or supersedes its row too."""
    engine = read_store.connect(url)
    with engine.connect() as conn:
        stored_after_their_row = conn.exec_driver_sql(
            "SELECT count(*) FROM result_numbers n JOIN results r ON r.seq = n.seq WHERE n.valid_from > r.valid_from"
        ).scalar_one()
        superseded_alone = conn.exec_driver_sql(
            "SELECT count(*) FROM result_numbers_versions n WHERE NOT EXISTS (SELECT 1 FROM results_versions r"
            " WHERE r.seq = n.seq AND r.valid_to = n.valid_to)"
        ).scalar_one()
        superseded = conn.exec_driver_sql("SELECT count(*) FROM result_numbers_versions").scalar_one()
    engine.dispose()
    assert superseded > 0  # the hidden and the deleted result's
    assert (stored_after_their_row, superseded_alone) == (0, 0)


def _as_of_indexes(engine) -> set[tuple[str, str]]:
    """(table, index) of what migrations 15, 17 and 18 add: the versions tables' copies of their
    tables' indexes (not their own `valid_to` one), and the result listings' and the number
    index's indexes with `valid_from`."""
    found = set()
    for table in row_versions.versioned_tables():
        versions = table.name + row_versions.SUFFIX
        found |= {(versions, index["name"]) for index in inspect(engine).get_indexes(versions)}
    found = {(table, name) for table, name in found if not name.endswith("_valid")}
    for table in ("results", "result_numbers"):
        found |= {(table, i["name"]) for i in inspect(engine).get_indexes(table) if "as_of" in i["name"]}
    return found


def test_a_store_from_before_the_as_of_indexes_gets_them_and_answers_alike(api, callers, request, tmp_path):
    """Read-store migrations 15, 17 and 18 on a store without them (and with the (site_id,
    hidden), (flavor_id, hidden) and number indexes 17 and 18 replace, and the listing indexes
    migration 23 drops): the indexes come, the replaced go, the answers stay."""
    user, admin = callers.user, callers.admin
    where = catalog.setup(api, user, admin)
    results = [catalog.upload(api, user, where, {"hour": hour})["id"] for hour in range(3)]
    before = _etag(api.get("/results"))
    answer = api.put(f"/sites/{where.site['id']}", admin, json={"name": "moved away", "address": "there"})
    assert answer.status_code == 204, answer.text
    assert api.delete(f"/results/{results[1]}", admin).status_code == 204  # its numbers become versions
    queries = [
        query_string(per_page=2, site_id=where.site["id"], as_of=before),
        query_string(benchmark_id=where.benchmark["id"], filters="hour > 0", sort_by="-json.hour", as_of=before),
    ]
    answered = [api.get("/results", query_string=query).text for query in queries]
    engine = read_store.connect(read_store_url(api, request, tmp_path))
    indexes = _as_of_indexes(engine)
    assert ("results_versions", "results_pkey_versions") in indexes and ("results", "results_listing_as_of") in indexes
    assert {("results", "results_site_as_of"), ("results_versions", "results_flavor_as_of_versions")} <= indexes
    assert {
        ("result_numbers", "result_numbers_as_of"),
        ("result_numbers_versions", "result_numbers_as_of_versions"),
    } <= indexes
    with engine.begin() as conn:
        for _table, name in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        conn.exec_driver_sql("CREATE INDEX results_site_visible ON results (site_id, hidden)")
        conn.exec_driver_sql("CREATE INDEX results_flavor_visible ON results (flavor_id, hidden)")
        conn.exec_driver_sql(
            "CREATE INDEX result_numbers_range ON result_numbers (benchmark_id, path, hidden, value, seq)"
        )
        covered_indexes.restore(conn)
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version.in_([15, 17, 18, 23, 24])))
    assert _as_of_indexes(engine) == set()
    assert [api.get("/results", query_string=query).text for query in queries] == answered  # slower, the same
    assert migrate(engine) == [15, 17, 18, 23, 24]
    assert _as_of_indexes(engine) == indexes
    assert not {"results_site_visible", "results_flavor_visible"} & {
        index["name"] for index in inspect(engine).get_indexes("results")
    }
    assert "result_numbers_range" not in {index["name"] for index in inspect(engine).get_indexes("result_numbers")}
    assert [api.get("/results", query_string=query).text for query in queries] == answered
    engine.dispose()


def test_an_item_that_did_not_exist_yet_is_not_found_as_of_before_it(api, callers):
    before = _etag(api.get("/tags"))
    tag = catalog.tag(api, callers.user)
    assert api.get(f"/tags/{tag['id']}").status_code == 200
    answer = api.get(f"/tags/{tag['id']}", query_string=f"as_of={before}")
    assert answer.status_code == 404
    assert answer.json["code"] == 404


def test_a_position_beyond_the_head_is_refused(api, callers):
    head = _etag(api.get("/tags"))
    answer = api.get("/tags", query_string=f"as_of={head + 1000}")
    assert answer.status_code == 422
    assert "beyond the newest event position" in answer.json["errors"]["error"]


def test_a_value_that_is_no_position_or_time_is_refused_as_other_arguments_are(api, callers):
    for value in ("yesterday", "-1", "2024-01-01T10:00:00", "1.5", str(2**63)):
        answer = api.get("/results", query_string=query_string(as_of=value))
        assert answer.status_code == 422, value
        assert answer.json["errors"] == {
            "query": {"as_of": ["Not a valid event position or ISO 8601 time with offset."]}
        }


def test_a_time_reads_the_state_after_the_last_event_at_or_before_it(api, callers):
    tag = catalog.tag(api, callers.user, name=f"first-{uuid4().hex[:6]}")
    first = api.get("/tags")
    moment = datetime.now(timezone.utc)
    catalog.tag(api, callers.user, name=f"second-{uuid4().hex[:6]}")
    assert tag["name"] in first.text
    at_time = api.get("/tags", query_string=query_string(as_of=moment.isoformat()))
    assert (at_time.status_code, at_time.text) == (200, first.text)
    assert _etag(at_time) == _etag(first)
    long_ago = (moment - timedelta(days=3650)).isoformat()
    assert api.get(f"/tags/{tag['id']}", query_string=query_string(as_of=long_ago)).status_code == 404


def test_the_same_access_rules_apply_as_of_a_past_position(api, callers):
    position = _etag(api.get("/tags"))
    for path in ("/reports/claims", "/users"):
        assert api.get(path, query_string=f"as_of={position}").status_code == 401
        assert api.get(path, callers.user, query_string=f"as_of={position}").status_code == 403
    assert api.get("/users/self", query_string=f"as_of={position}").status_code == 401


def test_public_answers_as_of_a_position_are_immutable_and_revalidate_with_their_tag(api, callers):
    catalog.tag(api, callers.user)
    position = _etag(api.get("/tags"))
    catalog.tag(api, callers.user)
    answer = api.get("/tags", query_string=f"as_of={position}")
    assert "immutable" in answer.headers["Cache-Control"]
    again = api.get("/tags", query_string=f"as_of={position}", headers={"If-None-Match": f'"{position}"'})
    assert again.status_code == 304
    private = api.get("/users/self", callers.user, query_string=f"as_of={position}")
    assert private.headers["Cache-Control"] == "no-store"
    assert "etag" not in private.headers and private.headers["X-Event-Position"] == str(position)


def test_the_change_feed_reads_as_of_a_position_but_its_stream_has_no_past(api, callers):
    position = _etag(api.get("/tags"))
    catalog.tag(api, callers.user)
    feed = api.get("/events", query_string=f"after=0&as_of={position}")
    assert feed.status_code == 200
    assert feed.json["last_position"] == position  # the events after it are not in the log as of it
    answer = api.get("/events:stream", query_string=f"as_of={position}")
    assert answer.status_code == 422
    assert "stream" in answer.json["errors"]["error"]
