"""E-mail over SMTP, in Chinese. The Message-ID is derived from the delivery, so a message that a crash
made us send twice is recognisably the same message; its right side is the sender's domain.

Transport security (TRACKER_SMTP_TLS, default `auto`): implicit TLS on port 465 (RFC 8314), otherwise
STARTTLS whenever the server offers it — with or without a user — and a user's password is never sent
over a connection that is not encrypted. Either way the server's certificate and host name are verified
(`ssl.create_default_context`), against TRACKER_SMTP_CA_FILE when set (a bureau's own CA), else the
system's CAs.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from tracker.config import Settings
from workers.senders import Message, SendError

TIMEOUT = 20

KIND_FOOTER = {
    "reminder": "请在期限内办理。",
    "escalation": "请科室负责人督促办理，并视情况向办公室报告。",
    "digest": "以上为截至今日的统计。",
    "status": "",
    "approval": "",
    "calendar": "",
    "channel": "请按“系统管理 → 通知渠道”页面的提示处理。",
}
IMPLICIT_TLS_PORT = 465


def render_email(message: Message, settings: Settings) -> tuple[str, str]:
    """Return (subject, plain-text body)."""
    if message.kind.startswith("citizen."):  # the office's template, rendered in full when planned
        return message.title, f"{message.body}\n\n——\n系统自动发送，请勿直接回复"
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


def message_id_domain(settings: Settings) -> str:
    """The right side of our Message-IDs: the configured sender's domain (RFC 5322 §3.6.4)."""
    address = parseaddr(settings.smtp_sender)[1]
    return address.rpartition("@")[2].strip().lower() or "localhost"


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificate and host name verified; the configured CA file when there is one."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file)


def is_implicit_tls(settings: Settings) -> bool:
    return settings.smtp_tls == "implicit" or (
        settings.smtp_tls == "auto" and settings.smtp_port == IMPLICIT_TLS_PORT
    )


def _open(settings: Settings) -> smtplib.SMTP:
    """A connection that is encrypted whenever it can be, and always before a password."""
    context = tls_context(settings)
    if is_implicit_tls(settings):
        return smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT, context=context)
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT)
    try:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        elif settings.smtp_tls == "starttls" or settings.smtp_user:
            raise SendError("邮件服务器未提供 STARTTLS，拒绝以明文发送", code="no-starttls")
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_email(message: Message, settings: Settings) -> None:
    if not settings.smtp_host:
        raise SendError("未配置邮件服务器（TRACKER_SMTP_HOST）")
    if not message.email:
        raise SendError("收件人没有登记电子邮箱", code="no-address")
    subject, body = render_email(message, settings)
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = settings.smtp_sender
    mail["To"] = message.email
    mail["Date"] = formatdate(localtime=False)
    local_part = f"{message.delivery_key.replace(':', '.')}.{message.delivery_id}"
    mail["Message-ID"] = f"<{local_part}@{message_id_domain(settings)}>"
    mail["X-Tracker-Delivery"] = str(message.delivery_id)
    mail.set_content(body, charset="utf-8")
    try:
        with _open(settings) as smtp:
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(mail)
    except ssl.SSLError as exc:  # includes a certificate or host name that does not verify
        raise SendError(
            f"TLS 校验失败：{getattr(exc, 'verify_message', None) or exc.reason}", code="tls"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [str(code) for code, _ in exc.recipients.values()]
        raise SendError("邮件服务器拒绝收件人", code=codes[0] if codes else "550") from None
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"邮件服务器拒绝：{exc.smtp_code}", code=str(exc.smtp_code)) from None
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise SendError(f"无法连接邮件服务器：{type(exc).__name__}", code="connect") from None
