"""Runtime settings.

Every default runs as it is (a SQLite file in the working directory, a SQLite queue beside
it, a generated secret key), so `pip install` then `crmsync serve` works with nothing else.
"""

from __future__ import annotations

import contextlib
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
    # How long a SQLite write waits for another writer's lock before the request answers
    # 503 with Retry-After (a test lowers it to see that answer without waiting 30 s).
    sqlite_busy_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Whole-answer bounds of one request to a CRM: connect plus every read within the
    # deadline, and no answer larger than the cap (a CRM page of 100 records is ~200 KB).
    http_deadline_seconds: float = 60.0
    http_max_answer_bytes: int = 16 * 1024 * 1024
    # Retention (days; 0 keeps forever) of processed webhook deliveries and of the sync log.
    webhook_retention_days: int = 30
    sync_log_retention_days: int = 90
    # Hours a manual job's record (GET /api/crm/jobs/{id}) is kept after its last change.
    job_record_retention_hours: float = Field(default=72.0, gt=0)
    # API admission (issue #20): at most `api_concurrency` requests are being worked on at
    # once per `serve` process; a request past that waits up to `api_queue_wait_seconds` for
    # a turn, then answers 503 with Retry-After. The database pool is sized from the same
    # number (`db_pool_size` 0 = api_concurrency + 10 for the embedded worker and scheduler),
    # so an admitted request never waits on the pool.
    api_concurrency: int = Field(default=32, ge=1, le=1000)
    api_queue_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    db_pool_size: int = Field(default=0, ge=0, le=2000)
    # Past the pool (only with a pool smaller than the load): wait this long, then 503.
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # How long a `serve` process reuses a store key's look-up (0 = look it up on every
    # request). A rotation or revocation through the same process applies at once; through
    # another process (a CLI command, another `--workers` process) within these seconds.
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    # A CRM's base URL in link-local space (169.254.0.0/16, fe80::/10: cloud metadata) is
    # refused unless this is true (crmsync.services.crm_address); loopback is always allowed.
    allow_link_local_crm: bool = False
    # Bearer token of GET /metrics ("" = open, as before; see also `crmsync serve --metrics-port`).
    metrics_token: str = ""
    # `crmsync serve --metrics-port`: /metrics only on this port (0 = on the API's port, as
    # before) and address, so the scraper's network need not reach the API's.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    def resolved_db_pool_size(self) -> int:
        return self.db_pool_size or self.api_concurrency + 10

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
        if not key_file.exists():
            _publish_once(key_file, Fernet.generate_key().decode())
        return key_file.read_text().strip()


def _publish_once(target: Path, content: str) -> None:
    """Write `content` to `target` unless it exists, atomically and once: the content goes to
    a private temporary file first, then is hard-linked into place, which fails if another
    process got there first. So two processes starting together both end up reading the one
    key that won, never an empty or half-written file, and never overwrite it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, target)
    finally:
        temp.unlink(missing_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests and the CLI change environment variables at run time; forget the cached copy."""
    get_settings.cache_clear()


def new_api_key() -> str:
    return "crm_" + secrets.token_urlsafe(24)
