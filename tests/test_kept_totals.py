"""The totals of listings narrowed to one benchmark, site or flavor, and of searches of one term
naming sites (or flavors, or benchmarks) alone, come from counts the projector keeps
(read_model/counts.py `visible_of`): they follow uploads, claims, rejected claims, deletions and
removals, and where a count is missing the rows are counted instead."""

from __future__ import annotations

from sqlalchemy import select

from read_model import counts
from read_model.tables import counters
from tests.support import catalog
from tests.support.catalog import query_string


def _totals(api, where: catalog.Setup, other: catalog.Setup) -> dict[str, tuple[int, int]]:
    """Each narrowed listing's and search's total, with the results its pages hold."""
    found = {}
    asked = {
        "benchmark": ("/results", {"benchmark_id": where.benchmark["id"]}),
        "site": ("/results", {"site_id": where.site["id"]}),
        "flavor": ("/results", {"flavor_id": other.flavor["id"]}),
        "site by name": ("/results:search", {"terms": where.site["name"]}),
        "flavor by name": ("/results:search", {"terms": other.flavor["name"]}),
        "sorted": ("/results", {"site_id": other.site["id"], "sort_by": "-upload_datetime", "per_page": 2}),
    }
    for name, (path, arguments) in asked.items():
        answer = api.get(path, query_string=query_string(**arguments))
        assert answer.status_code == 200, answer.text
        every = api.get(path, query_string=query_string(**{**arguments, "per_page": 100})).json["items"]
        found[name] = (answer.json["total"], len(every))
    return found


def _agree(totals: dict[str, tuple[int, int]]) -> dict[str, int]:
    assert all(total == held for total, held in totals.values()), totals
    return {name: total for name, (total, _held) in totals.items()}


def test_narrowed_totals_follow_every_change_of_the_results(api, callers):
    user, admin = callers.user, callers.admin
    where = catalog.setup(api, user, admin)
    other = catalog.setup(api, user, admin)
    mine = [catalog.upload(api, user, where, {"n": n}) for n in range(4)]
    theirs = [catalog.upload(api, callers.other, other, {"n": n}) for n in range(3)]
    both = catalog.flavor(api, user, admin, other.site["id"])  # the other site's second flavor
    assert catalog.upload_answer(api, user, where.benchmark["id"], both["id"], {"n": 9}).status_code == 201
    expected = {"benchmark": 5, "site": 4, "flavor": 3, "site by name": 4, "flavor by name": 3, "sorted": 4}
    assert _agree(_totals(api, where, other)) == expected

    claim = catalog.claim(api, callers.other, mine[0]["id"])  # hidden
    assert api.delete(f"/results/{theirs[0]['id']}", admin).status_code == 204  # hidden
    expected.update({"benchmark": 4, "site": 3, "flavor": 2, "site by name": 3, "flavor by name": 2, "sorted": 3})
    assert _agree(_totals(api, where, other)) == expected

    assert api.post(f"/reports/claims/{claim['id']}:reject", admin).status_code == 204  # shown again
    expected.update({"benchmark": 5, "site": 4, "site by name": 4})
    assert _agree(_totals(api, where, other)) == expected

    assert api.delete(f"/flavors/{other.flavor['id']}", admin).status_code == 204  # its results go
    expected.update({"flavor": 0, "flavor by name": 0, "sorted": 1})
    assert _agree(_totals(api, where, other)) == expected


def test_a_missing_count_is_made_good_by_counting_the_rows(embedded_api):
    api = embedded_api
    user, admin = api.register("alice"), api.register("root", admin=True)
    where = catalog.setup(api, user, admin)
    other = catalog.setup(api, user, admin)
    for n in range(3):
        catalog.upload(api, user, where, {"n": n})
    catalog.upload(api, user, other, {"n": 0})
    engine = api.service.projection.consumer.engine
    with engine.connect() as conn:
        assert counts.visible_of(conn, "site_id", [where.site["id"]]) == 3  # kept: the totals read it
        assert counts.visible_of(conn, "site_id", [where.site["id"], other.site["id"]]) == 4
    with engine.begin() as conn:  # as a store whose counts were emptied by hand
        conn.execute(counters.delete().where(counters.c.name.startswith(counts.VISIBLE_OF)))
        assert counts.visible_of(conn, "site_id", [where.site["id"]]) is None
        assert not [name for name in conn.execute(select(counters.c.name)).scalars() if name.startswith("visible:")]
        assert counts.visible(conn) == 4  # the count of all visible results is not one of them
    assert _agree(_totals(api, where, other))["site"] == 3
    catalog.upload(api, user, where, {"n": 3})  # the next change makes the count from the rows again
    with engine.connect() as conn:
        assert counts.visible_of(conn, "site_id", [where.site["id"]]) == 4
