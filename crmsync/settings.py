"""Runtime settings.

Every default runs as it is (a SQLite file in the working directory, a SQLite queue beside
it, a generated secret key), so `pip install` then `crmsync serve` works with nothing else.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration read from `CRMSYNC_*` environment variables or a `.env` file."""

    model_config = SettingsConfigDict(env_prefix="CRMSYNC_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path.cwd())
    database_url: str = ""
    # The ERP's database, when crmsync is attached to an ERP through a schema map and keeps
    # its own crm_* tables elsewhere ("" = the same database as database_url).
    erp_database_url: str = ""
    # Path of the schema map (YAML) of the ERP's tables ("" = crmsync's built-in tables).
    schema_map: str = ""
    queue_url: str = ""
    secret_key: str = ""
    admin_token: str = ""
    log_level: str = "INFO"
    log_json: bool = False
    # Share of the provider's daily quota kept for the company's other apps (0..1).
    quota_reserve_share: float = 0.1
    # Where the shared rate limiter keeps its buckets ("" = SQLite beside the database).
    ratelimit_url: str = ""
    http_timeout_seconds: float = 10.0

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'crmsync.db').as_posix()}"

    def resolved_erp_database_url(self) -> str:
        return self.erp_database_url or self.resolved_database_url()

    def resolved_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{(self.data_dir / 'crmsync-queue.db').as_posix()}"

    def resolved_ratelimit_url(self) -> str:
        if self.ratelimit_url:
            return self.ratelimit_url
        if self.queue_url.startswith("redis://"):
            return self.queue_url
        return f"sqlite:///{(self.data_dir / 'crmsync-ratelimit.db').as_posix()}"

    def resolved_secret_key(self) -> str:
        """Return the Fernet key; generate and keep it (0600) on first run when unset.

        Losing the key makes stored provider credentials unreadable, so it is written once
        and never regenerated while the file exists.
        """
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / ".crmsync_secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        key = Fernet.generate_key().decode()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests and the CLI change environment variables at run time; forget the cached copy."""
    get_settings.cache_clear()


def new_api_key() -> str:
    return "crm_" + secrets.token_urlsafe(24)
