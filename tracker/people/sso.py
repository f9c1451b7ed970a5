"""Single sign-on (统一身份认证): map an OpenID Connect identity to a local account and its role.

The protocol — authorization code with PKCE, state, nonce, the ID token's signature checked against the
provider's JWKS — is Authlib's, in web/views/oidc.py; this module decides who the validated claims are.
Accounts are never created here: the identity must match an existing, active account by the configured
claim (TRACKER_OIDC_USERNAME_CLAIM), which is then bound to the provider's `sub` for good. When a role
claim is configured (TRACKER_OIDC_ROLE_CLAIM, TRACKER_OIDC_ROLE_MAP), the provider decides the role at each
sign-in, and an identity with no mapped role is refused. Every outcome is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import PermissionDenied
from tracker.people.models import AuditEntry, User

# When the provider grants several mapped roles, the broadest wins.
ROLE_PRECEDENCE = ("admin", "supervisor", "auditor", "staff")
MAX_CLAIM_LENGTH = 255


@dataclass(frozen=True)
class SsoMapping:
    issuer: str
    username_claim: str = "preferred_username"
    role_claim: str | None = None
    role_map: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings) -> SsoMapping:
        return cls(
            issuer=settings.oidc_issuer,
            username_claim=settings.oidc_username_claim,
            role_claim=settings.oidc_role_claim,
            role_map=dict(settings.oidc_role_map),
        )


def _claim_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def resolve_sso_user(
    session: Session, claims: dict[str, Any], mapping: SsoMapping, *, now: datetime, ip: str | None
) -> User:
    """Return the local account these validated ID-token claims belong to, or raise PermissionDenied."""
    sub = claims.get("sub")
    claimed_username = claims.get(mapping.username_claim)

    def refuse(reason: str, user: User | None = None) -> PermissionDenied:
        session.add(
            AuditEntry(
                at=now,
                user_id=user.id if user else None,
                action="login.sso_rejected",
                ip=ip,
                detail={
                    "reason": reason,
                    "sub": str(sub)[:MAX_CLAIM_LENGTH],
                    "username": str(claimed_username)[:MAX_CLAIM_LENGTH],
                },
            )
        )
        return PermissionDenied(f"统一身份认证登录失败：{reason}")

    if not isinstance(sub, str) or not sub or len(sub) > MAX_CLAIM_LENGTH:
        raise refuse("身份标识（sub）无效")
    subject = f"{mapping.issuer}#{sub}"[:255]
    user = session.scalar(select(User).where(User.oidc_subject == subject))
    if user is None:
        if not isinstance(claimed_username, str) or not claimed_username or len(claimed_username) > 64:
            raise refuse(f"身份信息中没有有效的 {mapping.username_claim}")
        user = session.scalar(select(User).where(User.username == claimed_username))
        if user is None:
            raise refuse("本系统没有对应的账户")
        if user.oidc_subject is not None:
            raise refuse("该账户已绑定另一个统一身份", user)
        user.oidc_subject = subject
        session.add(
            AuditEntry(
                at=now,
                user_id=user.id,
                action="sso.linked",
                ip=ip,
                detail={"sub": sub, "issuer": mapping.issuer},
            )
        )
    if not user.is_active:
        raise refuse("账户已停用", user)
    if user.locked_until is not None and user.locked_until > now:
        raise refuse("账户已临时锁定", user)
    if mapping.role_claim:
        granted = {
            mapping.role_map[v]
            for v in _claim_values(claims.get(mapping.role_claim))
            if v in mapping.role_map
        }
        if not granted:
            raise refuse(f"身份信息的 {mapping.role_claim} 不对应本系统的任何角色", user)
        role = next(r for r in ROLE_PRECEDENCE if r in granted)
        if role != user.role:
            session.add(
                AuditEntry(
                    at=now,
                    user_id=user.id,
                    action="user.role_from_sso",
                    object_type="user",
                    object_id=str(user.id),
                    ip=ip,
                    detail={"from": user.role, "to": role},
                )
            )
            user.role = role
    session.add(AuditEntry(at=now, user_id=user.id, action="login.sso_ok", ip=ip, detail={"sub": sub}))
    session.flush()
    return user
