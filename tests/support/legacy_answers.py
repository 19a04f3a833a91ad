"""Comparing this service's answers with the original's recorded ones (issue 14).

An answer must equal the recorded one, with exactly two allowances:

* The differences design §6 decided (`Differences`), applied to the recorded answers before
  comparing: Q-4 (a claim no result refers to is not imported), Q-5 (a result the original
  hides without a claim is an admin-deleted one: GET by id answers 404), Q-1 (a user who
  uploaded before their stored registration time registered at their first upload), and the
  hardening's "a result's owner who is no admin sees its claims without the claimers'
  e-mails" (`without_claimer_emails`).
* What the contract leaves unspecified: the order of items with equal sort keys, and of every
  item of a search without `sort_by` (§4.2), and so which of them a page holds where it cuts
  such a run (the original pages with OFFSET over an unstable order: its pages of one listing
  repeat some items and never show others). Within a run the page holds must be the
  original's items; where a page cuts a run, each item must have the run's sort key and be
  the original's item of that id; and a whole listing must hold `total` different items, every
  one the original showed among them. And the order of a result's tags (the original's is its
  association table's storage order).

Listings are grouped into shapes (caller, path, query without `page`/`per_page`); the whole
listing of a shape (its default page, and its pages of 100 when longer) is always recorded, so
a shape whose items a difference removes or re-dates is expected page by page from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

PAGE_KEYS = ("page", "per_page")

DEFAULT_SORT = {
    "/benchmarks": "+docker_image",
    "/sites": "+name",
    "/flavors": "+name",  # /sites/{id}/flavors
    "/tags": "+name",
    "/results": "+execution_datetime",
    "/users/self/results": "+execution_datetime",
    "/users": "+iss,+sub",
    "/reports/submits": "+resource_type",
    "/reports/claims": "+upload_datetime",
    "/users/self/claims": "+upload_datetime",
    "/claims": "+upload_datetime",  # /results/{id}/claims
}


@dataclass
class Differences:
    orphan_claims: set[str] = field(default_factory=set)
    deleted_results: set[str] = field(default_factory=set)
    registrations: dict[tuple[str, str], str] = field(default_factory=dict)  # (sub, iss) -> time
    non_admin_callers: set[str] = field(default_factory=set)  # roles of the recording that are no admins


_CANONICAL: dict[int, tuple[object, str]] = {}  # id(value) -> (value, text): items recur across answers


def canonical(value) -> str:
    """Comparable JSON text. A result's tags in one order: the original lists them as its
    association table stores them (an order the contract does not specify); this service by name."""
    cached = _CANONICAL.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    if isinstance(value, dict) and "benchmark" in value and isinstance(value.get("tags"), list):
        value_ = {**value, "tags": sorted(value["tags"], key=lambda tag: tag.get("id", ""))}
    else:
        value_ = value
    text = json.dumps(value_, sort_keys=True)
    if isinstance(value, (dict, list)):
        _CANONICAL[id(value)] = (value, text)
    return text


def _both(ours, expected) -> str:
    """Two differing documents, as a failure message shows them (their first 600 characters)."""
    return f"  ours:     {canonical(ours)[:600]}\n  expected: {canonical(expected)[:600]}"


def _is_listing(body) -> bool:
    return isinstance(body, dict) and "items" in body and "total" in body


def shape(exchange: dict) -> tuple:
    query = tuple((name, value) for name, value in exchange["query"] if name not in PAGE_KEYS)
    return exchange["caller"], exchange["path"], query


def _endpoint(path: str) -> str:
    parts = path.split("/")
    if len(parts) == 4 and parts[1] in ("sites", "results"):
        return "/" + parts[3].split(":")[0]  # /sites/{id}/flavors(:search), /results/{id}/claims
    return path


def sort_spec(exchange: dict) -> str:
    given = [value for name, value in exchange["query"] if name == "sort_by"]
    if given:
        return given[0]
    if exchange["path"].endswith(":search"):
        return ""  # searches have no default order
    return DEFAULT_SORT[_endpoint(exchange["path"])]


def _field(item: dict, name: str):
    if name.startswith("json.") or name == "json":
        value = item.get("json")
        for key in name.split(".")[1:]:
            value = value.get(key) if isinstance(value, dict) else None
        return canonical(value)
    derived = {
        "benchmark_name": lambda: f"{item['benchmark']['docker_image']}:{item['benchmark']['docker_tag']}",
        "site_name": lambda: item["site"]["name"],
        "site_address": lambda: item["site"]["address"],
        "flavor_name": lambda: item["flavor"]["name"],
        "benchmark_id": lambda: item["benchmark"]["id"],
        "site_id": lambda: item["site"]["id"],
        "flavor_id": lambda: item["flavor"]["id"],
    }
    if name in derived and "benchmark" in item:
        return derived[name]()
    return item.get(name)


def sort_key(spec: str) -> Callable[[dict], tuple]:
    names = [part[1:] for part in spec.split(",") if part]
    return lambda item: tuple(_field(item, name) for name in names)


def identity(item: dict) -> str | tuple:
    if "id" in item:
        return item["id"]
    if "resource_id" in item:
        return item["resource_type"], item["resource_id"]
    return item["sub"], item["iss"]


# -- the differences, applied to recorded answers ----------------------------------------------------


def _redated(value, differences: Differences):
    """An answer with the Q-1 registration time in its user objects: a user, a claim's or a
    submit's uploader, or the items of a listing of those."""
    if not differences.registrations or not isinstance(value, dict):
        return value
    if _is_listing(value):
        return {**value, "items": [_redated(item, differences) for item in value["items"]]}
    if isinstance(value.get("uploader"), dict):
        return {**value, "uploader": _redated(value["uploader"], differences)}
    moved = differences.registrations.get((value.get("sub"), value.get("iss")))
    return {**value, "registration_datetime": moved} if moved and "registration_datetime" in value else value


def _kept(item: dict, differences: Differences) -> bool:
    if item.get("id") in differences.orphan_claims:
        return False
    return not (item.get("resource_type") == "claim" and item.get("resource_id") in differences.orphan_claims)


def _single(exchange: dict, differences: Differences) -> tuple[int, object]:
    """The expected answer of a request that is not a listing."""
    path = exchange["path"]
    last = path.rsplit("/", 1)[-1]
    if path.startswith("/reports/claims/") and last in differences.orphan_claims:
        return 404, {"code": 404, "status": "Not Found", "errors": {"error": f"Claim {last} not found in the database"}}
    if path.startswith("/results/") and path.count("/") == 2 and last in differences.deleted_results:
        return 404, {
            "code": 404,
            "status": "Not Found",
            "errors": {"error": f"Result {last} not found in the database"},
        }
    return exchange["status"], _redated(exchange["body"], differences)


def _page(items: list, total: int, page: int, per_page: int) -> tuple[int, object]:
    pages = -(-total // per_page) if total else 0
    chosen = items[(page - 1) * per_page : page * per_page]
    if not chosen and page != 1:
        return 404, {"code": 404, "status": "Not Found"}
    body = {
        "has_next": page < pages,
        "has_prev": page > 1,
        "items": chosen,
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
    }
    if page < pages:
        body["next_num"] = page + 1
    if page > 1:
        body["prev_num"] = page - 1
    return 200, body


def _query_int(exchange: dict, name: str, default: int) -> int:
    values = [value for key, value in exchange["query"] if key == name]
    return int(values[0]) if values else default


@dataclass
class Expected:
    exchange: dict
    status: int
    body: object
    whole: list | None = None  # the shape's whole expected listing, when the exchange is a page of one
    documents: dict = field(default_factory=dict)  # every item the original answered, by identity


def without_claimer_emails(exchange: dict, differences: Differences) -> dict:
    """`GET /results/{id}/claims` by the result's owner who is no admin: claimers without e-mail."""
    path, body = exchange["path"], exchange["body"]
    if not (
        exchange["caller"] in differences.non_admin_callers
        and path.startswith("/results/")
        and path.endswith("/claims")
        and exchange["status"] == 200
        and _is_listing(body)
    ):
        return exchange
    items = [
        {**item, "uploader": {k: v for k, v in item["uploader"].items() if k != "email"}} for item in body["items"]
    ]
    return {**exchange, "body": {**body, "items": items}}


def expected_answers(exchanges: list[dict], differences: Differences) -> list[Expected]:
    exchanges = [without_claimer_emails(exchange, differences) for exchange in exchanges]
    shapes: dict[tuple, list[dict]] = {}
    for exchange in exchanges:
        if exchange["status"] == 200 and _is_listing(exchange["body"]) or _is_page_request(exchange):
            shapes.setdefault(shape(exchange), []).append(exchange)
    documents = _documents(exchanges, differences)
    wholes = {}  # shape -> (its whole expected listing, whether a difference changed it)
    for key, members in shapes.items():
        recorded = _whole(members)
        whole = [_redated(item, differences) for item in recorded if _kept(item, differences)]
        spec = sort_spec(members[0])
        if spec and any(part[1:] == "registration_datetime" for part in spec.split(",")):
            whole = _sorted(whole, spec)
        # Unchanged items are the recorded objects themselves (`_redated` copies only what it changes).
        wholes[key] = whole, len(whole) != len(recorded) or any(a is not b for a, b in zip(whole, recorded))
    expected = []
    for exchange in exchanges:
        key = shape(exchange)
        if key not in shapes:
            expected.append(Expected(exchange, *_single(exchange, differences), documents=documents))
            continue
        whole, changed = wholes[key]
        if not changed:
            expected.append(Expected(exchange, exchange["status"], exchange["body"], whole, documents))
        else:  # a difference removed or re-dated items: the pages follow from the whole listing
            page, per_page = _query_int(exchange, "page", 1), _query_int(exchange, "per_page", 100)
            expected.append(Expected(exchange, *_page(whole, len(whole), page, per_page), whole, documents))
    return expected


def _documents(exchanges: list[dict], differences: Differences) -> dict:
    """Identity -> the original's item, from every answer (listings and single items)."""
    found = {}
    for exchange in exchanges:
        body = exchange["body"]
        items = body["items"] if _is_listing(body) else [body] if isinstance(body, dict) and "id" in body else []
        for item in items:
            found.setdefault(identity(item), _redated(item, differences))
    return found


def _is_page_request(exchange: dict) -> bool:
    return any(name in PAGE_KEYS for name, _ in exchange["query"])


def _whole(members: list[dict]) -> list:
    """The whole listing of a shape: its default page and, when longer, its pages of 100."""
    items = []
    for exchange in members:
        query = dict(exchange["query"])
        default_page = "page" not in query and "per_page" not in query
        if exchange["status"] == 200 and (default_page or query.get("per_page") == "100"):
            items += exchange["body"]["items"]
    return items


def _sorted(items: list, spec: str) -> list:
    for part in reversed([part for part in spec.split(",") if part]):
        items = sorted(items, key=lambda item: _field(item, part[1:]) or "", reverse=part[0] == "-")
    return items


# -- comparing one answer -------------------------------------------------------------------------


def problems(expected: Expected, status: int, body) -> list[str]:
    exchange = expected.exchange
    where = f"{exchange['caller'] or 'anonymous'} GET {exchange['path']} {exchange['query']}"
    if status != expected.status:
        return [f"{where}: status {status}, expected {expected.status}: {str(body)[:300]}"]
    if not _is_listing(expected.body) or not _is_listing(body):
        if canonical(body) != canonical(expected.body):
            return [f"{where}: body differs\n{_both(body, expected.body)}"]
        return []
    found = []
    for name in ("total", "pages", "page", "per_page", "has_next", "has_prev", "next_num", "prev_num"):
        if body.get(name) != expected.body.get(name):
            found.append(f"{where}: {name} {body.get(name)}, expected {expected.body.get(name)}")
    if found:
        return found
    return [
        f"{where}: {problem}"
        for problem in _page_problems(
            body["items"],
            expected.body["items"],
            sort_key(sort_spec(exchange)),
            cut_before=body["page"] > 1,
            cut_after=body["has_next"],
            documents=expected.documents,
        )
    ]


def _page_problems(ours: list, theirs: list, key, *, cut_before: bool, cut_after: bool, documents: dict) -> list[str]:
    if len(ours) != len(theirs):
        return [f"{len(ours)} items, expected {len(theirs)}"]
    our_keys, their_keys = [key(item) for item in ours], [key(item) for item in theirs]
    if our_keys != their_keys:
        return [f"sort keys differ:\n  ours:     {our_keys[:8]}\n  expected: {their_keys[:8]}"]
    found = []
    start = 0
    while start < len(theirs):
        end = start
        while end < len(theirs) and their_keys[end] == their_keys[start]:
            end += 1
        cut = (start == 0 and cut_before) or (end == len(theirs) and cut_after)
        their_run = {identity(item): item for item in theirs[start:end]}
        for item in ours[start:end]:
            name = identity(item)
            reference = their_run.get(name) or (documents.get(name) if cut else None)
            if reference is None:
                found.append(f"item {name} is not among the original's items with key {our_keys[start]}")
            elif canonical(item) != canonical(reference):
                found.append(f"item {name} differs\n{_both(item, reference)}")
        start = end
    return found


def union_problems(expected: list[Expected], answers: list[tuple[int, object]]) -> list[str]:
    """Across the pages of 100 of a whole listing: `total` different items, among them every
    item the original showed in any page of that listing."""
    ours: dict[tuple, list] = {}
    totals: dict[tuple, int] = {}
    wholes: dict[tuple, list] = {}
    for item, (status, body) in zip(expected, answers):
        if item.whole is None or status != 200 or not _is_listing(body):
            continue
        key = shape(item.exchange)
        wholes[key], totals[key] = item.whole, body["total"]
        query = dict(item.exchange["query"])
        if ("page" not in query and "per_page" not in query) or query.get("per_page") == "100":
            ours.setdefault(key, []).extend(identity(each) for each in body["items"])
    found = []
    for key, listed in ours.items():
        missing = {identity(each) for each in wholes[key]} - set(listed)
        if len(set(listed)) != len(listed) or len(listed) != totals[key] or missing:
            found.append(
                f"{key}: the whole listing has {len(listed)} items, {len(set(listed))} different, "
                f"total {totals[key]}; {len(missing)} the original showed are missing"
            )
    return found
