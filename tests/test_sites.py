"""Sites and their flavors through the real embedded service (contract §5.2, §5.3)."""

from __future__ import annotations


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
