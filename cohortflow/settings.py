"""Configuration from the environment (pydantic-settings).

``DATABASE_URL`` and ``TEMPORAL_ADDRESS`` point the same code at an external
PostgreSQL and Temporal cluster; when unset, ``cohortflow up`` starts the
embedded default under ``COHORTFLOW_STATE_DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cohortflow.domain.phrases import phrase


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COHORTFLOW_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL"))
    temporal_address: str | None = Field(default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS"))
    temporal_namespace: str = "default"
    task_queue: str = "cohortflow"
    state_dir: Path = Path("state")
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_format: Literal["console", "json"] = "console"
    log_level: str = "info"
    temporal_metrics_address: str | None = Field(default=None, pattern=r"^(\[[0-9A-Fa-f:]+\]|[^\s:\[\]]+):[0-9]{1,5}$")
    """``host:port`` where a worker serves the Temporal SDK's metrics for Prometheus (``/metrics``); unset, none."""
    otlp_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        validation_alias=AliasChoices("COHORTFLOW_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    """The OpenTelemetry collector's OTLP/HTTP base address (``http://collector:4318``): traces are sent there."""
    uploads_dir: Path | None = None
    """Uploaded import files, shared by the API and the workers; defaults to ``state_dir/uploads``."""
    max_upload_bytes: int = 64 * 1024 * 1024
    """The largest import file (a multipart upload) the API takes."""
    rejects_keep_days: float = Field(default=7.0, gt=0)
    """Days an import's rejected rows are kept for download; then they are deleted (at the next import)."""
    max_body_bytes: int = 1024 * 1024
    """The largest other request body (a command, a template): refused by its length before it is read."""
    api_pool_size: int = 10
    api_database_wait: float = 2.0
    """Seconds a request waits for a database connection before it is answered 503 with Retry-After."""
    projection_interval: float = 0.25
    """Seconds between the API's passes over new events into the read models."""
    sign_in_failures: int = Field(default=10, ge=1)
    """Failed sign-ins (no token, a malformed, unknown or revoked one) one client address may make per window."""
    sign_in_window: float = Field(default=60.0, gt=0)
    """Seconds of that window; an address past the limit is answered 429 until its oldest failure is this old."""
    console_session_minutes: int = Field(default=480, ge=1)
    """How long a console sign-in lasts; a form sent from an expired session is refused and signs in again."""
    console_secret_key: SecretStr | None = Field(default=None, min_length=32)
    """Signs the console's short-lived cookie holding an identity provider sign-in's state; every API process must
    have the same. Unset, a key kept in ``state_dir/console-secret-key`` (made at the first start) is used."""

    # Signing in to the console through the province's OpenID Connect provider: off while the issuer is unset.
    oidc_issuer: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """The provider's issuer; its discovery document is read from ``{issuer}/.well-known/openid-configuration``."""
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_account_claim: str = "preferred_username"
    """The ID token's claim naming the console account the person signs in as."""
    oidc_scope: str = "openid profile"
    oidc_display_name: str | None = None
    """The provider's name on the sign-in page's button; unset, it reads "the province's identity provider"."""

    # Reminder delivery (cohortflow reminder dispatch; `cohortflow up` runs it when a channel is configured).
    smtp_host: str | None = None
    """The SMTP relay; without it (and without a webhook) no dispatcher runs, and email reminders wait."""
    smtp_port: int = 25
    smtp_from: str = "cohortflow@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = False
    """TLS from the first byte (SMTPS, usually port 465); otherwise STARTTLS is used when the server offers it."""
    smtp_connections: int = 8
    """SMTP connections kept open and used concurrently."""
    email_rate: float = 500.0
    """Emails handed to the relay per second, at most."""
    webhook_url: str | None = None
    webhook_secret: str | None = None
    """Shared secret of the webhook's HMAC-SHA256 signature; required with ``webhook_url``."""
    webhook_rate: float = 50.0
    webhook_connections: int = 4
    dispatch_batch: int = 200
    """Messages claimed at a time."""
    dispatch_interval: float = 1.0
    """Seconds between looks at the outbox when nothing was due."""
    dispatch_lease_seconds: float = 60.0
    """How long a claim holds; a dispatcher killed mid-send leaves its messages to others after this."""
    max_attempts: int = 8
    retry_base_seconds: float = 60.0
    retry_cap_seconds: float = 3600.0

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer is not None and (self.oidc_client_id is None or self.oidc_client_secret is None):
            raise ValueError(
                phrase("COHORTFLOW_OIDC_ISSUER needs COHORTFLOW_OIDC_CLIENT_ID and COHORTFLOW_OIDC_CLIENT_SECRET")
            )
        if self.oidc_issuer is not None and "openid" not in self.oidc_scope.split():
            raise ValueError(phrase("COHORTFLOW_OIDC_SCOPE needs openid: the account is named by the ID token"))
        return self

    @property
    def uploads(self) -> Path:
        return (self.uploads_dir or self.state_dir / "uploads").resolve()
