"""Result shapes of the engine's public API (docs/ENGINE_CONTRACT.md).

They keep the spec's Portuguese keys (`success`, `operacao`, `total_processados`,
`para_crm`, ...) because the existing PHP ERP and the REST API answer with them unchanged.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from crmsync.providers.base import RateLimitedError


def rate_limit_of(exc: BaseException) -> tuple[bool, float | None]:
    """(quota exhausted, retry after) of a failure: set by `RateLimitedError`, also when it
    is the cause of a wrapping error (a venda's dependency that could not be pushed)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, RateLimitedError):
            return bool(current.quota_exhausted), current.retry_after
        current = current.__cause__
    return False, None


# The spec's marker for an item whose external id is not known (`?? 'unknown'`).
UNKNOWN_EXTERNAL_ID = "unknown"


@dataclass
class RunOptions:
    """How a run was triggered and whether it may write.

    ``trigger`` lands in ``crm_sync_log.tipo``; ``run_id`` correlates the trigger, the HTTP
    requests and the database writes of one run (generated when not given).
    """

    trigger: str = "manual"
    dry_run: bool = False
    run_id: str | None = None
    actor: str | None = None
    # False: the caller closes a successful push's failed item itself (the push job does, in
    # the transaction it has open anyway), so push_one spends no transaction on it
    close_items: bool = True

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = uuid.uuid4().hex


@dataclass
class PushResult:
    """One record pushed (spec 2.3): what was done and with which external id."""

    success: bool
    operacao: str
    external_id: str | None
    entity_id: int | None
    message: str | None = None
    conflitos: int = 0
    planned: list[dict[str, Any]] = field(default_factory=list)
    # The item was refused by the provider's daily quota (the transport's quota guard or the
    # provider's own answer): not the item's fault, so callers wait instead of counting an
    # attempt. `retry_after`: seconds the provider asked to wait (None: unknown).
    quota_exhausted: bool = False
    retry_after: float | None = None
    # The row does not exist and was never synced (RowGone): nothing to push, now or later.
    gone: bool = False

    def note_exception(self, exc: BaseException) -> None:
        """Copy the structured rate-limit facts of the exception that failed this item."""
        quota, retry_after = rate_limit_of(exc)
        self.quota_exhausted = self.quota_exhausted or quota
        if retry_after is not None:
            self.retry_after = retry_after

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PushSummary:
    """Many records pushed (the spec's `sincronizarTodosParaCrm`), with each item's detail."""

    total: int = 0
    sucessos: int = 0
    erros: int = 0
    ignorados: int = 0
    conflitos: int = 0
    itens: list[PushResult] = field(default_factory=list)
    success: bool = True
    # Items per operation ("link", "create", ...), kept as they are added: the progress bar
    # reads them after every row, and counting the items each time is quadratic in a run.
    por_operacao: Counter[str] = field(default_factory=Counter)

    def add(self, item: PushResult) -> None:
        self.itens.append(item)
        self.total += 1
        self.por_operacao[item.operacao] += 1
        if not item.success:
            self.erros += 1
            self.success = False
        elif item.operacao == "skip":
            self.ignorados += 1
        else:
            self.sucessos += 1
        self.conflitos += item.conflitos

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "total": self.total,
            "sucessos": self.sucessos,
            "erros": self.erros,
            "ignorados": self.ignorados,
            "conflitos": self.conflitos,
            "itens": [i.as_dict() for i in self.itens],
        }


@dataclass
class PullResult:
    """A pull (spec 3.3 plus links, skips, conflicts, deletes and pages)."""

    success: bool = True
    total_processados: int = 0
    total_criados: int = 0
    total_atualizados: int = 0
    total_vinculados: int = 0
    total_ignorados: int = 0
    total_conflitos: int = 0
    total_excluidos: int = 0
    erros: list[dict[str, Any]] = field(default_factory=list)
    paginas: int = 0
    planned: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    # Some item (or a page) was refused by the provider's daily quota. Each such entry of
    # `erros` also carries ``"quota_exhausted": True`` so callers can tell it from a real
    # failure of that item without reading the message. `retry_after`: the longest wait the
    # provider asked for (None: unknown).
    quota_exhausted: bool = False
    retry_after: float | None = None

    def error(self, external_id: str | None, message: str, exc: BaseException | None = None) -> None:
        known = external_id not in (None, "", "?")  # "?": the provider could not read the item's id
        entry: dict[str, Any] = {"external_id": external_id if known else UNKNOWN_EXTERNAL_ID, "erro": message}
        if exc is not None:
            quota, retry_after = rate_limit_of(exc)
            if quota:
                entry["quota_exhausted"] = True
                self.quota_exhausted = True
            if retry_after is not None:
                self.retry_after = max(self.retry_after or 0.0, retry_after)
        self.erros.append(entry)
        self.success = False

    def merge_from(self, other: PullResult) -> None:
        for name in (
            "total_processados",
            "total_criados",
            "total_atualizados",
            "total_vinculados",
            "total_ignorados",
            "total_conflitos",
            "total_excluidos",
            "paginas",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.erros.extend(other.erros)
        self.planned.extend(other.planned)
        self.success = self.success and other.success
        self.quota_exhausted = self.quota_exhausted or other.quota_exhausted
        if other.retry_after is not None:
            self.retry_after = max(self.retry_after or 0.0, other.retry_after)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SyncResult:
    """A bidirectional sync (spec 6.1): push, pull, then the settled-conflicts pass."""

    para_crm: dict[str, Any] = field(default_factory=dict)
    do_crm: dict[str, Any] = field(default_factory=dict)
    conflitos: dict[str, Any] = field(default_factory=dict)
    success: bool = True
    planned: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
