"""Issue 18 item 4: the dashboard search finds a ticket by its number, its platform reference (the 12345
work-order number), its contact's name or phone, and a single CJK character — on SQLite and PostgreSQL,
never beyond what the caller may see, and hostile or oversized input is bounded, never an error."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests import factories
from tracker.errors import ValidationError
from tracker.search import matching_ticket_ids, phone_matches, segment_for_index
from tracker.tickets.drafts import ContactDraft
from tracker.tickets.models import Ticket
from tracker.tickets.queries import TicketFilter, queue_page


@pytest.fixture
def depts(session):
    return (
        factories.department(session, "sme", "中小企业服务处"),
        factories.department(session, "it", "信息化推进处"),
    )


def _found(session, user, query, *, now):
    page = queue_page(session, user, "all", TicketFilter(q=query), now=now, limit=50)
    return [row.ticket.id for row in page.rows]


@pytest.fixture
def tickets(session, now, depts):
    sme, it = depts
    hit = factories.ticket(
        session,
        now=now,
        dept=sme,
        subject="民营企业融资咨询",
        body="询问中小微企业贷款贴息政策",
        external_ref="GD20260304000123",
        contact=ContactDraft(name="张秀英", phone="139-8765-4321"),
    )
    other = factories.ticket(
        session,
        now=now,
        dept=sme,
        subject="小区路灯不亮",
        body="门口路灯坏了三天",
        contact=ContactDraft(name="王小明", phone="13700001111"),
    )
    foreign = factories.ticket(
        session,
        now=now,
        dept=it,
        subject="政务外网故障",
        body="企业无法登录申报系统",
        external_ref="GD20260304000999",
        contact=ContactDraft(name="赵雪", phone="+86 136 0000 2222"),
    )
    session.flush()
    return hit, other, foreign


def test_finds_by_number_reference_name_phone_and_single_character(session, now, depts, tickets):
    hit, other, _foreign = tickets
    staff = factories.user(session, dept=depts[0], now=now)
    assert _found(session, staff, hit.number, now=now) == [hit.id]
    assert _found(session, staff, hit.number.lower(), now=now) == [hit.id]  # typed in lower case
    assert _found(session, staff, "GD20260304000123", now=now) == [hit.id]  # the 12345 work-order number
    assert _found(session, staff, "张秀英", now=now) == [hit.id]
    # The same number however written: as stored, digits only, with the country prefix.
    for phone in ("139-8765-4321", "13987654321", "+86 13987654321", "139 8765 4321"):
        assert _found(session, staff, phone, now=now) == [hit.id], phone
    assert _found(session, staff, "企", now=now) == [hit.id]  # one character, inside the word 企业
    assert _found(session, staff, "贴", now=now) == [hit.id]
    assert _found(session, staff, "灯", now=now) == [other.id]
    assert set(_found(session, staff, "坏", now=now)) == {other.id}
    # An exact match, not a part of one: a name's first character is a word search, a partial phone nothing.
    assert _found(session, staff, "8765", now=now) == []
    assert _found(session, staff, "GD2026030400012", now=now) == []


def test_another_department_finds_none_of_its_tickets(session, now, depts, tickets):
    hit, _other, foreign = tickets
    outsider = factories.user(session, dept=depts[1], now=now)
    for query in (hit.number, "GD20260304000123", "张秀英", "13987654321", "贴"):
        assert _found(session, outsider, query, now=now) == [], query
    assert _found(session, outsider, "企", now=now) == [foreign.id]  # its own, and only its own
    admin = factories.user(session, role="admin", dept=depts[1], now=now)
    assert set(_found(session, admin, "企", now=now)) == {hit.id, foreign.id}


def test_an_auditor_cannot_search_by_personal_data(session, now, depts, tickets):
    hit, _other, _foreign = tickets
    auditor = factories.user(session, role="auditor", dept=depts[0], now=now)
    assert _found(session, auditor, hit.number, now=now) == [hit.id]  # reads every ticket
    # …but a search must not confirm what the mask hides.
    assert _found(session, auditor, "13987654321", now=now) == []
    assert _found(session, auditor, "张秀英", now=now) == []


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '企" OR "路',
        "企 OR 灯",
        "NEAR(企 灯)",
        "* ^ : -",
        "%",
        "_",
        "'; DROP TABLE tickets; --",
        "\\",
        "企" * 200,
        "RX" + "9" * 126,
        "+86 " + "1" * 24,
        "🙂👍",
        "\u200b\ufeff",
    ],
)
def test_hostile_queries_are_bounded_and_answer_without_error(session, now, depts, tickets, query):
    staff = factories.user(session, dept=depts[0], now=now)
    ids = _found(session, staff, query, now=now)
    assert set(ids) <= {t.id for t in tickets[:2]}


def test_an_oversized_query_is_cut_before_any_work(session, now, depts, tickets):
    # The queue filter refuses more than 200 characters; the function itself cuts, so no caller can make it
    # segment or look up more.
    condition = matching_ticket_ids(session, "企业 " * 100_000)
    assert condition is not None
    # No visibility here (the queues add it): both tickets with 企业 in their text.
    assert set(session.scalars(select(Ticket.id).where(condition))) == {tickets[0].id, tickets[2].id}
    with pytest.raises(ValidationError) as refused:
        TicketFilter.from_args({"q": "企" * 201})
    assert "关键词" in refused.value.message or "q" in refused.value.fields


def test_the_index_holds_each_character_once_besides_the_words():
    terms = segment_for_index("民营企业", "企业融资").split()
    assert "企业" in terms and terms.count("企") == 1 and "融" in terms


def test_phone_match_is_one_indexed_in_list(session):
    sql = str(phone_matches("139 8765 4321").compile(session.get_bind()))
    assert "IN" in sql.upper() and "LIKE" not in sql.upper()
