"""File imports on SQLite and PostgreSQL: all-or-nothing, --skip-bad-rows, re-import, history, formats."""

import json
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from tests import factories
from tests.intake.helpers import HOTLINE_HEADER, hotline_row, write_csv
from tracker.clock import local
from tracker.intake.importer import ImportRejected, check_file, import_file
from tracker.people.access import EVERYTHING
from tracker.people.models import Department
from tracker.tickets.models import Contact, Deadline, Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage

DATA = Path(__file__).parents[1] / "data"


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def dept(session):
    return factories.department(session, "bureau", "市工业和信息化局")


def test_gbk_file_imports_and_reimport_adds_nothing(session, now, dept, tmp_path):
    rows = [hotline_row(f"GD{i:03d}", content=f"咨询新能源汽车购置补贴第{i}批名单") for i in range(1, 8)]
    path = write_csv(tmp_path / "orders.csv", HOTLINE_HEADER, rows, "gbk")
    report = import_file(session, "hotline", path, actor="测试导入", reach=EVERYTHING, now=now)
    assert (report.created, report.updated, report.rejected) == (7, 0, 0)
    assert report.summary == "导入 7 条，更新 0 条，拒绝 0 条"
    tickets = session.scalars(
        select(Ticket).where(Ticket.channel == "hotline", Ticket.external_ref.like("GD%"))
    ).all()
    assert len(tickets) == 7
    created_events = count(
        session,
        TicketEvent,
        TicketEvent.kind == "ticket.created",
        TicketEvent.ticket_id.in_([t.id for t in tickets]),
    )
    outbox = count(
        session,
        OutboxMessage,
        OutboxMessage.topic == "ticket.created",
        OutboxMessage.ticket_id.in_([t.id for t in tickets]),
    )
    assert created_events == 7 and outbox == 7
    # The batched path opens the same deadlines open_ticket does.
    assert count(session, Deadline, Deadline.ticket_id.in_([t.id for t in tickets])) >= 7
    first = next(t for t in tickets if t.external_ref == "GD001")
    assert first.received_at == datetime.fromisoformat("2016-03-05T01:12:00+00:00")
    assert first.contact.phone == "13800138000"

    again = import_file(session, "hotline", path, actor="测试导入", reach=EVERYTHING, now=now)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    assert count(session, Ticket, Ticket.external_ref.like("GD%")) == 7


def test_a_bad_row_imports_nothing_and_names_row_column_reason(session, now, dept, tmp_path):
    rows = [
        hotline_row("GD101"),
        hotline_row("GD102", accepted="2016/13/01"),
        hotline_row("GD103", kind="吐槽"),
        hotline_row("GD104", content=""),
        hotline_row("GD105", **{"联系电话": "电话坏了"}),
        hotline_row("GD106", **{"满意度": "很好", "答复内容": "已答复", "办结时间": "2016-03-06"}),
        hotline_row("GD107", **{"办结时间": "2016-03-01", "答复内容": "已答复"}),
        hotline_row("GD108", **{"答复内容": "已答复"}),
        hotline_row(
            "",
        ),
    ]
    path = write_csv(tmp_path / "bad.csv", HOTLINE_HEADER, rows, "gb18030")
    with pytest.raises(ImportRejected) as caught:
        import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now)
    messages = [str(e) for e in caught.value.report.errors]
    assert '第3行 受理时间 "2016/13/01" 无法识别' in messages
    assert any(
        m.startswith('第4行 诉求类型 "吐槽" 应为 咨询/求助/投诉/举报/建议/表扬/其他') for m in messages
    )
    assert "第5行 诉求内容 不能为空" in messages
    assert '第6行 联系电话 "电话坏了" 不是有效的电话号码' in messages
    assert any(m.startswith('第7行 满意度 "很好"') for m in messages)
    assert '第8行 办结时间 "2016-03-01 00:00" 早于受理时间' in messages
    assert "第9行 办结时间 有答复内容时须填写办结时间" in messages
    assert "第10行 工单编号 不能为空" in messages
    assert caught.value.report.rejected == 8
    assert count(session, Ticket, Ticket.external_ref.like("GD1%")) == 0  # not even the good row


def test_skip_bad_rows_imports_the_good_and_writes_the_rejected(session, now, dept, tmp_path):
    rows = [hotline_row("GD201"), hotline_row("GD202", accepted="昨天"), hotline_row("GD203")]
    path = write_csv(tmp_path / "mixed.csv", HOTLINE_HEADER, rows, "utf-8-sig")
    report = import_file(
        session, "hotline", path, actor="测试", reach=EVERYTHING, now=now, skip_bad_rows=True
    )
    assert (report.created, report.rejected) == (2, 1)
    assert report.summary == "导入 2 条，更新 0 条，拒绝 1 条"
    rejected = (tmp_path / "mixed.rejected.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rejected[0].startswith("行号,错误,工单编号")
    assert rejected[1].startswith('3,"第3行 受理时间 ""昨天"" 无法识别",GD202')
    assert len(rejected) == 2


def test_missing_required_column_is_a_file_error(session, now, dept, tmp_path):
    path = write_csv(tmp_path / "nohead.csv", ["工单编号", "诉求内容"], [["GD1", "x"]])
    with pytest.raises(Exception, match="缺少必需的列：受理时间、诉求类型"):
        check_file("hotline", path)


def test_history_becomes_dated_events(session, now, dept, tmp_path):
    row = hotline_row(
        "GD301",
        accepted="2016-04-01 10:00",
        kind="投诉",
        content="电信资费套餐被擅自变更",
        **{
            "办结时间": "2016/4/8 16:30",
            "答复内容": "已责成运营商恢复原套餐并退还差价",
            "回访时间": "2016年4月11日",
            "满意度": "基本满意",
            "是否解决": "是",
        },
    )
    path = write_csv(tmp_path / "history.csv", HOTLINE_HEADER, [row])
    report = import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now)
    assert report.created == 1
    ticket = session.scalar(select(Ticket).where(Ticket.external_ref == "GD301"))
    assert (ticket.status, ticket.satisfaction, ticket.is_resolved) == ("closed", "基本满意", True)
    assert ticket.reply_text == "已责成运营商恢复原套餐并退还差价"
    kinds = {
        e.kind: e.occurred_at
        for e in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    }
    assert kinds["ticket.rated"] == datetime.fromisoformat("2016-04-10T16:00:00+00:00")
    assert kinds["ticket.status_changed"].year == 2016
    # Re-importing the same history changes nothing.
    assert import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now).unchanged == 1


def test_resent_row_with_changes_updates_and_records_them(session, now, dept, tmp_path):
    path = write_csv(tmp_path / "a.csv", HOTLINE_HEADER, [hotline_row("GD401", content="原内容")])
    import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now)
    path2 = write_csv(
        tmp_path / "b.csv",
        HOTLINE_HEADER,
        [hotline_row("GD401", content="补充后的内容", **{"办结时间": "2016-03-09", "答复内容": "已办理"})],
    )
    report = import_file(session, "hotline", path2, actor="测试", reach=EVERYTHING, now=now)
    assert report.updated == 1 and report.created == 0
    ticket = session.scalar(select(Ticket).where(Ticket.external_ref == "GD401"))
    assert ticket.body == "补充后的内容" and ticket.status == "closed"
    updated = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "ticket.updated")
    )
    assert updated.data["changes"]["body"] == ["原内容", "补充后的内容"]


def test_xlsx_with_excel_serial_dates(session, now, dept, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(
        [
            "留言编号",
            "留言时间",
            "留言类型",
            "标题",
            "内容",
            "留言人",
            "联系电话",
            "电子邮箱",
            "回复时间",
            "回复内容",
            "满意度",
        ]
    )
    sheet.append(
        [
            "LY9001",
            42434.375,
            "咨询",
            "政策咨询",
            "请问技改补贴如何申报",
            "王女士",
            "",
            "w@example.com",
            42436.5,
            "请登录局网站下载申报指南",
            "满意",
        ]
    )
    sheet.append(
        ["LY9002", "2016/3/7 8:00", "建议", "建议", "建议公开补贴名单", "", "", "", None, None, None]
    )
    path = tmp_path / "messages.xlsx"
    book.save(path)
    report = import_file(session, "website", path, actor="测试", reach=EVERYTHING, now=now)
    assert report.created == 2
    first = session.scalar(select(Ticket).where(Ticket.channel == "website", Ticket.external_ref == "LY9001"))
    assert first.received_at == datetime.fromisoformat("2016-03-05T01:00:00+00:00")
    assert first.replied_at == datetime.fromisoformat("2016-03-07T04:00:00+00:00")
    assert first.status == "closed" and first.satisfaction == "满意" and first.query_code


def test_disclosure_import_with_outcome_and_id_checks(session, now, dept, tmp_path):
    header = [
        "申请编号",
        "收到日期",
        "申请方式",
        "申请人类型",
        "申请人姓名或名称",
        "证件号码",
        "联系电话",
        "所需信息",
        "答复日期",
        "答复结果",
    ]
    good = [
        "GK2016-01",
        "2016-05-03",
        "邮寄",
        "自然人",
        "赵某",
        "11010519491231002X",
        "13900001111",
        "2015年集体企业改制批复文件",
        "2016-05-20",
        "予以公开",
    ]
    path = write_csv(tmp_path / "gk.csv", header, [good])
    assert import_file(session, "disclosure", path, actor="测试", reach=EVERYTHING, now=now).created == 1
    ticket = session.scalar(
        select(Ticket).where(Ticket.channel == "disclosure", Ticket.external_ref == "GK2016-01")
    )
    assert (ticket.outcome, ticket.status, ticket.applicant_type) == ("public", "closed", "自然人")

    bad = [
        ["GK2016-02", "2016-05-03", "网络", "商业企业", "某公司", "91350100M000100Y44", "", "x", "", ""],
        [
            "GK2016-03",
            "2016-05-03",
            "飞鸽",
            "自然人",
            "钱某",
            "110105194912310021",
            "",
            "y",
            "2016-05-04",
            "同意",
        ],
    ]
    path = write_csv(tmp_path / "gk_bad.csv", header, bad)
    with pytest.raises(ImportRejected) as caught:
        import_file(session, "disclosure", path, actor="测试", reach=EVERYTHING, now=now)
    messages = [str(e) for e in caught.value.report.errors]
    assert '第2行 证件号码 "91350100M000100Y44" 统一社会信用代码校验码不正确' in messages
    assert '第3行 证件号码 "110105194912310021" 身份证校验位不正确' in messages
    assert '第3行 答复结果 "同意" 不是年报表格中的答复结果' in messages
    assert any(m.startswith('第3行 申请方式 "飞鸽"') for m in messages)


def test_weibo_json_import_is_idempotent(session, now, dept, tmp_path):
    docs = [
        json.loads((DATA / "weibo" / name).read_text())
        for name in ("comments_to_me.json", "mentions.json", "direct_messages.json")
    ]
    path = tmp_path / "weibo.json"
    path.write_text(json.dumps(docs, ensure_ascii=False))
    assert import_file(session, "weibo", path, actor="测试", reach=EVERYTHING, now=now).created == 4
    comment = session.scalar(
        select(Ticket).where(Ticket.channel == "weibo", Ticket.external_ref == "12438492190")
    )
    assert comment.request_type == "投诉"
    assert comment.body == "投诉：园区充电桩长期故障没人修 <b>请处理</b>"  # stored as given
    assert comment.extra["weibo_url"] == "https://weibo.com/2803301701/11488058246"
    assert comment.received_at == datetime.fromisoformat("2011-06-01T00:15:02+00:00")
    assert import_file(session, "weibo", path, actor="测试", reach=EVERYTHING, now=now).unchanged == 4


def test_seed_2016_files_import_cleanly(session, now, dept):
    seed = DATA / "seed2016"
    for channel, name, expected in (
        ("hotline", "hotline_2016.csv", 56),
        ("website", "website_2016.csv", 26),
        ("disclosure", "disclosure_2016.csv", 1),
    ):
        report = import_file(session, channel, seed / name, actor="测试", reach=EVERYTHING, now=now)
        assert (report.created, report.rejected) == (expected, 0), name
    hotline = session.scalars(
        select(Ticket).where(Ticket.channel == "hotline", Ticket.external_ref.like("2016%"))
    ).all()
    assert len(hotline) == 56
    assert all(t.status == "closed" and t.satisfaction in ("满意", "基本满意") for t in hotline)
    assert all(local(t.received_at).year == 2016 for t in hotline)


def test_same_phone_in_one_file_flags_the_later_order_only(session, now, dept, tmp_path):
    rows = [
        hotline_row("PH-2", accepted="2016-05-02 10:00", **{"联系电话": "13511112222"}),
        hotline_row("PH-1", accepted="2016-05-01 10:00", **{"联系电话": "13511112222"}),
    ]
    path = write_csv(tmp_path / "phones.csv", HOTLINE_HEADER, rows)
    import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now)
    first = session.scalar(select(Ticket).where(Ticket.external_ref == "PH-1"))
    second = session.scalar(select(Ticket).where(Ticket.external_ref == "PH-2"))
    session.refresh(first)
    session.refresh(second)
    assert second.possible_duplicate_of_id == first.id and first.possible_duplicate_of_id is None


def test_batches_leave_no_reference_dangling_and_flag_phones_across_batches(session, now, dept, tmp_path):
    """Batches of 60 (COPY on PostgreSQL, with the look-ups' statistics refreshed after the first, second
    and fourth batch) write rows whose references all point at rows of their own import."""
    rows = [
        hotline_row(
            f"BT{i:03d}",
            accepted=f"2016-04-{1 + i // 10:02d} {8 + i % 10:02d}:00:00",
            content=f"咨询技术改造专项资金申报第{i}问",
            **{"联系电话": f"1390000{i % 150:04d}"},  # order i and i + 150 share a number
        )
        for i in range(250)
    ]
    path = write_csv(tmp_path / "batches.csv", HOTLINE_HEADER, rows)
    report = import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now, batch_size=60)
    assert (report.created, report.rejected) == (250, 0)
    tickets = Ticket.__table__
    ids = select(tickets.c.id).where(tickets.c.external_ref.like("BT%"))
    assert len(set(session.scalars(select(tickets.c.number).where(tickets.c.id.in_(ids))))) == 250
    dangling = {
        "contact": select(tickets.c.id)
        .where(tickets.c.id.in_(ids))
        .where(~select(Contact.id).where(Contact.id == tickets.c.contact_id).exists()),
        "department": select(tickets.c.id)
        .where(tickets.c.id.in_(ids))
        .where(~select(Department.id).where(Department.id == tickets.c.department_id).exists()),
        "deadline": select(Deadline.id)
        .where(Deadline.ticket_id.in_(ids))
        .where(~select(tickets.c.id).where(tickets.c.id == Deadline.ticket_id).exists()),
        "outbox ticket": select(OutboxMessage.id)
        .where(OutboxMessage.ticket_id.in_(ids))
        .where(~select(tickets.c.id).where(tickets.c.id == OutboxMessage.ticket_id).exists()),
        "outbox event": select(OutboxMessage.id)
        .where(OutboxMessage.ticket_id.in_(ids))
        .where(
            ~select(TicketEvent.id)
            .where(
                TicketEvent.id == OutboxMessage.event_id,
                TicketEvent.ticket_id == OutboxMessage.ticket_id,
                TicketEvent.kind == "ticket.created",
            )
            .exists()
        ),
    }
    found = {name: session.scalars(query).all() for name, query in dangling.items()}
    assert found == {name: [] for name in dangling}
    assert count(session, OutboxMessage, OutboxMessage.ticket_id.in_(ids)) == 250
    assert count(session, Deadline, Deadline.ticket_id.in_(ids)) == 500  # 签收 and 办结 of each order
    # The later order of each shared number points at the earlier, from a batch before or its own.
    columns = (tickets.c.external_ref, tickets.c.possible_duplicate_of_id, tickets.c.id)
    flagged, by_ref = {}, {}
    for ref, of, ticket_id in session.execute(select(*columns).where(tickets.c.id.in_(ids))):
        flagged[ref], by_ref[ref] = of, ticket_id
    assert {ref for ref, of in flagged.items() if of} == {f"BT{i:03d}" for i in range(150, 250)}
    assert all(flagged[f"BT{i:03d}"] == by_ref[f"BT{i - 150:03d}"] for i in range(150, 250))

    again = import_file(session, "hotline", path, actor="测试", reach=EVERYTHING, now=now, batch_size=60)
    assert (again.created, again.unchanged) == (0, 250)
