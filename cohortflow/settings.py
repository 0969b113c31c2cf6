"""Configuration from the environment (pydantic-settings).

``DATABASE_URL`` and ``TEMPORAL_ADDRESS`` point the same code at an external
PostgreSQL and Temporal cluster; when unset, ``cohortflow up`` starts the
embedded default under ``COHORTFLOW_STATE_DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    uploads_dir: Path | None = None
    """Uploaded import files, shared by the API and the workers; defaults to ``state_dir/uploads``."""
    max_upload_bytes: int = 64 * 1024 * 1024
    api_pool_size: int = 10
    projection_interval: float = 0.25
    """Seconds between the API's passes over new events into the read models."""

    @property
    def uploads(self) -> Path:
        return (self.uploads_dir or self.state_dir / "uploads").resolve()
