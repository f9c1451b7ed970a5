"""The check before a public reply leaves, as a person meets it in Chromium (issue 19, item 6): typing a
short reply to a 12345 order lists the findings without a page reload, the «仍然发送» box appears, and the
reply goes out once it is ticked. Screenshot: workorders-reply-check.png."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open_a_hotline_order_to_answer(page, base_url) -> None:
    page.goto(f"{base_url}/queues/department?channel=hotline")
    links = page.locator("#queue-table td a").evaluate_all("els => els.map(e => e.href)")
    for href in links[:30]:
        page.goto(href)
        if page.locator("details[data-action='reply']").count() and "12345" in page.content():
            return
    pytest.fail("no 12345 order to answer in the demo department")


def test_the_reply_form_warns_while_typing_and_sends_when_confirmed(page, live_server):
    sign_in(page, live_server, "liuyang")
    _open_a_hotline_order_to_answer(page, live_server)
    form = page.locator("details[data-action='reply'] form")
    if not form.is_visible():
        page.locator("details[data-action='reply'] summary").click()
    confirm = form.locator("[data-reply-confirm]")
    assert not confirm.is_visible()
    form.locator("textarea[name='reply_text']").fill("好的")
    page.wait_for_selector("[data-reply-check] [data-finding='too_short']")
    findings = form.locator("[data-reply-check]").inner_text()
    assert "答复过短" in findings
    assert confirm.is_visible()
    shot(page, "workorders-reply-check")
    confirm.locator("input[name='confirm_warnings']").check()
    form.locator("button[type=submit]").click()
    assert "已答复" in page.locator(".ticket-head .status").inner_text()
    assert "答复前检查有提示，仍然发送" in page.content()
