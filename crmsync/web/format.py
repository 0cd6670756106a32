"""Portuguese labels and value formatting for the console templates.

Why here and not in templates: the same label (a field name, a log status, a direction) shows
in several pages, and store staff must see "E-mail" or "GestãoClick → Ecletech", never
``email`` or ``pull``. Times are stored in UTC and shown in the store's time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from crmsync.providers.registry import display_name

DEFAULT_TZ = "America/Sao_Paulo"

LOCAL_NAME = "Ecletech"
PROVIDER_LABELS = {"gestao_click": "GestãoClick"}

ENTITY_LABELS = {"cliente": "Cliente", "produto": "Produto", "venda": "Venda"}
ENTITY_PLURALS = {"cliente": "Clientes", "produto": "Produtos", "venda": "Vendas"}

FIELD_LABELS = {
    "tipo_pessoa": "Tipo de pessoa",
    "nome": "Nome",
    "razao_social": "Razão social",
    "cpf": "CPF",
    "cnpj": "CNPJ",
    "rg": "RG",
    "inscricao_estadual": "Inscrição estadual",
    "data_nascimento": "Data de nascimento",
    "email": "E-mail",
    "telefone": "Telefone",
    "celular": "Celular",
    "cep": "CEP",
    "logradouro": "Logradouro",
    "numero": "Número",
    "complemento": "Complemento",
    "bairro": "Bairro",
    "cidade": "Cidade",
    "estado": "Estado",
    "ativo": "Ativo",
    "observacoes": "Observações",
    "codigo": "Código",
    "codigo_barra": "Código de barras",
    "descricao": "Descrição",
    "valor_custo": "Valor de custo",
    "valor_venda": "Valor de venda",
    "estoque": "Estoque",
    "unidade": "Unidade",
    "cliente_id": "Cliente",
    "data": "Data",
    "situacao": "Situação",
    "valor_total": "Valor total",
    "itens": "Itens",
    "_excluido": "Registro excluído",
}

LOG_STATUS_LABELS = {
    "sucesso": "Sucesso",
    "erro": "Erro",
    "ignorado": "Ignorado",
    "conflito": "Conflito",
    "simulado": "Simulado",
}
DIRECTION_LABELS = {
    "push": "Ecletech → GestãoClick",
    "pull": "GestãoClick → Ecletech",
    "conflito": "Conflito",
    "sync": "Sincronização completa",
}
TRIGGER_LABELS = {
    "automatico": "Automático",
    "manual": "Manual",
    "cron": "Agendado",
    "webhook": "Webhook",
    "bulk": "Em massa",
}
OPERATION_LABELS = {
    "create": "Criação",
    "update": "Atualização",
    "link": "Vínculo",
    "skip": "Sem mudança",
    "conflict": "Conflito",
    "delete": "Exclusão",
    "deactivate": "Desativação",
    "erro": "Erro",
    "resolve": "Resolução",
    "settle": "Verificação de conflito",
    "duplicata": "Revisão de duplicata",
    "sync": "Resumo da rodada",
    "restore": "Restauração",
}
FAILED_STATUS_LABELS = {
    "pendente": "Aguardando nova tentativa",
    "falhou": "Falhou",
    "ignorado": "Ignorado",
    "resolvido": "Resolvido",
}
MOTIVO_LABELS = {
    "manual": "Campo configurado para decisão manual",
    "manual_if_different": "Valores muito diferentes",
    "manual_se_diferente": "Valores muito diferentes",
}


REASON_LABELS = {
    "manual strategy": "Campo configurado para decisão manual",
    "close call: modification time unknown": "Sem horário de alteração para decidir sozinho",
    "close call: edits within skew tolerance": "Alterados quase ao mesmo tempo nos dois sistemas",
    "merge union needs lists": "Não foi possível juntar os valores automaticamente",
}
DIFF_ACTIONS = {
    "to_local": "GestãoClick → Ecletech",
    "to_external": "Ecletech → GestãoClick",
    "conflict": "Conflito (aguarda decisão)",
    "kept": "Mantido",
    "local": "Valor do Ecletech",
    "externo": "Valor do GestãoClick",
}


def provider_label(key: str | None) -> str:
    """The provider's display name ("GestãoClick", "SuiteCRM"), as the provider declares it."""
    if not key:
        return "—"
    return PROVIDER_LABELS.get(key) or display_name(key)


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def entity_label(name: str | None) -> str:
    if name and "," in name:  # a whole-run summary row names every entity it covered
        return ", ".join(entity_label(part) for part in name.split(",") if part)
    return ENTITY_LABELS.get(name or "", (name or "—").capitalize())


def motivo_label(value: Any) -> str:
    """The engine's reason for sending a field to review, in words staff understand."""
    if not value:
        return ""
    text = str(value)
    if text in MOTIVO_LABELS:
        return MOTIVO_LABELS[text]
    if text.startswith("both changed; "):
        text = text[len("both changed; ") :]
    match = re.match(r"values too different \(similarity ([0-9.]+)\)", text)
    if match:
        return f"Valores muito diferentes (semelhança de {float(match.group(1)) * 100:.0f}%)"
    for prefix, label in REASON_LABELS.items():
        if text.startswith(prefix):
            return label
    return text


def actor_label(value: Any) -> str:
    """Who decided: "console:loja3" -> "console da loja 3"; "cli:..." / "api:..." likewise."""
    text = str(value or "")
    match = re.fullmatch(r"(console|cli|api):loja(\d+)", text)
    if match:
        where = {"console": "console", "cli": "linha de comando", "api": "API"}[match.group(1)]
        return f"{where} da loja {match.group(2)}"
    if text == "sistema":
        return "sistema (os dois lados chegaram ao mesmo valor)"
    return text or "—"


def duplicate_reason(value: Any) -> str:
    """Why two records look alike, in Portuguese ("similar name (0.93): ..." from matching)."""
    text = str(value or "")
    if text.startswith("similar name"):
        return "nomes parecidos"
    return text


def parse_time(value: Any) -> datetime | None:
    """ISO string or datetime -> aware UTC datetime (naive values are UTC, as stored)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def format_time(value: Any, tz: str = DEFAULT_TZ, with_year: bool = True) -> str:
    dt = parse_time(value)
    if dt is None:
        return "—"
    local = dt.astimezone(ZoneInfo(tz))
    return local.strftime("%d/%m/%Y %H:%M" if with_year else "%d/%m %H:%M")


def format_age(value: Any, now: datetime | None = None) -> str:
    """ "há 5 min", "há 2 h", "há 3 dias": staff care about how long a conflict has waited."""
    dt = parse_time(value)
    if dt is None:
        return "—"
    seconds = max(0, int(((now or datetime.now(UTC)) - dt).total_seconds()))
    return "há " + format_duration(seconds)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s < 60:
        return "menos de 1 min"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    days = s // 86400
    return f"{days} dia" if days == 1 else f"{days} dias"


def format_value(value: Any) -> str:
    """A field value as staff read it: empty shown as such, booleans as Sim/Não."""
    if value is None or value == "":
        return "(vazio)"
    if isinstance(value, bool):
        return "Sim" if value else "Não"
    if isinstance(value, list):
        return f"{len(value)} item(ns)"
    if isinstance(value, dict):
        return ", ".join(f"{field_label(str(k))}: {format_value(v)}" for k, v in value.items())
    return str(value)


def record_title(dados: dict[str, Any] | None) -> str:
    """A human name for a record: its name, company name or code."""
    dados = dados or {}
    for key in ("nome", "razao_social", "codigo", "descricao"):
        if dados.get(key):
            return str(dados[key])
    return "(sem nome)"


def with_crm(label: str, crm: str | None) -> str:
    """A label written for GestãoClick ("Ecletech → GestãoClick") for the row's own CRM."""
    return label.replace(PROVIDER_LABELS["gestao_click"], crm) if crm else label


def direction_label(direcao: str, crm: str | None = None) -> str:
    return with_crm(DIRECTION_LABELS.get(direcao, direcao), crm)


def diff_rows(diff: Any, crm: str | None = None) -> list[dict[str, str]]:
    """Normalise the log's ``diff`` into rows of (campo, acao, valor).

    The engine writes ``{field: {"acao": to_local|to_external|conflict|kept, "motivo": ...,
    "valor": v}}``; older or other shapes (``{"antes": a, "depois": b}``, ``[a, b]``, a plain
    value) are shown as "a → b" so a row is never lost from the page.
    """
    rows: list[dict[str, str]] = []
    if not isinstance(diff, dict):
        return rows
    for name, change in diff.items():
        acao = ""
        valor: str
        if isinstance(change, dict) and any(k in change for k in ("acao", "escolha", "valor")):
            key = str(change.get("acao") or change.get("escolha") or "")
            acao = with_crm(DIFF_ACTIONS.get(key, key), crm)
            valor = format_value(change.get("valor")) if "valor" in change else "—"
        elif isinstance(change, dict) and any(k in change for k in ("antes", "depois")):
            valor = f"{format_value(change.get('antes'))} → {format_value(change.get('depois'))}"
        elif isinstance(change, list | tuple) and len(change) == 2:
            valor = f"{format_value(change[0])} → {format_value(change[1])}"
        else:
            valor = format_value(change)
        rows.append({"campo": field_label(str(name)), "acao": acao, "valor": valor})
    return rows
