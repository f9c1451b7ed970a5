"""Secrets and full personal data never reach the logs.

Everything the product logs is captured at DEBUG (every logger, stderr too) while citizens write through
the portal, the 12345 platform pushes a signed order, staff sign in (right and wrong passwords), an API key
is created, a file is imported and the data is anonymised; then the captured text is scanned for each
secret and each piece of personal data that passed through.
"""

from __future__ import annotations

import json
import logging
import re

from sqlalchemy import select

from tests import factories
from tests.intake.helpers import HOTLINE_HEADER, hotline_row, signed_headers, write_csv
from tracker.intake.apikeys import create_api_key
from tracker.intake.importer import import_file
from tracker.people.access import EVERYTHING
from tracker.tickets.models import Ticket
from web import captcha

PHONE, EMAIL, NAME = "13698765432", "secret.citizen@example.com", "司马相如"
ID_NUMBER = "11010519491231002X"
PUSH_PHONE, IMPORT_PHONE = "15011112222", "18633334444"
PASSWORD, WRONG_PASSWORD = factories.PASSWORD, "Wrong-Password-Guess-42"


def test_nothing_secret_or_personal_in_the_logs(
    app, client, session, now, settings, caplog, capfd, monkeypatch, tmp_path
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(captcha, "new_question", lambda rng=None: ("3+4=?", 7))
    dept = factories.department(session, "bureau", "市工业和信息化局")
    staff = factories.user(session, role="staff", dept=dept, now=now, username="log_staff")
    key, api_secret = create_api_key(
        session, settings.secret_key, name="12345平台", channel="hotline", now=now
    )
    session.commit()

    # Sign-in: a wrong password, then the right one.
    for password in (WRONG_PASSWORD, PASSWORD):
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/login", data={"username": staff.username, "password": password, "csrf_token": token})
    client.post("/logout", data={"csrf_token": token})

    # The portal: a message with name, phone and e-mail.
    portal = app.test_client()
    page = portal.get("/portal/message").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    portal.get("/portal/captcha.svg")
    posted = portal.post(
        "/portal/message",
        data={
            "request_type": "咨询",
            "title": "专精特新申报",
            "content": f"请回电{PHONE}，身份证{ID_NUMBER}",
            "name": NAME,
            "phone": PHONE,
            "email": EMAIL,
            "csrf_token": token,
            "captcha": "7",
        },
    )
    assert posted.status_code == 200, posted.get_data(as_text=True)[:300]

    # The 12345 push, signed with the API secret; and one with a bad signature.
    body = json.dumps(
        {
            "order_no": "LOG-0001",
            "accepted_at": "2026-03-04 09:00:00",
            "request_type": "投诉",
            "content": "夜间施工噪声",
            "name": NAME,
            "phone": PUSH_PHONE,
        },
        ensure_ascii=False,
    ).encode()
    assert (
        client.post(
            "/api/v1/intake/hotline",
            data=body,
            headers=signed_headers(key.key_id, api_secret, "POST", "/api/v1/intake/hotline", body),
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/intake/hotline",
            data=body,
            headers=signed_headers(key.key_id, "forged", "POST", "/api/v1/intake/hotline", body),
        ).status_code
        == 401
    )

    # A file import.
    path = write_csv(
        tmp_path / "orders.csv",
        HOTLINE_HEADER,
        [hotline_row("LOG-FILE-1", 联系电话=IMPORT_PHONE, 诉求人=NAME)],
    )
    import_file(session, "hotline", path, actor="文件导入", reach=EVERYTHING, now=now)
    session.commit()
    assert session.scalar(select(Ticket).where(Ticket.external_ref == "LOG-FILE-1")) is not None

    logging.getLogger("tracker.canary").info("capture works")  # proves the capture itself is live
    captured = caplog.text + "\n".join(str(r.args) for r in caplog.records) + "".join(capfd.readouterr())
    secrets = {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "API secret": api_secret,
        "instance secret key": settings.secret_key,
        "phone": PHONE,
        "pushed phone": PUSH_PHONE,
        "imported phone": IMPORT_PHONE,
        "e-mail": EMAIL,
        "ID number": ID_NUMBER,
        "name": NAME,
    }
    leaked = {label for label, value in secrets.items() if value in captured}
    assert leaked == set(), f"found in the logs: {sorted(leaked)}"
    assert "capture works" in captured, "the log capture is not live; the test would prove nothing"
