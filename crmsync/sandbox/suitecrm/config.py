"""Configuration of the SuiteCRM sandbox.

A plain dataclass like the GestãoClick sandbox's, so tests build one in a line and the harness
applies ``**overrides`` with :func:`dataclasses.replace`. Defaults follow a stock SuiteCRM 7
install: one-hour tokens, no rate limit, ``date_modified`` shown without seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmsync.sandbox.config import CompanyCredentials, SandboxConfig

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "sandbox-password"
# Custom fields a Brazilian installation typically adds (studio fields end in ``_c``).
DEFAULT_CUSTOM_FIELDS: dict[str, list[str]] = {"Contacts": ["cpf_c"], "Accounts": ["cnpj_c"]}
SERVED_MODULES = ("Contacts", "Accounts", "AOS_Products")
# What a fault draw may pick. ``http_429``/``http_503`` stand for a proxy in front of SuiteCRM.
SUITE_FAULT_KINDS = ("http_500", "slow", "drop", "lost_answer", "http_429", "http_503")


@dataclass
class SuiteCrmSandboxConfig:
    """Every knob of the SuiteCRM sandbox."""

    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    username: str = DEFAULT_USERNAME  # password grant
    password: str = DEFAULT_PASSWORD
    token_ttl_seconds: float = 3600.0
    custom_fields: dict[str, list[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_CUSTOM_FIELDS.items()}
    )
    # The API user's time format: SuiteCRM's default shows no seconds, so stamps are cut to the minute.
    stamp_seconds: bool = False
    # Ties on the sort column come back in an order that changes whenever data changes (as MySQL
    # may with ORDER BY on a non-unique column plus LIMIT); False = ties ordered by id.
    unstable_ties: bool = True
    rate_limit: float = 0.0  # requests per second (a pace a proxy enforces); 0 = none, as SuiteCRM
    retry_after_seconds: int = 1  # for injected 429/503
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = SUITE_FAULT_KINDS
    slow_seconds: float = 3.0
    clock_offset_seconds: float = 0.0
    seed: int | None = None
    seed_records: dict[str, int] | int | None = None  # int = that many Contacts, Accounts and products
    db_path: str | None = None  # SQLite file; None = in memory
    request_log_size: int = 100_000
    # Attributes (``email1``, ``phone_work``...) a PATCH through the API answers with 201 but
    # does not store: what tests of verified writes use. Panel edits store them.
    ignore_on_update: tuple[str, ...] = ()

    def validate(self) -> None:
        """Fail early on nonsense values rather than misbehaving at request time."""
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("fault_rate must be within [0, 1]")
        if self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0")
        if self.token_ttl_seconds <= 0:
            raise ValueError("token_ttl_seconds must be > 0")
        if self.slow_seconds < 0:
            raise ValueError("slow_seconds must be >= 0")
        if not self.client_id or not self.client_secret:
            raise ValueError("client_id and client_secret must not be empty")
        unknown = [k for k in self.fault_kinds if k not in SUITE_FAULT_KINDS]
        if unknown or not self.fault_kinds:
            raise ValueError(f"fault_kinds must be a non-empty subset of {', '.join(SUITE_FAULT_KINDS)}")
        for module, names in self.custom_fields.items():
            if module not in SERVED_MODULES:
                raise ValueError(f"custom fields for {module}: the sandbox serves {', '.join(SERVED_MODULES)}")
            for name in names:
                if not name.isidentifier():
                    raise ValueError(f"custom field {name!r} of {module} is not a field name")

    def traffic_config(self) -> SandboxConfig:
        """The GestãoClick sandbox's traffic settings, to reuse its limiter, counters and request log.

        One "company" named after the OAuth client; no daily quota (SuiteCRM has none).
        """
        return SandboxConfig(
            companies=[CompanyCredentials(self.client_id, "", self.client_id)],
            rate_limit=self.rate_limit,
            daily_quota=0,
            fault_rate=self.fault_rate,
            slow_seconds=self.slow_seconds,
            seed=self.seed,
            request_log_size=self.request_log_size,
        )


def parse_custom_fields(text: str) -> dict[str, list[str]]:
    """``"Contacts:cpf_c,rg_c;Accounts:cnpj_c"`` (the CLI's spelling) -> ``{"Contacts": [...], ...}``."""
    out: dict[str, list[str]] = {}
    for group in filter(None, (g.strip() for g in text.split(";"))):
        module, sep, names = group.partition(":")
        if not sep or not module.strip():
            raise ValueError(f"custom fields {group!r}: write Module:field_c,other_c")
        out[module.strip()] = [n.strip() for n in names.split(",") if n.strip()]
    return out
