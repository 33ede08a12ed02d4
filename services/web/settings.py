"""Settings of the web app: environment variables ECM_WEB_*."""

from __future__ import annotations

import secrets

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import PLACEHOLDERS, Settings, SettingsError


class WebSettings(BaseSettings):
    """Sign-in (OIDC client), the session cookie and its idle timeout."""

    model_config = SettingsConfigDict(env_prefix="ECM_WEB_", extra="ignore")

    session_secret: str = Field(default="", description="Key of the session cookie.")
    idle_timeout_seconds: int = Field(
        default=30 * 60,
        ge=60,
        le=12 * 3600,
        description="Sign-out after this long without a request.",
    )
    oidc_client_id: str | None = Field(default=None, description="The web app's OIDC client.")
    oidc_client_secret: str | None = Field(default=None, description="Its secret, if any.")
    oidc_scope: str = "openid profile"
    oidc_metadata_url: str | None = Field(
        default=None,
        description="Discovery document; <issuer>/.well-known/openid-configuration when unset.",
    )
    public_base_url: str | None = Field(
        default=None, description="Where the browser reaches the web app (OIDC redirect URI)."
    )


def web_settings(settings: Settings) -> WebSettings:
    """The web settings; in dev mode a session secret is generated once under the data folder."""
    web = WebSettings()
    if web.session_secret.strip().lower() not in PLACEHOLDERS:
        return web
    if not settings.dev_mode:
        raise SettingsError("ECM_WEB_SESSION_SECRET: required outside dev mode")
    path = settings.data_path / "secrets" / "web_session_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return web.model_copy(update={"session_secret": path.read_text().strip()})
