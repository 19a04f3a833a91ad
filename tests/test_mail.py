"""The contract's e-mails (§6) through the real embedded service and a real SMTP server.

Mails go out from the service's mail thread after the write answered, so tests wait for
them with a deadline (`SmtpSink.wait_for`). To show that something sent NO mail, a test
does a later write that does send one (a "marker"): mails leave in event order, so when the
marker arrives, any mail before it would have arrived first.
"""

from __future__ import annotations

import logging
import time
from email.message import EmailMessage

import falcon.testing
import pytest
from sqlalchemy import delete, func, inspect, select, text

from domain.actor import Actor
from eosc_perf.embedded import build
from projections.bus.lag import LagReport, lines
from projections.mail import directory
from projections.mail.messages import Letter
from projections.replay import scratch_store
from read_model import read_store
from read_model.mail_tables import mail_items, mail_outbox
from read_model.migrations import migrate, schema_migrations
from tests.support.api import BACKENDS, Api, service_settings
from tests.support.catalog import add_flavor, result_setup, submit_benchmark, submit_site, upload_result
from tests.support.catalog import tag as create_tag
from tests.support.mail_service import FROM, SUPPORT, mail_service, outbox, register
from tests.support.smtp_sink import SmtpSink, closed_port
from tests.support.waiting import wait_until


@pytest.fixture
def mail_api(tmp_path, identity_provider, smtp_sink):
    api = mail_service(tmp_path / "data", identity_provider, smtp_sink.port)
    yield api
    api.service.close()


def assert_mail(message: EmailMessage, *, to: str, subject: str, cc: str | None = SUPPORT, **headers: str) -> None:
    assert message["From"] == FROM
    assert message["To"] == to
    assert message["Cc"] == cc
    assert message["Subject"] == subject
    for name, value in headers.items():
        assert message[name.replace("_", "-")] == value, name
    assert message.get_content_type() == "text/plain"


# --- users -----------------------------------------------------------------------------------
def test_registering_sends_a_welcome_mail_without_cc(mail_api, smtp_sink):
    register(mail_api, "alice")
    [mail] = smtp_sink.wait_for(1)
    assert_mail(mail, to="alice@example.org", subject="Thank you for registering", cc=None)
    assert "registration" in mail.get_content()
    assert smtp_sink.deliveries[0].sender == FROM
    assert smtp_sink.deliveries[0].recipients == ("alice@example.org",)


def test_updating_self_mails_the_new_address(mail_api, smtp_sink):
    register(mail_api, "carol")
    token = mail_api.provider.mint("carol", email="new@example.org")
    assert mail_api.post("/users/self:update", token).status_code == 204
    _, mail = smtp_sink.wait_for(2)
    assert_mail(mail, to="new@example.org", subject="Your user information was updated", cc=None)


def test_registering_again_after_removal_and_restore_is_welcomed_again(mail_api, smtp_sink):
    admin = register(mail_api, "root", admin=True)
    register(mail_api, "alice")
    # Her first welcome goes out before she is removed: a removed user's unsent mails are not
    # sent (their address is erased), and a CI run once removed her before the mailer's round.
    smtp_sink.wait_for(2)
    alice = {"sub": "alice", "iss": mail_api.provider.issuer}
    assert mail_api.post("/users:remove", admin, params=alice).status_code == 204
    assert mail_api.post("/users:restore", admin, params=alice).status_code == 204
    register(mail_api, "alice")
    mails = smtp_sink.wait_for(3)
    assert [m["To"] for m in mails] == ["root@example.org", "alice@example.org", "alice@example.org"]
    assert_mail(mails[2], to="alice@example.org", subject="Thank you for registering", cc=None)


def test_a_removed_user_hears_nothing_of_what_they_submitted(mail_api, smtp_sink):
    """Their sites stay, owned by no one: reviewing them mails nobody, even once the user is
    restored and registered again."""
    admin = register(mail_api, "root", admin=True)
    token = register(mail_api, "alice")
    approved_site, rejected_site = submit_site(mail_api, token), submit_site(mail_api, token)
    smtp_sink.wait_for(4)
    alice = {"sub": "alice", "iss": mail_api.provider.issuer}
    assert mail_api.post("/users:remove", admin, params=alice).status_code == 204
    assert mail_api.post(f"/sites/{approved_site['id']}:approve", admin).status_code == 204
    assert mail_api.post("/users:restore", admin, params=alice).status_code == 204
    register(mail_api, "alice")
    assert mail_api.post(f"/sites/{rejected_site['id']}:reject", admin).status_code == 204
    register(mail_api, "marker")
    assert [m["Subject"] for m in smtp_sink.wait_for(6)[4:]] == ["Thank you for registering"] * 2


# --- benchmarks, sites, flavors -----------------------------------------------------------------
def test_submitting_benchmarks_sites_and_flavors_mails_the_uploader_and_support(mail_api, smtp_sink):
    token = register(mail_api, "alice")
    benchmark = submit_benchmark(mail_api, token)
    site = submit_site(mail_api, token)
    flavor = add_flavor(mail_api, token, site["id"])
    _, *mails = smtp_sink.wait_for(4)
    for mail, kind, item in zip(mails, ("benchmark", "site", "flavor"), (benchmark, site, flavor)):
        assert_mail(
            mail,
            to="alice@example.org",
            subject=f"New {kind} resource submitted: {item['id']}",
            Resource_ID=item["id"],
        )
        assert kind in mail.get_content() and item["id"] in mail.get_content()
    assert smtp_sink.deliveries[1].recipients == ("alice@example.org", SUPPORT)


def test_approving_and_rejecting_mail_the_uploader_not_the_admin(mail_api, smtp_sink):
    admin = register(mail_api, "root", admin=True)
    token = register(mail_api, "alice")
    site = submit_site(mail_api, token)
    benchmark = submit_benchmark(mail_api, token)
    assert mail_api.post(f"/sites/{site['id']}:approve", admin).status_code == 204
    assert mail_api.post(f"/benchmarks/{benchmark['id']}:reject", admin).status_code == 204
    approved, rejected = smtp_sink.wait_for(6)[4:]
    assert_mail(approved, to="alice@example.org", subject=f"Resource approved: {site['id']}", Resource_ID=site["id"])
    assert "site" in approved.get_content()
    assert_mail(
        rejected, to="alice@example.org", subject=f"Resource rejected: {benchmark['id']}", Resource_ID=benchmark["id"]
    )
    assert "benchmark" in rejected.get_content()


def test_tags_updates_and_deletes_send_no_mail(mail_api, smtp_sink):
    admin = register(mail_api, "root", admin=True)
    site = submit_site(mail_api, admin)
    smtp_sink.wait_for(2)
    create_tag(mail_api, admin)
    assert mail_api.put(f"/sites/{site['id']}", admin, json={"name": "renamed", "address": "a"}).status_code == 204
    assert mail_api.delete(f"/sites/{site['id']}", admin).status_code == 204
    register(mail_api, "marker")
    mails = smtp_sink.wait_for(3)
    assert mails[2]["To"] == "marker@example.org"
    assert len(outbox(mail_api)) == 3


def test_without_mail_support_there_is_no_cc(tmp_path, identity_provider, smtp_sink):
    api = mail_service(tmp_path / "data", identity_provider, smtp_sink.port, mail_support="")
    try:
        site = submit_site(api, register(api, "alice"))
        _, mail = smtp_sink.wait_for(2)
        assert_mail(mail, to="alice@example.org", subject=f"New site resource submitted: {site['id']}", cc=None)
        assert smtp_sink.deliveries[1].recipients == ("alice@example.org",)
    finally:
        api.service.close()


# --- results and claims --------------------------------------------------------------------------
@pytest.fixture
def claimed(mail_api, smtp_sink):
    """alice's result claimed by bob: (result, claim, admin token); the mails so far are consumed."""
    admin = register(mail_api, "root", admin=True)
    alice, bob = register(mail_api, "alice"), register(mail_api, "bob")
    benchmark, site, flavor = result_setup(mail_api, alice, admin)
    result = upload_result(mail_api, alice, benchmark["id"], flavor["id"])
    answer = mail_api.post(f"/results/{result['id']}:claim", bob, json={"message": "doubtful"})
    assert answer.status_code == 201, answer.text
    sent = len(smtp_sink.wait_for(10))  # 3 welcomes, 3 submitted, 3 approved, the claim
    return result, answer.json, admin, sent


def test_claiming_a_result_mails_its_uploader(claimed, smtp_sink):
    result, claim, _, sent = claimed
    mail = smtp_sink.messages[sent - 1]
    assert_mail(
        mail,
        to="alice@example.org",
        subject=f"Claim submitted on result: {result['id']}",
        Result_ID=result["id"],
        Claim_ID=claim["id"],
    )


def test_claiming_again_mails_no_one_again(mail_api, claimed, smtp_sink):
    result, _, _, sent = claimed
    bob = mail_api.provider.mint("bob", email="bob@example.org")
    for _ in range(5):
        assert mail_api.post(f"/results/{result['id']}:claim", bob, json={"message": "again"}).status_code == 409
    register(mail_api, "marker")
    assert smtp_sink.wait_for(sent + 1)[-1]["To"] == "marker@example.org"


def test_approving_a_claim_mails_the_claimer(mail_api, claimed, smtp_sink):
    _, claim, admin, sent = claimed
    assert mail_api.post(f"/reports/claims/{claim['id']}:approve", admin).status_code == 204
    mail = smtp_sink.wait_for(sent + 1)[-1]
    assert_mail(mail, to="bob@example.org", subject=f"Resource approved: {claim['id']}", Resource_ID=claim["id"])
    assert "claim" in mail.get_content()


def test_rejecting_the_last_claim_mails_the_claimer_and_restores_the_result(mail_api, claimed, smtp_sink):
    result, claim, admin, sent = claimed
    assert mail_api.post(f"/reports/claims/{claim['id']}:reject", admin).status_code == 204
    rejected, restored = smtp_sink.wait_for(sent + 2)[-2:]
    assert_mail(rejected, to="bob@example.org", subject=f"Resource rejected: {claim['id']}", Resource_ID=claim["id"])
    assert_mail(restored, to="alice@example.org", subject=f"Result restored: {result['id']}", Result_ID=result["id"])


def test_uploading_a_result_sends_no_mail(mail_api, smtp_sink):
    admin = register(mail_api, "root", admin=True)
    benchmark, site, flavor = result_setup(mail_api, admin, admin)
    smtp_sink.wait_for(7)
    upload_result(mail_api, admin, benchmark["id"], flavor["id"])
    register(mail_api, "marker")
    assert smtp_sink.wait_for(8)[-1]["To"] == "marker@example.org"


# --- delivery: outages, refusals, restarts ---------------------------------------------------------
def test_a_mail_server_outage_keeps_the_mail_until_it_is_back(tmp_path, identity_provider):
    api = None
    try:
        with closed_port() as port:  # nothing listens: connections are refused
            api = mail_service(tmp_path / "data", identity_provider, port)
            api.service.mail.postman.first_retry = 0.05  # keep the test quick
            answer = api.post("/users:register", api.provider.mint("alice", email="alice@example.org"))
            assert answer.status_code == 201, answer.text
            [row] = wait_until(lambda: [r for r in outbox(api) if r.attempts >= 1], what="a failed attempt")
            assert row.sent_at is None and "Connection refused" in row.last_error
        with SmtpSink(port) as sink:  # the server comes back on its port
            [mail] = sink.wait_for(1)
            assert mail["To"] == "alice@example.org"
            [row] = wait_until(lambda: [r for r in outbox(api) if r.sent_at is not None], what="marked sent")
            assert row.last_error is None
            register(api, "marker")  # nothing more went out for alice's registration
            assert [m["To"] for m in sink.wait_for(2)] == ["alice@example.org", "marker@example.org"]
    finally:
        if api is not None:
            api.service.close()


def test_a_recipient_refused_for_now_does_not_hold_back_later_mails(mail_api, smtp_sink):
    mail_api.service.mail.postman.first_retry = 0.05
    smtp_sink.defer.add("alice@example.org")
    register(mail_api, "alice")
    register(mail_api, "bob")
    [mail] = smtp_sink.wait_for(1)
    assert mail["To"] == "bob@example.org"
    refused = wait_until(lambda: [r for r in outbox(mail_api) if r.attempts >= 1 and r.sent_at is None])
    assert "450" in refused[0].last_error and refused[0].given_up_at is None
    smtp_sink.defer.clear()
    assert smtp_sink.wait_for(2)[1]["To"] == "alice@example.org"


def test_a_recipient_refused_for_good_is_given_up_logged_and_counted(mail_api, smtp_sink, caplog):
    """A 5xx for the only recipient is permanent (RFC 5321 4.2.1): the mail is not retried forever."""
    mail_api.service.mail.postman.first_retry = 0.05
    smtp_sink.refuse.add("alice@example.org")
    with caplog.at_level(logging.ERROR, logger="eosc_perf.mail"):
        register(mail_api, "alice")
        [row] = wait_until(lambda: [r for r in outbox(mail_api) if r.given_up_at is not None], what="given up")
    assert row.sent_at is None and row.attempts == 1 and "550" in row.last_error
    assert "refused for good, given up" in caplog.text and "alice@example.org" in caplog.text
    smtp_sink.refuse.clear()
    register(mail_api, "marker")
    assert [m["To"] for m in smtp_sink.wait_for(1)] == ["marker@example.org"]
    time.sleep(0.3)  # several retry periods: alice's mail stays given up
    assert [m["To"] for m in smtp_sink.messages] == ["marker@example.org"]
    with mail_api.service.mail.postman.engine.connect() as conn:
        assert directory.given_up(conn) == 1
        assert lines(LagReport(0, None, [], mails_given_up=directory.given_up(conn)))[-1] == (
            "mails given up (refused for good by the SMTP server): 1"
        )


def test_an_address_no_mail_header_can_hold_is_given_up(mail_api, smtp_sink):
    """Registration refuses such addresses now; one stored before (CR/LF) must not be retried forever."""
    with mail_api.service.mail.postman.engine.begin() as conn:
        directory.queue(conn, 10**9, 0, Letter("alice@example.org\r\nBcc: victim@example.org", "", "Hi"))
    [row] = wait_until(lambda: [r for r in outbox(mail_api) if r.given_up_at is not None], what="given up")
    assert row.attempts == 1 and "ValueError" in row.last_error
    register(mail_api, "marker")
    assert [m["To"] for m in smtp_sink.wait_for(1)] == ["marker@example.org"]


def test_a_restarted_service_sends_nothing_twice(tmp_path, identity_provider, smtp_sink):
    first = mail_service(tmp_path / "data", identity_provider, smtp_sink.port)
    try:
        site = submit_site(first, register(first, "alice"))
        smtp_sink.wait_for(2)
        wait_until(lambda: all(r.sent_at for r in outbox(first)), what="all marked sent")
    finally:
        first.service.close()
    assert not first.service.mail.thread.is_alive()
    second = mail_service(tmp_path / "data", identity_provider, smtp_sink.port)
    try:
        register(second, "marker")
        mails = smtp_sink.wait_for(3)
        assert [m["Subject"] for m in mails] == [
            "Thank you for registering",
            f"New site resource submitted: {site['id']}",
            "Thank you for registering",
        ]
        assert mails[2]["To"] == "marker@example.org"
    finally:
        second.service.close()


def test_a_redelivered_batch_queues_no_mail_twice(mail_api, smtp_sink):
    register(mail_api, "alice")
    smtp_sink.wait_for(1)
    follower = mail_api.service.mail.follower
    batch = next(follower.source.batches(0))
    assert follower.consumer.apply(batch) == batch[-1][0]  # as Kafka may re-deliver after a crash
    assert len(outbox(mail_api)) == 1


def test_uploads_and_a_claim_on_one_in_the_same_batch_mail_its_uploader(mail_api, claimed, tmp_path):
    """A batch folds its run of uploads by one statement (Mailer.handle_all): the claim after
    them, in the same batch, still finds the uploader."""
    result, claim, _, _ = claimed
    for _ in range(3):  # more uploads after the claimed one, in the same run
        upload_result(mail_api, mail_api.provider.mint("alice", email="alice@example.org"), *_ids(result))
    follower = mail_api.service.mail.follower
    batch = next(follower.source.batches(0))
    assert any(type(event).__name__ == "Claimed" for _, event in batch)
    fresh = read_store.connect(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    migrate(fresh)
    assert type(follower.consumer)(fresh).apply(batch) == batch[-1][0]
    with fresh.connect() as conn:
        subjects = [(row.to, row.subject) for row in conn.execute(select(mail_outbox))]
        assert directory.uploader_of(conn, result["id"]) == Actor("alice", mail_api.provider.issuer)
    assert ("alice@example.org", f"Claim submitted on result: {result['id']}") in subjects


def _ids(result: dict) -> tuple[str, str]:
    return result["benchmark"]["id"], result["flavor"]["id"]


def test_a_rebuilt_read_store_does_not_resend_old_mails(tmp_path, identity_provider, smtp_sink):
    data = tmp_path / "data"
    first = mail_service(data, identity_provider, smtp_sink.port)
    try:
        token = register(first, "alice")
        smtp_sink.wait_for(1)
        wait_until(lambda: all(r.sent_at for r in outbox(first)), what="all marked sent")
    finally:
        first.service.close()
    for path in data.glob("read.sqlite*"):
        path.unlink()
    second = mail_service(data, identity_provider, smtp_sink.port)
    try:
        site = submit_site(second, token)  # the mailer still knows alice's address
        mails = smtp_sink.wait_for(2)
        assert mails[1]["Subject"] == f"New site resource submitted: {site['id']}"
        assert mails[1]["To"] == "alice@example.org"
    finally:
        second.service.close()


def test_without_mail_server_mails_are_logged_and_marked_sent(tmp_path, identity_provider, caplog):
    caplog.set_level(logging.INFO, logger="eosc_perf.mail")
    service = build(service_settings(tmp_path / "data", identity_provider, mail_from=FROM))
    api = Api(service, falcon.testing.TestClient(service.app), identity_provider)
    try:
        register(api, "alice")
        logged = wait_until(
            lambda: [r.getMessage() for r in caplog.records if "Thank you for registering" in r.getMessage()],
            what="the logged mail",
        )
        assert "To: alice@example.org" in logged[0] and f"From: {FROM}" in logged[0]
        wait_until(lambda: all(r.sent_at for r in outbox(api)), what="marked sent")
    finally:
        service.close()


@pytest.fixture(params=BACKENDS)
def scratch_read_store(request, tmp_path):
    """An empty read store: a SQLite file, or a scratch schema in the production stack's database."""
    if request.param == "embedded":
        live = read_store.connect(f"sqlite:///{tmp_path / 'live.sqlite'}")
    else:
        live = read_store.connect(request.getfixturevalue("production_stack").database_url)
    try:
        with scratch_store(live) as engine:
            yield engine
    finally:
        live.dispose()


def test_a_store_from_before_giving_up_gets_the_column_and_index(scratch_read_store):
    """Migration 8 on a read store written by a release before it (a new store has them from migration 2)."""
    engine = scratch_read_store
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX mail_items_uploader"))
        conn.execute(text("ALTER TABLE mail_outbox DROP COLUMN given_up_at"))
        conn.execute(delete(schema_migrations).where(schema_migrations.c.version == 8))
    assert migrate(engine) == [8]
    with engine.connect() as conn:
        assert "given_up_at" in {column["name"] for column in inspect(conn).get_columns("mail_outbox")}
        assert "mail_items_uploader" in {index["name"] for index in inspect(conn).get_indexes("mail_items")}
        assert directory.given_up(conn) == 0


def test_items_stored_together_are_each_kept_the_last_of_an_id_winning(scratch_read_store):
    engine = scratch_read_store
    migrate(engine)
    issuer = "https://op.example"
    items = [(f"item-{n}", "result", Actor(f"user-{n}", issuer)) for n in range(450)]  # past one statement's 200
    with engine.begin() as conn:
        directory.store_items(conn, [*items, ("item-7", "claim", Actor("claimer", issuer))])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(mail_items)).scalar_one() == 450
        assert directory.uploader_of(conn, "item-449") == Actor("user-449", issuer)
        assert directory.uploader_of(conn, "item-7") == Actor("claimer", issuer)


def test_storing_an_item_again_replaces_whom_to_tell(scratch_read_store):
    engine = scratch_read_store
    migrate(engine)
    first, second = Actor("first", "https://op.example"), Actor("second", "https://op.example")
    with engine.begin() as conn:
        directory.store_item(conn, "item-1", "site", first)
        directory.store_item(conn, "item-2", "result", first)
        directory.store_item(conn, "item-1", "claim", second)
    with engine.connect() as conn:
        assert directory.uploader_of(conn, "item-1") == second
        assert directory.uploader_of(conn, "item-2") == first
        kinds = dict(conn.execute(select(mail_items.c.id, mail_items.c.kind)).all())
    assert kinds == {"item-1": "claim", "item-2": "result"}
