"""E-mail over SMTP, in Chinese. The Message-ID is derived from the delivery, so a message that a crash
made us send twice is recognisably the same message."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from tracker.config import Settings
from workers.senders import Message, SendError

TIMEOUT = 20

KIND_FOOTER = {
    "reminder": "请在期限内办理。",
    "escalation": "请科室负责人督促办理，并视情况向办公室报告。",
    "digest": "以上为截至今日的统计。",
    "status": "",
    "calendar": "",
}


def render_email(message: Message, settings: Settings) -> tuple[str, str]:
    """Return (subject, plain-text body)."""
    greeting = f"{message.recipient_name}，您好：" if message.recipient_name else "您好："
    lines = [greeting, "", message.title, ""]
    if message.body:
        lines += [message.body, ""]
    footer = KIND_FOOTER.get(message.kind, "")
    if footer:
        lines += [footer, ""]
    if message.link:
        lines += [f"查看详情：{settings.public_url.rstrip('/')}{message.link}", ""]
    lines += ["——", "政民互动工单系统（系统自动发送，请勿直接回复）"]
    return message.title, "\n".join(lines)


def send_email(message: Message, settings: Settings) -> None:
    if not settings.smtp_host:
        raise SendError("未配置邮件服务器（TRACKER_SMTP_HOST）")
    if not message.email:
        raise SendError("收件人没有登记电子邮箱")
    subject, body = render_email(message, settings)
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = settings.smtp_sender
    mail["To"] = message.email
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{message.delivery_key.replace(':', '.')}.{message.delivery_id}@tracker>"
    mail["X-Tracker-Delivery"] = str(message.delivery_id)
    mail.set_content(body, charset="utf-8")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT) as smtp:
            if settings.smtp_user:
                smtp.starttls()
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(mail)
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"邮件服务器拒绝：{exc.smtp_code}") from None
    except smtplib.SMTPRecipientsRefused:
        raise SendError("邮件服务器拒绝收件人") from None
