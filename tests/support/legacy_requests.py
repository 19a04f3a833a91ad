"""The fixed set of requests whose answers the import must reproduce (issue 14): every listing
and search with and without filters, sorts and pages, every item, the reports, as anonymous,
as a user and as an admin, chosen from the data of one legacy database.

`exchanges(legacy, callers, fetch)` sends them through `fetch(caller, path, query)` and returns
the exchanges; page requests follow what the first page said (how many pages there are), so
the set is decided by the data, not by the service being recorded. Used by the recorder
(tests/support/legacy_recorder.py); the test replays the recorded requests as they are.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Callable

Query = list[tuple[str, str]]
Fetch = Callable[[str | None, str, Query], tuple[int, object]]

# Page sizes of the paged variants: a full listing in pages of 100 (the largest size allowed),
# and small pages that cut runs of equal sort keys.
FULL = "100"
SMALL = "7"
# Up to this many results, the uploader and claims of each are asked for; beyond, of as many.
SUBRESOURCES_OF_ALL = 200


@dataclass(frozen=True)
class Callers:
    user: str  # a registered user with uploads
    admin: str  # a registered user whose token carries the admin entitlement
    claimer: str | None = None  # a registered user with claims, when the database has some
    unregistered: str = "nobody-legacy"  # a valid token of no registered user


def _rows(legacy, sql: str, *args) -> list[tuple]:
    with legacy.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


def _column(legacy, sql: str, *args) -> list:
    return [row[0] for row in _rows(legacy, sql, *args)]


def _middle_day(legacy, sql: str) -> str | None:
    """A day in the middle of a column's values, for before/after filters that split the data."""
    days = sorted(value.date() for value in _column(legacy, sql))
    return days[len(days) // 2].isoformat() if days else None


def _middle_term(values: list[str]) -> str | None:
    """A substring shared by several values: the middle third of the most common value."""
    if not values:
        return None
    value = Counter(values).most_common(1)[0][0]
    third = max(1, len(value) // 3)
    return value[third : 2 * third] or value


def _json_paths(documents: list[dict]) -> tuple[list[str], list[tuple[str, str]]]:
    """The two most common numeric leaf paths (object keys only) and the most common text leaf
    with its most common value, for JSON filters and sorts."""
    numbers: Counter[str] = Counter()
    texts: dict[str, Counter[str]] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if "." not in key and " " not in key:
                    walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, bool):
            return
        elif isinstance(value, (int, float)):
            numbers[path] += 1
        elif isinstance(value, str) and " " not in value and value:
            texts.setdefault(path, Counter())[value] += 1

    for document in documents:
        walk(document, "")
    numeric = [path for path, _ in numbers.most_common(2)]
    text = sorted(texts.items(), key=lambda item: -sum(item[1].values()))[:1]
    return numeric, [(path, counter.most_common(1)[0][0]) for path, counter in text]


def _numbers_at(documents: list[dict], path: str) -> list[float]:
    found = []
    for document in documents:
        value = document
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append(value)
    return found


class Recorder:
    """Sends requests and keeps the exchanges, following each listing's pages."""

    def __init__(self, fetch: Fetch):
        self.fetch = fetch
        self.exchanges: list[dict] = []

    def one(self, caller: str | None, path: str, query: Query | None = None) -> tuple[int, object]:
        query = list(query or [])
        status, body = self.fetch(caller, path, query)
        self.exchanges.append(
            {"caller": caller, "method": "GET", "path": path, "query": query, "status": status, "body": body}
        )
        return status, body

    def listing(self, caller: str | None, path: str, query: Query | None = None, *, small_pages: bool = True) -> None:
        """The default page, the whole listing in pages of 100, and (optionally) small pages:
        the second, the last and one beyond it (404)."""
        query = list(query or [])
        status, body = self.one(caller, path, query)
        if status != 200 or not isinstance(body, dict):
            return
        total = body["total"]
        pages = -(-total // int(FULL))
        for page in range(2, pages + 1):
            self.one(caller, path, query + [("per_page", FULL), ("page", str(page))])
        if small_pages and total > int(SMALL):
            last = -(-total // int(SMALL))
            for page in sorted({2, last, last + 1}):
                self.one(caller, path, query + [("per_page", SMALL), ("page", str(page))])


def exchanges(legacy, callers: Callers, fetch: Fetch) -> list[dict]:
    """Every request of the set, answered by `fetch`. `legacy`: a psycopg connection to the
    legacy database the service under record serves."""
    record = Recorder(fetch)
    for requests in (_catalog, _results, _reports, _users):
        requests(legacy, callers, record)
    return record.exchanges


# -- benchmarks, sites, flavors, tags ---------------------------------------------------------


def _reviewed(record: Recorder, path: str, sort: str) -> None:
    """A listing of reviewed items and its search, approved and on review, and two sorts."""
    for status in ("approved", "on_review"):
        approved = [("status", status)] if status == "on_review" else []
        record.listing(None, path, approved)
        record.listing(None, f"{path}:search", approved)
    record.listing(None, path, [("sort_by", sort)])
    record.listing(None, path, [("sort_by", "-upload_datetime")])


def _catalog(legacy, callers: Callers, record: Recorder) -> None:
    anonymous = None
    benchmark_day = _middle_day(legacy, "SELECT upload_datetime FROM benchmark")
    _reviewed(record, "/benchmarks", "+docker_image,+docker_tag")
    record.listing(anonymous, "/benchmarks", [("sort_by", "+id")], small_pages=False)
    record.listing(anonymous, "/benchmarks", [("sort_by", "-url,+description")], small_pages=False)
    record.listing(anonymous, "/benchmarks", [("upload_before", benchmark_day)])
    record.listing(anonymous, "/benchmarks", [("upload_after", benchmark_day), ("sort_by", "-docker_tag")])
    for image, tag in _rows(
        legacy,
        "SELECT docker_image, docker_tag FROM benchmark WHERE status = 'approved' ORDER BY upload_datetime LIMIT 1",
    ):
        record.listing(anonymous, "/benchmarks", [("docker_image", image)])
        record.listing(anonymous, "/benchmarks", [("docker_tag", tag), ("sort_by", "+upload_datetime")])
        record.listing(anonymous, "/benchmarks:search", [("terms", _middle_term([image]))])
        record.listing(anonymous, "/benchmarks:search", [("terms", tag), ("sort_by", "+docker_image")])
    images = _column(legacy, "SELECT docker_image FROM benchmark")
    record.listing(anonymous, "/benchmarks:search", [("terms", _middle_term(images)), ("sort_by", "-upload_datetime")])
    descriptions = _column(legacy, "SELECT description FROM benchmark WHERE description IS NOT NULL")
    if descriptions:
        record.listing(
            anonymous,
            "/benchmarks:search",
            [
                ("terms", _middle_term(descriptions)),
                ("terms", _middle_term(images)),
                ("status", "on_review"),
                ("sort_by", "+docker_tag"),
            ],
        )
    for id in _column(legacy, "SELECT id::text FROM benchmark ORDER BY id"):
        record.one(anonymous, f"/benchmarks/{id}")

    site_day = _middle_day(legacy, "SELECT upload_datetime FROM site")
    _reviewed(record, "/sites", "+name,-address")
    record.listing(anonymous, "/sites", [("upload_after", site_day), ("sort_by", "+address")])
    record.listing(anonymous, "/sites", [("upload_before", site_day), ("status", "on_review")])
    for name, address in _rows(
        legacy, "SELECT name, address FROM site WHERE status = 'approved' ORDER BY upload_datetime LIMIT 1"
    ):
        record.listing(anonymous, "/sites", [("name", name)])
        record.listing(anonymous, "/sites", [("address", address)])
        record.listing(anonymous, "/sites:search", [("terms", _middle_term([address])), ("sort_by", "+name")])
    names = _column(legacy, "SELECT name FROM site")
    record.listing(anonymous, "/sites:search", [("terms", _middle_term(names)), ("sort_by", "-name")])
    for id in _column(legacy, "SELECT id::text FROM site ORDER BY id"):
        record.one(anonymous, f"/sites/{id}")
        record.listing(anonymous, f"/sites/{id}/flavors", small_pages=False)
    for (site_id,) in _rows(
        legacy, "SELECT site_id::text FROM flavor GROUP BY site_id ORDER BY count(*) DESC, site_id LIMIT 1"
    ):
        record.listing(anonymous, f"/sites/{site_id}/flavors", [("sort_by", "-upload_datetime")])
        record.listing(anonymous, f"/sites/{site_id}/flavors:search")
        flavor_names = _column(legacy, "SELECT name FROM flavor WHERE site_id = %s", site_id)
        record.listing(
            anonymous, f"/sites/{site_id}/flavors:search", [("terms", _middle_term(flavor_names)), ("sort_by", "+name")]
        )
    for (site_id,) in _rows(
        legacy, "SELECT site_id::text FROM flavor WHERE status = 'on_review' GROUP BY site_id ORDER BY site_id LIMIT 3"
    ):
        record.listing(anonymous, f"/sites/{site_id}/flavors", [("status", "on_review")])
        record.listing(anonymous, f"/sites/{site_id}/flavors:search", [("status", "on_review")])
    for id in _column(legacy, "SELECT id::text FROM flavor ORDER BY id"):
        record.one(anonymous, f"/flavors/{id}")
        record.one(anonymous, f"/flavors/{id}/site")

    record.listing(anonymous, "/tags")
    record.listing(anonymous, "/tags:search")
    record.listing(anonymous, "/tags", [("sort_by", "+name,-description")])
    record.listing(anonymous, "/tags", [("sort_by", "-id")], small_pages=False)
    tag_names = _column(legacy, "SELECT name FROM tag ORDER BY name")
    if tag_names:
        record.listing(anonymous, "/tags", [("name", tag_names[0])])
        record.listing(anonymous, "/tags:search", [("terms", _middle_term(tag_names)), ("sort_by", "+name")])
    for id in _column(legacy, "SELECT id::text FROM tag ORDER BY id"):
        record.one(anonymous, f"/tags/{id}")


# -- results ----------------------------------------------------------------------------------


def _results(legacy, callers: Callers, record: Recorder) -> None:
    anonymous = None
    documents = _column(legacy, "SELECT json FROM result WHERE NOT deleted ORDER BY id")
    numeric, text = _json_paths(documents)
    upload_day = _middle_day(legacy, "SELECT upload_datetime FROM result")
    execution_day = _middle_day(legacy, "SELECT execution_datetime FROM result")

    record.listing(anonymous, "/results")
    record.listing(anonymous, "/results:search")
    for sort in (
        "+upload_datetime",
        "-execution_datetime",
        "+benchmark_name",
        "+site_name,+flavor_name",
        "-site_address",
        "+flavor_name,-upload_datetime",
        "+id",
    ):
        record.listing(anonymous, "/results", [("sort_by", sort)], small_pages=sort != "+id")
    for path in numeric:
        record.listing(anonymous, "/results", [("sort_by", f"+json.{path}")])
        record.listing(anonymous, "/results", [("sort_by", f"-json.{path}")], small_pages=False)
        values = _numbers_at(documents, path)
        middle = statistics.median(values)
        record.listing(anonymous, "/results", [("filters", f"{path} > {middle}")])
        record.listing(anonymous, "/results", [("filters", f"{path} <= {middle}"), ("sort_by", f"+json.{path}")])
        record.listing(anonymous, "/results", [("filters", f"{path} == {values[0]}")])
    for path, value in text:
        record.listing(anonymous, "/results", [("filters", f"{path} == {value}")])
        record.listing(anonymous, "/results", [("sort_by", f"+json.{path},-upload_datetime")])
    if len(numeric) == 2:
        middles = [statistics.median(_numbers_at(documents, path)) for path in numeric]
        record.listing(
            anonymous,
            "/results",
            [("filters", f"{numeric[0]} >= {middles[0]}"), ("filters", f"{numeric[1]} < {middles[1]}")],
        )
    for day_filter, day in (
        ("upload_before", upload_day),
        ("upload_after", upload_day),
        ("execution_before", execution_day),
        ("execution_after", execution_day),
    ):
        record.listing(anonymous, "/results", [(day_filter, day)], small_pages=False)
    for name, column in (("benchmark_id", "benchmark_id"), ("site_id", "site_id"), ("flavor_id", "flavor_id")):
        for (id,) in _rows(
            legacy,
            f"SELECT {column}::text FROM result WHERE NOT deleted GROUP BY {column} ORDER BY count(*) DESC, 1 LIMIT 2",
        ):
            record.listing(anonymous, "/results", [(name, id)])
    tags = _column(legacy, "SELECT tag_id::text FROM result_tags GROUP BY tag_id ORDER BY count(*) DESC, 1 LIMIT 3")
    for tag_id in tags:
        record.listing(anonymous, "/results", [("tags_ids", tag_id), ("sort_by", "-upload_datetime")])
    for first, second in _rows(
        legacy,
        "SELECT a.tag_id::text, b.tag_id::text FROM result_tags a JOIN result_tags b "
        "ON a.result_id = b.result_id AND a.tag_id < b.tag_id "
        "GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1",
    ):
        record.listing(anonymous, "/results", [("tags_ids", first), ("tags_ids", second)])
    for benchmark_id, site_id in _rows(
        legacy,
        "SELECT benchmark_id::text, site_id::text FROM result "
        "WHERE NOT deleted GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1",
    ):
        query = [("benchmark_id", benchmark_id), ("site_id", site_id), ("execution_after", execution_day)]
        if numeric:
            query += [
                ("filters", f"{numeric[0]} > {statistics.median(_numbers_at(documents, numeric[0]))}"),
                ("sort_by", f"-json.{numeric[0]}"),
            ]
        record.listing(anonymous, "/results", query)

    for image, site, address, flavor in _rows(
        legacy,
        "SELECT b.docker_image, s.name, s.address, f.name FROM result r JOIN benchmark b ON b.id = r.benchmark_id "
        "JOIN site s ON s.id = r.site_id JOIN flavor f ON f.id = r.flavor_id WHERE NOT r.deleted "
        "GROUP BY 1, 2, 3, 4 ORDER BY count(*) DESC, 1, 2, 3, 4 LIMIT 1",
    ):
        record.listing(
            anonymous, "/results:search", [("terms", _middle_term([image])), ("sort_by", "+upload_datetime")]
        )
        record.listing(anonymous, "/results:search", [("terms", site), ("sort_by", "-execution_datetime")])
        record.listing(
            anonymous, "/results:search", [("terms", _middle_term([address])), ("terms", flavor), ("sort_by", "+id")]
        )
        record.listing(anonymous, "/results:search", [("terms", site), ("upload_after", upload_day)])
    for (name,) in _rows(
        legacy,
        "SELECT t.name FROM result_tags rt JOIN tag t ON t.id = rt.tag_id "
        "GROUP BY t.name ORDER BY count(*) DESC, 1 LIMIT 1",
    ):
        record.listing(anonymous, "/results:search", [("terms", name), ("sort_by", "+execution_datetime")])
    if numeric:
        record.listing(anonymous, "/results:search", [("sort_by", f"-json.{numeric[0]}")])

    ids = _column(legacy, "SELECT id::text FROM result ORDER BY id")
    owned = set(_column(legacy, "SELECT r.id::text FROM result r WHERE r.uploader_sub = %s", callers.user))
    for id in ids:
        record.one(anonymous, f"/results/{id}")
    # A result's uploader and claims: of every result in a small database, of the first ones
    # (by id) and every claimed one in a large one.
    claimed = set(_column(legacy, "SELECT id::text FROM result WHERE _claim_report_id IS NOT NULL"))
    for id in ids if len(ids) <= SUBRESOURCES_OF_ALL else sorted(set(ids[:SUBRESOURCES_OF_ALL]) | claimed):
        record.one(callers.admin, f"/results/{id}/uploader")
        record.one(callers.admin, f"/results/{id}/claims", [("status", "on_review")])
        record.one(callers.admin, f"/results/{id}/claims")
    for id in sorted(owned)[:5]:
        record.one(callers.user, f"/results/{id}/claims", [("status", "on_review")])
    for id in [id for id in ids if id not in owned][:2]:
        record.one(callers.user, f"/results/{id}/claims")  # neither owner nor admin: 403

    record.listing(callers.user, "/users/self/results")
    record.listing(callers.user, "/users/self/results", [("sort_by", "-upload_datetime")])
    record.listing(callers.user, "/users/self/results", [("upload_after", upload_day), ("sort_by", "+id")])
    record.listing(callers.admin, "/users/self/results")


# -- reports: submits and claims ------------------------------------------------------------------


def _reports(legacy, callers: Callers, record: Recorder) -> None:
    admin = callers.admin
    submit_day = _middle_day(legacy, "SELECT upload_datetime FROM submit")
    record.listing(admin, "/reports/submits")
    record.listing(admin, "/reports/submits", [("sort_by", "-upload_datetime")])
    record.listing(admin, "/reports/submits", [("sort_by", "+resource_type,-upload_datetime")])
    for kind in ("benchmark", "site", "flavor", "claim"):
        record.listing(admin, "/reports/submits", [("resource_type", kind)])
    if submit_day:
        record.listing(admin, "/reports/submits", [("upload_before", submit_day)])
        record.listing(admin, "/reports/submits", [("upload_after", submit_day), ("sort_by", "+upload_datetime")])
    for status in ("approved", "on_review"):
        record.listing(admin, "/reports/claims", [("status", status)])
        record.listing(admin, "/reports/claims", [("status", status), ("sort_by", "-upload_datetime")])
    record.listing(admin, "/reports/claims", [("status", "on_review"), ("sort_by", "+message")])
    claim_day = _middle_day(legacy, "SELECT upload_datetime FROM claim")
    if claim_day:
        record.listing(admin, "/reports/claims", [("status", "on_review"), ("upload_after", claim_day)])
    for id in _column(legacy, "SELECT id::text FROM claim ORDER BY id"):
        record.one(admin, f"/reports/claims/{id}")
    # The access levels, as each caller meets them.
    for caller in (None, callers.unregistered, callers.user):
        record.one(caller, "/reports/submits")
        record.one(caller, "/reports/claims")


# -- users ---------------------------------------------------------------------------------------


def _users(legacy, callers: Callers, record: Recorder) -> None:
    admin = callers.admin
    record.listing(admin, "/users")
    record.listing(admin, "/users:search")
    for sort in ("+iss,-sub", "+registration_datetime", "-email", "+sub"):
        record.listing(admin, "/users", [("sort_by", sort)])
    emails = _column(legacy, 'SELECT email FROM "user" ORDER BY email')
    for sub, iss, email in _rows(legacy, 'SELECT sub, iss, email FROM "user" WHERE sub = %s', callers.user):
        record.listing(admin, "/users", [("sub", sub)])
        record.listing(admin, "/users", [("iss", iss), ("sort_by", "+email")])
        record.listing(admin, "/users", [("email", email)])
    shared = Counter(email.split("@")[-1] for email in emails).most_common(1)
    if shared:
        record.listing(admin, "/users:search", [("terms", shared[0][0]), ("sort_by", "+sub")])
        record.listing(
            admin,
            "/users:search",
            [("terms", "@"), ("terms", _middle_term(emails)), ("sort_by", "-registration_datetime")],
        )
    registered = [callers.user, admin] + ([callers.claimer] if callers.claimer else [])
    for caller in [None, callers.unregistered, *registered]:
        record.one(caller, "/users/self")
    record.one(admin, "/users/self:try_admin")
    record.one(callers.user, "/users/self:try_admin")
    record.one(callers.user, "/users")
    for caller in [callers.user] + ([callers.claimer] if callers.claimer else []):
        record.listing(caller, "/users/self/claims")
        record.listing(caller, "/users/self/claims", [("status", "on_review")])
        record.listing(caller, "/users/self/claims", [("status", "on_review"), ("sort_by", "-upload_datetime")])
