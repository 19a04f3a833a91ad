"""Tags: no review, no uploader, no dates (contract §5.4)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.support.catalog import names, result_setup, upload_result
from tests.support.catalog import tag as create_tag


def test_a_created_tag_is_visible_at_once(api, callers):
    answer = api.post("/tags", callers.user, json={"name": "gpu", "description": "with GPUs"})
    assert answer.status_code == 201, answer.text
    tag = answer.json
    assert set(tag) == {"id", "name", "description"}
    assert api.get("/tags").json["items"] == [tag]
    assert api.get(f"/tags/{tag['id']}").json == tag
    assert api.get("/reports/submits", callers.admin).json["items"] == []


def test_a_tag_without_description_omits_it(api, callers):
    tag = create_tag(api, callers.user, name="t")
    assert set(tag) == {"id", "name"}
    assert api.get(f"/tags/{tag['id']}").json == tag


def test_tag_names_are_unique(api, callers):
    create_tag(api, callers.user, name="gpu")
    answer = api.post("/tags", callers.other, json={"name": "gpu"})
    assert answer.status_code == 409
    assert answer.json["errors"] == {"error": "Tag gpu already submitted/exists"}
    assert create_tag(api, callers.other, name="GPU")["name"] == "GPU"


def test_a_tag_needs_a_name(api, callers):
    answer = api.post("/tags", callers.user, json={"description": "d"})
    assert answer.status_code == 422
    assert answer.json["errors"] == {"json": {"name": ["Missing data for required field."]}}


def test_an_unknown_tag_is_not_found(api):
    id = uuid4()
    answer = api.get(f"/tags/{id}")
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}


@pytest.fixture
def tags(api, callers):
    return [
        create_tag(api, callers.user, name="hpc", description="b: High performance"),
        create_tag(api, callers.user, name="cloud", description="a: elastic"),
        create_tag(api, callers.user, name="gpu", description="a: accelerators"),
    ]


def test_tags_are_listed_by_name(api, tags):
    assert names(api.get("/tags").json) == ["cloud", "gpu", "hpc"]
    assert names(api.get("/tags", query_string="sort_by=%2Bname,-description").json) == ["cloud", "gpu", "hpc"]
    assert names(api.get("/tags", query_string="sort_by=%2Bdescription").json) == ["gpu", "cloud", "hpc"]
    assert names(api.get("/tags", query_string="name=gpu").json) == ["gpu"]


def test_tags_have_no_status_dates_or_upload_sorting(api, tags):
    for query in ("status=approved", "upload_before=2030-01-01", "upload_after=2000-01-01"):
        answer = api.get("/tags", query_string=query)
        assert answer.status_code == 422, query
        assert list(answer.json["errors"]["query"].values()) == [["Unknown field."]]
    answer = api.get("/tags", query_string="sort_by=%2Bupload_datetime")
    assert answer.status_code == 422
    assert answer.json["message"]["KeyError"] == "Unexpected field 'upload_datetime'"


def test_searching_tags(api, tags):
    def search(query):
        answer = api.get("/tags:search", query_string=query)
        assert answer.status_code == 200, answer.text
        return sorted(names(answer.json))

    assert search("terms=a:") == ["cloud", "gpu"]
    assert search("terms=a:&terms=c") == ["cloud", "gpu"]
    assert search("terms=a:&terms=g") == ["gpu"]
    assert search("terms=High") == ["hpc"]
    assert search("terms=high") == []
    assert search("terms=hpc&terms=cloud") == []
    assert search("terms=u") == ["cloud", "gpu"]
    assert search("") == ["cloud", "gpu", "hpc"]


def test_searching_tags_has_no_name_filter(api, tags):
    assert api.get("/tags:search", query_string="name=gpu").status_code == 422


def test_updating_a_tag(api, callers, tags):
    hpc = tags[0]
    answer = api.put(f"/tags/{hpc['id']}", callers.admin, json={"name": "supercomputing"})
    assert answer.status_code == 204
    assert api.get(f"/tags/{hpc['id']}").json == {**hpc, "name": "supercomputing"}
    assert create_tag(api, callers.user, name="hpc")["name"] == "hpc"


def test_renaming_a_tag_onto_another_is_a_conflict(api, callers, tags):
    answer = api.put(f"/tags/{tags[0]['id']}", callers.admin, json={"name": "gpu"})
    assert answer.status_code == 409
    assert answer.json["errors"] == {"error": "Changes conflict submitted/existing tag"}


def test_updating_a_tag_refuses_unknown_fields_and_null(api, callers, tags):
    answer = api.put(f"/tags/{tags[0]['id']}", callers.admin, json={"name": "x", "id": tags[0]["id"]})
    assert answer.json["errors"] == {"json": {"id": ["Unknown field."]}}
    answer = api.put(f"/tags/{tags[0]['id']}", callers.admin, json={"name": "x", "description": None})
    assert answer.json["errors"] == {"json": {"description": ["Field may not be null."]}}


def test_updating_or_deleting_an_unknown_tag_is_not_found(api, callers):
    id = uuid4()
    answer = api.put(f"/tags/{id}", callers.admin, json={"name": "x"})
    assert answer.status_code == 404
    assert answer.json["errors"] == {"error": f"Record {id} not found in the database"}
    assert api.delete(f"/tags/{id}", callers.admin).status_code == 404


def test_a_tag_update_shows_in_its_results(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    tag = create_tag(api, callers.user, name="before")
    result = upload_result(api, callers.user, benchmark["id"], flavor["id"], tags_ids=tag["id"])
    assert result["tags"] == [tag]
    api.put(f"/tags/{tag['id']}", callers.admin, json={"name": "after"})
    assert api.get(f"/results/{result['id']}").json["tags"] == [{**tag, "name": "after"}]


def test_deleting_a_tag_removes_it_from_results(api, callers):
    benchmark, site, flavor = result_setup(api, callers.user, callers.admin)
    tag = create_tag(api, callers.user, name="doomed")
    result = upload_result(api, callers.user, benchmark["id"], flavor["id"], tags_ids=tag["id"])
    answer = api.delete(f"/tags/{tag['id']}", callers.admin)
    assert answer.status_code == 204
    assert api.get(f"/tags/{tag['id']}").status_code == 404
    assert api.get(f"/results/{result['id']}").json["tags"] == []
    assert create_tag(api, callers.user, name="doomed")["id"] != tag["id"]
