"""Issue 18 items 5, 6, 8, 9 as a person sees them in Chromium: the applicant's requested 提供形式 and
获取方式, the outcome list's whole official labels, a refused form that keeps what was typed, the forms a
pending request holds back, 待我审批 naming each item's kind, a transferred ticket signed for at once, and
search by number, phone and one character. Screenshots in the screenshots directory (tests/browser/conftest.py)."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import DESK_SUBJECT, PENSION_SUBJECT, shot, sign_in, sign_out

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open(page, base_url, subject):
    page.goto(f"{base_url}/queues/all?q={subject[:6]}")
    page.click(f"td.subject:has-text('{subject}') >> xpath=.. >> a")
    page.wait_for_selector("[data-ticket-page]")


def test_the_disclosure_page_shows_the_request_and_the_whole_outcome_labels(page, live_server):
    sign_in(page, live_server, "zhangwei")
    _open(page, live_server, DESK_SUBJECT)
    fields = page.locator("dl.fields").first
    assert fields.locator("[data-field='delivery_form']").inner_text() == "纸质"
    assert fields.locator("[data-field='delivery_way']").inner_text() == "邮寄"
    assert "提供形式" in fields.inner_text() and "获取方式" in fields.inner_text()
    select = page.locator("details[data-action='reply'] select[name='outcome']")
    groups = select.locator("optgroup").evaluate_all("els => els.map(e => e.label)")
    assert (
        groups[1] == "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"
        and groups[2] == "（三）不予公开"
    )
    options = select.locator("option").all_inner_texts()
    assert (
        "1.属于国家秘密" in options
        and "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请" in options
    )
    assert not any(re.match(r"^（.）..[^）]* ", o) for o in options)  # no cut "（三）不予公 …"
    # What a person sees of a long label: the select is as wide as its longest option, inside the card.
    select.select_option("other_no_correction")
    # The closed list shows what its width allows; the line under it shows the choice whole, with its group.
    assert page.locator("[data-outcome-full]").inner_text() == (
        "（六）其他处理 · 1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"
    )
    shot(page, "desk-disclosure-request")
    box, card = select.bounding_box(), page.locator("#actions").bounding_box()
    assert box["x"] + box["width"] <= card["x"] + card["width"] + 1


def test_a_refused_reply_keeps_what_was_typed_and_a_pending_one_holds_the_form_back(page, live_server):
    sign_in(page, live_server, "zhangwei")
    _open(page, live_server, DESK_SUBJECT)
    form = page.locator("details[data-action='reply'] form")
    form.locator("select[name='outcome']").select_option("partial")
    text = "经查，您申请的项目名单中涉及企业商业秘密的部分不予公开，其余部分予以公开。"
    form.locator("textarea[name='reply_text']").fill(text)
    # An attachment of a kind the bureau does not accept: the server refuses the whole reply.
    form.locator("input[name='files']").set_input_files(
        files=[{"name": "名单.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}]
    )
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-form-error]")
    refused = page.locator("details[data-action='reply']")
    assert "类型不允许" in refused.locator("[data-form-error]").inner_text()
    assert refused.locator("textarea[name='reply_text']").input_value() == text
    assert refused.locator("select[name='outcome']").input_value() == "partial"
    assert (
        "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"
        in refused.locator("[data-outcome-full]").inner_text()
    )
    shot(page, "desk-refused-reply")
    # Submitted properly: it waits for the supervisor's sign-off, and no second reply form is offered.
    refused.locator("input[name='files']").set_input_files([])
    refused.locator("button[type=submit]").click()
    assert "答复已提交科室负责人签发" in page.locator(".flash.ok").inner_text()
    assert page.locator("details[data-action='reply']").count() == 0
    # An extension refused for a reason of blanks keeps the length typed; then asked properly, its form goes.
    page.keyboard.press("e")
    extend = page.locator("details[data-action='extend'] form")
    extend.locator("input[name='length']").fill("7")
    extend.locator("textarea[name='reason']").fill("   ")
    extend.locator("button[type=submit]").click()
    page.wait_for_selector("[data-form-error]")
    extend = page.locator("details[data-action='extend']")
    assert "申请延期须说明理由" in extend.locator("[data-form-error]").inner_text()
    assert extend.locator("input[name='length']").input_value() == "7"
    extend.locator("textarea[name='reason']").fill("需征求第三方企业意见")
    extend.locator("button[type=submit]").click()
    assert "延期申请已提交" in page.locator(".flash.ok").inner_text()
    assert page.locator("details[data-action='extend']").count() == 0
    shot(page, "desk-pending")
    sign_out(page)
    # The supervisor's 待我审批 says which kind each item is.
    sign_in(page, live_server, "liuyang")
    page.goto(f"{live_server}/queues/approvals")
    row = page.locator(f"#queue-table tr:has(td.subject:has-text('{DESK_SUBJECT}'))")
    kinds = row.locator("[data-approval-kind]").all_inner_texts()
    assert sorted(kinds) == ["延期申请", "答复签发"]
    shot(page, "desk-approvals-queue")


def test_search_by_number_phone_and_one_character(page, live_server):
    sign_in(page, live_server, "zhangwei")
    for query in ("12345-BROWSER-1", "138-1234-5678", "纺"):
        page.goto(f"{live_server}/queues/all?q={query}")
        assert PENSION_SUBJECT in page.locator("#queue-table td.subject").all_inner_texts(), query
    page.goto(f"{live_server}/queues/all?q=纺")
    shot(page, "desk-search-one-character")
    sign_out(page)
    sign_in(page, live_server, "zhoujie")  # another department: none of sme's tickets
    page.goto(f"{live_server}/queues/all?q=12345-BROWSER-1")
    assert PENSION_SUBJECT not in page.locator("#queue-table").inner_text()


def test_a_transferred_ticket_is_signed_for_by_the_new_department(page, live_server):
    sign_in(page, live_server, "liuyang")
    _open(page, live_server, PENSION_SUBJECT)
    number = page.locator(".ticket-head .meta").inner_text().split(" ")[0]
    page.locator("details[data-action='transfer'] summary").click()
    transfer = page.locator("details[data-action='transfer'] form")
    transfer.locator("select[name='department_id']").select_option(label="信息化推进处")
    transfer.locator("textarea[name='reason']").fill("涉及企业上云，属信息化推进处职责")
    transfer.locator("button[type=submit]").click()
    assert "已转办" in page.locator(".flash.ok").inner_text()
    sign_out(page)
    sign_in(page, live_server, "zhoujie")
    page.goto(f"{live_server}/queues/all?q={number}")
    page.click(f"a:has-text('{number}')")
    page.locator("details[data-action='start'] summary").click()
    page.locator("details[data-action='start'] button[type=submit]").click()
    assert "周杰" in page.locator("dl.fields").first.inner_text()  # 承办人: the signer
    page.goto(f"{live_server}/queues/mine")
    assert PENSION_SUBJECT in page.locator("#queue-table td.subject").all_inner_texts()
    shot(page, "desk-transferred-mine")
