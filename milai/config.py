"""MILAI_* settings read from the environment (imports nothing of ours)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_SOURCES = Path(__file__).resolve().parent.parent / "crawler" / "sources.yaml"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "milai"


class Settings(BaseSettings):
    """Service configuration; every field maps to a MILAI_<NAME> environment variable."""

    model_config = SettingsConfigDict(env_prefix="MILAI_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    sources: Path = BUNDLED_SOURCES
    smtp_url: str | None = None
    mail_from: str = "MilAI Watch <milai@localhost>"
    smtp_timeout: float = 30.0
    allow_private_webhooks: bool = False
    redis_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    user_agent: str = (
        "MilAIWatch/0.1 (+https://github.com/milai-watch/milai-watch; monitoring public statements on military AI)"
    )
    contact_url: str | None = None
    download_timeout: float = 30.0
    download_maxsize: int = 10 * 1024 * 1024
    retry_times: int = 2
    concurrent_requests_per_domain: int = 2
    download_delay: float = 0.5
    autothrottle: bool = True
    httpcache: bool = True
    default_schedule: str = "17 */3 * * *"
    digest_check_minutes: int = 15
    subscription_backfill_hours: float = 24.0
    webhook_timeout: float = 10.0
    webhook_max_failure_days: float = 3.0
    webhook_max_attempts: int = 12
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'milai.sqlite3'}"

    @property
    def httpcache_dir(self) -> Path:
        return self.data_dir / "httpcache"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    get_settings.cache_clear()
