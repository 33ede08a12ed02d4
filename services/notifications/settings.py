"""Channel configuration of the notifications service: environment variables ECM_NOTIFY_*."""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Self
from uuid import UUID

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import PLACEHOLDERS, Settings

_NOTIFY_KEY = re.compile(r"^.+-([0-9a-f-]{36})-([0-9a-f-]{36})$")


class NotifySettings(BaseSettings):
    """How notices reach partners: SMTP, signed webhooks, GOV.UK Notify, and retry timing."""

    model_config = SettingsConfigDict(env_prefix="ECM_NOTIFY_", extra="ignore")

    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base of the link back in every notice (base URL + /notices/<id>).",
    )
    partner_link_secret: str = Field(
        default="",
        description="Signs the link in every notice (bound to the notice and its "
        "contact, expiring); generated in dev mode; unsigned links without it.",
    )
    team_contact: str = Field(
        default="ecm-team@example.org",
        min_length=3,
        description="Who partners contact about a notice (the ECM team's address).",
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "ecm-notices@example.org"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool | None = Field(
        default=None, description="STARTTLS: None uses it when the server offers it."
    )
    smtp_use_tls: bool = Field(default=False, description="Implicit TLS (port 465).")
    webhook_secret: str = Field(
        default="", description="Global HMAC-SHA256 key for webhooks without their own."
    )
    webhook_shared_secret_allowed: bool = Field(
        default=False,
        description="Sign webhooks of contacts without a key of their own with "
        "webhook_secret (on in dev mode only: in production every partner has their own).",
    )
    webhook_allowed_networks: list[str] = Field(
        default=[],
        description="Networks (CIDR) an on-premise partner's webhook may resolve "
        "to although they are not public; every other private, loopback, link-local or "
        "metadata address is refused at send time.",
    )
    webhook_require_https: bool = Field(
        default=True, description="Refuse plain-http webhooks to public addresses."
    )
    govuk_api_key: str | None = Field(
        default=None, description="GOV.UK Notify API key: name-serviceid-secret."
    )
    govuk_base_url: str = "https://api.notifications.service.gov.uk"
    govuk_template_id: str | None = Field(
        default=None,
        description="Notify email template with ((what)), ((when)), ((where)), "
        "((contact)), ((link)) and ((reference)).",
    )
    poll_seconds: float = Field(default=2.0, gt=0, description="How often delivery looks.")
    batch_size: int = Field(default=20, ge=1, le=500)
    concurrency: int = Field(default=4, ge=1, le=64)
    send_timeout_seconds: float = Field(default=30.0, gt=0)
    lease_seconds: float = Field(
        default=300.0, gt=0, description="A worker's claim on a notice while sending it."
    )
    max_attempts: int = Field(
        default=6, ge=1, description="Automatic attempts before a notice waits for an operator."
    )
    backoff_seconds: list[float] = Field(default=[30.0, 120.0, 600.0, 1800.0, 3600.0])

    @field_validator("partner_link_secret")
    @classmethod
    def _link_secret_strength(cls, value: str) -> str:
        if value and value.strip().lower() not in PLACEHOLDERS and len(value) < 32:
            raise ValueError("must be at least 32 characters (it signs every partner link)")
        return value

    @field_validator("govuk_api_key")
    @classmethod
    def _notify_key_format(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        match = _NOTIFY_KEY.match(value)
        if match is None:
            raise ValueError("must look like name-<service id uuid>-<secret uuid>")
        for part in match.groups():
            UUID(part)
        return value

    @field_validator("govuk_template_id")
    @classmethod
    def _template_is_uuid(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return str(UUID(value))

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP network (e.g. 10.1.2.0/24)") from None
        return value

    @field_validator("backoff_seconds")
    @classmethod
    def _backoff_positive(cls, value: list[float]) -> list[float]:
        if any(step < 0 for step in value):
            raise ValueError("steps must not be negative")
        return value

    @model_validator(mode="after")
    def _base_url_without_trailing_slash(self) -> Self:
        self.public_base_url = self.public_base_url.rstrip("/")
        return self

    @property
    def has_webhook_secret(self) -> bool:
        """True when a usable global webhook secret is configured."""
        return self.webhook_secret.strip().lower() not in PLACEHOLDERS


def settings_from_env(settings: Settings) -> NotifySettings:
    """Channel settings from the environment; in dev mode a webhook secret is generated once."""
    notify = NotifySettings()
    if settings.dev_mode and not notify.has_webhook_secret:
        path = settings.data_path / "secrets" / "notify_webhook_secret"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        notify = notify.model_copy(update={"webhook_secret": path.read_text().strip()})
    if settings.dev_mode and notify.partner_link_secret.strip().lower() in PLACEHOLDERS:
        path = settings.data_path / "secrets" / "partner_link_secret"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        notify = notify.model_copy(update={"partner_link_secret": path.read_text().strip()})
    if settings.dev_mode:
        notify = notify.model_copy(update={"webhook_shared_secret_allowed": True})
    if settings.dev_mode and not notify.webhook_allowed_networks:
        # A developer's own receiver on this machine; never a default outside dev mode.
        notify = notify.model_copy(update={"webhook_allowed_networks": ["127.0.0.0/8", "::1/128"]})
    return notify
