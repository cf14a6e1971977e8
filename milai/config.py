"""MILAI_* settings read from the environment (imports nothing of ours but the network guard's types).

The edge (the CLI, `python -m crawler.runner`, crawler/project_settings.py) makes one `Settings()` and
passes it down; nothing keeps a process-wide copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from milai.netguard import Allowlist, TargetPolicy, configured_allowlist


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "milai"


class Settings(BaseSettings):
    """Service configuration; every field maps to a MILAI_<NAME> environment variable."""

    model_config = SettingsConfigDict(env_prefix="MILAI_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    # seconds to wait for a database connection (PostgreSQL) or a lock (both dialects) before failing
    database_timeout: float = Field(30.0, gt=0, le=600)
    sources: Path | None = None  # a catalogue overriding the bundled one (crawler.catalogue.BUNDLED_CATALOGUE)
    # the user's own catalogue beside it (sources added, overridden or disabled by name): <data dir>/sources.yaml
    user_sources: Path | None = None
    smtp_url: str | None = None
    mail_from: str = "MilAI Watch <milai@localhost>"
    smtp_timeout: float = Field(30.0, gt=0, le=600)
    allow_private_webhooks: bool = False
    # trusted private networks / hosts for intranet deployments (crawler, webhooks, Apprise): milai.netguard
    network_allowlist: str = ""
    redis_url: str | None = None
    redis_prefix: str = Field("milai:", min_length=1, max_length=64)  # job queue, workers, locks, leader keys
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    user_agent: str = (
        "MilAIWatch/0.1 (+https://github.com/milai-watch/milai-watch; monitoring public statements on military AI)"
    )
    contact_url: str | None = None
    download_timeout: float = Field(30.0, gt=0, le=600)
    download_maxsize: int = Field(10 * 1024 * 1024, ge=64 * 1024)
    retry_times: int = Field(2, ge=0, le=10)
    concurrent_requests_per_domain: int = Field(2, ge=1, le=32)
    download_delay: float = Field(0.5, ge=0, le=600)
    autothrottle: bool = True
    httpcache: bool = True
    # bounded work per item (crawler.bounds): longer texts/titles are cut, larger pages extracted in part
    max_text_chars: int = Field(200_000, ge=1_000, le=10_000_000)
    max_title_chars: int = Field(1_000, ge=50, le=100_000)
    max_html_bytes: int = Field(2 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    # processes extracting pages beside each crawl process (crawler.pipelines_pool); 0: none, all in the crawl
    # process; unset: one per core (at most 4; 0 on one core), started after a crawl process has extracted 10
    # pages itself, taking over once up or at page 50 (crawler.pipelines_pool.AUTO_AFTER; bench.crawl measures it)
    extract_workers: int | None = Field(None, ge=0, le=32)
    default_schedule: str = "17 */3 * * *"
    # adaptive polling (scheduler.polling) for sources without a `schedule`; off: MILAI_DEFAULT_SCHEDULE for them
    adaptive_polling: bool = True
    poll_min_minutes: float = Field(30.0, ge=1, le=24 * 60)
    poll_max_hours: float = Field(24.0, ge=1, le=24 * 30)
    # a source is "silent" after no new item for this many times its usual publishing interval (storage.health)
    silent_factor: float = Field(4.0, ge=1.0, le=1000.0)
    digest_check_minutes: int = Field(15, ge=1, le=24 * 60)
    subscription_backfill_hours: float = Field(24.0, ge=0, le=24 * 365)
    webhook_timeout: float = Field(10.0, gt=0, le=300)
    webhook_max_failure_days: float = Field(3.0, gt=0, le=365)
    webhook_max_attempts: int = Field(12, ge=1, le=100)
    # the operator channel: source-health changes, one message per digest run (alerts.operator)
    admin_email: str | None = None
    admin_webhook_url: str | None = None
    admin_webhook_secret: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("database_url", "smtp_url", "redis_url", "contact_url", "admin_email", "admin_webhook_url",
                     "admin_webhook_secret")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v or None

    @field_validator("network_allowlist")
    @classmethod
    def _allowlist(cls, v: str) -> str:
        """Entries separated by commas or spaces; each a CIDR network, an IP address or host[:port]."""
        Allowlist.parse(v)  # the one parser
        return ",".join(v.replace(",", " ").split())

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("default_schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        fields = v.split()
        if len(fields) != 5:
            raise ValueError(f"expected a 5-field cron expression (minute hour day month weekday), got {v!r}")
        return v

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {v!r}")
        return v.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'milai.sqlite3'}"

    @property
    def user_sources_path(self) -> Path:
        return self.user_sources or self.data_dir / "sources.yaml"

    @property
    def httpcache_dir(self) -> Path:
        return self.data_dir / "httpcache"

    @property
    def target_policy(self) -> TargetPolicy:
        """What webhook and Apprise targets may be (MILAI_ALLOW_PRIVATE_WEBHOOKS, MILAI_NETWORK_ALLOWLIST)."""
        return TargetPolicy(self.allow_private_webhooks, configured_allowlist(self.network_allowlist))


def describe_errors(exc: ValidationError) -> str:
    """One line per invalid setting, named by its environment variable."""
    lines = []
    for err in exc.errors():
        name = "MILAI_" + "_".join(str(part) for part in err["loc"]).upper()
        given = err.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        lines.append(f"{name}: {err['msg']}{shown}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
