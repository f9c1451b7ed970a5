"""One typed settings object, read from the environment.

The embedded default needs no server: SQLite for data and for the Celery broker, under `instance/`.
Production sets TRACKER_DATABASE_URL (PostgreSQL) and TRACKER_BROKER_URL (Redis).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from tracker.errors import ValidationError
from tracker.pii.keys import Keyring, load_keyring

# Secrets may also come from a file named by NAME_FILE (docker secrets: /run/secrets/…), so they need not
# sit in the environment, where `docker inspect` and child processes see them. Giving both is an error.
SECRET_VARS = (
    "TRACKER_SECRET_KEY",
    "TRACKER_DATABASE_PASSWORD",
    "TRACKER_BROKER_PASSWORD",
    "TRACKER_SMTP_PASSWORD",
    "TRACKER_WEIBO_ACCESS_TOKEN",
    "TRACKER_METRICS_TOKEN",
    "TRACKER_SENTRY_DSN",
    "TRACKER_OIDC_CLIENT_SECRET",
)

# Every variable the settings read; docker-compose and the docs may only use these.
ENV_VARS = (
    "TRACKER_INSTANCE_DIR",
    "TRACKER_DATABASE_URL",
    "TRACKER_BROKER_URL",
    "TRACKER_SECRET_KEY",
    "TRACKER_END_OF_DAY",
    "TRACKER_WORKING_HOURS",
    "TRACKER_SECURE_COOKIES",
    "TRACKER_SMTP_HOST",
    "TRACKER_SMTP_PORT",
    "TRACKER_SMTP_USER",
    "TRACKER_SMTP_PASSWORD",
    "TRACKER_SMTP_SENDER",
    "TRACKER_SMTP_TLS",
    "TRACKER_SMTP_CA_FILE",
    "TRACKER_WEIBO_API_URL",
    "TRACKER_WEIBO_ACCESS_TOKEN",
    "TRACKER_WEIBO_SILENCE_HOURS",
    "TRACKER_WEIBO_BUSINESS_API_URL",
    "TRACKER_WEIBO_POLL_MINUTES",
    "TRACKER_WEIBO_HOURLY_QUOTA",
    "TRACKER_WEIBO_TOKEN_WARN_DAYS",
    "TRACKER_HOTLINE_CALLBACK_URL",
    "TRACKER_PUBLIC_URL",
    "TRACKER_LOG_LEVEL",
    "TRACKER_SESSION_IDLE_MINUTES",
    "TRACKER_SESSION_LIFETIME_HOURS",
    "TRACKER_TRUSTED_PROXIES",
    "TRACKER_PROXY_HOPS",
    "TRACKER_PASSWORD_MIN_LENGTH",
    "TRACKER_PASSWORD_MIN_CLASSES",
    "TRACKER_PASSWORD_MAX_AGE_DAYS",
    "TRACKER_PASSWORD_HISTORY",
    "TRACKER_TOTP_REQUIRED_ROLES",
    "TRACKER_OIDC_ISSUER",
    "TRACKER_OIDC_CLIENT_ID",
    "TRACKER_OIDC_CLIENT_SECRET",
    "TRACKER_OIDC_USERNAME_CLAIM",
    "TRACKER_OIDC_ROLE_CLAIM",
    "TRACKER_OIDC_ROLE_MAP",
    "TRACKER_AUDIT_HASH",
    "TRACKER_AUDIT_SYSLOG_URL",
    "TRACKER_AUDIT_SYSLOG_CA_FILE",
    "TRACKER_AUDIT_RETENTION_DAYS",
    "TRACKER_LOG_FORMAT",
    "TRACKER_DATABASE_PASSWORD",
    "TRACKER_BROKER_PASSWORD",
    "TRACKER_METRICS_ALLOW",
    "TRACKER_METRICS_TOKEN",
    "TRACKER_SENTRY_DSN",
    # Personal data at rest (tracker.pii.keys reads them; a key list, not a single secret, so not in
    # SECRET_VARS, but with the same _FILE convention).
    "TRACKER_PII_CIPHER",
    "TRACKER_PII_KEYS",
    "TRACKER_PII_KEYS_FILE",
    *(f"{name}_FILE" for name in SECRET_VARS),
)

LOG_FORMATS = ("text", "json")


# The setting TRACKER_WORKING_HOURS: when reminders go out (tracker.reminders.schedule), parsed at start.
DEFAULT_WORKING_HOURS_TEXT = "09:00-17:30"


@dataclass(frozen=True)
class WorkingHours:
    """When reminders may go out on a working day: one or more periods, e.g. 08:30–12:00 and 13:30–17:30."""

    periods: tuple[tuple[time, time], ...] = ((time(9, 0), time(17, 30)),)

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """Parse ``HH:MM-HH:MM[,HH:MM-HH:MM…]`` (Asia/Shanghai), periods in order and not overlapping."""
        periods: list[tuple[time, time]] = []
        for part in (text or "").split(","):
            match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*", part)
            start = end = None
            if match:
                h1, m1, h2, m2 = map(int, match.groups())
                if h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60:
                    start, end = time(h1, m1), time(h2, m2)
            if start is None or end is None or start >= end or (periods and start < periods[-1][1]):
                raise ValidationError(
                    f"无效的工作时间 {text!r}（应为 HH:MM-HH:MM，多个时段用逗号分隔且按时间先后，"
                    "如 08:30-12:00,13:30-17:30）",
                    fields={"working_hours": text},
                )
            periods.append((start, end))
        return cls(tuple(periods))

    @property
    def opening(self) -> time:
        return self.periods[0][0]

    def label(self) -> str:
        return ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in self.periods)


def _default_instance_dir() -> Path:
    return Path(os.environ.get("TRACKER_INSTANCE_DIR") or Path.cwd() / "instance")


def _load_or_create_secret(instance_dir: Path) -> str:
    """Generate the secret key into instance/ on first run so sessions survive restarts."""
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _positive_int(
    env: dict[str, str], name: str, default: int, *, least: int = 1, most: int | None = None
) -> int:
    raw = env.get(name) or ""
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < least:
        raise ValueError(f"{name} must be at least {least}, not {value}")
    if most is not None and value > most:
        raise ValueError(f"{name} must be at most {most}, not {value}")
    return value


def parse_trusted_proxies(raw: str | None) -> tuple[str, ...]:
    """`10.0.0.5, 172.18.0.0/16` → the networks, normalised; a typo stops the process at start (a proxy
    silently not trusted would put every client behind one address again)."""
    networks = []
    for item in (raw or "").replace(";", ",").split(","):
        if not item.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ValueError(
                f"TRACKER_TRUSTED_PROXIES: {item.strip()!r} is not an address or network"
            ) from None
    return tuple(networks)


def _roles(env: dict[str, str], name: str, default: str) -> frozenset[str]:
    from tracker.people.models import ROLES

    # Unset or empty: the default (compose passes empty for what the .env file leaves out); "none": no role.
    raw = (env.get(name) or "").strip() or default
    if raw.lower() == "none":
        return frozenset()
    roles = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = roles - set(ROLES)
    if unknown:
        raise ValueError(f"{name}: unknown roles {', '.join(sorted(unknown))}; use {', '.join(ROLES)}")
    return roles


def _role_map(env: dict[str, str], name: str) -> dict[str, str]:
    """'claim-value=role,claim-value=role' → {claim value: local role}."""
    from tracker.people.models import ROLES

    mapping = {}
    for pair in (env.get(name) or "").split(","):
        if not pair.strip():
            continue
        value, sep, role = pair.rpartition("=")
        if not sep or not value.strip() or role.strip() not in ROLES:
            raise ValueError(
                f"{name}: {pair.strip()!r} should be claim-value=role with role one of {', '.join(ROLES)}"
            )
        mapping[value.strip()] = role.strip()
    return mapping


SMTP_TLS_MODES = ("auto", "implicit", "starttls")


def _smtp_tls(env: dict[str, str]) -> str:
    """auto: implicit TLS on port 465 (RFC 8314), else STARTTLS whenever the server offers it (and required
    before a password is sent); implicit / starttls: always that, refusing a server that cannot."""
    mode = (env.get("TRACKER_SMTP_TLS") or "auto").strip().lower()
    if mode not in SMTP_TLS_MODES:
        raise ValueError(f"TRACKER_SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, not {mode!r}")
    return mode


def _existing_file(env: dict[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if raw and not Path(raw).is_file():
        raise ValueError(f"{name} names no readable file: {raw!r}")
    return raw or None


def _secret(env: dict[str, str], name: str) -> str | None:
    """The value of a secret variable, or of the file its NAME_FILE variable names (one trailing newline
    dropped, as `echo` leaves it). An empty file leaves the secret unset, as an empty variable does: the
    compose file names a file for every secret, and an optional feature stays off with an empty one."""
    path = env.get(f"{name}_FILE") or ""
    if path.strip():
        if env.get(name):
            raise ValueError(f"set {name} or {name}_FILE, not both")
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{name}_FILE: cannot read {path!r} ({exc.strerror})") from None
        return value.removesuffix("\n").removesuffix("\r") or None
    return env.get(name) or None


def _with_password(url: str, password: str | None, name: str) -> str:
    """`url` with `password` put in (quoted), so the password itself can come from a secret file."""
    if not password:
        return url
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"{name} needs a URL with a host name to put the password into, not {url!r}")
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _networks(env: dict[str, str], name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in (env.get(name) or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{name}: {item.strip()!r} is not an IP address or network") from None
    return tuple(networks)


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    # The URLs may hold passwords (TRACKER_*_PASSWORD_FILE puts them in): kept out of repr, as secrets are.
    database_url: str = field(repr=False)
    broker_url: str = field(repr=False)
    secret_key: str = field(repr=False)
    end_of_day: str = "24:00"
    working_hours: str = "09:00-17:30"  # when reminders go out on working days (Asia/Shanghai)
    secure_cookies: bool = False
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_sender: str = "tracker@localhost"
    smtp_tls: str = "auto"  # auto | implicit | starttls (see _smtp_tls)
    smtp_ca_file: str | None = None  # CA bundle to verify the server with; the system's when unset
    weibo_api_url: str | None = None
    weibo_access_token: str | None = field(default=None, repr=False)
    # How long the Weibo channel may receive nothing before one `adapter.silent` alert goes out.
    weibo_silence_hours: int = 24
    # Private messages (2/direct_messages.json) exist only on the business host c.api.weibo.com (blue-V
    # accounts); without this URL they are not polled.
    weibo_business_api_url: str | None = None
    # Weibo recommends polling every 3–5 minutes; every endpoint and page is one call of the token's
    # hourly quota (documented per user and app; 150 for an unaudited app).
    weibo_poll_minutes: int = 4
    weibo_hourly_quota: int = 150
    weibo_token_warn_days: int = 7  # warn the office this many days before the access token expires
    hotline_callback_url: str | None = None
    public_url: str = "http://127.0.0.1:5000"
    log_level: str = "INFO"
    # Sign-in sessions (tracker.people.sessions): ended after this long without a request, and this long after
    # sign-in whatever happens.
    session_idle_minutes: int = 30
    session_lifetime_hours: int = 12
    # The reverse proxies whose X-Forwarded-For/-Proto are believed (web.proxies), and how many of them
    # stand in front of the tracker. Empty: nobody's forwarded headers are believed.
    trusted_proxies: tuple[str, ...] = ()
    proxy_hops: int = 1
    # The password policy (tracker.people.passwords) and the second factor (tracker.people.totp).
    password_min_length: int = 12
    password_min_classes: int = 3  # of lower case, upper case, digits, other characters
    password_max_age_days: int = 90  # 0: passwords never expire
    password_history: int = 5  # a new password may not be any of the last N (0: no check)
    totp_required_roles: frozenset[str] = frozenset({"admin"})
    # OpenID Connect sign-in (web/views/oidc.py); off unless the issuer and client are set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_username_claim: str = "preferred_username"
    oidc_role_claim: str | None = None
    oidc_role_map: dict[str, str] = field(default_factory=dict)
    # The audit log (tracker.audit): hash algorithm, syslog forwarding, retention (None: kept for ever).
    audit_hash: str = "sha256"
    audit_syslog_url: str | None = None
    audit_syslog_ca_file: str | None = None
    audit_retention_days: int | None = None

    @property
    def is_oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    log_format: str = "text"  # or "json": one JSON object per line, with the request id
    # /metrics: answered to these addresses (requests not passed on by a proxy) or to the bearer token.
    metrics_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    metrics_token: str | None = field(default=None, repr=False)
    sentry_dsn: str | None = field(default=None, repr=False)  # errors to a Sentry-compatible server
    # The personal-data keys and cipher (tracker.pii): read at start, so a missing or malformed key stops
    # the process before it serves anything. None only for Settings built by hand.
    pii_keyring: Keyring | None = field(default=None, repr=False)

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        instance_dir = Path(env.get("TRACKER_INSTANCE_DIR") or _default_instance_dir()).resolve()
        instance_dir.mkdir(parents=True, exist_ok=True)
        database_url = _with_password(
            env.get("TRACKER_DATABASE_URL") or f"sqlite:///{instance_dir / 'tracker.sqlite'}",
            _secret(env, "TRACKER_DATABASE_PASSWORD"),
            "TRACKER_DATABASE_PASSWORD",
        )
        broker_url = _with_password(
            env.get("TRACKER_BROKER_URL") or f"sqla+sqlite:///{instance_dir / 'broker.sqlite'}",
            _secret(env, "TRACKER_BROKER_PASSWORD"),
            "TRACKER_BROKER_PASSWORD",
        )
        secret_key = _secret(env, "TRACKER_SECRET_KEY") or _load_or_create_secret(instance_dir)
        pii_keyring = load_keyring(env, instance_dir=instance_dir, embedded=database_url.startswith("sqlite"))
        # Parsed here so a mistyped value stops the process at start, not at the first reminder.
        working_hours = WorkingHours.parse(env.get("TRACKER_WORKING_HOURS") or DEFAULT_WORKING_HOURS_TEXT)
        return cls(
            instance_dir=instance_dir,
            database_url=database_url,
            broker_url=broker_url,
            secret_key=secret_key,
            end_of_day=env.get("TRACKER_END_OF_DAY", "24:00"),
            working_hours=working_hours.label(),
            secure_cookies=env.get("TRACKER_SECURE_COOKIES", "").lower() in {"1", "true", "yes"},
            smtp_host=env.get("TRACKER_SMTP_HOST") or None,
            smtp_port=int(env.get("TRACKER_SMTP_PORT") or 25),
            smtp_user=env.get("TRACKER_SMTP_USER") or None,
            smtp_password=_secret(env, "TRACKER_SMTP_PASSWORD"),
            smtp_sender=env.get("TRACKER_SMTP_SENDER") or "tracker@localhost",
            smtp_tls=_smtp_tls(env),
            smtp_ca_file=_existing_file(env, "TRACKER_SMTP_CA_FILE"),
            weibo_api_url=env.get("TRACKER_WEIBO_API_URL") or None,
            weibo_access_token=_secret(env, "TRACKER_WEIBO_ACCESS_TOKEN"),
            weibo_silence_hours=_positive_int(env, "TRACKER_WEIBO_SILENCE_HOURS", 24),
            weibo_business_api_url=env.get("TRACKER_WEIBO_BUSINESS_API_URL") or None,
            weibo_poll_minutes=_positive_int(env, "TRACKER_WEIBO_POLL_MINUTES", 4, least=3, most=60),
            weibo_hourly_quota=_positive_int(env, "TRACKER_WEIBO_HOURLY_QUOTA", 150, least=10),
            weibo_token_warn_days=_positive_int(env, "TRACKER_WEIBO_TOKEN_WARN_DAYS", 7),
            hotline_callback_url=env.get("TRACKER_HOTLINE_CALLBACK_URL") or None,
            public_url=env.get("TRACKER_PUBLIC_URL") or "http://127.0.0.1:5000",
            log_level=env.get("TRACKER_LOG_LEVEL") or "INFO",
            session_idle_minutes=_positive_int(env, "TRACKER_SESSION_IDLE_MINUTES", 30),
            session_lifetime_hours=_positive_int(env, "TRACKER_SESSION_LIFETIME_HOURS", 12),
            trusted_proxies=parse_trusted_proxies(env.get("TRACKER_TRUSTED_PROXIES")),
            proxy_hops=_positive_int(env, "TRACKER_PROXY_HOPS", 1),
            **_auth_settings(env),
            log_format=_choice(env, "TRACKER_LOG_FORMAT", LOG_FORMATS, "text"),
            metrics_allow=_networks(env, "TRACKER_METRICS_ALLOW"),
            metrics_token=_secret(env, "TRACKER_METRICS_TOKEN"),
            sentry_dsn=_secret(env, "TRACKER_SENTRY_DSN"),
            pii_keyring=pii_keyring,
        )

    def install_pii_keys(self) -> None:
        """Make these settings' keyring the process's (tracker.pii.cipher): every entry point does at start."""
        from tracker.pii.cipher import install

        if self.pii_keyring is not None:
            install(self.pii_keyring)


# The values the audit settings may take live with the settings (the base layer), so checking them at
# start imports nothing above it; tracker.audit reads them from here.
AUDIT_HASH_ALGORITHMS = ("sha256", "sm3")
# Six months at the longest (网络安全法 art. 21; tracker/audit/retention.py says why).
MIN_AUDIT_RETENTION_DAYS = 184


@dataclass(frozen=True)
class SyslogTarget:
    host: str
    port: int
    use_tls: bool
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str, ca_file: str | None = None) -> SyslogTarget:
        """tcp://host:port or tls://host:port (6514, RFC 5425, by default)."""
        parts = urlsplit(url)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname:
            raise ValueError(
                f"TRACKER_AUDIT_SYSLOG_URL must be tcp://host:port or tls://host:port, not {url!r}"
            )
        use_tls = parts.scheme == "tls"
        return cls(parts.hostname, parts.port or (6514 if use_tls else 514), use_tls, ca_file)


def _auth_settings(env: dict[str, str]) -> dict:
    """The settings of authentication and the audit log, each checked here so a wrong value stops the
    process at start."""
    audit_hash = (env.get("TRACKER_AUDIT_HASH") or "sha256").lower()
    if audit_hash not in AUDIT_HASH_ALGORITHMS:
        raise ValueError(
            f"TRACKER_AUDIT_HASH must be one of {', '.join(AUDIT_HASH_ALGORITHMS)}, not {audit_hash!r}"
        )
    syslog_url = env.get("TRACKER_AUDIT_SYSLOG_URL") or None
    if syslog_url:
        SyslogTarget.parse(syslog_url)
    retention = None
    if (env.get("TRACKER_AUDIT_RETENTION_DAYS") or "").strip():
        retention = _positive_int(env, "TRACKER_AUDIT_RETENTION_DAYS", 0, least=MIN_AUDIT_RETENTION_DAYS)
    min_classes = _positive_int(env, "TRACKER_PASSWORD_MIN_CLASSES", 3, most=4)  # of four classes
    return dict(
        password_min_length=_positive_int(env, "TRACKER_PASSWORD_MIN_LENGTH", 12, least=8),
        password_min_classes=min_classes,
        password_max_age_days=_positive_int(env, "TRACKER_PASSWORD_MAX_AGE_DAYS", 90, least=0),
        password_history=_positive_int(env, "TRACKER_PASSWORD_HISTORY", 5, least=0),
        totp_required_roles=_roles(env, "TRACKER_TOTP_REQUIRED_ROLES", "admin"),
        oidc_issuer=(env.get("TRACKER_OIDC_ISSUER") or "").rstrip("/") or None,
        oidc_client_id=env.get("TRACKER_OIDC_CLIENT_ID") or None,
        oidc_client_secret=_secret(env, "TRACKER_OIDC_CLIENT_SECRET"),
        oidc_username_claim=env.get("TRACKER_OIDC_USERNAME_CLAIM") or "preferred_username",
        oidc_role_claim=env.get("TRACKER_OIDC_ROLE_CLAIM") or None,
        oidc_role_map=_role_map(env, "TRACKER_OIDC_ROLE_MAP"),
        audit_hash=audit_hash,
        audit_syslog_url=syslog_url,
        audit_syslog_ca_file=env.get("TRACKER_AUDIT_SYSLOG_CA_FILE") or None,
        audit_retention_days=retention,
    )
