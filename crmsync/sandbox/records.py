"""Turning request bodies into stored records the way GestãoClick does.

Each ``build_*`` takes the merged input (existing record overlaid with the request body for a
PUT) and returns the canonical read shape, or raises :class:`ValidationFailed` with a
field -> Portuguese message map, which the API answers as a 400 envelope.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from crmsync.providers.gestaoclick.mapping import FISCAL_FIELDS
from crmsync.sandbox import lookups
from crmsync.sandbox.formats import (
    as_str,
    blank_to_none,
    digits,
    flag,
    fmt_decimal,
    format_cep,
    format_cnpj,
    format_cpf,
    format_phone,
    is_decimal,
    parse_date,
    parse_decimal,
    parse_int,
)

REQUIRED = "O campo {campo} é obrigatório."
INVALID_NUMBER = "O campo {campo} deve ser numérico."
INVALID_DATE = "O campo {campo} deve ser uma data válida no formato AAAA-MM-DD."


class ValidationFailed(Exception):
    """Field -> message map (or one message) for a 400 answer."""

    def __init__(self, errors: dict[str, str] | str) -> None:
        super().__init__(str(errors))
        self.errors = errors


class NotFound(Exception):
    """The record does not exist (404 "Registro não encontrado")."""


def _unwrap(items: Any, key: str) -> list[dict[str, Any]]:
    """Accept ``[{"contato": {...}}]`` (documented) or bare ``[{...}]``; drop junk."""
    out: list[dict[str, Any]] = []
    if not isinstance(items, list):
        return out
    for item in items:
        if isinstance(item, dict):
            inner = item.get(key)
            out.append(inner if isinstance(inner, dict) else item)
    return out


def texts(src: dict[str, Any], *names: str) -> dict[str, str | None]:
    """Fields the API answers as text, as they were sent (``as_str``), in the given order."""
    return {name: as_str(src.get(name)) for name in names}


def _required(src: dict[str, Any], name: str, errors: dict[str, str]) -> Any:
    value = blank_to_none(src.get(name))
    if value is None:
        errors[name] = REQUIRED.format(campo=name)
    return value


def _date_field(src: dict[str, Any], name: str, errors: dict[str, str]) -> str | None:
    value = blank_to_none(src.get(name))
    if value is None:
        return None
    parsed = parse_date(value)
    if parsed is None:
        errors[name] = INVALID_DATE.format(campo=name)
        return None
    return parsed.isoformat()


# --------------------------------------------------------------------------- clientes

CLIENTE_FIELDS = (
    "id",
    "tipo_pessoa",
    "nome",
    "razao_social",
    "cnpj",
    "inscricao_estadual",
    "inscricao_municipal",
    "cpf",
    "rg",
    "data_nascimento",
    "telefone",
    "celular",
    "fax",
    "email",
    "ativo",
    "contatos",
    "enderecos",
    "cadastrado_em",
    "modificado_em",
)


def build_cliente(src: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    tipo = _required(src, "tipo_pessoa", errors)
    if tipo is not None:
        tipo = str(tipo).strip().upper()
        if tipo not in ("PF", "PJ", "ES"):
            errors["tipo_pessoa"] = "Tipo de pessoa inválido. Valores aceitos: PF, PJ ou ES."
    nome = _required(src, "nome", errors)
    cpf, cnpj = src.get("cpf"), src.get("cnpj")
    combined = digits(src.get("cpf_cnpj"))  # convenience alias some clients send
    if len(combined) == 11 and not blank_to_none(cpf):
        cpf = combined
    elif len(combined) == 14 and not blank_to_none(cnpj):
        cnpj = combined
    data_nascimento = _date_field(src, "data_nascimento", errors)
    contatos = []
    for c in _unwrap(src.get("contatos"), "contato"):
        tipo_id = as_str(c.get("tipo_id"))
        contatos.append(
            {
                "contato": {
                    "tipo_id": tipo_id,
                    "nome_tipo": as_str(c.get("nome_tipo")) or lookups.TIPOS_CONTATOS.get(tipo_id or ""),
                    **texts(c, "nome", "contato", "cargo", "observacao"),
                }
            }
        )
    enderecos = []
    for e in _unwrap(src.get("enderecos"), "endereco"):
        endereco: dict[str, Any] = {
            "cep": format_cep(e.get("cep")),
            **texts(e, "logradouro", "numero", "complemento", "bairro", "cidade_id", "nome_cidade"),
            "estado": (as_str(e.get("estado")) or "").upper() or None,
        }
        if blank_to_none(e.get("pais")) is not None:
            endereco["pais"] = as_str(e.get("pais"))
        enderecos.append({"endereco": endereco})
    if errors:
        raise ValidationFailed(errors)
    return {
        "id": as_str(src.get("id")),
        "tipo_pessoa": tipo,
        "nome": str(nome).strip(),
        "razao_social": as_str(src.get("razao_social")),
        "cnpj": format_cnpj(cnpj),
        **texts(src, "inscricao_estadual", "inscricao_municipal"),
        "cpf": format_cpf(cpf),
        "rg": as_str(src.get("rg")),
        "data_nascimento": data_nascimento,
        "telefone": format_phone(src.get("telefone")),
        "celular": format_phone(src.get("celular")),
        "fax": format_phone(src.get("fax")),
        "email": as_str(src.get("email")),
        "ativo": flag(src.get("ativo")),
        "contatos": contatos,
        "enderecos": enderecos,
        "cadastrado_em": src.get("cadastrado_em"),
        "modificado_em": src.get("modificado_em"),
    }


# --------------------------------------------------------------------------- produtos


def produto_input_from_record(record: dict[str, Any]) -> dict[str, Any]:
    """Read shape -> create shape (fiscal flattened) so a PUT can overlay its body on it."""
    flat = {k: v for k, v in record.items() if k != "fiscal"}
    fiscal = record.get("fiscal") or {}
    for name in FISCAL_FIELDS:
        flat[name] = fiscal.get(name)
    return flat


def _fiscal_value(name: str, value: Any) -> str | None:
    """Fiscal numbers arrive as ``"1,550"`` (docs example) and are answered with a dot."""
    if name in ("ncm", "cest") or parse_decimal(value) is None:
        return as_str(value)
    places = 3 if name.startswith("peso") else 2 if name == "valor_aproximado_tributos" else 4
    return fmt_decimal(value, places)


def _valores(items: Any, custo: Decimal | None, venda_default: Any) -> list[dict[str, Any]]:
    given: dict[str, dict[str, Any]] = {}
    for v in items if isinstance(items, list) else []:
        if not isinstance(v, dict):
            continue
        inner = v["valor"] if isinstance(v.get("valor"), dict) else v
        if blank_to_none(inner.get("tipo_id")) is not None:
            given[str(inner["tipo_id"])] = inner
    out = []
    known = {t["tipo_id"] for t in lookups.TIPOS_VALORES}
    tipos: list[dict[str, Any]] = [
        *lookups.TIPOS_VALORES,
        *({"tipo_id": k, "nome_tipo": None} for k in given if k not in known),
    ]
    for tipo in tipos:
        entry = given.get(tipo["tipo_id"], {})
        venda = parse_decimal(entry.get("valor_venda"))
        if venda is None:
            venda = parse_decimal(venda_default)
        if venda is None:
            venda = custo if custo is not None else Decimal(0)
        # The cost of every price type is the product's cost (a stale one from a previous
        # version of the record must not survive a cost change).
        custo_v = custo if custo is not None else Decimal(0)
        lucro = ((venda / custo_v - 1) * 100) if custo_v else Decimal(0)
        out.append(
            {
                "tipo_id": tipo["tipo_id"],
                "nome_tipo": as_str(entry.get("nome_tipo")) or tipo["nome_tipo"],
                "lucro_utilizado": fmt_decimal(lucro, 2),
                "valor_custo": fmt_decimal(custo_v, 4),
                "valor_venda": fmt_decimal(venda, 4),
            }
        )
    return out


def build_produto(
    src: dict[str, Any],
    next_variation_id: Callable[[], int],
    previous: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``previous``/``body`` are given on PUT so unchanged nested lists stay untouched."""
    errors: dict[str, str] = {}
    nome = _required(src, "nome", errors)
    codigo = _required(src, "codigo_interno", errors)
    custo_raw = _required(src, "valor_custo", errors)
    for name in ("valor_custo", "valor_venda", "peso", "largura", "altura", "comprimento", "estoque"):
        if name not in errors and not is_decimal(src.get(name)):
            errors[name] = INVALID_NUMBER.format(campo=name)
    if errors:
        raise ValidationFailed(errors)
    custo = parse_decimal(custo_raw)
    venda = parse_decimal(src.get("valor_venda"))
    body = body if body is not None else src
    estoque_dec = parse_decimal(src.get("estoque"))
    estoque = int(estoque_dec) if estoque_dec is not None else 0

    if previous is not None and "valores" not in body and "valor_venda" not in body and "valor_custo" not in body:
        valores = previous.get("valores") or _valores(None, custo, venda)
    else:
        valores = _valores(src.get("valores"), custo, venda)

    if previous is not None and "variacoes" not in body:
        variacoes = previous.get("variacoes") or []
        only = _unwrap(variacoes, "variacao")
        if "estoque" in body and len(only) == 1 and not only[0].get("nome"):
            variacoes = [{"variacao": {**only[0], "estoque": fmt_decimal(estoque, 2)}}]
    else:
        variacoes = []
        for v in _unwrap(src.get("variacoes"), "variacao"):
            vid = parse_int(v.get("id")) or next_variation_id()
            v_est = parse_decimal(v.get("estoque")) or Decimal(0)
            variacoes.append(
                {
                    "variacao": {
                        "id": str(vid),
                        "nome": as_str(v.get("nome")) or "",
                        "codigo": as_str(v.get("codigo")),
                        "estoque": fmt_decimal(v_est, 2),
                        "valores": _valores(v.get("valores"), custo, venda) if v.get("valores") else valores,
                    }
                }
            )
            if v.get("codigo") is None:
                del variacoes[-1]["variacao"]["codigo"]
        if variacoes and "estoque" not in body:
            estoque = int(sum(parse_decimal(v["variacao"]["estoque"]) or 0 for v in variacoes))
    if not variacoes:  # a product always has one (unnamed) variation
        variacoes = [
            {
                "variacao": {
                    "id": str(next_variation_id()),
                    "nome": "",
                    "estoque": fmt_decimal(estoque, 2),
                    "valores": valores,
                }
            }
        ]
    named = [v for v in variacoes if v["variacao"].get("nome")]
    grupo_id = as_str(src.get("grupo_id"))
    return {
        "id": as_str(src.get("id")),
        "nome": str(nome).strip(),
        "codigo_interno": str(codigo).strip(),
        "codigo_barra": as_str(src.get("codigo_barra")),
        "possui_variacao": "1" if named else "0",
        "possui_composicao": flag(src.get("possui_composicao"), "0"),
        "movimenta_estoque": flag(src.get("movimenta_estoque"), "1"),
        "peso": fmt_decimal(src.get("peso") or 0, 3),
        "largura": fmt_decimal(src.get("largura") or 0, 3),
        "altura": fmt_decimal(src.get("altura") or 0, 3),
        "comprimento": fmt_decimal(src.get("comprimento") or 0, 3),
        "ativo": flag(src.get("ativo")),
        "grupo_id": grupo_id,
        "nome_grupo": as_str(src.get("nome_grupo")) or lookups.GRUPOS_PRODUTOS.get(grupo_id or ""),
        "descricao": as_str(src.get("descricao")),
        "estoque": estoque,
        "valor_custo": fmt_decimal(custo, 4),
        "valor_venda": fmt_decimal(venda if venda is not None else custo, 4),
        "valores": valores,
        "variacoes": variacoes,
        "fiscal": {name: _fiscal_value(name, src.get(name)) for name in FISCAL_FIELDS},
        "cadastrado_em": src.get("cadastrado_em"),
        "modificado_em": src.get("modificado_em"),
    }


# --------------------------------------------------------------------------- vendas


def new_hash(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(7))


def _money(value: Any) -> Decimal:
    return parse_decimal(value) or Decimal(0)


def build_venda(
    src: dict[str, Any],
    *,
    get_cliente: Callable[[int], dict[str, Any] | None],
    get_produto: Callable[[int], dict[str, Any] | None],
) -> dict[str, Any]:
    """Validates references and computes totals; ``codigo``/``hash`` are set by the store."""
    errors: dict[str, str] = {}
    tipo = (as_str(src.get("tipo")) or "produto").lower()
    if tipo not in ("produto", "servico", "vendas_balcao"):
        errors["tipo"] = "Tipo inválido. Valores aceitos: produto, servico ou vendas_balcao."
    cliente = None
    cliente_raw = _required(src, "cliente_id", errors)
    if cliente_raw is not None:
        cid = parse_int(cliente_raw)
        cliente = get_cliente(cid) if cid is not None else None
        if cliente is None:
            errors["cliente_id"] = "Cliente não encontrado."
    situacao = None
    situacao_raw = _required(src, "situacao_id", errors)
    if situacao_raw is not None:
        situacao = lookups.find(lookups.SITUACOES_VENDAS, situacao_raw)
        if situacao is None:
            errors["situacao_id"] = "Situação não encontrada."
    data_raw = _required(src, "data", errors)
    data = None
    if data_raw is not None:
        data = _date_field(src, "data", errors)
    codigo = blank_to_none(src.get("codigo"))
    if codigo is not None and parse_int(codigo) is None:
        errors["codigo"] = INVALID_NUMBER.format(campo="codigo")
    loja = lookups.find(lookups.LOJAS, src.get("loja_id") or lookups.DEFAULT_LOJA_ID)
    if loja is None:
        errors["loja_id"] = "Loja não encontrada."
    condicao = as_str(src.get("condicao_pagamento"))
    if condicao is not None and condicao not in ("a_vista", "parcelado"):
        errors["condicao_pagamento"] = "Condição de pagamento inválida. Valores aceitos: a_vista ou parcelado."

    itens: list[dict[str, Any]] = []
    total = Decimal(0)
    custo_total = Decimal(0)
    for n, p in enumerate(_unwrap(src.get("produtos"), "produto")):
        pid = parse_int(p.get("produto_id"))
        produto = get_produto(pid) if pid is not None else None
        if produto is None:
            errors[f"produtos.{n}.produto_id"] = "Produto não encontrado."
            continue
        variacoes = _unwrap(produto.get("variacoes"), "variacao")
        vid = parse_int(p.get("variacao_id"))
        if vid is None and variacoes:
            vid = parse_int(variacoes[0].get("id"))
        qtd = _money(p.get("quantidade") if blank_to_none(p.get("quantidade")) is not None else 1)
        unit = parse_decimal(p.get("valor_venda"))
        if unit is None:
            unit = _money(produto.get("valor_venda"))
        tipo_desc = as_str(p.get("tipo_desconto")) or "R$"
        bruto = qtd * unit
        if tipo_desc == "%":
            desconto = bruto * _money(p.get("desconto_porcentagem")) / 100
        else:
            desconto = _money(p.get("desconto_valor"))
        item_total = bruto - desconto
        total += item_total
        custo_unit = (
            _money(p.get("valor_custo"))
            if blank_to_none(p.get("valor_custo")) is not None
            else _money(produto.get("valor_custo"))
        )
        custo_total += custo_unit * qtd
        itens.append(
            {
                "produto": {
                    "produto_id": pid,
                    "variacao_id": vid,
                    "nome_produto": as_str(p.get("nome_produto")) or produto.get("nome"),
                    "detalhes": as_str(p.get("detalhes")),
                    "movimenta_estoque": produto.get("movimenta_estoque", "1"),
                    "possui_variacao": produto.get("possui_variacao", "0"),
                    "sigla_unidade": as_str(p.get("sigla_unidade")),
                    "quantidade": fmt_decimal(qtd, 2),
                    **texts(p, "tipo_valor_id", "nome_tipo_valor"),
                    "valor_custo": fmt_decimal(custo_unit, 2),
                    "valor_venda": fmt_decimal(unit, 2),
                    "tipo_desconto": tipo_desc,
                    "desconto_valor": fmt_decimal(p.get("desconto_valor"), 2),
                    "desconto_porcentagem": fmt_decimal(p.get("desconto_porcentagem"), 2),
                    "valor_total": fmt_decimal(item_total, 2),
                }
            }
        )
    servicos: list[dict[str, Any]] = []
    for s in _unwrap(src.get("servicos"), "servico"):
        qtd = _money(s.get("quantidade") if blank_to_none(s.get("quantidade")) is not None else 1)
        unit = _money(s.get("valor_venda"))
        tipo_desc = as_str(s.get("tipo_desconto")) or "R$"
        bruto = qtd * unit
        desconto = (
            bruto * _money(s.get("desconto_porcentagem")) / 100 if tipo_desc == "%" else _money(s.get("desconto_valor"))
        )
        total += bruto - desconto
        servicos.append(
            {
                "servico": {
                    **texts(s, "id", "servico_id", "nome_servico", "detalhes", "sigla_unidade"),
                    "quantidade": fmt_decimal(qtd, 2),
                    **texts(s, "tipo_valor_id", "nome_tipo_valor"),
                    "valor_custo": fmt_decimal(s.get("valor_custo") or 0, 4),
                    "valor_venda": fmt_decimal(unit, 4),
                    "tipo_desconto": tipo_desc,
                    "desconto_valor": fmt_decimal(s.get("desconto_valor"), 4),
                    "desconto_porcentagem": fmt_decimal(s.get("desconto_porcentagem"), 4),
                    "valor_total": fmt_decimal(bruto - desconto, 2),
                }
            }
        )
    pagamentos: list[dict[str, Any]] = []
    for n, pg in enumerate(_unwrap(src.get("pagamentos"), "pagamento")):
        forma = None
        if blank_to_none(pg.get("forma_pagamento_id")) is not None:
            forma = lookups.find(lookups.FORMAS_PAGAMENTOS, pg.get("forma_pagamento_id"))
            if forma is None:
                errors[f"pagamentos.{n}.forma_pagamento_id"] = "Forma de pagamento não encontrada."
        vencimento = _date_field(pg, "data_vencimento", errors)
        pagamentos.append(
            {
                "pagamento": {
                    "data_vencimento": vencimento,
                    "valor": fmt_decimal(pg.get("valor") or 0, 2),
                    "forma_pagamento_id": as_str(pg.get("forma_pagamento_id")),
                    "nome_forma_pagamento": as_str(pg.get("nome_forma_pagamento")) or (forma or {}).get("nome"),
                    **texts(pg, "plano_contas_id", "nome_plano_conta", "observacao"),
                }
            }
        )
    if errors:
        raise ValidationFailed(errors)
    frete = _money(src.get("valor_frete"))
    total += frete
    if blank_to_none(src.get("desconto_valor")) is not None:
        total -= _money(src.get("desconto_valor"))
    elif blank_to_none(src.get("desconto_porcentagem")) is not None:
        total -= total * _money(src.get("desconto_porcentagem")) / 100
    assert cliente is not None and situacao is not None and loja is not None
    lancamento = situacao.get("tipo_lancamento", "0")
    previsao = src.get("previsao_entrega") if "previsao_entrega" in src else src.get("prazo_entrega")
    return {
        "id": as_str(src.get("id")),
        "codigo": as_str(codigo),
        "cliente_id": str(cliente["id"]),
        "nome_cliente": cliente.get("nome"),
        **texts(src, "vendedor_id", "nome_vendedor", "tecnico_id", "nome_tecnico"),
        "data": data,
        "previsao_entrega": parse_date(previsao).isoformat() if parse_date(previsao) else None,  # type: ignore[union-attr]
        "situacao_id": situacao["id"],
        "nome_situacao": situacao["nome"],
        "valor_total": fmt_decimal(total, 2),
        **texts(src, "transportadora_id", "nome_transportadora", "centro_custo_id", "nome_centro_custo"),
        **texts(src, "aos_cuidados_de", "validade", "introducao", "observacoes", "observacoes_interna"),
        "valor_frete": fmt_decimal(frete, 2),
        "nome_canal_venda": as_str(src.get("nome_canal_venda")),
        "nome_loja": loja["nome"],
        "valor_custo": fmt_decimal(custo_total, 2),
        "condicao_pagamento": condicao or ("parcelado" if len(pagamentos) > 1 else "a_vista"),
        "situacao_financeiro": "1" if lancamento in ("1", "3") else "0",
        "situacao_estoque": "1" if lancamento in ("1", "2") else "0",
        **texts(src, "forma_pagamento_id", "data_primeira_parcela", "numero_parcelas", "intervalo_dias"),
        "hash": src.get("hash"),
        "equipamentos": src.get("equipamentos") if isinstance(src.get("equipamentos"), list) else [],
        "pagamentos": pagamentos,
        "produtos": itens,
        "servicos": servicos,
        "tipo": tipo,
        "loja_id": loja["id"],
        "cadastrado_em": src.get("cadastrado_em"),
        "modificado_em": src.get("modificado_em"),
    }
