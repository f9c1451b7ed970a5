"""Every outside channel's health in one list: the Weibo poller, the 12345 callback, e-mail and each
configured robot, webhook and SMS gateway — its last success, its last error code and what that code
means (tracker.ops.channel_errors). `tracker channel status`, the admin channel page and /healthz?detail=1
all read this one function.

Nothing here reveals a secret: no URL (a robot's URL carries its access token), no token, no raw error
text on the public view.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clock import local
from tracker.config import Settings
from tracker.intake.models import AdapterState
from tracker.notify.models import NotificationChannel
from tracker.ops.channel_errors import meaning


@dataclass(frozen=True)
class ChannelStatus:
    key: str  # weibo, hotline-callback, email, channel:<id>
    label: str
    configured: bool
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error_code: str | None
    meaning: str | None  # of last_error_code, in Chinese
    detail: str = ""  # for staff only: token expiry, a throttle's end, the next attempt

    @property
    def state(self) -> str:
        """ok: the last attempt succeeded; error: the last one failed; idle: never used; off: not set up."""
        if not self.configured:
            return "off"
        if self.last_error_at and (self.last_success_at is None or self.last_error_at > self.last_success_at):
            return "error"
        return "ok" if self.last_success_at else "idle"

    @property
    def state_label(self) -> str:
        return {"off": "未配置", "error": "出错", "ok": "正常", "idle": "尚未使用"}[self.state]

    def public(self) -> dict:
        """What /healthz may show anyone: no detail, times in ISO 8601."""
        data = {k: v for k, v in asdict(self).items() if k != "detail"}
        for key in ("last_success_at", "last_error_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return {**data, "state": self.state}


def _when(moment: datetime | None) -> str:
    return local(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _from_state(
    state: AdapterState | None, *, key: str, label: str, service: str, configured: bool, detail: str = ""
) -> ChannelStatus:
    code = state.last_error_code if state else None
    return ChannelStatus(
        key=key,
        label=label,
        configured=configured,
        last_success_at=state.last_success_at if state else None,
        last_error_at=state.last_error_at if state else None,
        last_error_code=code,
        meaning=meaning(service, code),
        detail=detail,
    )


def _weibo_detail(state: AdapterState | None, settings: Settings, now: datetime) -> str:
    parts = [
        f"每{settings.weibo_poll_minutes}分钟拉取评论、@提及"
        + ("和私信" if settings.weibo_business_api_url else "（未配置商业接口，不拉取私信）")
    ]
    if state is not None:
        if state.token_expires_at:
            parts.append(f"授权到期 {_when(state.token_expires_at)}")
        if state.next_attempt_at and state.next_attempt_at > now:
            parts.append(f"暂停至 {_when(state.next_attempt_at)}")
        waiting = {k: v for k, v in ((state.cursor or {}).get("retry") or {}).items() if v.get("at")}
        for endpoint, entry in sorted(waiting.items()):
            parts.append(f"{endpoint} 出错 {entry.get('code')}，{entry.get('failures')} 次")
    return "；".join(parts)


def channel_statuses(session: Session, settings: Settings, *, now: datetime) -> list[ChannelStatus]:
    """Every adapter and notification channel, configured or not (an operator sees what is missing)."""
    states = {s.name: s for s in session.scalars(select(AdapterState))}
    weibo = states.get("weibo")
    rows = [
        _from_state(
            weibo,
            key="weibo",
            label="政务微博接口",
            service="weibo",
            configured=bool(settings.weibo_api_url and settings.weibo_access_token),
            detail=_weibo_detail(weibo, settings, now),
        ),
        _from_state(
            states.get("hotline-callback"),
            key="hotline-callback",
            label="12345回传",
            service="hotline",
            configured=bool(settings.hotline_callback_url),
        ),
        _from_state(
            states.get("email"),
            key="email",
            label="电子邮件（SMTP）",
            service="email",
            configured=bool(settings.smtp_host),
            detail=(
                f"{settings.smtp_host}:{settings.smtp_port}，TLS {settings.smtp_tls}"
                + ("，自定义CA" if settings.smtp_ca_file else "")
                if settings.smtp_host
                else ""
            ),
        ),
    ]
    from tracker.notify.service import CHANNEL_KIND_LABELS

    for channel in session.scalars(select(NotificationChannel).order_by(NotificationChannel.id)):
        detail = "已停用" if not channel.is_active else ""
        if channel.paused_until and channel.paused_until > now:
            detail = f"限流，暂停发送至 {_when(channel.paused_until)}"
        rows.append(
            ChannelStatus(
                key=f"channel:{channel.id}",
                label=f"{channel.name}（{CHANNEL_KIND_LABELS.get(channel.kind, channel.kind)}）",
                configured=channel.is_active,
                last_success_at=channel.last_success_at,
                last_error_at=channel.last_error_at,
                last_error_code=channel.last_error_code,
                meaning=meaning(_service_of(channel), channel.last_error_code),
                detail=detail,
            )
        )
    return rows


def format_table(rows: list[ChannelStatus]) -> str:
    """The plain-text table `tracker channel status` prints."""
    lines = []
    for row in rows:
        error = (
            f"{row.last_error_code}（{row.meaning}）于 {_when(row.last_error_at)}"
            if row.last_error_code
            else "—"
        )
        lines.append(f"{row.label} [{row.state_label}]")
        lines.append(f"  最近成功：{_when(row.last_success_at)}    最近错误：{error}")
        if row.detail:
            lines.append(f"  {row.detail}")
    return "\n".join(lines)


def _service_of(channel) -> str:
    """Whose codes a channel's last error is in: an SMS gateway's are its provider's (Aliyun, Tencent)."""
    provider = (channel.options or {}).get("provider") if channel.kind == "sms" else None
    return f"{provider}_sms" if provider in ("aliyun", "tencent") else channel.kind
