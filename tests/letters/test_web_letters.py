"""The letters on the ticket page and the template page, through the Flask test client: preview, issue,
serve; another department (404), an auditor (no forms, 403 on POST), no CSRF token (400), hostile text
escaped in the preview, an administrator's template upload refused with the reason."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from tests import factories
from tracker.letters.models import Letter, LetterTemplate
from tracker.letters.render import default_template
from tracker.tickets.models import Ticket


@pytest.fixture(autouse=True)
def _clock(app, now):
    app.config["CLOCK"] = lambda: now


def sign_in(client, user):
    factories.signed_in(client, user, csrf_token="t0ken")


def post(client, url, **data):
    return client.post(url, data={"csrf_token": "t0ken", **data})


def test_preview_issue_and_serve_a_correction_notice_from_the_ticket_page(
    client, session, now, office, application
):
    ticket = application(subject="<script>alert(1)</script>申请")
    session.commit()
    sign_in(client, office["staff"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert 'id="letters"' in page and "政府信息公开申请补正告知书" in page
    preview = client.get(
        f"/tickets/{ticket.id}/letters/preview", query_string={"kind": "correction", "notice": "请写明文号"}
    )
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "请于二〇二六年三月二十五日前" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    response = post(client, f"/tickets/{ticket.id}/letters", kind="correction", notice="请写明文号")
    assert response.status_code == 302
    letter = session.scalar(select(Letter).where(Letter.ticket_id == ticket.id))
    assert letter.doc_number == "政信补〔2026〕1号"
    response = post(client, f"/letters/{letter.id}/serve", served_via="post", served_on="2026-03-04")
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "waiting_applicant"
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "邮寄送达" in page and "文书送达" in page


def test_a_kind_that_does_not_fit_is_a_message_not_an_error_page(client, session, office, application):
    ticket = application()
    session.commit()
    sign_in(client, office["staff"])
    response = client.get(f"/tickets/{ticket.id}/letters/preview", query_string={"kind": "extension"})
    assert response.status_code == 302
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "答复期限未经批准延长" in page
    assert post(client, f"/tickets/{ticket.id}/letters", kind="summons").status_code == 302
    assert session.scalars(select(Letter)).all() == []


def test_another_department_an_auditor_and_a_missing_token_are_refused(client, session, office, application):
    ticket = application()
    session.commit()
    sign_in(client, office["other_staff"])
    assert (
        client.get(f"/tickets/{ticket.id}/letters/preview", query_string={"kind": "receipt"}).status_code
        == 404
    )
    assert post(client, f"/tickets/{ticket.id}/letters", kind="receipt").status_code == 404
    sign_in(client, office["auditor"])
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "生成文书" not in page
    assert post(client, f"/tickets/{ticket.id}/letters", kind="receipt").status_code == 403
    sign_in(client, office["staff"])
    no_token = client.post(f"/tickets/{ticket.id}/letters", data={"kind": "receipt"})
    assert no_token.status_code == 400
    assert session.scalars(select(Letter)).all() == []


def test_the_template_page_is_for_administrators_and_refuses_a_bad_upload(client, session, office):
    session.commit()
    sign_in(client, office["supervisor"])
    assert client.get("/admin/letter-templates").status_code == 403
    sign_in(client, office["admin"])
    page = client.get("/admin/letter-templates").get_data(as_text=True)
    assert "政府信息公开信息处理费收费通知" in page and "reply_paragraphs" in page
    download = client.get("/admin/letter-templates/reply.docx")
    assert download.status_code == 200 and download.data.startswith(b"PK")
    bad = client.post(
        "/admin/letter-templates",
        data={"csrf_token": "t0ken", "kind": "receipt", "file": (io.BytesIO(b"MZ not a docx"), "x.docx")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 302
    assert "不是 ZIP" in client.get("/admin/letter-templates").get_data(as_text=True)
    good = client.post(
        "/admin/letter-templates",
        data={
            "csrf_token": "t0ken",
            "kind": "receipt",
            "file": (io.BytesIO(default_template("receipt")), "r.docx"),
        },
        content_type="multipart/form-data",
    )
    assert good.status_code == 302
    assert session.scalar(select(LetterTemplate).where(LetterTemplate.is_active)).kind == "receipt"
