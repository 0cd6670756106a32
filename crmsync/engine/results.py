"""Result shapes of the engine's public API (docs/ENGINE_CONTRACT.md).

They keep the spec's Portuguese keys (`success`, `operacao`, `total_processados`,
`para_crm`, ...) because the existing PHP ERP and the REST API answer with them unchanged.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any


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

    def add(self, item: PushResult) -> None:
        self.itens.append(item)
        self.total += 1
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

    def error(self, external_id: str | None, message: str) -> None:
        self.erros.append({"external_id": external_id or "unknown", "erro": message})
        self.success = False

    def merge_from(self, other: PullResult) -> None:
        for name in ("total_processados", "total_criados", "total_atualizados", "total_vinculados",
                     "total_ignorados", "total_conflitos", "total_excluidos", "paginas"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.erros.extend(other.erros)
        self.planned.extend(other.planned)
        self.success = self.success and other.success

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
