"""Item histories, the admins' audit search and the public change feed (issue 12 parts 2-4),
read from the events index the projector keeps (read_model/events_index.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from uuid import uuid4

import falcon.testing
import pytest
import requests

from configuration.stores import open_event_store
from domain.envelope import envelope
from eosc_perf import cli
from tests.support import catalog
from tests.support.api import ADMIN_ENTITLEMENT, CLIENT_ID
from tests.support.catalog import query_string


@pytest.fixture
def event_store(api, request):
    """The deployment's event store, to compare answers with the log itself."""
    if api.service is not None:
        return api.service.store
    return open_event_store(request.getfixturevalue("production_stack").database_url)


@pytest.fixture
def items(api, callers) -> dict:
    """One of every kind with a history, all uploaded by `callers.user`; the result claimed by `other`."""
    where = catalog.setup(api, callers.user, callers.admin)
    result = catalog.upload(api, callers.user, where)
    claim = catalog.claim(api, callers.other, result["id"])
    return {
        "benchmarks": where.benchmark["id"],
        "sites": where.site["id"],
        "flavors": where.flavor["id"],
        "tags": catalog.tag(api, callers.user)["id"],
        "results": result["id"],
        "claim": claim["id"],
    }


def entries(api, token, path, **arguments) -> list[dict]:
    answer = api.get(path, token, query_string=query_string(per_page=100, **arguments))
    assert answer.status_code == 200, answer.text
    return answer.json["items"]


def identity(api, sub: str) -> dict:
    return {"iss": api.provider.issuer, "sub": sub}


ITEM_PATHS = ("benchmarks", "sites", "flavors", "tags", "results")


# --- access -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ITEM_PATHS)
def test_an_item_history_is_for_its_uploader_and_admins(api, callers, items, kind):
    path = f"/{kind}/{items[kind]}/history"
    assert api.get(path).status_code == 401
    assert api.get(path, callers.unregistered).status_code == 403
    forbidden = api.get(path, callers.other)
    assert forbidden.status_code == 403, forbidden.text
    assert forbidden.json["code"] == 403
    owner, admin = entries(api, callers.user, path), entries(api, callers.admin, path)
    assert [entry["position"] for entry in owner] == [entry["position"] for entry in admin]
    assert owner[0]["version"] == 1 and owner[0]["item_id"] == items[kind]
    assert owner[0]["actor"] == admin[0]["actor"] == identity(api, "alice")
    assert set(owner[0]) == {"position", "item_id", "version", "type", "timestamp", "actor", "data"}


def test_a_claim_history_is_for_its_claimer_and_admins(api, callers, items):
    path = f"/reports/claims/{items['claim']}/history"
    assert api.get(path, callers.user).status_code == 403  # the claimed result's owner
    (submitted,) = entries(api, callers.other, path)
    assert submitted["type"] == "Claim.Submitted"
    assert submitted["data"] == {"message": "doubtful", "result_id": items["results"]}
    assert entries(api, callers.admin, path) == [submitted]


@pytest.mark.parametrize(
    "path, message",
    [
        ("/results/{id}/history", "Result {id} not found in the database"),
        ("/benchmarks/{id}/history", "Benchmark {id} not found in the database"),
        ("/sites/{id}/history", "Record {id} not found in the database"),
        ("/reports/claims/{id}/history", "Claim {id} not found in the database"),
    ],
)
def test_an_unknown_item_is_a_404_before_any_access_check(api, callers, items, path, message):
    for id in (str(uuid4()), items["tags"]):  # unknown, and an item of another kind
        for token in (callers.other, callers.admin):
            answer = api.get(path.format(id=id), token)
            assert answer.status_code == 404, answer.text
            assert answer.json == {"code": 404, "status": "Not Found", "errors": {"error": message.format(id=id)}}


def test_histories_are_paginated(api, callers, items):
    path = f"/results/{items['results']}/history"
    everything = entries(api, callers.admin, path)
    assert len(everything) >= 3
    pages = []
    for page in range(1, len(everything) + 1):
        answer = api.get(path, callers.admin, query_string=f"per_page=1&page={page}")
        assert answer.status_code == 200, answer.text
        assert answer.json["total"] == len(everything)
        assert answer.json["has_next"] is (page < len(everything))
        pages += answer.json["items"]
    assert pages == everything
    assert api.get(path, callers.admin, query_string=f"page={len(everything) + 1}&per_page=1").status_code == 404
    assert api.get(path, callers.admin, query_string="per_page=0").status_code == 422


# --- what a history tells -------------------------------------------------------------------
def test_a_result_history_says_why_it_is_hidden_without_naming_others(api, callers, items):
    result_id = items["results"]
    second = catalog.claim(api, api.register("carol"), result_id)
    assert api.post(f"/reports/claims/{items['claim']}:reject", callers.admin).status_code == 204
    path = f"/results/{result_id}/history"
    as_owner = entries(api, callers.user, path)
    types = [entry["type"] for entry in as_owner]
    assert types[0] == "Result.Uploaded"
    assert types.count("Claim.Submitted") == 2 and types.count("Result.Claimed") == 2
    assert "Claim.Rejected" in types and "Result.ClaimDismissed" in types
    assert "Result.Restored" not in types  # carol's claim still hides it
    by_type = {entry["type"]: entry for entry in as_owner}
    assert by_type["Result.Uploaded"]["actor"] == identity(api, "alice")
    assert by_type["Claim.Submitted"]["actor"] == "user"
    assert by_type["Claim.Rejected"]["actor"] == "admin"
    assert {entry["item_id"] for entry in as_owner} == {result_id, items["claim"], second["id"]}
    assert [entry["position"] for entry in as_owner] == sorted(entry["position"] for entry in as_owner)
    text = json.dumps(as_owner)
    assert "bob" not in text and "carol" not in text and "root" not in text and "@example.org" not in text
    # An admin sees who did what.
    as_admin = {entry["type"]: entry for entry in entries(api, callers.admin, path)}
    assert as_admin["Claim.Rejected"]["actor"] == identity(api, "root")
    assert as_admin["Claim.Submitted"]["actor"] in (identity(api, "bob"), identity(api, "carol"))
    # Rejecting the last claim restores it.
    assert api.post(f"/reports/claims/{second['id']}:reject", callers.admin).status_code == 204
    assert entries(api, callers.user, path)[-1]["type"] == "Result.Restored"


def test_the_data_is_the_events_fields_with_dates_as_the_api_writes_them(api, callers, items):
    (uploaded, *_) = entries(api, callers.user, f"/results/{items['results']}/history")
    result = api.get(f"/results/{items['results']}").json
    assert uploaded["data"]["execution_datetime"] == result["execution_datetime"]
    assert uploaded["data"]["json"] == result["json"]
    assert uploaded["data"]["flavor_id"] == result["flavor"]["id"]
    assert uploaded["timestamp"] == result["upload_datetime"]


def test_the_own_history_holds_the_callers_registration_and_email(api, callers):
    assert api.get("/users/self/history").status_code == 401
    assert api.get("/users/self/history", callers.unregistered).status_code == 403
    (registered,) = entries(api, callers.user, "/users/self/history")
    assert registered["type"] == "User.Registered"
    assert registered["actor"] == identity(api, "alice")
    assert registered["data"]["email"] == "alice@example.org"
    assert entries(api, callers.other, "/users/self/history")[0]["data"]["email"] == "bob@example.org"


# --- audit search ---------------------------------------------------------------------------
def test_the_audit_search_is_for_admins(api, callers, items):
    assert api.get("/reports/events").status_code == 401
    assert api.get("/reports/events", callers.user).status_code == 403
    everything = entries(api, callers.admin, "/reports/events")
    positions = [entry["position"] for entry in everything]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    newest_first = entries(api, callers.admin, "/reports/events", sort_by="-position")
    assert [entry["position"] for entry in newest_first] == positions[::-1]
    assert entries(api, callers.admin, "/reports/events", item_id=items["claim"]) == [
        entry for entry in everything if entry["item_id"] == items["claim"]
    ]
    claimed = entries(api, callers.admin, "/reports/events", type="Result.Claimed")
    assert [entry["item_id"] for entry in claimed] == [items["results"]]
    by_bob = entries(api, callers.admin, "/reports/events", actor_sub="bob", actor_iss=api.provider.issuer)
    assert {entry["type"] for entry in by_bob} == {"User.Registered", "Claim.Submitted", "Result.Claimed"}
    assert entries(api, callers.admin, "/reports/events", actor_sub="bob", actor_iss="elsewhere") == []
    middle = positions[len(positions) // 2]
    assert [e["position"] for e in entries(api, callers.admin, "/reports/events", from_position=middle)] == [
        position for position in positions if position >= middle
    ]


def test_the_audit_search_pages_add_up_to_what_it_finds(api, callers, items):
    everything = entries(api, callers.admin, "/reports/events")
    middle = everything[len(everything) // 2]["timestamp"]
    searches = {  # the broad ones take their totals from the projector's counts, or from one scan
        (): everything,
        (("type", "Result.Uploaded"),): [entry for entry in everything if entry["type"] == "Result.Uploaded"],
        (("after", middle),): [entry for entry in everything if entry["timestamp"] > middle],
        (("after", everything[1]["timestamp"]), ("before", middle)): [
            entry for entry in everything if everything[1]["timestamp"] < entry["timestamp"] < middle
        ],
        (("type", "No.Such"),): [],
        (("from_position", everything[1]["position"]),): everything[1:],
        (("from_position", everything[-1]["position"]),): everything[-1:],
    }
    for arguments, expected in searches.items():
        for sort_by, order in (("+position", expected), ("-position", expected[::-1])):
            found, page = [], 1
            while True:
                query = query_string(per_page=2, page=page, sort_by=sort_by, **dict(arguments))
                answer = api.get("/reports/events", callers.admin, query_string=query)
                assert answer.status_code == (200 if page == 1 or order else 404), answer.text
                if answer.status_code == 404:
                    break
                assert answer.json["total"] == len(expected), arguments
                found += answer.json["items"]
                if not answer.json["has_next"]:
                    break
                page += 1
            assert found == order, arguments


def test_the_audit_search_bounds_times(api, callers, items):
    everything = entries(api, callers.admin, "/reports/events")
    first, last = everything[0]["timestamp"], everything[-1]["timestamp"]
    assert entries(api, callers.admin, "/reports/events", before=first) == []
    assert entries(api, callers.admin, "/reports/events", after=last) == []
    assert entries(api, callers.admin, "/reports/events", after=first + "+00:00") == [
        entry for entry in everything if entry["timestamp"] > first
    ]
    for bad in (
        "after=yesterday",
        "before=2024-01-01",
        "sort_by=%2Bitem_id",
        "from_position=-1",
        "type=",
        f"from_position={2**63}",
    ):
        answer = api.get("/reports/events", callers.admin, query_string=bad)
        assert answer.status_code in (200, 422), answer.text
        if not bad.startswith("type="):
            assert answer.status_code == 422, bad


# --- change feed ----------------------------------------------------------------------------
PERSONAL = {"email", "sub", "iss", "operator"}
NOT_IN_FEED = {*PERSONAL, "originator_topic"}  # a creation event's type names its aggregate's class


def public_envelope(notification_id, event) -> dict:
    """The envelope of docs/event-bus.md as the feed gives it: the actor's role, no personal data."""
    message = envelope(notification_id, event)
    message["payload"] = {key: value for key, value in message["payload"].items() if key not in NOT_IN_FEED}
    return message


def test_the_feed_from_the_start_is_the_event_log_without_personal_data(api, callers, items, event_store):
    answer = api.get("/events", query_string="after=0&limit=1000")
    assert answer.status_code == 200, answer.text
    feed = answer.json["events"]
    log = [
        (notification.id, event_store.mapper.to_domain_event(notification))
        for notification in event_store.recorder.select_notifications(1, 1000)
    ]
    assert len(feed) == len(log) and answer.json["last_position"] == log[-1][0]
    for served, (notification_id, event) in zip(feed, log):
        expected = public_envelope(notification_id, event)
        assert served["actor"] in (("user", "admin") if expected["actor"] else (None,))
        assert {**served, "actor": expected["actor"]} == expected
    text = answer.text
    for private in ("@example.org", '"alice"', '"bob"', '"root"'):
        assert private not in text


def test_the_feed_pages_by_position_without_gaps_or_repeats(api, callers, items):
    everything = api.get("/events", query_string="limit=1000").json["events"]
    seen, after = [], 0
    while True:
        answer = api.get("/events", query_string=f"after={after}&limit=3")
        assert answer.status_code == 200, answer.text
        if not answer.json["events"]:
            assert answer.json["last_position"] == after
            break
        seen += answer.json["events"]
        after = answer.json["last_position"]
    assert seen == everything
    for bad in ("limit=0", "limit=1001", "after=-1", "after=x", f"after={2**63}"):
        assert api.get("/events", query_string=bad).status_code == 422, bad


# --- the feed as Server-Sent Events ---------------------------------------------------------
def stream(api, after=None, last_event_id=None):
    """A whole stream (it ends after EVENT_STREAM_SECONDS): (its retry line, [(id, envelope)])."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    answer = api.get("/events:stream", query_string=f"after={after}" if after is not None else None, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    blocks = [block for block in answer.text.split("\n\n") if block]
    return blocks[0], [event for block in blocks[1:] if (event := stream_event(block))]


def stream_event(block: str) -> tuple[int, dict] | None:
    """One block of a stream as (id, envelope), or None for a heartbeat."""
    if block.startswith(":"):
        return None
    fields = dict(line.split(": ", 1) for line in block.split("\n"))
    assert fields["event"] == "event"
    return int(fields["id"]), json.loads(fields["data"])


def open_stream(api, after: int) -> tuple[Iterator[str], Callable[[], None]]:
    """A stream read as it comes: (its blocks, a way to drop the connection). The embedded app is
    called as a WSGI server would; the production stack is read over HTTP."""
    if api.service is not None:
        environ = falcon.testing.create_environ("/events:stream", query_string=f"after={after}")
        body = api.service.app(environ, lambda *_: None)
        chunks = (chunk.decode() for chunk in body)
        close = body.close
    else:
        answer = requests.get(f"{api.client.base_url}/events:stream", params={"after": after}, stream=True, timeout=30)
        assert answer.status_code == 200, answer.text
        chunks = answer.iter_content(chunk_size=None, decode_unicode=True)
        close = answer.close

    def blocks() -> Iterator[str]:
        pending = ""
        for chunk in chunks:
            pending += chunk
            *complete, pending = pending.split("\n\n")
            yield from complete

    return blocks(), close


def test_the_stream_sends_the_feed_and_resumes_after_the_last_event_id(api, callers, items):
    everything = api.get("/events", query_string="limit=1000").json["events"]
    retry, events = stream(api)
    assert retry == "retry: 1000"
    assert [event for _, event in events] == everything
    assert [position for position, _ in events] == [event["notification_id"] for event in everything]
    # A client dropped after the third event reconnects with its id: no gap, no repeat.
    cut = events[2][0]
    _, resumed = stream(api, after=0, last_event_id=str(cut))
    assert events[:3] + resumed == events
    _, after_all = stream(api, after=events[-1][0])
    assert after_all == []
    for bad in ("x", "²", "-1", str(2**63)):
        answer = api.get("/events:stream", headers={"Last-Event-ID": bad})
        assert answer.status_code == 422, answer.text


def test_the_stream_sends_what_is_written_while_it_is_open(api, callers, items):
    head = api.get("/events", query_string="limit=1000").json["last_position"]
    blocks, close = open_stream(api, head)
    try:
        assert next(blocks) == "retry: 1000"  # the stream is open, with nothing after the head yet
        tag = catalog.tag(api, callers.user)
        events = []
        for block in blocks:  # until the tag's event comes, or the stream ends (EVENT_STREAM_SECONDS)
            if event := stream_event(block):
                events.append(event)
                if event[1]["aggregate_id"] == tag["id"]:
                    break
    finally:
        close()
    assert tag["id"] in {event["aggregate_id"] for _, event in events}
    assert all(position > head for position, _ in events)


def test_streams_are_capped_per_process_and_a_dropped_client_frees_its_slot(embedded_api):
    api = embedded_api  # one process: the cap is per process
    blocks, close = open_stream(api, after=0)
    assert next(blocks) == "retry: 1000"
    busy = api.get("/events:stream")
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == "1"
    list(blocks)  # the stream ends on its own after EVENT_STREAM_SECONDS, and gives its slot back
    close()
    assert api.get("/events:stream", query_string="after=0").status_code == 200
    # A client that goes away: the server closes the stream, which frees the slot at once.
    environ = falcon.testing.create_environ("/events:stream")
    body = api.service.app(environ, lambda status, headers, exc_info=None: None)
    assert next(iter(body)) == b"retry: 1000\n\n"
    body.close()
    assert api.get("/events:stream", query_string="after=0").status_code == 200
    # An answer whose body is never read (the server only closes it) frees its slot too.
    api.service.app(falcon.testing.create_environ("/events:stream"), lambda *_: None).close()
    assert api.get("/events:stream", query_string="after=0").status_code == 200


# --- eosc-perf show -------------------------------------------------------------------------
def test_show_answers_a_get_from_the_command_line_as_the_api_does(embedded_api, capsys, monkeypatch, tmp_path):
    api = embedded_api
    admin = api.register("root", admin=True)
    where = catalog.setup(api, api.register("alice"), admin)
    for name, value in (
        ("TRUSTED_OP_LIST", api.provider.issuer),
        ("OIDC_CLIENT_IDS", CLIENT_ID),
        ("ADMIN_ENTITLEMENTS", ADMIN_ENTITLEMENT),
    ):
        monkeypatch.setenv(name, value)
    data = str(tmp_path / "data")
    for path, token in (
        ("/events?after=2&limit=3", None),
        (f"/sites/{where.site['id']}/history", admin),
        ("/reports/events?type=Site.Approved", admin),
    ):
        arguments = ["show", path, "--data", data] + (["--token", token] if token else [])
        assert cli.main(arguments) == 0
        assert capsys.readouterr().out == api.get(path, token).text + "\n"
    before = api.get("/sites")
    moment = datetime.now(timezone.utc).isoformat()
    catalog.site(api, api.register("bob"), admin)
    for as_of in (before.headers["etag"].strip('"'), moment):
        assert cli.main(["show", "/sites", "--data", data, "--as-of", as_of]) == 0
        assert capsys.readouterr().out == before.text + "\n"
    with pytest.raises(SystemExit) as refused:
        cli.main(["show", "/reports/events", "--data", data])
    assert refused.value.code == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["error"] == "Unauthenticated" and "401" in err
