"""The domain model on its own: aggregates and their events, no I/O."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.actor import Actor
from domain.benchmark import Benchmark
from domain.claim import Claim
from domain.errors import Conflict, Forbidden, Refused
from domain.review import APPROVED, ON_REVIEW
from domain.site import Site
from domain.unique_key import UniqueKey
from domain.user import User
from tests.support.aggregates import a_result

ALICE = Actor("alice", "https://issuer.example")
ADMIN = Actor("root", "https://issuer.example")


def event_names(aggregate) -> list[str]:
    return [type(event).__name__ for event in aggregate.collect_events()]


def test_a_submitted_item_starts_on_review_and_is_approved_once():
    site = Site(name="s", address="a", description=None, actor=ALICE)
    assert site.status == ON_REVIEW and site.uploader == ALICE
    site.approve(ADMIN)
    assert site.status == APPROVED
    with pytest.raises(Refused, match=f"Site {site.id} was already approved"):
        site.approve(ADMIN)
    with pytest.raises(Refused):
        site.reject(ADMIN)
    assert event_names(site) == ["Submitted", "Approved"]


def test_each_kind_records_its_own_review_events():
    benchmark = Benchmark(docker_image="i", docker_tag="t", url="u", json_schema={}, description=None, actor=ALICE)
    benchmark.reject(ADMIN)
    assert benchmark.removed
    assert [type(e) for e in benchmark.collect_events()][1] is Benchmark.Rejected


def test_an_update_without_description_keeps_it():
    site = Site(name="s", address="a", description="kept", actor=ALICE)
    site.update(name="t", address="b", description=None, actor=ADMIN)
    assert (site.name, site.address, site.description) == ("t", "b", "kept")


def test_claims_hide_a_result_until_the_last_is_dismissed():
    result = a_result(ALICE)
    first, second = uuid4(), uuid4()
    result.claim(first, ALICE)
    result.claim(second, ADMIN)
    result.dismiss_claim(first, ADMIN)
    assert result.hidden
    result.dismiss_claim(second, ADMIN)
    assert not result.hidden
    assert event_names(result) == ["Uploaded", "Claimed", "Claimed", "ClaimDismissed", "ClaimDismissed", "Restored"]


def test_a_user_has_at_most_one_open_claim_on_a_result():
    result = a_result(ALICE)
    first = uuid4()
    result.claim(first, ALICE)
    with pytest.raises(Conflict, match=f"Result {result.id} was already claimed by this user"):
        result.claim(uuid4(), ALICE)
    result.dismiss_claim(first, ADMIN)  # rejected: alice may claim again
    result.claim(uuid4(), ALICE)
    assert event_names(result) == ["Uploaded", "Claimed", "ClaimDismissed", "Restored", "Claimed"]


def test_a_deleted_result_is_not_restored_by_dismissing_its_claim():
    result = a_result(ALICE)
    claim = uuid4()
    result.claim(claim, ADMIN)
    result.delete(ADMIN)
    result.dismiss_claim(claim, ADMIN)
    assert result.hidden
    assert "Restored" not in event_names(result)


def test_a_claim_is_reviewed_like_other_submissions():
    claim = Claim(result_id=uuid4(), message="doubtful", actor=ALICE)
    claim.approve(ADMIN)
    with pytest.raises(Refused, match=f"Resource {claim.id} was already approved"):
        claim.reject(ADMIN)


def test_a_user_is_keyed_by_subject_and_issuer_and_registers_again_once_restored():
    user = User(sub="alice", iss="https://issuer.example", email="a@example.org", actor=ALICE)
    assert user.id == User.create_id("alice", "https://issuer.example") != User.create_id("alice", "https://other")
    with pytest.raises(Conflict):
        user.register_again("b@example.org", ALICE)
    first_registration = user.registration_datetime
    user.remove(ADMIN)
    assert not user.uploaded(first_registration)
    with pytest.raises(Forbidden, match="removed by an administrator"):
        user.register_again("b@example.org", ALICE)  # removal is a ban
    user.restore(ADMIN)
    user.register_again("b@example.org", ALICE)
    assert user.registered and user.email == "b@example.org"
    assert user.registration_datetime > first_registration
    assert not user.uploaded(first_registration)  # what they uploaded before stays gone


def test_a_unique_key_is_held_released_and_held_again():
    owner, other = uuid4(), uuid4()
    key = UniqueKey(scope="site", key="CESGA", owner_id=owner)
    assert key.id == UniqueKey.create_id("site", "CESGA") and not key.free
    key.release()
    assert key.free
    key.reserve(other)
    assert key.owner_id == other
    assert event_names(key) == ["Reserved", "Released", "ReservedAgain"]
