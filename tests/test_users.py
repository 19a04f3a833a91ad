"""Users: registration, the caller's own record, admin checks, listing and removal (contract §2, §5.7)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from tests.support.catalog import add_flavor, approve, result_setup, submit_site, upload_result
from tests.support.catalog import tag as create_tag


def utc_now() -> datetime:
    return datetime.utcnow()


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


# --- registration -----------------------------------------------------------------------------
def test_registering_answers_the_new_user(api):
    token = api.token("carol", email="carol@example.org")
    before = utc_now()
    answer = api.post("/users:register", token)
    after = utc_now()
    assert answer.status_code == 201, answer.text
    user = answer.json
    assert set(user) == {"sub", "iss", "email", "registration_datetime"}
    assert user["sub"] == "carol"
    assert user["iss"] == api.provider.issuer
    assert user["email"] == "carol@example.org"
    assert before - timedelta(seconds=1) <= parse(user["registration_datetime"]) <= after + timedelta(seconds=1)


def test_registration_datetime_is_the_time_of_each_registration(api):
    first = api.post("/users:register", api.token("first")).json
    second = api.post("/users:register", api.token("second")).json
    # Q-1 fixed: not one process-wide start time shared by everyone.
    assert parse(first["registration_datetime"]) < parse(second["registration_datetime"])


def test_registering_twice_is_a_conflict(api):
    token = api.register("carol")
    answer = api.post("/users:register", token)
    assert answer.status_code == 409
    assert answer.json == {"code": 409, "status": "Conflict", "errors": {"error": "User already submitted/exists"}}


def test_registering_with_a_new_token_of_the_same_identity_is_a_conflict(api):
    api.register("carol")
    answer = api.post("/users:register", api.token("carol", email="other@example.org"))
    assert answer.status_code == 409


def test_registering_needs_an_email_in_the_token_or_userinfo(api):
    token = api.provider.mint("mute", email=None, include_email_in_token=False)
    userinfo = requests.get(
        f"{api.provider.issuer}/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).json()
    assert userinfo["sub"] == "mute" and "email" not in userinfo
    answer = api.post("/users:register", token)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": "No scope for email in oidc token"}
    assert api.get("/users/self", token).status_code == 404


def test_registering_takes_the_email_from_userinfo_when_the_token_lacks_it(api):
    token = api.provider.mint("quiet", email="quiet@example.org", include_email_in_token=False)
    answer = api.post("/users:register", token)
    assert answer.status_code == 201, answer.text
    assert answer.json["email"] == "quiet@example.org"


@pytest.mark.parametrize(
    "verified, error",
    [
        (False, "Email unverified by OIDC provider"),
        (None, "No email_verified status in user"),
    ],
)
def test_registering_needs_an_email_the_provider_verified(api, verified, error):
    token = api.provider.mint("carol", email="carol@example.org", email_verified=verified)
    answer = api.post("/users:register", token)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": error}
    assert api.get("/users/self", token).status_code == 404


@pytest.mark.parametrize(
    "email",
    [
        "carol@example.org\r\nBcc: victim@example.org",
        "carol@example.org\n",
        "carol@example.org, victim@example.org",
        "Carol <carol@example.org>",
        '"carol"@example.org',
        "carol@example.org\u2028",
        "carol\x00@example.org",
        "carol",
        "carol@localhost",
        "carol@@example.org",
        "c" * 65 + "@example.org",
        "carol@" + "e" * 250 + ".org",
    ],
)
def test_registering_and_updating_need_one_well_formed_address(api, email):
    token = api.provider.mint("carol", email=email)
    refused = {"error": "Email from the OIDC provider is not a single valid address"}
    answer = api.post("/users:register", token)
    assert answer.status_code == 422 and answer.json["errors"] == refused
    assert api.get("/users/self", token).status_code == 404
    api.register("carol")
    answer = api.post("/users/self:update", token)
    assert answer.status_code == 422 and answer.json["errors"] == refused
    assert api.get("/users/self", token).json["email"] == "carol@example.org"


def test_registering_ignores_a_body_and_unknown_query_arguments(api):
    answer = api.post("/users:register", api.token("carol"), json={"email": "x@y"}, query_string="foo=1")
    assert answer.status_code == 201
    assert answer.json["email"] == "carol@example.org"


def test_registering_needs_a_token(api):
    answer = api.post("/users:register")
    assert answer.status_code == 401
    assert answer.json == {"error": "Unauthenticated", "error_description": "No authorization header"}


def test_the_same_subject_at_another_issuer_is_another_user(api, callers):
    # Users are keyed by (sub, iss): the same email at one issuer may register many subjects.
    api.register("twin-1")
    answer = api.post("/users:register", api.token("twin-2", email="twin-1@example.org"))
    assert answer.status_code == 201


# --- the caller's own record ------------------------------------------------------------------
def test_self_answers_the_callers_registration(api):
    token = api.token("carol")
    registered = api.post("/users:register", token).json
    assert api.get("/users/self", token).json == registered


def test_self_of_an_unregistered_token_is_not_found(api, callers):
    answer = api.get("/users/self", callers.unregistered)
    assert answer.status_code == 404
    assert answer.json == {"code": 404, "status": "Not Found", "errors": {"error": "User not registered"}}


def test_self_needs_a_token(api):
    assert api.get("/users/self").status_code == 401


def test_updating_self_refreshes_the_email_from_the_token(api):
    api.register("carol")
    token = api.token("carol", email="new@example.org")
    answer = api.post("/users/self:update", token)
    assert answer.status_code == 204, answer.text
    assert answer.text == ""
    assert api.get("/users/self", token).json["email"] == "new@example.org"


def test_updating_self_keeps_the_registration_time(api):
    token = api.token("carol")
    registered = api.post("/users:register", token).json
    api.post("/users/self:update", api.token("carol", email="new@example.org"))
    assert api.get("/users/self", token).json == {**registered, "email": "new@example.org"}


def test_updating_self_without_email_verified_is_refused(api):
    api.register("carol")
    token = api.provider.mint("carol", email="new@example.org", email_verified=None)
    answer = api.post("/users/self:update", token)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": "No email_verified status in user"}


def test_updating_self_with_an_unverified_email_is_refused(api):
    api.register("carol")
    token = api.provider.mint("carol", email="new@example.org", email_verified=False)
    answer = api.post("/users/self:update", token)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": "Email unverified by OIDC provider"}
    assert api.get("/users/self", token).json["email"] == "carol@example.org"


def test_updating_self_without_an_email_is_refused_first(api):
    api.register("carol")
    token = api.provider.mint("carol", email=None, email_verified=False, include_email_in_token=False)
    answer = api.post("/users/self:update", token)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": "No scope for email in oidc token"}


def test_updating_self_needs_a_registration(api, callers):
    answer = api.post("/users/self:update", callers.unregistered)
    assert answer.status_code == 403
    assert answer.json["error_details"] == "Evaluation of: is_registered"


# --- admin determination ----------------------------------------------------------------------
def test_try_admin_succeeds_for_an_admin(api, callers):
    answer = api.get("/users/self:try_admin", callers.admin)
    assert answer.status_code == 204
    assert answer.text == ""


def test_try_admin_refuses_a_registered_user(api, callers):
    answer = api.get("/users/self:try_admin", callers.user)
    assert answer.status_code == 403
    assert answer.json == {
        "error": "Forbidden",
        "error_description": f"User alice@{api.provider.issuer} does not meet requirements",
        "error_details": "Evaluation of: is_admin",
    }


def test_admin_comes_from_the_entitlement_of_each_token(api):
    plain = api.register("carol")
    entitled = api.token("carol", admin=True)
    assert api.get("/users/self:try_admin", plain).status_code == 403
    assert api.get("/users/self:try_admin", entitled).status_code == 204
    other_entitlement = api.provider.mint("carol", email="carol@example.org", entitlements=["urn:x"])
    assert api.get("/users/self:try_admin", other_entitlement).status_code == 403


def test_an_entitled_token_without_registration_is_not_admin(api):
    token = api.token("boss", admin=True)
    answer = api.get("/users/self:try_admin", token)
    assert answer.status_code == 403
    assert answer.json["error_details"] == "Evaluation of: is_admin"


def test_an_entitlement_given_as_one_string_counts(api):
    from tests.support.api import ADMIN_ENTITLEMENT

    api.register("carol")
    token = api.token("carol", extra_claims={"eduperson_entitlement": ADMIN_ENTITLEMENT})
    assert api.get("/users/self:try_admin", token).status_code == 204


# --- listing and search -----------------------------------------------------------------------
def test_users_are_listed_by_issuer_then_subject(api, callers):
    page = api.get("/users", callers.admin).json
    assert [u["sub"] for u in page["items"]] == ["alice", "bob", "root"]
    assert page["total"] == 3
    assert set(page["items"][0]) == {"sub", "iss", "email", "registration_datetime"}
    descending = api.get("/users", callers.admin, query_string="sort_by=%2Biss,-sub").json
    assert [u["sub"] for u in descending["items"]] == ["root", "bob", "alice"]


def test_users_can_be_sorted_by_registration_and_email(api, callers):
    by_time = api.get("/users", callers.admin, query_string="sort_by=-registration_datetime").json
    assert [u["sub"] for u in by_time["items"]] == ["root", "bob", "alice"]
    by_email = api.get("/users", callers.admin, query_string="sort_by=%2Bemail").json
    assert [u["email"] for u in by_email["items"]] == ["alice@example.org", "bob@example.org", "root@example.org"]


def test_users_are_filtered_exactly(api, callers):
    assert [u["sub"] for u in api.get("/users", callers.admin, query_string="sub=bob").json["items"]] == ["bob"]
    assert api.get("/users", callers.admin, query_string="email=BOB@example.org").json["items"] == []
    assert api.get("/users", callers.admin, query_string="email=bob").json["items"] == []
    issuer = api.get("/users", callers.admin, params={"iss": api.provider.issuer}).json
    assert issuer["total"] == 3


def test_users_have_no_upload_filters(api, callers):
    answer = api.get("/users", callers.admin, query_string="upload_before=2020-01-01")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"upload_before": ["Unknown field."]}}


def test_searching_users_matches_email_substrings(api, callers):
    page = api.get("/users:search", callers.admin, query_string="terms=example&terms=o").json
    assert sorted(u["sub"] for u in page["items"]) == ["alice", "bob", "root"]
    page = api.get("/users:search", callers.admin, query_string="terms=b&terms=example").json
    assert [u["sub"] for u in page["items"]] == ["bob"]
    assert api.get("/users:search", callers.admin, query_string="terms=alice&terms=bob").json["items"] == []
    assert api.get("/users:search", callers.admin, query_string="terms=alice").json["total"] == 1
    # the subject is not searched
    api.register("zed")
    assert api.get("/users:search", callers.admin, query_string="terms=Alice").json["items"] == []


def test_listing_users_is_for_admins(api, callers):
    assert api.get("/users", callers.user).status_code == 403
    assert api.get("/users:search", callers.user).status_code == 403
    assert api.get("/users").status_code == 401


# --- removal ----------------------------------------------------------------------------------
def test_removing_without_arguments_is_cancelled(api, callers):
    answer = api.post("/users:remove", callers.admin)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": "Cancelled, undefined users"}


def test_removing_takes_no_pagination_or_sorting(api, callers):
    answer = api.post("/users:remove", callers.admin, query_string="email=alice@example.org&page=1")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"page": ["Unknown field."]}}
    answer = api.post("/users:remove", callers.admin, query_string="sort_by=%2Bemail")
    assert answer.json["errors"] == {"query": {"sort_by": ["Unknown field."]}}
    assert api.get("/users/self", callers.user).status_code == 200


def test_removing_by_email_removes_the_user(api, callers):
    answer = api.post("/users:remove", callers.admin, query_string="email=alice@example.org")
    assert answer.status_code == 204, answer.text
    assert api.get("/users/self", callers.user).status_code == 404
    assert api.get("/sites", callers.user).status_code == 200  # public reads still work for the token
    assert api.post("/sites", callers.user, json={"name": "n", "address": "a"}).status_code == 403
    assert [u["sub"] for u in api.get("/users", callers.admin).json["items"]] == ["bob", "root"]


def test_removing_by_email_removes_every_user_with_it(api, callers):
    twin = api.token("alice-2", email="alice@example.org")
    assert api.post("/users:register", twin).status_code == 201
    assert api.post("/users:remove", callers.admin, query_string="email=alice@example.org").status_code == 204
    assert api.get("/users/self", twin).status_code == 404
    assert api.get("/users/self", callers.user).status_code == 404
    assert [u["sub"] for u in api.get("/users", callers.admin).json["items"]] == ["bob", "root"]


def test_removing_by_subject_and_issuer(api, callers):
    query = {"sub": "bob", "iss": api.provider.issuer}
    assert api.post("/users:remove", callers.admin, params=query).status_code == 204
    assert api.get("/users/self", callers.other).status_code == 404
    assert api.get("/users/self", callers.user).status_code == 200


def test_removal_filters_are_anded(api, callers):
    answer = api.post("/users:remove", callers.admin, query_string="sub=bob&email=alice@example.org")
    assert answer.status_code == 204
    assert api.get("/users", callers.admin).json["total"] == 3


def test_removing_nobody_is_fine(api, callers):
    answer = api.post("/users:remove", callers.admin, query_string="email=nobody@example.org")
    assert answer.status_code == 204
    assert api.get("/users", callers.admin).json["total"] == 3


def test_removing_needs_sub_and_iss_together_or_an_email(api, callers):
    for query in ("sub=bob", f"iss={api.provider.issuer}", "sub=bob&sub=alice"):
        answer = api.post("/users:remove", callers.admin, query_string=query)
        assert answer.status_code == 422, query
        assert answer.json == {
            "code": 422,
            "status": "Unprocessable Entity",
            "errors": {"error": "Cancelled: users are removed by sub and iss together, or by email"},
        }
    assert api.get("/users", callers.admin).json["total"] == 3  # nobody of the issuer went


def test_removing_a_user_removes_their_results_and_claims_but_not_the_shared_catalog(api, callers):
    """Design §6: the benchmarks, sites and flavors a removed user submitted stay, owned by no
    one, because other users' results rely on them."""
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    alices = upload_result(api, callers.user, benchmark["id"], flavor["id"])
    bobs = upload_result(api, callers.other, benchmark["id"], flavor["id"])
    pending_site = submit_site(api, callers.user)
    pending_flavor = add_flavor(api, callers.user, pending_site["id"])
    bobs_site = submit_site(api, callers.other)
    claim = api.post(f"/results/{bobs['id']}:claim", callers.user, json={"message": "doubt"}).json
    tag = create_tag(api, callers.user)

    assert api.post("/users:remove", callers.admin, query_string="email=alice@example.org").status_code == 204

    for path, item in (
        (f"/benchmarks/{benchmark['id']}", benchmark),
        (f"/sites/{site['id']}", site),
        (f"/flavors/{flavor['id']}", flavor),
        (f"/sites/{pending_site['id']}", pending_site),
        (f"/flavors/{pending_flavor['id']}", pending_flavor),
        (f"/tags/{tag['id']}", tag),
        (f"/results/{bobs['id']}", bobs),
    ):
        answer = api.get(path)
        assert answer.status_code == 200 and answer.json == item, path
    assert api.get(f"/results/{alices['id']}").status_code == 404
    assert api.get(f"/reports/claims/{claim['id']}", callers.admin).status_code == 404
    assert [r["id"] for r in api.get("/results").json["items"]] == [bobs["id"]]  # alice's claim withdrawn
    bob = api.get("/users/self", callers.other).json
    submits = {s["resource_id"]: s.get("uploader") for s in api.get("/reports/submits", callers.admin).json["items"]}
    assert submits == {pending_site["id"]: None, pending_flavor["id"]: None, bobs_site["id"]: bob}
    # Owned by no one: an admin reviews them as any other, and bob keeps using them.
    approve(api, callers.admin, "sites", pending_site["id"])
    assert api.post(f"/flavors/{pending_flavor['id']}:reject", callers.admin).status_code == 204
    add_flavor(api, callers.other, pending_site["id"])
    upload_result(api, callers.other, benchmark["id"], flavor["id"])


def test_a_removed_user_is_banned_until_an_admin_restores_them(api, callers):
    site = submit_site(api, callers.user, name="kept-name")
    old = api.get("/users/self", callers.user).json
    removal = {"sub": "alice", "iss": api.provider.issuer}
    assert api.post("/users:remove", callers.admin, params=removal).status_code == 204
    for token in (callers.user, api.token("alice", email="alice@elsewhere.org")):
        answer = api.post("/users:register", token)
        assert answer.status_code == 403
        assert answer.json == {
            "code": 403,
            "status": "Forbidden",
            "errors": {
                "error": (
                    "This user was removed by an administrator and may register again only once an administrator "
                    "restores them"
                )
            },
        }
    assert api.get("/users/self", callers.user).status_code == 404
    assert api.post("/sites", callers.user, json={"name": "n", "address": "a"}).status_code == 403

    assert api.post("/users:restore", callers.admin, params=removal).status_code == 204
    assert api.get("/users/self", callers.user).status_code == 404  # restored: may register, not registered
    answer = api.post("/users:register", callers.user)
    assert answer.status_code == 201, answer.text
    assert parse(answer.json["registration_datetime"]) > parse(old["registration_datetime"])
    assert api.get("/users/self", callers.user).json == answer.json
    # What alice submitted before stays in the catalog, but is no longer hers.
    assert api.get(f"/sites/{site['id']}").json == site
    [pending] = api.get("/reports/submits", callers.admin).json["items"]
    assert pending["resource_id"] == site["id"] and "uploader" not in pending
    assert api.post("/sites", callers.user, json={"name": "kept-name", "address": "a"}).status_code == 409
    again = submit_site(api, callers.user, name="new-name")
    submits = {s["resource_id"]: s.get("uploader") for s in api.get("/reports/submits", callers.admin).json["items"]}
    assert submits == {site["id"]: None, again["id"]: answer.json}


def test_restoring_needs_a_removed_user_by_sub_and_iss(api, callers):
    issuer = api.provider.issuer
    answer = api.post("/users:restore", callers.admin, params={"sub": "bob", "iss": issuer})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": f"User bob@{issuer} was not removed"}
    answer = api.post("/users:restore", callers.admin, params={"sub": "nobody-at-all", "iss": issuer})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"User nobody-at-all@{issuer} not found"}
    answer = api.post("/users:restore", callers.admin, query_string="sub=bob")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"iss": ["Missing data for required field."]}}
    answer = api.post("/users:restore", callers.admin, query_string=f"sub=bob&iss={issuer}&email=x")
    assert answer.json["errors"] == {"query": {"email": ["Unknown field."]}}
    assert api.post("/users:restore", callers.other, params={"sub": "bob", "iss": issuer}).status_code == 403


def test_removing_users_is_for_admins(api, callers):
    assert api.post("/users:remove", callers.user, query_string="sub=bob").status_code == 403
    assert api.post("/users:remove", None, query_string="sub=bob").status_code == 401
    assert api.get("/users/self", callers.other).status_code == 200
