"""政府信息公开申请: the portal form (条例 art. 29), staff entry of applications that came in person, by
letter or fax (art. 31: arrival date and legal receipt date kept apart), and imports of past records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracker.clock import BUSINESS_TZ
from tracker.deadlines.engine import ARRIVED, CONFIRMED, RECEIPT_RULES, SIGNED
from tracker.intake.formats import parse_datetime
from tracker.intake.idnumbers import id_number_error
from tracker.intake.records import (
    Column,
    FieldError,
    History,
    IntakeRecord,
    RecordError,
    check_order,
    email_error,
    parse_columns,
    phone_error,
    shown_value,
)
from tracker.reports.rows import outcome_from_label
from tracker.tickets.channels import APPLICANT_TYPES
from tracker.tickets.drafts import ContactDraft, TicketDraft

CHANNEL = "disclosure"
REQUEST_TYPE = "政府信息公开申请"
# The ways an application comes (2019 条例 art. 31, `tracker.deadlines.engine.RECEIPT_RULES`): 邮寄 is any post
# the agency signs for (挂号信, 快递 …); 平信 the ordinary letter it confirms with the applicant.
RECEIVED_VIA = ("当面", "邮寄", "挂号信", "快递", "平信", "网络", "电子邮件", "传真", "其他")
STAFF_RECEIVED_VIA = ("当面", "挂号信", "快递", "平信", "传真", "电子邮件", "其他")
ORG_TYPES = ("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")
ID_TYPES_PERSON = ("身份证", "护照", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "其他")
DELIVERY_FORMS = ("纸质", "电子邮件", "光盘", "磁盘")
DELIVERY_WAYS = ("邮寄", "快递", "电子邮件", "传真", "自行领取", "当场阅读、抄录")

COLUMNS: tuple[Column, ...] = (
    Column("申请编号", "application_no", required=True, max_len=128),
    # The day the application arrived; the legal receipt date is derived from it, the way it came and the
    # signature or confirmation (art. 31, `TicketDraft`). A register that kept only one date gives it here.
    Column("收到日期", "received_at", "datetime", required=True, aliases=("到达日期", "arrived_at")),
    Column("申请方式", "received_via", "choice", choices=RECEIVED_VIA),
    Column("签收日期", "signed_at", "datetime"),
    Column("确认日期", "confirmed_at", "datetime"),
    Column("申请人类型", "applicant_type", "choice", choices=APPLICANT_TYPES),
    Column("申请人姓名或名称", "name", required=True, max_len=200),
    Column("证件号码", "id_number", max_len=64),
    Column("联系电话", "phone", "phone"),
    Column("所需信息", "information", required=True, max_len=20000),
    Column("答复日期", "replied_at", "datetime"),
    Column("答复结果", "outcome", max_len=64),
)
REQUIRED_HEADERS = tuple(c.header for c in COLUMNS if c.required)


def _id_type_for(applicant_type: str | None) -> str:
    return "身份证" if applicant_type in (None, "自然人") else "统一社会信用代码"


def record_from_row(
    row: dict[str, Any], *, number: int | None = None, department_code: str | None = None, by: str = "header"
) -> IntakeRecord:
    values, errors = parse_columns(COLUMNS, row, row=number, by=by)
    names = {c.key: (c.header if by == "header" else c.key) for c in COLUMNS}
    check_order(
        errors,
        values["received_at"],
        values["replied_at"],
        names["replied_at"],
        earlier_label="收到日期",
        row=number,
    )
    for key in ("signed_at", "confirmed_at"):
        check_order(
            errors, values["received_at"], values[key], names[key], earlier_label="收到日期", row=number
        )
    _check_receipt_fields(
        errors, values["received_via"], values["signed_at"], values["confirmed_at"], names, row=number
    )
    outcome = None
    if values["outcome"]:
        outcome = outcome_from_label(values["outcome"])
        if outcome is None:
            errors.append(FieldError(names["outcome"], "不是年报表格中的答复结果", values["outcome"], number))
    if values["replied_at"] and not values["outcome"]:
        errors.append(FieldError(names["outcome"], "有答复日期时须填写答复结果", None, number))
    if values["outcome"] and not values["replied_at"]:
        errors.append(FieldError(names["replied_at"], "有答复结果时须填写答复日期", None, number))
    id_type = _id_type_for(values["applicant_type"])
    if values["id_number"]:
        reason = id_number_error(id_type, values["id_number"])
        if reason:
            errors.append(FieldError(names["id_number"], f"{id_type}{reason}", values["id_number"], number))
    if errors:
        raise RecordError(errors)
    info = values["information"]
    draft = TicketDraft(
        channel=CHANNEL,
        request_type=REQUEST_TYPE,
        subject=info.strip()[:40],
        body=info,
        arrived_at=values["received_at"],
        signed_at=values["signed_at"],
        confirmed_at=values["confirmed_at"],
        external_ref=values["application_no"],
        department_code=department_code,
        applicant_type=values["applicant_type"] or "自然人",
        received_via=values["received_via"],
        contact=ContactDraft(
            name=values["name"],
            phone=values["phone"],
            id_type=id_type if values["id_number"] else None,
            id_number=(values["id_number"] or "").upper() or None,
        ),
        with_query_code=True,
    )
    history = History()
    if outcome is not None:
        history = History(
            reply_text=f"答复结果：{outcome.short}",
            replied_at=values["replied_at"],
            outcome=outcome.code,
            closed_at=values["replied_at"],
        )
    return IntakeRecord(draft, history, number)


def _check_receipt_fields(
    errors: list[FieldError],
    received_via: str | None,
    signed_at: datetime | None,
    confirmed_at: datetime | None,
    names: dict[str, str],
    *,
    row: int | None = None,
) -> None:
    """A signature date belongs to post that is signed for, a confirmation to what art. 31 has confirmed:
    a date the rule does not use would be silently ignored, so it is refused with the rule named."""
    rule = RECEIPT_RULES.get(received_via or "", (None, ""))[0]
    if signed_at is not None and rule != SIGNED:
        errors.append(
            FieldError(
                names["signed_at"], f"“{received_via or '未填写申请方式'}”不以签收日期为收到日期", None, row
            )
        )
    if confirmed_at is not None and rule not in (CONFIRMED, None):
        errors.append(FieldError(names["confirmed_at"], f"“{received_via}”不以确认日期为收到日期", None, row))


MAX_FORM_FIELD_CHARS = 5000
FORM_LABELS = {
    "name": "申请人姓名或名称",
    "id_number": "证件号码",
    "phone": "联系电话",
    "email": "电子邮箱",
    "address": "通信地址",
    "description": "所需信息",
    "info_title": "信息名称",
    "doc_number": "文号",
}


def record_from_form(
    form: dict[str, Any], *, now: datetime, department_code: str | None = None, staff_entry: bool = False
) -> IntakeRecord:
    """An application under art. 29, from the portal (online, confirmed on submission: receipt = now) or
    entered by staff (the way it came, its arrival and its signature or confirmation; the legal receipt
    date is derived from them by `TicketDraft`, art. 31)."""
    errors: list[FieldError] = []

    def field(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    # Every field bounded before any check reads it (the longest, the description, holds 5,000 characters).
    for name, value in form.items():
        if isinstance(value, str) and len(value) > MAX_FORM_FIELD_CHARS:
            errors.append(FieldError(FORM_LABELS.get(name, name), f"超过{MAX_FORM_FIELD_CHARS}字"))
    if errors:
        raise RecordError(errors)

    kind = field("applicant_kind")
    if kind not in ("公民", "法人或其他组织"):
        errors.append(FieldError("申请人类型", "请选择 公民 或 法人或其他组织"))
    applicant_type = "自然人"
    id_type = field("id_type") or "身份证"
    if kind == "法人或其他组织":
        applicant_type = field("org_type")
        if applicant_type not in ORG_TYPES:
            errors.append(FieldError("机构类型", f"应为 {'/'.join(ORG_TYPES)} 之一"))
        id_type = "统一社会信用代码"
    elif id_type not in ID_TYPES_PERSON:
        errors.append(FieldError("证件类型", f"应为 {'/'.join(ID_TYPES_PERSON)} 之一"))
    name = field("name")
    if not name:
        errors.append(FieldError("申请人姓名或名称", "不能为空"))
    id_number = field("id_number").upper()
    if not id_number:
        errors.append(FieldError("证件号码", "不能为空"))
    else:
        reason = id_number_error(id_type, id_number)
        if reason:
            errors.append(FieldError("证件号码", f"{id_type}{reason}", id_number))
    phone, email, address = field("phone"), field("email"), field("address")
    if not (phone or email or address):
        errors.append(FieldError("联系方式", "联系电话、电子邮箱、通信地址至少填写一项"))

    if phone and phone_error(phone):
        errors.append(FieldError("联系电话", phone_error(phone), shown_value(phone)))
    if email and email_error(email):
        errors.append(FieldError("电子邮箱", email_error(email), shown_value(email)))
    description = field("description")
    title, doc_number = field("info_title"), field("doc_number")
    if not (description or title or doc_number):
        errors.append(FieldError("所需信息", "请填写信息名称、文号或能够据以指向特定政府信息的描述"))
    for label, value in (("所需信息", description), ("信息名称", title), ("通信地址", address)):
        if len(value) > 5000:
            errors.append(FieldError(label, "超过5000字"))
    delivery_form = field("delivery_form")
    if delivery_form not in DELIVERY_FORMS:
        errors.append(FieldError("提供形式", f"应为 {'/'.join(DELIVERY_FORMS)} 之一"))
    delivery_way = field("delivery_way")
    if delivery_way not in DELIVERY_WAYS:
        errors.append(FieldError("获取方式", f"应为 {'/'.join(DELIVERY_WAYS)} 之一"))

    # Online: the portal confirms the application on submission (its receipt page, with the query code),
    # so both sides' confirmation is now (art. 31(三)).
    arrived_at, signed_at, confirmed_at = now, None, now
    received_via = "网络"
    if staff_entry:
        received_via = field("received_via")
        if received_via not in STAFF_RECEIVED_VIA:
            errors.append(FieldError("申请方式", f"应为 {'/'.join(STAFF_RECEIVED_VIA)} 之一"))
        arrived_at = _form_date(field("arrived_on"), "到达日期", errors)
        # One date field, "签收或确认日期": a signature for post signed for, a confirmation otherwise.
        step_at = (
            _form_date(field("confirmed_on"), "签收或确认日期", errors) if field("confirmed_on") else None
        )
        rule = RECEIPT_RULES.get(received_via, (None, ""))[0]
        signed_at = step_at if rule == SIGNED else None
        confirmed_at = step_at if rule != SIGNED else None
        if step_at is not None and rule == ARRIVED:
            errors.append(FieldError("签收或确认日期", "当面提交的，以提交之日为收到申请之日，无需填写"))
        if arrived_at and step_at and step_at < arrived_at:
            errors.append(FieldError("签收或确认日期", "不能早于到达日期"))
        if arrived_at and arrived_at > now:
            errors.append(FieldError("到达日期", "不能晚于今天"))
        if step_at and step_at > now:
            errors.append(FieldError("签收或确认日期", "不能晚于今天"))
    if errors:
        raise RecordError(errors)
    parts = [
        p
        for p in (
            f"信息名称：{title}" if title else "",
            f"文号：{doc_number}" if doc_number else "",
            description,
        )
        if p
    ]
    body = "\n".join(parts)
    return IntakeRecord(
        TicketDraft(
            channel=CHANNEL,
            request_type=REQUEST_TYPE,
            subject=(title or description or doc_number)[:40],
            body=body,
            arrived_at=arrived_at,
            signed_at=signed_at,
            confirmed_at=confirmed_at,
            applicant_type=applicant_type,
            received_via=received_via,
            department_code=department_code,
            contact=ContactDraft(
                name=name,
                phone=phone or None,
                email=email or None,
                address=address or None,
                id_type=id_type,
                id_number=id_number,
            ),
            extra={
                "delivery_form": delivery_form,
                "delivery_way": delivery_way,
                "info_title": title,
                "doc_number": doc_number,
                "applicant_kind": kind,
            },
            with_query_code=True,
        )
    )


def _form_date(text: str, label: str, errors: list[FieldError]) -> datetime | None:
    if not text:
        errors.append(FieldError(label, "不能为空"))
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        errors.append(FieldError(label, "无法识别", text))
        return None
    return moment.astimezone(BUSINESS_TZ)
