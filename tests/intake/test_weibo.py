"""The Weibo poller against a stand-in that behaves as the API documents (tests/intake/servers.py): errors as
4xx JSON bodies, newest-first pages, the business-only private messages refused on the public host, an
hourly quota, the token's remaining lifetime. Each test here fails on the poller that read one page per
endpoint, called private messages on the public host and read errors only from 200 answers."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.intake.servers import WeiboHandler, serve, weibo_comment, weibo_items
from tracker.intake.models import adapter_state
from tracker.intake.weibo import ADAPTER, MAX_PAGES, PAGE_SIZE, poll_weibo
from tracker.notify.models import Notification
from tracker.tickets.models import Ticket

COMMENTS = "/2/comments/to_me.json"
DIRECT = "/2/direct_messages.json"


def _weibo_refs(session) -> set[str]:
    return set(session.scalars(select(Ticket.external_ref).where(Ticket.channel == "weibo")))


def _office_notices(session, fragment: str) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification).where(Notification.kind == "channel", Notification.title.contains(fragment))
        )
    )


@pytest.fixture
def office(session, now, dept):
    return factories.user(session, role="admin", dept=dept, now=now)


def test_private_messages_are_polled_only_from_the_business_host(session, now, dept):
    with serve(WeiboHandler) as (public, public_url), serve(WeiboHandler, business=True) as (biz, biz_url):
        poll_weibo(session, api_url=public_url, access_token="tok", now=now)
        assert DIRECT not in {path for path, _ in public.requests}
        assert "5550000001" not in _weibo_refs(session)

        counts = poll_weibo(
            session,
            api_url=public_url,
            business_api_url=biz_url,
            access_token="tok",
            now=now + timedelta(minutes=4),
        )
        assert counts["endpoints"]["direct_messages"] == {"fetched": 1, "created": 1, "error": None}
        assert "5550000001" in _weibo_refs(session)
        assert [path for path, _ in biz.requests] == [DIRECT]


def test_a_refused_endpoint_never_discards_what_the_others_fetched(session, now, dept):
    # Misconfigured: the business URL points at the public host, which refuses private messages (10014).
    with serve(WeiboHandler) as (_server, url):
        counts = poll_weibo(session, api_url=url, business_api_url=url, access_token="tok", now=now)
        assert {"12438492184", "12438492190", "11488058300", "12438492301"} <= _weibo_refs(session)
        assert counts["endpoints"]["direct_messages"]["error"] == "10014"
        state = adapter_state(session, ADAPTER)
        assert state.last_error_code == "10014" and "私信接口需商业接口" in state.last_error
        assert state.cursor["comments"] == "12438492190"  # the others' cursors moved on
        assert state.next_attempt_at is None  # only the refused endpoint waits
        assert state.cursor["retry"]["direct_messages"]["at"] == (now + timedelta(minutes=1)).isoformat()


def test_errors_are_read_from_the_4xx_body_and_an_expired_token_tells_the_office(session, now, office):
    with serve(WeiboHandler) as (server, url):
        server.fail_with = 21327
        poll_weibo(session, api_url=url, access_token="old-token", now=now)
        state = adapter_state(session, ADAPTER)
        assert state.last_error_code == "21327" and state.last_error.startswith(
            "21327：授权已过期，请重新授权"
        )
        [notice] = _office_notices(session, "授权已过期")
        assert notice.user_id == office.id and "TRACKER_WEIBO_ACCESS_TOKEN" in notice.body
        # Waiting (1, 2, 4 … minutes), and told once however often it fails.
        poll_weibo(session, api_url=url, access_token="old-token", now=now + timedelta(minutes=5))
        assert len(_office_notices(session, "授权已过期")) == 1
        # Re-authorised: the new token is tried at once, without waiting out the backoff.
        server.fail_with = None
        counts = poll_weibo(session, api_url=url, access_token="new-token", now=now + timedelta(minutes=6))
        assert counts["created"] == 4 and state.consecutive_failures == 0


@pytest.mark.parametrize("code", [21332, 10023, 10024])
def test_each_documented_refusal_is_recognised(session, now, dept, code):
    with serve(WeiboHandler) as (server, url):
        server.fail_paths = {COMMENTS: code}
        counts = poll_weibo(session, api_url=url, access_token="tok", now=now)
        state = adapter_state(session, ADAPTER)
        assert counts["error"] == state.last_error_code == str(code)
        if code == 21332:
            assert "访问令牌无效" in state.last_error
            assert state.next_attempt_at == now + timedelta(minutes=1)
        else:  # the quota is counted per clock hour: wait for the next one
            assert "频次超过上限" in state.last_error
            assert state.next_attempt_at == now.replace(minute=0) + timedelta(hours=1)


def test_a_backlog_larger_than_a_page_is_read_back_down_to_the_cursor(session, now, dept):
    with serve(WeiboHandler) as (server, url):
        poll_weibo(session, api_url=url, access_token="tok", now=now)
        before = len(_weibo_refs(session))
        # 150 new comments between two polls; the API returns the newest `count` of them first.
        server.items[COMMENTS] += [weibo_comment(13_000_000_000 + n) for n in range(150)]
        server.requests.clear()
        counts = poll_weibo(session, api_url=url, access_token="tok", now=now + timedelta(minutes=4))
        assert counts["endpoints"]["comments"] == {"fetched": 150, "created": 150, "error": None}
        assert len(_weibo_refs(session)) == before + 150
        pages = [query for path, query in server.requests if path == COMMENTS]
        assert len(pages) == 2 and pages[0]["since_id"] == ["12438492190"] and "max_id" not in pages[0]
        assert pages[1]["max_id"] == [str(13_000_000_000 + 150 - PAGE_SIZE - 1)]
        assert adapter_state(session, ADAPTER).cursor["comments"] == str(13_000_000_149)


def test_a_flood_is_read_on_at_the_next_poll_from_where_it_stopped(session, now, dept):
    flood = PAGE_SIZE * MAX_PAGES + 60
    with serve(WeiboHandler) as (server, url):
        poll_weibo(session, api_url=url, access_token="tok", now=now)
        server.items[COMMENTS] += [weibo_comment(14_000_000_000 + n) for n in range(flood)]
        first = poll_weibo(session, api_url=url, access_token="tok", now=now + timedelta(minutes=4))
        assert first["endpoints"]["comments"]["created"] == PAGE_SIZE * MAX_PAGES
        state = adapter_state(session, ADAPTER)
        assert state.cursor["comments"] == "12438492190"  # not moved until the gap is read
        second = poll_weibo(session, api_url=url, access_token="tok", now=now + timedelta(minutes=8))
        assert second["endpoints"]["comments"]["created"] == 60
        assert state.cursor["comments"] == str(14_000_000_000 + flood - 1)
        assert "comments:paging" not in state.cursor
        made = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.external_ref.like("14000%"))
        )
        assert made == flood


def test_polls_every_few_minutes_within_the_hourly_quota(session, now, dept):
    """The beat ticks every minute for an hour; the poller calls the API only every 4 minutes, and the
    whole hour stays under the per-user quota (150) with room for paging."""
    with serve(WeiboHandler, quota=150) as (server, url):
        polled = 0
        for minute in range(60):
            counts = poll_weibo(session, api_url=url, access_token="tok", now=now + timedelta(minutes=minute))
            polled += "skipped" not in counts
        assert polled == 15
        calls = len(server.requests)
        assert calls == 15 * 3 + 1  # three endpoints a poll, and the token's lifetime asked once
        assert calls <= 150 // 2
        assert adapter_state(session, ADAPTER).cursor["quota"]["calls"] == calls


def test_the_poller_stops_before_the_quota_is_spent(session, now, dept):
    with serve(WeiboHandler) as (_server, url):
        counts = poll_weibo(session, api_url=url, access_token="tok", now=now, hourly_quota=2)
        assert counts["calls"] == 2 and counts["error"] == "quota"
        state = adapter_state(session, ADAPTER)
        assert state.last_error_code == "quota" and "本小时调用配额" in state.last_error
        assert state.next_attempt_at == now.replace(minute=0) + timedelta(hours=1)
        # The next hour goes on where it stopped: nothing was lost.
        poll_weibo(session, api_url=url, access_token="tok", now=state.next_attempt_at, hourly_quota=10)
        assert {"12438492184", "11488058300", "12438492301"} <= _weibo_refs(session)


def test_the_office_is_warned_before_the_token_expires(session, now, office):
    with serve(WeiboHandler, expire_in=int(timedelta(days=5).total_seconds())) as (server, url):
        poll_weibo(session, api_url=url, access_token="tok", now=now)
        state = adapter_state(session, ADAPTER)
        assert state.token_expires_at == now + timedelta(days=5)
        [notice] = _office_notices(session, "授权将于")
        assert "2026-03-09 10:00" in notice.title and "重新授权" in notice.body
        # Asked again twice a day, warned once more on the last day only.
        for hours in range(12, 24 * 5, 12):
            server.expire_in = int((state.token_expires_at - (now + timedelta(hours=hours))).total_seconds())
            poll_weibo(session, api_url=url, access_token="tok", now=now + timedelta(hours=hours))
        assert len(_office_notices(session, "授权将于")) == 2


def test_a_token_far_from_expiry_warns_nobody(session, now, office):
    with serve(WeiboHandler) as (_server, url):
        poll_weibo(session, api_url=url, access_token="tok", now=now)
        assert adapter_state(session, ADAPTER).token_expires_at > now + timedelta(days=365)
        assert _office_notices(session, "授权") == []
        assert weibo_items()[COMMENTS]  # the recorded data is served unchanged


def test_a_token_check_that_fails_does_not_stop_the_poll(session, now, dept):
    # A gateway in front of the API that does not pass oauth2/ on: 10020 for the token check only.
    with serve(WeiboHandler, no_token_info=True) as (server, url):
        counts = poll_weibo(session, api_url=url, access_token="tok", now=now)
        assert counts["created"] == 4 and counts["error"] is None
        state = adapter_state(session, ADAPTER)
        assert state.token_checked_at == now and state.token_expires_at is None
        poll_weibo(session, api_url=url, access_token="tok", now=now + timedelta(minutes=4))
        assert [p for p, _ in server.requests].count("/oauth2/get_token_info") == 1  # not again for 12 h
