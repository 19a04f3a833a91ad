"""The embedded service with its mail going to a real SMTP server, and what tests of its
e-mails wait on (tests/test_mail.py, tests/test_observability.py)."""

from __future__ import annotations

from pathlib import Path

import falcon.testing
from sqlalchemy import select

from eosc_perf.embedded import build
from read_model.mail_tables import mail_outbox
from tests.support.api import ADMIN_ENTITLEMENT, Api, service_settings

FROM = "perf@example.org"
SUPPORT = "support@example.org"


def mail_service(data_dir: Path, provider, port: int, **overrides) -> Api:
    mail = {"mail_server": "127.0.0.1", "mail_port": port, "mail_from": FROM, "mail_support": SUPPORT}
    settings = service_settings(data_dir, provider, **{**mail, **overrides})
    service = build(settings)
    return Api(service, falcon.testing.TestClient(service.app), provider)


def register(api: Api, sub: str, *, admin: bool = False) -> str:
    token = api.provider.mint(sub, email=f"{sub}@example.org", entitlements=(ADMIN_ENTITLEMENT,) if admin else ())
    answer = api.post("/users:register", token)
    assert answer.status_code == 201, answer.text
    return token


def outbox(api: Api) -> list:
    engine = api.service.mail.postman.engine
    with engine.connect() as conn:
        return conn.execute(select(mail_outbox).order_by(mail_outbox.c.notification_id, mail_outbox.c.seq)).all()
