"""Sites and their flavors through the real embedded service (contract §5.2, §5.3)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.support.catalog import add_flavor, approve, names, result_setup, upload_result


def submit_site(api, token, name="site-1", address="addr-1", **extra):
    answer = api.post("/sites", token, json={"name": name, "address": address, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json


def test_a_submitted_site_is_on_review_until_approved(api, callers):
    site = submit_site(api, callers.user, description="a site")
    assert set(site) == {"id", "upload_datetime", "name", "address", "description"}
    assert api.get("/sites").json["items"] == []
    assert api.get("/sites", query_string="status=on_review").json["items"] == [site]
    assert api.post(f"/sites/{site['id']}:approve", callers.admin).status_code == 204
    assert api.get("/sites").json["items"] == [site]
    assert api.get(f"/sites/{site['id']}").json == site


def test_site_names_are_unique_across_statuses(api, callers):
    submit_site(api, callers.user, name="dup")
    answer = api.post("/sites", callers.other, json={"name": "dup", "address": "x"})
    assert answer.status_code == 409
    assert answer.json["errors"] == {"error": "Site dup already submitted/exists"}


def test_approving_twice_is_refused(api, callers):
    site = submit_site(api, callers.user)
    api.post(f"/sites/{site['id']}:approve", callers.admin)
    answer = api.post(f"/sites/{site['id']}%3Aapprove", callers.admin)
    assert answer.status_code == 422
    assert answer.json["errors"]["error"] == f"Site {site['id']} was already approved"


def test_deleting_a_site_removes_its_flavors(api, callers):
    site = submit_site(api, callers.user)
    flavor = api.post(f"/sites/{site['id']}/flavors", callers.user, json={"name": "f"}).json
    assert api.delete(f"/sites/{site['id']}", callers.admin).status_code == 204
    assert api.get(f"/flavors/{flavor['id']}").status_code == 404
    assert api.get(f"/sites/{site['id']}").status_code == 404


# --- more on sites (contract §5.2) --------------------------------------------------------------


def test_site_fields_are_required_and_typed(api, callers):
    answer = api.post("/sites", callers.user, json={"name": 5})
    assert answer.status_code == 422
    assert answer.json["errors"] == {
        "json": {"name": ["Not a valid string."], "address": ["Missing data for required field."]}
    }


def test_an_unknown_site_is_not_found(api):
    id = uuid4()
    answer = api.get(f"/sites/{id}")
    assert answer.status_code == 404
    assert answer.json == {
        "code": 404,
        "status": "Not Found",
        "errors": {"error": f"Record {id} not found in the database"},
    }


def test_getting_a_site_ignores_unknown_query_arguments(api, callers):
    site = submit_site(api, callers.user)
    assert api.get(f"/sites/{site['id']}", query_string="x=1").json == site


def test_a_pending_site_is_found_by_id(api, callers):
    site = submit_site(api, callers.user)
    assert api.get(f"/sites/{site['id']}").status_code == 200


@pytest.fixture
def three_sites(api, callers):
    made = [
        submit_site(api, callers.user, name="beta", address="x-addr", description="the %_ site"),
        submit_site(api, callers.user, name="alpha", address="b-addr"),
        submit_site(api, callers.user, name="gamma", address="a-addr", description="Alpha helper"),
    ]
    for site in made:
        approve(api, callers.admin, "sites", site["id"])
    return made


def test_sites_are_listed_by_name(api, three_sites):
    page = api.get("/sites").json
    assert names(page) == ["alpha", "beta", "gamma"]
    assert page == {
        "items": page["items"],
        "total": 3,
        "page": 1,
        "pages": 1,
        "per_page": 100,
        "has_prev": False,
        "has_next": False,
    }
    assert names(api.get("/sites", query_string="sort_by=-name").json) == ["gamma", "beta", "alpha"]
    assert names(api.get("/sites", query_string="sort_by=%2Baddress").json) == ["gamma", "alpha", "beta"]


def test_sites_sort_by_several_fields(api, callers, three_sites):
    extra = submit_site(api, callers.user, name="delta", address="b-addr")
    approve(api, callers.admin, "sites", extra["id"])
    page = api.get("/sites", query_string="sort_by=%2Baddress,-name").json
    assert names(page) == ["gamma", "delta", "alpha", "beta"]
    page = api.get("/sites", query_string="sort_by=%2Bname,-address,").json
    assert names(page) == ["alpha", "beta", "delta", "gamma"]


def test_sites_are_filtered_by_exact_name_and_address(api, three_sites):
    assert names(api.get("/sites", query_string="name=beta").json) == ["beta"]
    assert names(api.get("/sites", query_string="address=a-addr").json) == ["gamma"]
    assert api.get("/sites", query_string="name=bet").json["items"] == []
    assert api.get("/sites", query_string="name=beta&address=a-addr").json["items"] == []


def test_searching_sites_ands_terms_and_ors_fields(api, three_sites):
    def search(*terms, extra=""):
        query = "&".join(f"terms={t}" for t in terms) + extra
        answer = api.get("/sites:search", query_string=query)
        assert answer.status_code == 200, answer.text
        return sorted(names(answer.json))

    assert search("alpha") == ["alpha"]  # case-sensitive: "Alpha helper" does not match
    assert search("Alpha") == ["gamma"]
    assert search("addr") == ["alpha", "beta", "gamma"]
    assert search("addr", "a") == ["alpha", "beta", "gamma"]
    assert search("addr", "site") == ["beta"]
    assert search("b-", "alpha") == ["alpha"]
    assert search("b-", "gamma") == []
    assert search("%25") == ["beta"]  # Q-11 fixed: % and _ are literal
    assert search("_") == ["beta"]
    assert search("a%25a") == []
    assert search("b_ta") == []
    assert search("the%20%25") == ["beta"]  # spaces are significant
    assert search("the%20%20%25") == []
    assert search("beta", extra="&terms[]=x-") == ["beta"]


def test_searching_sites_has_no_default_order_but_accepts_one(api, three_sites):
    page = api.get("/sites:search", query_string="sort_by=-name").json
    assert names(page) == ["gamma", "beta", "alpha"]
    assert sorted(names(api.get("/sites:search").json)) == ["alpha", "beta", "gamma"]


def test_pending_sites_are_listed_for_anyone_who_asks(api, callers):
    site = submit_site(api, callers.user)
    assert api.get("/sites:search", query_string="status=on_review").json["items"] == [site]
    assert api.get("/sites:search").json["items"] == []
    assert api.get("/sites", callers.other, query_string="status=on_review").json["items"] == [site]


def test_updating_a_site(api, callers):
    site = submit_site(api, callers.user, description="kept")
    answer = api.put(f"/sites/{site['id']}", callers.admin, json={"name": "renamed", "address": "new"})
    assert answer.status_code == 204
    assert api.get(f"/sites/{site['id']}").json == {**site, "name": "renamed", "address": "new"}
    api.put(f"/sites/{site['id']}", callers.admin, json={"name": "renamed", "address": "new", "description": "d2"})
    assert api.get(f"/sites/{site['id']}").json["description"] == "d2"
    assert api.get("/sites", query_string="status=on_review").json["total"] == 1


def test_updating_a_site_refuses_its_id_in_the_body(api, callers):
    site = submit_site(api, callers.user)
    answer = api.put(f"/sites/{site['id']}", callers.admin, json={"id": site["id"], "name": "n", "address": "a"})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"json": {"id": ["Unknown field."]}}


def test_renaming_a_site_onto_another_is_a_conflict(api, callers):
    submit_site(api, callers.user, name="taken")
    site = submit_site(api, callers.user, name="mine")
    answer = api.put(f"/sites/{site['id']}", callers.admin, json={"name": "taken", "address": "a"})
    assert answer.status_code == 409
    assert answer.json["errors"] == {"error": "Changes conflict submitted/existing site"}
    assert api.get(f"/sites/{site['id']}").json["name"] == "mine"


def test_updating_an_unknown_site_is_not_found(api, callers):
    id = uuid4()
    answer = api.put(f"/sites/{id}", callers.admin, json={"name": "n", "address": "a"})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}


def test_a_site_update_shows_in_its_results(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    result = upload_result(api, callers.user, benchmark["id"], flavor["id"])
    api.put(f"/sites/{site['id']}", callers.admin, json={"name": "moved", "address": "elsewhere"})
    embedded = api.get(f"/results/{result['id']}").json["site"]
    assert (embedded["name"], embedded["address"]) == ("moved", "elsewhere")


def test_rejecting_a_site_removes_it_and_its_flavors(api, callers):
    site = submit_site(api, callers.user, name="rejected")
    flavor = add_flavor(api, callers.user, site["id"])
    answer = api.post(f"/sites/{site['id']}:reject", callers.admin)
    assert answer.status_code == 204
    assert api.get(f"/sites/{site['id']}").status_code == 404
    assert api.get(f"/flavors/{flavor['id']}").status_code == 404
    assert api.get("/reports/submits", callers.admin).json["items"] == []
    assert api.post("/sites", callers.user, json={"name": "rejected", "address": "a"}).status_code == 201


def test_rejecting_an_approved_site_is_refused(api, callers):
    site = submit_site(api, callers.user)
    approve(api, callers.admin, "sites", site["id"])
    answer = api.post(f"/sites/{site['id']}:reject", callers.admin)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": f"Site {site['id']} was already approved"}


def test_reviewing_an_unknown_site_is_not_found(api, callers):
    id = uuid4()
    for action in ("approve", "reject"):
        answer = api.post(f"/sites/{id}:{action}", callers.admin)
        assert answer.status_code == 404
        assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}
    assert api.delete(f"/sites/{id}", callers.admin).status_code == 404


def test_site_review_ignores_unknown_query_arguments(api, callers):
    site = submit_site(api, callers.user)
    assert api.post(f"/sites/{site['id']}:approve", callers.admin, query_string="x=1").status_code == 204


def test_deleting_a_site_removes_its_results(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    result = upload_result(api, callers.other, benchmark["id"], flavor["id"])
    assert api.delete(f"/sites/{site['id']}", callers.admin).status_code == 204
    assert api.get(f"/results/{result['id']}").status_code == 404
    assert api.get("/results").json["total"] == 0
    assert api.get(f"/benchmarks/{benchmark['id']}").status_code == 200


def test_a_deleted_sites_name_can_be_reused(api, callers):
    site = submit_site(api, callers.user, name="reuse")
    approve(api, callers.admin, "sites", site["id"])
    api.delete(f"/sites/{site['id']}", callers.admin)
    again = submit_site(api, callers.other, name="reuse")
    assert again["id"] != site["id"]
    # and a flavor name of the deleted site is free on the new one
    assert add_flavor(api, callers.other, again["id"], name="f")["name"] == "f"
