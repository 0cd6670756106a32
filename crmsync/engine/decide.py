"""The push's decision, pure (#18 "decide, then apply").

What a push knows of one record is gathered first (:class:`PushState`: the local row, its
link and merge base, and what is known of the CRM's side: the linked record, or the record
holding the row's unique keys, or that it is gone); :func:`decide_push` then says what to do
with it (:class:`PushDecision`: link, create, update the CRM, delete, conflict or skip, with
the fields and why), with no I/O. One staged step applies a decision
(:mod:`crmsync.engine.push_apply`); a dry run only reports it (:func:`plan_entries`), so its
plan is by construction what the real run would apply.

The merge of a linked record is the three-way merge of :mod:`crmsync.merge`; its log row
(:func:`merge_log`) is shared by the apply step and the dry run's report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmsync.engine.links import ACTIVE_STATUSES
from crmsync.merge import MergeContext, MergeResult, three_way_merge
from crmsync.providers.base import RemoteRecord

__all__ = [
    "NO_BASE",
    "PushDecision",
    "PushState",
    "decide_push",
    "describe_merge",
    "fields_to_send",
    "merge_records",
    "plan_entries",
    "push_log",
    "remote_delete_log",
]

# Stand-in base of a field in a pending conflict that has no agreed base (raised when a link
# was made by matching). Without it the merge's "a filled value fills an empty one" rule,
# meant for the moment of linking, would settle such a conflict by itself as soon as one
# side cleared the field. Equal to no real value, so both sides count as changed and the
# field's policy decides again; never stored.
NO_BASE: dict[str, str] = {"__sem_base__": "conflito pendente"}

SKIP_READ_ONLY = "entidade somente leitura (direção pull)"
SKIP_INACTIVE = "registro excluído ou com exclusão pendente de decisão"
SKIP_DELETED = "excluído localmente; nada a propagar"
SKIP_DELETE_IGNORED = "excluído localmente; política: ignorar"
AFTER_DEPENDENCIES = "após criar as dependências da venda"
FOUND_BY_KEY = "já existia no CRM (mesma chave única)"
DELETE_PENDING = "excluído localmente; aguardando decisão"


def merge_records(
    base: Mapping[str, Any] | None,
    local: Mapping[str, Any],
    remote: Mapping[str, Any],
    policy: Callable[[str], Any],
    ctx: MergeContext,
) -> MergeResult:
    """The three-way merge of a linked record; the :data:`NO_BASE` stand-ins never become a base."""
    result = three_way_merge(base, dict(local), dict(remote), policy, ctx)
    result.new_base = {k: v for k, v in result.new_base.items() if v is not NO_BASE}
    return result


def fields_to_send(result: MergeResult, local_ext: Mapping[str, Any]) -> dict[str, Any]:
    """What a merge writes to the CRM: its changed fields, or the whole merged record when
    `tipo_pessoa` changes (a person turned company may become another kind of record, as a
    SuiteCRM Contact becomes an Account, which needs every field, not only the changed ones)."""
    if "tipo_pessoa" not in result.to_external:
        return dict(result.to_external)
    kept = {k: v for k, v in local_ext.items() if k not in result.conflicts}
    return {**kept, **result.to_local, **result.to_external}


def describe_merge(result: MergeResult) -> str | None:
    """A merge's log message: which fields went where, which are in conflict."""
    parts = []
    if result.to_external:
        parts.append("para o CRM: " + ", ".join(sorted(result.to_external)))
    if result.to_local:
        parts.append("para o local: " + ", ".join(sorted(result.to_local)))
    if result.conflicts:
        parts.append("conflito em: " + ", ".join(sorted(result.conflicts)))
    return "; ".join(parts) or None


def merge_operation(result: MergeResult) -> str:
    """update | conflict | skip: what a merge does, before any write is checked."""
    if result.conflicts:
        return "conflict"
    return "update" if result.to_external or result.to_local else "skip"


@dataclass
class PushState:
    """What a push knows of one record before deciding: read in a short transaction, and
    the CRM's side read with none open.

    ``remote``: for a linked row, the CRM's record (``remote_gone``: the CRM answered that it
    no longer exists); for an unlinked live row, the record holding its unique keys (from
    the first attach's listing or one look-up), None when none does. ``unresolved``: the
    row's references have no link yet (a venda whose cliente a dry run only planned)."""

    entity_type: str
    entity_id: int
    deleted: bool
    link_status: str | None
    link_external_id: str | None
    direction: str
    delete_remoto: str
    delete_local: str
    seen: tuple[Any, ...] = ()
    local_ext: dict[str, Any] | None = None
    unresolved: Exception | None = None
    base: dict[str, Any] | None = None
    remote: RemoteRecord | None = None
    remote_gone: bool = False
    ours: bool = False  # the record found is the one a lost create of ours made (its intent matches)
    intent: dict[str, Any] | None = None  # what a create of ours whose answer was lost sent
    local_modified_at: datetime | None = None
    policy: Callable[[str], Any] | None = None
    ctx: MergeContext | None = None

    @property
    def live(self) -> bool:
        """A row to merge or create (not deleted, not read-only, its link active if any)."""
        return self.direction != "pull" and not self.deleted and (not self.linked or self.active)

    @property
    def linked(self) -> bool:
        return self.link_status is not None

    @property
    def active(self) -> bool:
        return self.link_status in ACTIVE_STATUSES

    @property
    def external_id(self) -> str | None:
        if self.link_external_id is not None:
            return self.link_external_id
        return self.remote.external_id if self.remote is not None else None


@dataclass
class PushDecision:
    """What to do with one record.

    action: ``skip`` | ``create`` | ``link`` (then the merge with the record found) |
    ``merge`` (update either side, or a conflict, or nothing) | ``delete`` | ``deactivate``
    (a local delete propagated) | ``delete_conflict`` | ``ignore_delete`` (a local delete
    the policy keeps from the CRM) | ``remote_gone`` (the CRM's record no longer exists).
    ``send``: what the CRM is sent (a create's record, a merge's changed fields)."""

    action: str
    why: str | None = None
    send: dict[str, Any] = field(default_factory=dict)
    merge: MergeResult | None = None


def decide_push(state: PushState) -> PushDecision:
    """The decision for one record, from its gathered state alone (no I/O)."""
    if state.direction == "pull":
        return PushDecision("skip", SKIP_READ_ONLY)
    if state.deleted:
        if not state.active:
            return PushDecision("skip", SKIP_DELETED)
        if state.delete_remoto == "ignore":
            return PushDecision("ignore_delete", SKIP_DELETE_IGNORED)
        if state.delete_remoto == "conflict":
            return PushDecision("delete_conflict", DELETE_PENDING)
        return PushDecision("delete" if state.delete_remoto == "delete" else "deactivate", "excluído localmente")
    if state.linked and not state.active:
        return PushDecision("skip", SKIP_INACTIVE)
    if state.unresolved is not None or state.local_ext is None:
        return PushDecision("merge" if state.linked else "create", AFTER_DEPENDENCIES)
    if state.linked and state.remote_gone:
        return PushDecision("remote_gone", "registro excluído no CRM")
    if state.remote is None:
        return PushDecision("create", send=dict(state.local_ext))
    assert state.policy is not None and state.ctx is not None
    merge = merge_records(state.base, state.local_ext, state.remote.data, state.policy, state.ctx)
    send = fields_to_send(merge, state.local_ext) if merge.to_external else {}
    if not state.linked:
        return PushDecision("link", FOUND_BY_KEY, send=send, merge=merge)
    return PushDecision("merge", describe_merge(merge), send=send, merge=merge)


def plan_entries(state: PushState, decision: PushDecision) -> list[dict[str, Any]]:
    """The writes a decision makes, as a dry run lists them (``lado``: externo, local or
    vinculo)."""

    def entry(lado: str, operacao: str, campos: Mapping[str, Any] | None = None, motivo: str | None = None) -> Any:
        out = {
            "lado": lado,
            "operacao": operacao,
            "entity_type": state.entity_type,
            "entity_id": state.entity_id,
            "external_id": None if operacao == "create" else state.external_id,
            "campos": dict(campos or {}),
        }
        if motivo:
            out["motivo"] = motivo
        return out

    action = decision.action
    if action == "create":
        return [entry("externo", "create", decision.send, decision.why)]
    if action in ("delete", "deactivate"):
        return [entry("externo", action)]
    if action == "remote_gone":
        keeps = state.delete_local in ("ignore", "conflict")
        return [] if keeps else [entry("local", "delete", motivo="excluído no CRM")]
    out = [entry("vinculo", "link", motivo=FOUND_BY_KEY)] if action == "link" else []
    if decision.merge is not None:
        if decision.merge.to_external:
            out.append(entry("externo", "update", decision.merge.to_external))
        if decision.merge.to_local:
            out.append(entry("local", "update", decision.merge.to_local))
    elif action == "merge":
        out.append(entry("externo", "update", motivo=decision.why))
    return out


def remote_delete_log(policy: str) -> dict[str, str]:
    """The log row of a record gone from the CRM, by the entity's ``delete_local`` policy
    (``direcao`` only where it is not the caller's own): keep the local row, ask a person,
    or delete it locally too."""
    if policy == "ignore":
        return {"operacao": "skip", "status": "ignorado", "mensagem": "excluído no CRM; política: ignorar"}
    if policy == "conflict":
        return {
            "direcao": "conflito",
            "operacao": "conflict",
            "status": "conflito",
            "mensagem": "excluído no CRM; aguardando decisão",
        }
    return {"operacao": "delete", "status": "sucesso", "mensagem": "excluído no CRM"}


def push_log(state: PushState, decision: PushDecision, operacao: str | None = None) -> dict[str, Any]:
    """The log row of a decision that is not a merge (a merge's is written by the reconcile
    that applies it), for the apply step and the dry run's report alike. ``operacao``: what
    was done when the CRM answered otherwise (a deactivate of a record already gone)."""
    row: dict[str, Any] = {
        "direcao": "push",
        "entity_type": state.entity_type,
        "entity_id": state.entity_id,
        "external_id": state.external_id,
    }
    action = decision.action
    if action in ("skip", "ignore_delete"):
        return {**row, "operacao": "skip", "status": "ignorado", "mensagem": decision.why}
    if action == "delete_conflict":
        return {**row, "direcao": "conflito", "operacao": "conflict", "status": "conflito", "mensagem": decision.why}
    if action == "remote_gone":
        return {**row, **remote_delete_log(state.delete_local)}
    if action == "create":
        return {**row, "operacao": "create", "status": "sucesso", "external_id": None}
    done = operacao or ("update" if action == "merge" else action)
    return {**row, "operacao": done, "status": "sucesso", "mensagem": decision.why}
