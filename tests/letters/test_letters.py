"""Statutory letters (issue 20 item 1) on SQLite and PostgreSQL: every kind and every outcome row rendered and
its text checked, the GB/T 9704 page read back, 文号 allocation, the fit rule, serving through the ticket's
doors, and the attacker: another department, an auditor, hostile ticket text, a replayed serve."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from docx import Document
from docx.shared import Mm
from sqlalchemy import select

from tracker.clock import BUSINESS_TZ
from tracker.deadlines import policies as dl
from tracker.deadlines import service as deadlines_service
from tracker.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tracker.letters import service as letters
from tracker.letters.context import check_fit
from tracker.letters.kinds import KINDS, OUTCOME_PARAGRAPHS, chinese_date, reply_basis
from tracker.letters.models import Letter
from tracker.letters.render import MARGINS_MM, docx_paragraphs
from tracker.reports.rows import OUTCOMES
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workflow import doors


def _text(draft_or_bytes) -> str:
    data = draft_or_bytes if isinstance(draft_or_bytes, bytes) else draft_or_bytes.docx
    return "\n".join(docx_paragraphs(data))


def _file(session, letter, tmp_path) -> bytes:
    return letters.letter_docx(session, letter, tmp_path)


def _events(session, ticket) -> list[str]:
    return [
        e.kind
        for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    ]


TODAY_CN = "二〇二六年三月四日"  # the tests' clock: Wednesday 2026-03-04 (conftest.now)


@pytest.mark.parametrize("outcome", [o.code for o in OUTCOMES])
def test_reply_letter_of_every_outcome_row_states_its_paragraph_article_and_dates(
    session, now, office, application, tmp_path, outcome
):
    ticket = application()
    letter = letters.issue_letter(
        session,
        ticket,
        "reply",
        {"outcome": outcome, "reply_text": "附件：分配结果一览表"},
        user=office["supervisor"],
        now=now,
        directory=tmp_path,
    )
    text = _text(_file(session, letter, tmp_path))
    assert OUTCOME_PARAGRAPHS[outcome][0] in text
    assert reply_basis(outcome) in text  # the article it rests on
    assert (
        f"{TODAY_CN}提出的政府信息公开申请（登记编号：{ticket.number}）" in text
    )  # the receipt date, from the ticket
    assert "政府信息公开申请答复书" in text and "王小明：" in text and "附件：分配结果一览表" in text
    assert letter.doc_number == "政信答〔2026〕1号" and letter.doc_number in text
    assert "（印章）" in text and text.rstrip().splitlines()[-2] == TODAY_CN
    # Served by a supervisor: the reply goes out through the reply door, with the letter's outcome.
    letters.serve_letter(
        session, letter, ticket, method="post", served_on=now.date(), user=office["supervisor"], now=now
    )
    assert ticket.status == "replied" and ticket.outcome == outcome
    assert deadlines_service.get_deadline(ticket, dl.REPLY).state == dl.MET
    assert {"ticket.replied", "letter.served"} <= set(_events(session, ticket)) or "letter.served" in _events(
        session, ticket
    )


@pytest.mark.parametrize(
    "kind", ["receipt", "correction", "extension", "consultation", "not_disclosure", "fee"]
)
def test_each_kind_renders_with_its_article_title_and_ticket_dates(session, now, office, application, kind):
    ticket = application()
    raw = {}
    if kind == "extension":
        doors.extend(session, ticket, user=office["supervisor"], length=20, reason="需要调取档案", now=now)
    if kind == "consultation":
        doors.start_consultation(session, ticket, dl.THIRD_PARTY, user=office["staff"], now=now)
        raw = {"third_party": "某某科技有限公司", "matter": "拟公开的分配结果含贵公司的申报金额"}
    if kind == "correction":
        raw = {"notice": "请写明所需信息的文件名称或文号\n请提供身份证明"}
    draft = letters.preview_letter(session, ticket, kind, raw, user=office["staff"], now=now)
    text = _text(draft)
    assert KINDS[kind].title in text and KINDS[kind].basis in text
    assert "（出具时编号）" in text  # a preview takes no 文号
    reply_due = deadlines_service.get_deadline(ticket, dl.REPLY).due_at
    if kind == "receipt":
        assert (
            f"将于{chinese_date((reply_due - timedelta(microseconds=1)).astimezone(BUSINESS_TZ).date())}前作出答复"
            in text
        )
        assert "二〇二六年四月一日" in text  # 20 working days after 2026-03-04 on the 2026 calendar
    if kind == "correction":
        # 15 working days from today (policy default), from the engine, not typed in.
        assert "1．请写明所需信息的文件名称或文号" in text and "2．请提供身份证明" in text
        assert "请于二〇二六年三月二十五日前" in text
    if kind == "extension":
        assert "答复期限延长20个工作日" in text and "因需要调取档案" in text
        assert (
            "本机关不能在二〇二六年四月一日前作出答复" in text
            and "二〇二六年四月三十日前作出答复" in text  # 清明 4-6 April
        )
    if kind == "consultation":
        assert (
            "某某科技有限公司：" in text and "王小明" not in text
        )  # the applicant is not named to the third party
        assert "二〇二六年三月二十五日前" in text
    if kind == "not_disclosure":
        assert OUTCOME_PARAGRAPHS["np_petition"][0] in text
    if kind == "fee":
        assert "人民币0元" in text and "第1件申请" in text


def test_page_is_a4_with_the_gbt9704_margins_and_fonts(session, now, office, application):
    draft = letters.preview_letter(session, application(), "receipt", {}, user=office["staff"], now=now)
    document = Document(io.BytesIO(draft.docx))
    for section in document.sections:
        assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
        got = {
            "top": section.top_margin,
            "bottom": section.bottom_margin,
            "left": section.left_margin,
            "right": section.right_margin,
        }
        assert {k: round(v.mm) for k, v in got.items()} == MARGINS_MM
        assert abs(section.left_margin - Mm(28)) < Mm(0.1)
    body = next(p for p in document.paragraphs if p.text.startswith("你（单位）"))
    assert body.runs[0].font.size.pt == 16  # 三号


def test_numbers_are_per_year_and_kind_and_unique(session, now, office, application, tmp_path):
    first, second = application(), application()
    issued = [
        letters.issue_letter(session, t, "receipt", {}, user=office["staff"], now=now, directory=tmp_path)
        for t in (first, second)
    ]
    fee = letters.issue_letter(session, first, "fee", {}, user=office["staff"], now=now, directory=tmp_path)
    assert [letter.doc_number for letter in issued] == ["政信登〔2026〕1号", "政信登〔2026〕2号"]
    assert fee.doc_number == "政信费〔2026〕1号"
    next_year = now.replace(year=2027)
    later = letters.issue_letter(
        session, first, "receipt", {}, user=office["staff"], now=next_year, directory=tmp_path
    )
    assert later.doc_number == "政信登〔2027〕1号"
    # Stored among the ticket's attachments, with the event.
    assert {a.purpose for a in doors.ticket_attachments(session, first)} == {"letter"}
    assert _events(session, first).count("letter.issued") == 3


def test_a_kind_that_does_not_fit_the_ticket_is_refused_with_the_reason(session, now, office, application):
    ticket = application()
    with pytest.raises(Conflict, match="未经批准延长"):
        check_fit(ticket, "extension")
    with pytest.raises(Conflict, match="没有正在进行的第三方征求意见"):
        check_fit(ticket, "consultation")
    with pytest.raises(ValidationError, match="须选择答复结果"):
        check_fit(ticket, "reply")
    with pytest.raises(ValidationError, match="不适用于非政府信息公开申请告知书"):
        check_fit(ticket, "not_disclosure", outcome="public")
    hotline = application(channel="hotline", request_type="投诉", received_via=None)
    with pytest.raises(Conflict, match="不是依申请公开"):
        letters.preview_letter(session, hotline, "receipt", {}, user=office["staff"], now=now)
    doors.request_correction(session, ticket, "请补充", user=office["staff"], now=now)
    with pytest.raises(Conflict, match="补正只能告知一次"):
        letters.preview_letter(
            session, ticket, "correction", {"notice": "再补"}, user=office["staff"], now=now
        )
    with pytest.raises(ValidationError, match="未知的文书类型"):
        check_fit(ticket, "summons")


def test_serving_a_correction_notice_stops_the_reply_clock_through_the_door(
    session, now, office, application, tmp_path
):
    ticket = application()
    letter = letters.issue_letter(
        session,
        ticket,
        "correction",
        {"notice": "请写明文号"},
        user=office["staff"],
        now=now,
        directory=tmp_path,
    )
    assert ticket.status == "received"  # issuing changes no clock
    served = now + timedelta(days=1)
    letters.serve_letter(
        session, letter, ticket, method="email", served_on=served.date(), user=office["staff"], now=served
    )
    assert ticket.status == "waiting_applicant"
    assert deadlines_service.get_deadline(ticket, dl.REPLY).state == dl.PAUSED
    correction = deadlines_service.get_deadline(ticket, dl.CORRECTION)
    # The applicant's deadline is the date the letter printed, though it was served a day later.
    assert correction.due_at.astimezone(BUSINESS_TZ).date().isoformat() == "2026-03-26"
    assert letter.params["printed_due_on"] == "2026-03-25"
    assert (letter.served_via, letter.served_on) == ("email", served.date())
    assert "letter.served" in _events(session, ticket)
    with pytest.raises(Conflict, match="不能重复送达"):  # a replay, a double click
        letters.serve_letter(
            session, letter, ticket, method="post", served_on=served.date(), user=office["staff"], now=served
        )


def test_a_staff_member_cannot_serve_a_reply_that_needs_sign_off(session, now, office, application, tmp_path):
    ticket = application()
    letter = letters.issue_letter(
        session, ticket, "reply", {"outcome": "public"}, user=office["staff"], now=now, directory=tmp_path
    )
    with pytest.raises(PermissionDenied, match="须经科室负责人签发"):
        letters.serve_letter(
            session, letter, ticket, method="post", served_on=now.date(), user=office["staff"], now=now
        )
    assert ticket.status == "received" and session.get(Letter, letter.id).served_at is None


def test_a_reply_letter_after_the_reply_takes_the_ticket_outcome(session, now, office, application, tmp_path):
    ticket = application()
    doors.reply(
        session,
        ticket,
        "经检索，本机关不掌握该信息。",
        user=office["supervisor"],
        now=now,
        outcome="unable_not_held",
    )
    with pytest.raises(Conflict, match="答复结果已随答复确定"):
        letters.preview_letter(session, ticket, "reply", {"outcome": "public"}, user=office["staff"], now=now)
    letter = letters.issue_letter(
        session, ticket, "reply", {}, user=office["staff"], now=now, directory=tmp_path
    )
    text = _text(_file(session, letter, tmp_path))
    assert OUTCOME_PARAGRAPHS["unable_not_held"][0] in text and "经检索，本机关不掌握该信息。" in text
    letters.serve_letter(
        session, letter, ticket, method="post", served_on=now.date(), user=office["staff"], now=now
    )
    assert ticket.status == "replied" and letter.served_via == "post"


def test_another_department_and_an_auditor_may_not_render_or_serve(
    session, now, office, application, tmp_path
):
    ticket = application()
    with pytest.raises(NotFound):
        letters.preview_letter(session, ticket, "receipt", {}, user=office["other_staff"], now=now)
    with pytest.raises(NotFound):
        letters.issue_letter(
            session, ticket, "receipt", {}, user=office["other_staff"], now=now, directory=tmp_path
        )
    with pytest.raises(PermissionDenied):
        letters.issue_letter(
            session, ticket, "receipt", {}, user=office["auditor"], now=now, directory=tmp_path
        )
    letter = letters.issue_letter(
        session, ticket, "receipt", {}, user=office["staff"], now=now, directory=tmp_path
    )
    with pytest.raises(NotFound):
        letters.serve_letter(
            session, letter, ticket, method="post", served_on=now.date(), user=office["other_staff"], now=now
        )
    with pytest.raises(NotFound):
        letters.get_letter(session, letter.id, user=office["other_staff"])
    assert session.get(Letter, letter.id).served_at is None


def test_serve_refuses_a_future_date_and_an_unknown_method(session, now, office, application, tmp_path):
    ticket = application()
    letter = letters.issue_letter(
        session, ticket, "receipt", {}, user=office["staff"], now=now, directory=tmp_path
    )
    with pytest.raises(ValidationError, match="不能晚于今天"):
        letters.serve_letter(
            session,
            letter,
            ticket,
            method="post",
            served_on=now.date() + timedelta(days=2),
            user=office["staff"],
            now=now,
        )
    with pytest.raises(ValidationError, match="送达方式"):
        letters.serve_letter(
            session, letter, ticket, method="pigeon", served_on=now.date(), user=office["staff"], now=now
        )


HOSTILE = [
    "<w:p><w:r><w:t>注入</w:t></w:r></w:p>&amp;</w:t>",
    "{{ 7*7 }}{% for x in y %}",
    '=HYPERLINK("http://evil.example/","点我")',
    "+cmd|' /C calc'!A0",
    "响铃\x07分页\x0c制表\t换行\n结束",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_ticket_text_is_printed_as_the_characters_typed(
    session, now, office, application, tmp_path, hostile
):
    from tracker.tickets.drafts import ContactDraft

    ticket = application(subject=hostile[:200], contact=ContactDraft(name=hostile[:50], phone="13900002222"))
    letter = letters.issue_letter(
        session,
        ticket,
        "reply",
        {"outcome": "public", "reply_text": hostile},
        user=office["supervisor"],
        now=now,
        directory=tmp_path,
    )
    data = _file(session, letter, tmp_path)
    text = _text(data)
    printed = hostile.replace("\x07", " ").replace("\x0c", " ").replace("\t", " ").replace("\n", " ").strip()
    assert f"申请获取“{printed[:200]}”" in text or f"申请获取“{printed}”" in text
    # The template language is not run on ticket text (not "49", not an error): checked where it is printed.
    assert "申请获取“49" not in text and all(p.strip() != "49" for p in text.splitlines())
    document = Document(io.BytesIO(data))
    assert not any(p.text == "注入" for p in document.paragraphs)  # no paragraph was injected
    assert b"instrText" not in data  # no field code (HYPERLINK) was made


def test_fee_notice_counts_the_applicants_applications_of_the_month(session, now, office, application):
    tickets = [application() for _ in range(11)]
    # Another applicant's application of the same month does not count.
    from tracker.tickets.drafts import ContactDraft

    application(contact=ContactDraft(name="李四", phone="13700000000", id_number="110101198001011111"))
    text = _text(letters.preview_letter(session, tickets[-1], "fee", {}, user=office["staff"], now=now))
    assert "人民币100元" in text and "本自然月内第11件申请" in text
    by_page = letters.preview_letter(
        session, tickets[0], "fee", {"fee_method": "page", "pages": "150"}, user=office["staff"], now=now
    )
    assert "人民币1700元" in _text(by_page) and "共150页" in _text(by_page)
    with pytest.raises(ValidationError, match="pages"):
        letters.preview_letter(
            session, tickets[0], "fee", {"fee_method": "page", "pages": "-3"}, user=office["staff"], now=now
        )


def test_a_new_user_on_an_empty_database_sees_no_letters_and_gets_the_built_in_template(session, now):
    assert session.scalars(select(Letter)).all() == []
    name, data = letters.template_file(session, "reply")
    assert name == "reply.docx" and "{{ outcome_paragraph }}" in _text(data)


def test_tickets_outcome_and_letters_agree_after_close(session, now, office, application, tmp_path):
    ticket = application()
    letter = letters.issue_letter(
        session, ticket, "not_disclosure", {}, user=office["supervisor"], now=now, directory=tmp_path
    )
    letters.serve_letter(
        session, letter, ticket, method="in_person", served_on=now.date(), user=office["supervisor"], now=now
    )
    doors.close(session, ticket, user=office["supervisor"], now=now)
    assert session.get(Ticket, ticket.id).outcome == "np_petition" == letter.outcome
