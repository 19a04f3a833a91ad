"""Flavors of sites through the real embedded service (contract §5.2, §5.3)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.support.catalog import add_flavor, approve, names, result_setup, submit_site, upload_result


@pytest.fixture
def site(api, callers):
    return submit_site(api, callers.user, name="site")


def test_a_flavor_is_on_review_until_approved(api, callers, site):
    flavor = add_flavor(api, callers.user, site["id"], name="small", description="2 cores")
    assert set(flavor) == {"id", "upload_datetime", "name", "description"}  # no site_id
    listing = f"/sites/{site['id']}/flavors"
    assert api.get(listing).json["items"] == []
    assert api.get(listing, query_string="status=on_review").json["items"] == [flavor]
    assert api.get(f"/flavors/{flavor['id']}").json == flavor
    approve(api, callers.admin, "flavors", flavor["id"])
    assert api.get(listing).json["items"] == [flavor]
    assert api.get(listing, query_string="status=on_review").json["items"] == []


def test_a_flavor_may_be_added_to_a_pending_site_and_approved_before_it(api, callers, site):
    flavor = add_flavor(api, callers.other, site["id"])
    approve(api, callers.admin, "flavors", flavor["id"])
    assert api.get(f"/sites/{site['id']}/flavors").json["items"] == [flavor]


def test_adding_a_flavor_to_an_unknown_site_is_not_found(api, callers):
    id = uuid4()
    answer = api.post(f"/sites/{id}/flavors", callers.user, json={"name": "f"})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}


def test_a_flavor_body_is_validated_before_the_site_is_looked_up(api, callers):
    answer = api.post(f"/sites/{uuid4()}/flavors", callers.user, json={})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"json": {"name": ["Missing data for required field."]}}


def test_a_flavor_cannot_name_its_site(api, callers, site):
    answer = api.post(f"/sites/{site['id']}/flavors", callers.user, json={"name": "f", "site_id": site["id"]})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"json": {"site_id": ["Unknown field."]}}


def test_flavor_names_are_unique_per_site(api, callers, site):
    add_flavor(api, callers.user, site["id"], name="f")
    answer = api.post(f"/sites/{site['id']}/flavors", callers.other, json={"name": "f"})
    assert answer.status_code == 409
    assert answer.json["errors"] == {"error": "Flavor f already submitted/exists"}
    other_site = submit_site(api, callers.user)
    assert add_flavor(api, callers.other, other_site["id"], name="f")["name"] == "f"
    assert add_flavor(api, callers.other, site["id"], name="F")["name"] == "F"


def test_an_unknown_flavor_is_not_found(api):
    id = uuid4()
    answer = api.get(f"/flavors/{id}")
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}
    answer = api.get(f"/flavors/{id}/site")
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}


def test_the_site_of_a_flavor(api, callers, site):
    flavor = add_flavor(api, callers.user, site["id"])
    assert api.get(f"/flavors/{flavor['id']}/site", query_string="x=1").json == site


def test_listing_flavors_of_an_unknown_site_is_not_found(api):
    id = uuid4()
    for path in (f"/sites/{id}/flavors", f"/sites/{id}/flavors:search"):
        answer = api.get(path)
        assert answer.status_code == 404
        assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}


@pytest.fixture
def flavors(api, callers, site):
    made = [
        add_flavor(api, callers.user, site["id"], name="medium", description="4 cores"),
        add_flavor(api, callers.user, site["id"], name="large", description="8 cores, big_mem"),
        add_flavor(api, callers.user, site["id"], name="small"),
    ]
    for flavor in made:
        approve(api, callers.admin, "flavors", flavor["id"])
    elsewhere = submit_site(api, callers.user)
    approve(api, callers.admin, "flavors", add_flavor(api, callers.user, elsewhere["id"], name="tiny")["id"])
    return made


def test_flavors_are_listed_by_name_within_their_site(api, site, flavors):
    listing = f"/sites/{site['id']}/flavors"
    assert names(api.get(listing).json) == ["large", "medium", "small"]
    assert names(api.get(listing, query_string="sort_by=-name").json) == ["small", "medium", "large"]
    assert names(api.get(listing, query_string="sort_by=%2Bupload_datetime").json) == ["medium", "large", "small"]
    assert names(api.get(listing, query_string="name=small").json) == ["small"]
    assert names(api.get(listing, query_string="sort_by=%2Bsite_id,%2Bname").json) == ["large", "medium", "small"]


def test_flavor_listing_refuses_unknown_arguments(api, site):
    answer = api.get(f"/sites/{site['id']}/flavors", query_string="address=a")
    assert answer.status_code == 422
    assert answer.json["errors"] == {"query": {"address": ["Unknown field."]}}


def test_searching_flavors_of_a_site(api, site, flavors):
    def search(query):
        return sorted(names(api.get(f"/sites/{site['id']}/flavors:search", query_string=query).json))

    assert search("terms=cores") == ["large", "medium"]
    assert search("terms=cores&terms=8") == ["large"]
    assert search("terms=l") == ["large", "small"]
    assert search("terms=tiny") == []  # another site's flavor
    assert search("terms=_") == ["large"]
    assert search("") == ["large", "medium", "small"]


def test_updating_a_flavor(api, callers, site):
    flavor = add_flavor(api, callers.user, site["id"], name="f", description="kept")
    answer = api.put(f"/flavors/{flavor['id']}", callers.admin, json={"name": "g"})
    assert answer.status_code == 204
    assert api.get(f"/flavors/{flavor['id']}").json == {**flavor, "name": "g"}
    assert api.post(f"/sites/{site['id']}/flavors", callers.user, json={"name": "f"}).status_code == 201


def test_a_flavor_cannot_move_to_another_site(api, callers, site):
    flavor = add_flavor(api, callers.user, site["id"])
    other = submit_site(api, callers.user)
    answer = api.put(f"/flavors/{flavor['id']}", callers.admin, json={"name": "f", "site_id": other["id"]})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"json": {"site_id": ["Unknown field."]}}


def test_renaming_a_flavor_onto_another_of_its_site_is_a_conflict(api, callers, site):
    add_flavor(api, callers.user, site["id"], name="taken")
    flavor = add_flavor(api, callers.user, site["id"], name="mine")
    answer = api.put(f"/flavors/{flavor['id']}", callers.admin, json={"name": "taken"})
    assert answer.status_code == 409
    assert answer.json["errors"] == {"error": "Changes conflict submitted/existing flavor"}
    other_site = submit_site(api, callers.user)
    elsewhere = add_flavor(api, callers.user, other_site["id"], name="other")
    assert api.put(f"/flavors/{elsewhere['id']}", callers.admin, json={"name": "taken"}).status_code == 204


def test_updating_an_unknown_flavor_is_not_found(api, callers):
    id = uuid4()
    answer = api.put(f"/flavors/{id}", callers.admin, json={"name": "f"})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}


def test_a_flavor_update_shows_in_its_results(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    result = upload_result(api, callers.user, benchmark["id"], flavor["id"])
    api.put(f"/flavors/{flavor['id']}", callers.admin, json={"name": "renamed", "description": "d"})
    assert api.get(f"/results/{result['id']}").json["flavor"] == {**flavor, "name": "renamed", "description": "d"}


def test_approving_a_flavor_twice_is_refused(api, callers, site):
    flavor = add_flavor(api, callers.user, site["id"])
    approve(api, callers.admin, "flavors", flavor["id"])
    for action in ("approve", "reject"):
        answer = api.post(f"/flavors/{flavor['id']}:{action}", callers.admin)
        assert answer.status_code == 422
        assert answer.json["errors"] == {"error": f"Flavor {flavor['id']} was already approved"}


def test_rejecting_a_flavor_removes_it(api, callers, site):
    flavor = add_flavor(api, callers.user, site["id"], name="f")
    assert api.post(f"/flavors/{flavor['id']}:reject", callers.admin).status_code == 204
    assert api.get(f"/flavors/{flavor['id']}").status_code == 404
    assert api.get(f"/sites/{site['id']}/flavors", query_string="status=on_review").json["items"] == []
    assert api.get(f"/sites/{site['id']}").status_code == 200
    assert add_flavor(api, callers.user, site["id"], name="f")["name"] == "f"


def test_reviewing_an_unknown_flavor_is_not_found(api, callers):
    id = uuid4()
    for action in ("approve", "reject"):
        answer = api.post(f"/flavors/{id}:{action}", callers.admin)
        assert answer.status_code == 404
        assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}
    assert api.delete(f"/flavors/{id}", callers.admin).status_code == 404


def test_deleting_a_flavor_removes_its_results_and_keeps_its_site(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    result = upload_result(api, callers.user, benchmark["id"], flavor["id"])
    assert api.delete(f"/flavors/{flavor['id']}", callers.admin).status_code == 204
    assert api.get(f"/flavors/{flavor['id']}").status_code == 404
    assert api.get(f"/results/{result['id']}").status_code == 404
    assert api.get(f"/sites/{site['id']}").status_code == 200
    assert api.get(f"/sites/{site['id']}/flavors").json["items"] == []


def test_a_flavor_of_a_deleted_site_is_gone_for_every_command(api, callers, site):
    flavor = add_flavor(api, callers.user, site["id"], name="f")
    api.delete(f"/sites/{site['id']}", callers.admin)
    for method, path, body in (
        ("POST", f"/flavors/{flavor['id']}:approve", None),
        ("POST", f"/flavors/{flavor['id']}:reject", None),
        ("PUT", f"/flavors/{flavor['id']}", {"name": "g"}),
        ("DELETE", f"/flavors/{flavor['id']}", None),
        ("POST", f"/sites/{site['id']}/flavors", {"name": "g"}),
    ):
        answer = api.request(method, path, callers.admin, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert api.get(f"/flavors/{flavor['id']}/site").status_code == 404


def test_results_need_an_approved_flavor(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    pending = add_flavor(api, callers.user, site["id"])
    query = f"execution_datetime=2024-01-01T00:00:00%2B00:00&benchmark_id={benchmark['id']}&flavor_id={pending['id']}"
    answer = api.post("/results", callers.user, json={}, query_string=query)
    assert answer.status_code == 422
    assert answer.json["errors"] == {"error": f"Flavor {pending['id']} not approved"}
