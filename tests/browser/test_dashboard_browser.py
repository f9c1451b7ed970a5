"""A day's work in a real headless Chromium: staff, supervisor, admin and auditor.

Screenshots of the key pages go to docs/screenshots/ (shown in the README).
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import DISCLOSURE_SUBJECT, PENSION_SUBJECT, shot, sign_in, sign_out

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open_ticket_by_subject(page, base_url, subject):
    page.goto(f"{base_url}/queues/all?q={subject[:8]}")
    page.click(f"td.subject:has-text('{subject}') >> xpath=.. >> a")
    page.wait_for_selector("[data-ticket-page]")


def test_sign_in_page(page, live_server):
    page.goto(f"{live_server}/login")
    assert page.locator("h1").inner_text() == "登录"
    shot(page, "login", full_page=False)
    page.fill('input[name="username"]', "zhangwei")
    page.fill('input[name="password"]', "wrong-password")
    page.click('button[type="submit"].primary')
    assert "用户名或密码错误" in page.locator(".flash.error").inner_text()


def test_staff_filters_a_queue_and_reads_a_deadline(page, live_server):
    sign_in(page, live_server, "zhangwei")
    assert page.locator("svg.chart").count() == 4
    shot(page, "home")
    page.click("a.tile[data-queue='department']")
    page.select_option("select[name='channel']", "disclosure")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r".*channel=disclosure.*"))
    channels = page.locator("#queue-table tbody tr td:nth-child(3)").all_inner_texts()
    assert channels and set(channels) == {"依申请公开"}
    page.click(f"td.subject:has-text('{DISCLOSURE_SUBJECT}') >> xpath=.. >> a")
    reply = page.locator("[data-deadline='reply']")
    explanation = reply.locator(".explanation").inner_text()
    assert "工作日" in explanation and "20" in explanation
    assert re.search(r"剩\d+个工作日", reply.locator(".deadline-state").inner_text())
    assert "139****5678" in page.locator("#contact").inner_text()
    shot(page, "ticket")
    page.goto(f"{live_server}/queues/all?status=open")
    shot(page, "queue")


def test_staff_requests_an_extension_and_the_supervisor_approves(page, live_server):
    sign_in(page, live_server, "zhangwei")
    _open_ticket_by_subject(page, live_server, DISCLOSURE_SUBJECT)
    due_before = page.locator("[data-deadline='reply'] .due").inner_text()
    page.keyboard.press("e")  # the shortcut opens the extension form
    form = page.locator("details[data-action='extend'] form")
    form.locator("input[name='length']").fill("20")
    form.locator("textarea[name='reason']").fill("需调取2025年专项资金评审档案，工作量较大")
    form.locator("button[type=submit]").click()
    assert "延期申请已提交" in page.locator(".flash.ok").inner_text()
    assert "等待科室负责人审批" in page.locator("#approvals").inner_text()
    sign_out(page)

    sign_in(page, live_server, "liuyang")
    page.click("a.tile[data-queue='approvals']")
    page.click(f"td.subject:has-text('{DISCLOSURE_SUBJECT}') >> xpath=.. >> a")
    approvals = page.locator("#approvals")
    assert "需调取2025年专项资金评审档案" in approvals.inner_text()
    approvals.locator("input[name='note']").fill("已电话告知申请人延期")
    approvals.locator("button[value='approve']").click()
    assert "已同意" in page.locator(".flash.ok").inner_text()
    reply = page.locator("[data-deadline='reply']")
    assert reply.locator(".due").inner_text() != due_before
    assert "延长" in reply.locator(".explanation").inner_text()


def test_supervisor_replies_to_a_disclosure_application_with_an_outcome(page, live_server):
    sign_in(page, live_server, "liuyang")
    _open_ticket_by_subject(page, live_server, DISCLOSURE_SUBJECT)
    form = page.locator("details[data-action='reply'] form")
    form.locator("select[data-canned]").select_option(
        label="予以公开"
    )  # a canned reply fills text and outcome
    assert form.locator("select[name='outcome']").input_value() == "public"
    form.locator("textarea[name='reply_text']").fill(
        "经查，您申请公开的2025年中小企业发展专项资金分配结果属于公开范围，详见附件。"
    )
    form.locator("input[name='files']").set_input_files(
        files=[{"name": "分配结果.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 demo"}]
    )
    form.locator("button[type=submit]").click()
    assert "已答复" in page.locator(".flash.ok").inner_text()
    assert "已答复" in page.locator(".ticket-head .status").inner_text()
    assert "（一）予以公开" in page.locator("dl.fields").first.inner_text()
    assert "分配结果.pdf" in page.locator("#attachments").inner_text()


def test_search_in_chinese(page, live_server):
    sign_in(page, live_server, "zhangwei")
    page.keyboard.press("/")
    page.keyboard.type("养老保险 改制")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/queues/all\?q=.*"))
    subjects = page.locator("#queue-table td.subject").all_inner_texts()
    assert PENSION_SUBJECT in subjects
    assert all("他处" not in s for s in subjects)


def test_keyboard_help_overlay(page, live_server):
    sign_in(page, live_server, "zhangwei")
    page.keyboard.press("?")
    assert page.locator("#help-overlay").is_visible()
    assert "快捷键" in page.locator("#help-overlay h2").inner_text()
    page.keyboard.press("Escape")
    assert not page.locator("#help-overlay").is_visible()


def test_auditor_reads_but_cannot_act(page, live_server):
    sign_in(page, live_server, "auditor")
    page.click("a.tile[data-queue='all']")
    page.locator("#queue-table tbody tr a").first.click()
    page.wait_for_selector("[data-ticket-page]")
    assert page.locator("#actions").count() == 0
    assert page.locator("[data-reveal]").count() == 0
    assert page.locator("#queue-table input[name='ticket_ids']").count() == 0
    page.goto(f"{live_server}/admin/users")
    assert "无权" in page.content()
    page.goto(f"{live_server}/admin/audit")
    assert page.locator("#audit-table").is_visible()


def test_admin_sees_the_calendar_banner_and_previews_next_year(page, live_server):
    sign_in(page, live_server, "admin")
    banner = page.locator(".banner.warn")
    assert "节假日安排尚未导入" in banner.inner_text()
    banner.locator("a").click()
    page.fill(
        "textarea[name='notice']",
        "国务院办公厅关于2027年部分节假日安排的通知\n"
        "一、元旦：1月1日（周五）至3日（周日）放假，共3天。\n"
        "二、春节：2月6日（周六）至13日（周六）放假调休，共8天。2月20日（周六）上班。",
    )
    page.click("button:has-text('预览')")
    assert "2027-02-20" in page.locator("#preview").inner_text()
    shot(page, "admin-calendar")
    page.click("button:has-text('确认导入2027年')")
    assert "2027年节假日安排已导入" in page.locator(".flash.ok").inner_text()
    assert page.locator(".banner.warn").count() == 0


def test_portal_on_a_phone(browser, live_server):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2
    )
    page = context.new_page()
    response = page.goto(f"{live_server}/portal/")
    if response is None or response.status == 404:
        context.close()
        pytest.skip("the public portal is not installed")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
    shot(page, "portal-mobile")
    context.close()


def test_staff_converts_a_hotline_order_that_is_really_a_disclosure_application(page, live_server):
    # Last in the module: it adds a second ticket with the pension order's subject.
    sign_in(page, live_server, "zhangwei")
    _open_ticket_by_subject(page, live_server, PENSION_SUBJECT)
    source_number = page.locator(".ticket-head .meta").inner_text().split(" · ")[0]
    convert = page.locator("details[data-action='convert']")
    convert.locator("summary").click()
    form = convert.locator("form")
    form.locator("select[name='channel']").select_option("disclosure")
    form.locator("textarea[name='reason']").fill(
        "申请人实为要求公开企业改制批复文件，依条例第三十九条转为依申请公开"
    )
    shot(page, "ticket-convert")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-ticket-page]")
    assert "依申请公开" in page.locator(".ticket-head .meta").inner_text()
    fields = page.locator("dl.fields").first.inner_text()
    assert "由12345热线转来" in fields and source_number in fields
    assert "工作日" in page.locator("[data-deadline='reply'] .explanation").inner_text()
    page.locator("a[data-linked]").click()
    page.wait_for_selector("[data-ticket-page]")
    assert PENSION_SUBJECT in page.locator("h1").inner_text()
    timeline = page.locator(".timeline").inner_text()
    assert "转为其他渠道办理" in timeline and "关联工单" in timeline and "依条例第三十九条" in timeline
    shot(page, "ticket-converted")
