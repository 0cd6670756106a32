"""Configuration of the GestãoClick sandbox.

A plain dataclass (not pydantic settings) so tests can build one in a line and the harness can
apply ``**overrides`` with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_ACCESS_TOKEN = "sandbox-access-token"
DEFAULT_SECRET_ACCESS_TOKEN = "sandbox-secret-token"


@dataclass(frozen=True)
class CompanyCredentials:
    """One credential pair = one GestãoClick company: its own rate-limit window, daily quota
    and data, as on the real service, where the tokens identify the company.

    ``name`` is what stats show; the tokens themselves are never reported.
    """

    access_token: str
    secret_access_token: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> CompanyCredentials:
        """``name:access-token:secret-access-token`` (the CLI's ``--company``)."""
        parts = text.split(":")
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise ValueError("empresa deve ser NOME:ACCESS_TOKEN:SECRET_ACCESS_TOKEN")
        name, access, secret = (p.strip() for p in parts)
        return cls(access, secret, name)


def numbered_companies(count: int, prefix: str = "empresa") -> list[CompanyCredentials]:
    """``count`` companies ``empresa-1``... with tokens ``sandbox-access-token-1``...
    (benchmarks and demos with many stores, each with its own company)."""
    return [
        CompanyCredentials(f"{DEFAULT_ACCESS_TOKEN}-{i}", f"{DEFAULT_SECRET_ACCESS_TOKEN}-{i}", f"{prefix}-{i}")
        for i in range(1, count + 1)
    ]


@dataclass
class SandboxConfig:
    """Every knob of the sandbox. Defaults mirror the documented limits of the real API."""

    access_token: str = DEFAULT_ACCESS_TOKEN
    secret_access_token: str = DEFAULT_SECRET_ACCESS_TOKEN
    # Extra companies; when empty the single (access_token, secret_access_token) pair is used.
    # When given, the default pair is still accepted only if it is listed here too.
    companies: list[CompanyCredentials] = field(default_factory=list)
    rate_limit: float = 3.0  # requests per second per company; 0 = off
    daily_quota: int = 30000  # requests per company per America/Sao_Paulo day; 0 = off
    retry_after_header: bool = True
    clock_offset_seconds: float = 0.0
    fault_rate: float = 0.0
    slow_seconds: float = 3.0
    seed: int | None = None
    seed_records: dict[str, int] | int | None = None
    db_path: str | None = None  # SQLite file; None = in memory
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_max_attempts: int = 4
    webhook_backoff_seconds: float = 0.5
    request_log_size: int = 100_000
    # API field names (``email``, ``telefone``...) an update through the API answers with
    # success but does not store, as real CRMs sometimes do (SuiteCRM 7.14 and ``email1``):
    # what tests of verified writes use. Panel edits store them.
    ignore_on_update: tuple[str, ...] = ()

    def company_list(self) -> list[CompanyCredentials]:
        """The effective companies, each with a non-empty display name."""
        raw = self.companies or [CompanyCredentials(self.access_token, self.secret_access_token, "empresa-1")]
        out: list[CompanyCredentials] = []
        for i, c in enumerate(raw, start=1):
            out.append(c if c.name else CompanyCredentials(c.access_token, c.secret_access_token, f"empresa-{i}"))
        return out

    def validate(self) -> None:
        """Fail early on nonsense values rather than misbehaving at request time."""
        companies = self.company_list()
        if len({c.name for c in companies}) != len(companies):
            raise ValueError("company names must be unique")
        if len({(c.access_token, c.secret_access_token) for c in companies}) != len(companies):
            raise ValueError("company tokens must be unique")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be within [0, 1]")
        if self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0")
        if self.daily_quota < 0:
            raise ValueError("daily_quota must be >= 0")
        if self.slow_seconds < 0:
            raise ValueError("slow_seconds must be >= 0")
