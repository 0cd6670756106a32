"""`crmsync schema inspect`: a draft schema map from an existing ERP database.

It reflects the tables, picks the likeliest one for cliente, produto and venda (and the
venda's items) by their names and their columns' names, places each canonical field on
the column whose name says it (nome/razao_social/fantasia, cpf/cnpj, email, fone/celular,
cep, ...), and chooses each converter by sampling the column's values: a formatted CPF or
digits or a number, S/N or A/I flags, '0000-00-00' dates, decimal-comma money. Every guess
is written with `# revisar` after it: the draft is a starting point that a person edits
and `crmsync schema check` then validates; it is never used as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import Engine

from crmsync.erp.dbinfo import ColumnInfo, TableInfo, describe_table, list_tables, sample_rows
from crmsync.model.canonical import ENTITY_TYPES

# Table names, by entity: a match on any of these fragments (lower case).
TABLE_HINTS: dict[str, tuple[str, ...]] = {
    "cliente": ("cliente", "clientes", "cli", "pessoa", "parceiro", "contato"),
    "produto": ("produto", "produtos", "prod", "mercadoria", "estoque", "item_estoque"),
    "venda": ("venda", "vendas", "pedido", "pedidos", "ped", "orcamento", "nota"),
}
ITEM_HINTS = ("item", "itens", "produtos", "det", "detalhe")

# Column names per canonical field, best first (exact names; then prefixes/fragments).
FIELD_HINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "cliente": {
        "nome": ("nome", "nome_cliente", "nm_cliente", "razao", "razao_social", "nome_razao", "cliente", "fantasia"),
        "razao_social": ("razao_social", "razao", "nome_razao"),
        "cpf": ("cpf", "nr_cpf", "num_cpf", "cpf_cliente", "cpf_cnpj", "cnpj_cpf", "documento", "doc"),
        "cnpj": ("cnpj", "nr_cnpj", "num_cnpj", "cnpj_cliente", "cpf_cnpj", "cnpj_cpf", "documento"),
        "rg": ("rg", "nr_rg", "identidade"),
        "inscricao_estadual": ("inscricao_estadual", "insc_estadual", "ie", "inscr_estadual"),
        "data_nascimento": ("data_nascimento", "dt_nasc", "dt_nascimento", "nascimento", "data_nasc"),
        "email": ("email", "e_mail", "mail", "email_cliente"),
        "telefone": ("telefone", "fone", "tel", "fone1", "telefone1", "fone_res", "fone_com", "fone_fixo"),
        "celular": ("celular", "cel", "fone_cel", "telefone_celular", "whatsapp", "fone2", "telefone2"),
        "cep": ("cep", "cep_cliente", "cod_postal"),
        "logradouro": ("logradouro", "endereco", "rua", "end", "endereco_cliente"),
        "numero": ("numero", "num", "nro", "numero_endereco", "num_end"),
        "complemento": ("complemento", "compl"),
        "bairro": ("bairro",),
        "cidade": ("cidade", "municipio", "nome_cidade"),
        "estado": ("estado", "uf", "sigla_uf"),
        "ativo": ("ativo", "situacao", "status", "sit"),
        "observacoes": ("observacoes", "observacao", "obs", "observ"),
        "tipo_pessoa": ("tipo_pessoa", "tp_pessoa", "pessoa", "fisica_juridica", "tipo", "tipo_cliente"),
    },
    "produto": {
        "nome": ("nome", "descricao", "nome_produto", "desc_produto", "produto", "ds_produto"),
        "codigo": ("codigo", "referencia", "ref", "cod_interno", "sku", "codigo_interno"),
        "codigo_barra": ("codigo_barra", "codigo_barras", "cod_barras", "cod_barra", "ean", "gtin", "codbarra"),
        "descricao": ("descricao_completa", "descricao_longa", "detalhes", "descricao"),
        "valor_custo": ("valor_custo", "preco_custo", "custo", "vl_custo", "pr_custo"),
        "valor_venda": ("valor_venda", "preco_venda", "preco", "vl_venda", "pr_venda", "valor"),
        "estoque": ("estoque", "qtd_estoque", "saldo", "quantidade", "qtde", "estoque_atual"),
        "unidade": ("unidade", "un", "und", "unid", "unidade_medida"),
        "ativo": ("ativo", "situacao", "status", "sit"),
    },
    "venda": {
        "cliente_id": ("id_cliente", "cliente_id", "cod_cli", "cod_cliente", "codcliente", "cliente"),
        "data": ("data", "data_venda", "dt_venda", "data_pedido", "dt_ped", "dt_pedido", "dt_emissao", "emissao"),
        "codigo": ("codigo", "numero", "num_venda", "nr_pedido"),
        "situacao": ("situacao", "status", "status_ped", "status_venda", "sit"),
        "valor_total": ("valor_total", "total", "vl_total", "total_venda", "total_pedido"),
        "observacoes": ("observacoes", "observacao", "obs"),
    },
    "item": {
        "produto_id": ("id_produto", "produto_id", "cod_prod", "cod_produto", "codproduto", "produto"),
        "quantidade": ("quantidade", "qtd", "qtde", "quant"),
        "valor_unitario": ("valor_unitario", "unitario", "vl_unit", "vl_unitario", "preco_unit", "preco", "valor"),
        "desconto": ("desconto", "vl_desconto", "desc"),
    },
}
STORE_HINTS = ("id_loja", "cod_loja", "loja", "cod_empresa", "id_empresa", "empresa", "cod_filial", "filial")
MODIFIED_HINTS = (
    "modificado_em",
    "dt_alteracao",
    "data_alteracao",
    "dt_atualizacao",
    "data_atualizacao",
    "updated_at",
    "alterado_em",
    "dt_modificacao",
    "ultima_alteracao",
    "dt_ult_alteracao",
)
DELETED_AT_HINTS = ("deletado_em", "excluido_em", "deleted_at", "dt_exclusao", "data_exclusao")
DELETED_FLAG_HINTS = ("excluido", "deletado", "deleted", "apagado", "removido", "lixeira")

FLAG_PAIRS: tuple[tuple[str, str], ...] = (("S", "N"), ("A", "I"), ("1", "0"), ("T", "F"), ("Y", "N"), ("V", "F"))
_FORMATTED_CPF = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")
_FORMATTED_CNPJ = re.compile(r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}")
_ZERO_DATE = re.compile(r"0{4}-0{2}-0{2}")
_BR_DATE = re.compile(r"\d{2}/\d{2}/\d{4}")
_COMMA_MONEY = re.compile(r"-?[\d.]*\d,\d+")


@dataclass
class Guess:
    """One placed field: column, converter, options and why (the `# revisar` comment)."""

    coluna: str
    conversor: str = "texto"
    opcoes: dict[str, Any] = field(default_factory=dict)
    motivo: str = ""
    somente_leitura: bool = False

    def as_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {"coluna": self.coluna}
        if self.conversor != "texto":
            out["conversor"] = self.conversor
        if self.somente_leitura:
            out["somente_leitura"] = True
        if self.opcoes:
            out["opcoes"] = self.opcoes
        return out


@dataclass
class TableGuess:
    tabela: str
    chave_primaria: str
    campos: dict[str, Guess]
    motivo: str
    loja: dict[str, Any] = field(default_factory=lambda: {"fixa": 1})
    loja_motivo: str = "nenhuma coluna de loja/empresa encontrada: uma loja só"
    modificado_em: str | None = None
    exclusao: dict[str, Any] = field(default_factory=lambda: {"modo": "fisico"})
    exclusao_motivo: str = "nenhuma coluna de exclusão: exclusão física"
    padroes_insercao: dict[str, Any] = field(default_factory=dict)
    coluna_venda: str | None = None
    esquema: str | None = None


@dataclass
class InspectResult:
    entidades: dict[str, TableGuess] = field(default_factory=dict)
    itens: TableGuess | None = None
    tabelas: list[str] = field(default_factory=list)

    def as_map_data(self) -> dict[str, Any]:
        """The draft as plain map data (what the YAML says, without the comments)."""
        ents: dict[str, Any] = {}
        for name, g in self.entidades.items():
            ent = _table_data(g)
            if name == "venda" and self.itens is not None:
                items = _table_data(self.itens)
                items.pop("loja", None)
                items.pop("modificado_em", None)
                items["coluna_venda"] = self.itens.coluna_venda
                ent["itens"] = items
            ents[name] = ent
        return {"versao": 1, "entidades": ents}


def _table_data(g: TableGuess) -> dict[str, Any]:
    out: dict[str, Any] = {"tabela": g.tabela}
    if g.esquema:
        out["esquema"] = g.esquema
    out.update({"chave_primaria": g.chave_primaria, "loja": g.loja})
    if g.modificado_em:
        out["modificado_em"] = g.modificado_em
    out["exclusao"] = g.exclusao
    if g.padroes_insercao:
        out["padroes_insercao"] = g.padroes_insercao
    out["campos"] = {name: guess.as_map() for name, guess in g.campos.items()}
    return out


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _find(columns: Iterable[str], hints: tuple[str, ...], taken: set[str]) -> str | None:
    """The first hint that names a free column exactly; then one that a column starts with."""
    by_norm = {_norm(c): c for c in columns if c not in taken}
    for hint in hints:
        if hint in by_norm:
            return by_norm[hint]
    for hint in hints:
        if len(hint) < 3:
            continue
        for norm, col in by_norm.items():
            if norm.startswith(hint + "_") or norm.endswith("_" + hint):
                return col
    return None


def _values(engine: Engine, info: TableInfo, col: str, limit: int) -> list[Any]:
    rows = sample_rows(engine, info.name, [col], schema=info.schema, limit=limit)
    return [r[col] for r in rows if r[col] is not None]


def _text_values(values: list[Any]) -> list[str]:
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _text_options(col: ColumnInfo) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if col.kind == "text" and col.length:
        opts["tamanho"] = col.length
    charset = (col.charset or "").lower()
    if col.kind == "text" and charset in ("latin1", "cp1252", "ascii"):
        opts["charset"] = "latin1"
    elif col.kind == "text" and charset in ("utf8mb3", "utf8"):
        opts["charset"] = "utf8mb3"
    return opts


def _document_guess(field_name: str, col: ColumnInfo, values: list[Any], shared: bool) -> Guess:
    """CPF/CNPJ spelling from the column type and a sample: a number, mostly formatted
    text, or digits; with no values, a column wide enough for the formatted spelling."""
    kind = field_name  # cpf | cnpj
    texts = _text_values(values)
    formatted = sum(1 for t in texts if _FORMATTED_CPF.fullmatch(t) or _FORMATTED_CNPJ.fullmatch(t))
    if col.kind in ("integer", "decimal"):
        fmt, why = "numero", "coluna numérica (zeros à esquerda perdidos)"
    elif texts and formatted * 2 >= len(texts):
        fmt, why = "formatado", "valores amostrados formatados"
    elif texts:
        fmt, why = "digitos", "valores amostrados só com dígitos"
    else:
        wide = (col.length or 0) >= (18 if kind == "cnpj" or shared else 14)
        fmt, why = ("formatado" if wide else "digitos"), "sem valores na amostra: pelo tamanho da coluna"
    opts = _text_options(col) if fmt != "numero" else {}
    if shared:
        return Guess(
            col.name, "documento", {"tipo": kind, "formato": fmt, **opts}, f"CPF e CNPJ na mesma coluna; {why}"
        )
    return Guess(col.name, f"{kind}_{fmt}", opts, why)


def _flag_guess(col: ColumnInfo, values: list[Any]) -> Guess | None:
    if col.kind == "boolean":
        return Guess(col.name, "booleano", {}, "coluna booleana")
    seen = {str(v).strip().upper() if isinstance(v, str) else str(int(v)) for v in values if str(v).strip()}
    for true, false in FLAG_PAIRS:
        if seen and seen <= {true, false}:
            t: Any = int(true) if col.kind == "integer" else true
            f: Any = int(false) if col.kind == "integer" else false
            exact = {str(v).strip() for v in values if isinstance(v, str)}
            if exact and not exact <= {true, false}:  # lower-case spellings seen too
                t, f = [true, true.lower()], [false, false.lower()]
            return Guess(
                col.name, "flag", {"verdadeiro": t, "falso": f}, f"valores amostrados: {', '.join(sorted(seen))}"
            )
    if not seen:
        return Guess(col.name, "flag", {"verdadeiro": "S", "falso": "N"}, "sem valores na amostra: S/N suposto")
    return None


def _date_guess(col: ColumnInfo, values: list[Any], with_time: bool) -> Guess:
    texts = _text_values(values)
    base = "datahora" if with_time else "data"
    if any(_ZERO_DATE.match(t) for t in texts):
        return Guess(col.name, f"{base}_zero", {}, "há datas '0000-00-00' (= sem data)")
    if col.kind == "text" and texts and all(_BR_DATE.fullmatch(t) for t in texts):
        return Guess(col.name, base, {"formato": "%d/%m/%Y"}, "datas dd/mm/aaaa em texto")
    return Guess(col.name, base, {}, f"coluna {col.type_name}")


def _money_guess(col: ColumnInfo, values: list[Any]) -> Guess:
    if col.kind in ("decimal", "float", "integer"):
        scale = {"casas": col.scale} if col.kind == "decimal" and col.scale is not None else {}
        return Guess(col.name, "decimal", scale, f"coluna {col.type_name}")
    texts = _text_values(values)
    if any(_COMMA_MONEY.fullmatch(t) for t in texts):
        milhar = any("." in t for t in texts)
        opts: dict[str, Any] = {"milhar": True} if milhar else {}
        return Guess(col.name, "dinheiro_virgula", opts, "valores com vírgula decimal em texto")
    return Guess(col.name, "decimal", {}, "texto com números")


def _phone_guess(col: ColumnInfo, values: list[Any]) -> Guess:
    texts = _text_values(values)
    opts = _text_options(col)
    if texts and all(t.startswith("+") for t in texts):
        opts["formato"] = "e164"
    elif texts and all(t.isdigit() for t in texts):
        opts["formato"] = "digitos"
    return Guess(col.name, "telefone", opts, "nome da coluna; formato pela amostra")


def _cep_guess(col: ColumnInfo, values: list[Any]) -> Guess:
    texts = _text_values(values)
    if col.kind in ("integer", "decimal"):
        return Guess(col.name, "cep", {"formato": "numero"}, "coluna numérica")
    fmt = "formatado" if texts and any("-" in t for t in texts) else "digitos"
    return Guess(col.name, "cep", {"formato": fmt, **_text_options(col)}, f"valores amostrados: {fmt}")


SHARED_DOCUMENT = ("cpf_cnpj", "cnpj_cpf", "documento", "doc", "nr_documento")


_DOC_TOKENS = frozenset({"doc", "docto", "documento", "documentos", "nrdoc", "numdoc"})


def _document_by_fragment(info: TableInfo, taken: set[str]) -> dict[str, str]:
    """Columns whose name holds `cpf`, `cnpj`, `doc` or `documento` anywhere (`cli_cpfcnpj`,
    `nr_cpf_cli`, `cli_doc`), text or numeric: "cpf" and "cnpj" for a column of one kind,
    "shared" for one holding both (or a `doc`/`documento`)."""
    out: dict[str, str] = {}
    for name, col in info.columns.items():
        if name in taken or col.kind not in ("text", "integer", "decimal"):
            continue
        norm = _norm(name)
        has_cpf, has_cnpj = "cpf" in norm, "cnpj" in norm
        is_doc = bool(_DOC_TOKENS & set(norm.split("_")))
        if (has_cpf and has_cnpj) or (is_doc and not (has_cpf or has_cnpj)):
            out.setdefault("shared", name)
        elif has_cpf:
            out.setdefault("cpf", name)
        elif has_cnpj:
            out.setdefault("cnpj", name)
    return out


def _place_documents(engine: Engine, info: TableInfo, sample: int, guess: TableGuess, taken: set[str]) -> None:
    """CPF and CNPJ: each in its own column, or both in one (`cpf_cnpj`, `documento`); by
    the exact names first, then by a fragment of the name (numeric columns included)."""
    columns = list(info.columns)
    own = {
        k: _find(columns, tuple(h for h in FIELD_HINTS["cliente"][k] if h not in SHARED_DOCUMENT), taken)
        for k in ("cpf", "cnpj")
    }
    shared = _find(columns, SHARED_DOCUMENT, taken)
    if not (own["cpf"] or own["cnpj"] or shared):
        found = _document_by_fragment(info, taken)
        own = {"cpf": found.get("cpf"), "cnpj": found.get("cnpj")}
        shared = found.get("shared")
    for kind in ("cpf", "cnpj"):
        col_name = own[kind] or shared
        if col_name is None:
            continue
        values = _values(engine, info, col_name, sample)
        guess.campos[kind] = _document_guess(kind, info.columns[col_name], values, col_name == shared)
        taken.add(col_name)


def _person_type_guess(col: ColumnInfo, values: list[Any]) -> Guess | None:
    """F/J codes, 1/2 codes or the canonical PF/PJ; a column whose values are none of these
    is not this. Mapped, it also tells a `documento` column CPF from CNPJ."""
    seen = {str(v).strip().upper() for v in values if str(v).strip()}
    if seen and seen <= {"F", "J"}:
        return Guess(col.name, "valores", {"valores": {"F": "PF", "J": "PJ"}}, "valores amostrados: F/J")
    if seen and seen <= {"PF", "PJ", "ES"}:
        return Guess(col.name, "texto", _text_options(col), "valores amostrados: PF/PJ")
    if seen and seen <= {"1", "2"}:
        codes: dict[Any, str] = {1: "PF", 2: "PJ"} if col.kind == "integer" else {"1": "PF", "2": "PJ"}
        return Guess(col.name, "valores", {"valores": codes}, "valores amostrados: 1/2 (1 = PF, 2 = PJ: confira)")
    return None


def _wire_person_type(engine: Engine, info: TableInfo, sample: int, guess: TableGuess, taken: set[str]) -> None:
    """CPF and CNPJ in one column read right only with the row's person type: when the
    names found none, take a column beside the document whose values are F/J, PF/PJ or
    1/2 as `tipo_pessoa` (the `documento` converter then reads by it)."""
    doc = guess.campos.get("cpf")
    if doc is None or doc.conversor != "documento" or "tipo_pessoa" in guess.campos:
        return
    columns = list(info.columns)
    at = columns.index(doc.coluna) if doc.coluna in columns else 0
    for name in sorted(columns, key=lambda c: abs(columns.index(c) - at)):
        col = info.columns[name]
        if name in taken or col.kind not in ("text", "integer") or (col.kind == "text" and (col.length or 99) > 2):
            continue
        placed = _person_type_guess(col, _values(engine, info, name, sample))
        if placed is not None:
            placed.motivo += f"; ao lado de '{doc.coluna}': decide CPF ou CNPJ"
            guess.campos["tipo_pessoa"] = placed
            taken.add(name)
            return


def _place_field(entity: str, field_name: str, col: ColumnInfo, values: list[Any], shared_doc: bool) -> Guess | None:
    if field_name in ("cpf", "cnpj"):
        return _document_guess(field_name, col, values, shared_doc)
    if field_name in ("telefone", "celular"):
        return _phone_guess(col, values)
    if field_name == "email":
        return Guess(col.name, "email", _text_options(col), "nome da coluna")
    if field_name == "cep":
        return _cep_guess(col, values)
    if field_name == "ativo":
        return _flag_guess(col, values)
    if field_name in ("data_nascimento", "data"):
        return _date_guess(col, values, with_time=False)
    if field_name in (
        "valor_custo",
        "valor_venda",
        "estoque",
        "valor_total",
        "quantidade",
        "valor_unitario",
        "desconto",
    ):
        return _money_guess(col, values)
    if field_name == "tipo_pessoa":
        return _person_type_guess(col, values)
    if field_name in ("cliente_id", "produto_id"):
        return Guess(col.name, "inteiro" if col.kind in ("integer", "decimal") else "texto", {}, "referência pelo nome")
    if field_name == "codigo" and col.kind in ("integer", "decimal"):
        return Guess(col.name, "inteiro", {}, "código numérico")
    if col.kind != "text":
        return None
    return Guess(col.name, "texto", _text_options(col), "nome da coluna")


def _guess_table(engine: Engine, entity: str, info: TableInfo, sample: int, fields_kind: str) -> TableGuess:
    hints = FIELD_HINTS[fields_kind]
    columns = list(info.columns)
    pk = info.primary_key[0] if len(info.primary_key) == 1 else columns[0]
    taken: set[str] = {pk}
    guess = TableGuess(tabela=info.name, chave_primaria=pk, campos={}, motivo="", esquema=info.schema)
    if fields_kind != "item":
        store = _find(columns, STORE_HINTS, taken)
        if store is not None:
            guess.loja, guess.loja_motivo = {"coluna": store}, "coluna de loja/empresa pelo nome"
            taken.add(store)
        modified = _find([c for c in columns if info.columns[c].kind in ("datetime", "date")], MODIFIED_HINTS, taken)
        if modified is not None:
            guess.modificado_em = modified
            taken.add(modified)
    deleted_at = _find([c for c in columns if info.columns[c].kind in ("datetime", "date")], DELETED_AT_HINTS, taken)
    deleted_flag = _find(columns, DELETED_FLAG_HINTS, taken)
    if deleted_at is not None:
        guess.exclusao, guess.exclusao_motivo = {"modo": "data", "coluna": deleted_at}, "coluna de data de exclusão"
        taken.add(deleted_at)
    elif deleted_flag is not None:
        flag = _flag_guess(info.columns[deleted_flag], _values(engine, info, deleted_flag, sample))
        if flag is not None and flag.conversor == "flag":
            t, f = flag.opcoes["verdadeiro"], flag.opcoes["falso"]
            guess.exclusao = {
                "modo": "flag",
                "coluna": deleted_flag,
                "valor_excluido": t[0] if isinstance(t, list) else t,
                "valor_ativo": f[0] if isinstance(f, list) else f,
            }
            guess.exclusao_motivo = "coluna de exclusão pelo nome; " + flag.motivo
            taken.add(deleted_flag)
    if fields_kind == "cliente":
        _place_documents(engine, info, sample, guess, taken)
    for field_name, names in hints.items():
        if field_name in ("cpf", "cnpj"):
            continue
        if field_name == "razao_social" and guess.campos.get("nome", Guess("")).coluna in ("razao", "razao_social"):
            continue
        col_name = _find(columns, names, taken)
        if col_name is None:
            continue
        values = _values(engine, info, col_name, sample)
        placed = _place_field(fields_kind, field_name, info.columns[col_name], values, False)
        if placed is None:
            continue
        guess.campos[field_name] = placed
        taken.add(col_name)
    _wire_person_type(engine, info, sample, guess, taken)  # clientes only: the one with documents
    # Insert defaults: NOT NULL columns with no default that nothing writes.
    written = {g.coluna for g in guess.campos.values()} | taken
    for col in info.columns.values():
        if col.nullable or col.has_default or col.autoincrement or col.name in written:
            continue
        guess.padroes_insercao[col.name] = _placeholder(col)
    return guess


def _placeholder(col: ColumnInfo) -> Any:
    if col.kind == "datetime":
        return "$agora"
    if col.kind == "date":
        return "$hoje"
    if col.kind in ("integer", "decimal", "float"):
        return 0
    if col.kind == "boolean":
        return False
    return ""


def _table_score(entity: str, info: TableInfo) -> int:
    name = _norm(info.name)
    tokens = set(name.split("_"))
    score = 0
    for i, hint in enumerate(TABLE_HINTS[entity]):
        if hint in tokens or name == hint:
            score += 30 - i
            break
        if len(hint) >= 4 and hint in name:
            score += 15 - i
            break
    cols = list(info.columns)
    for names in FIELD_HINTS[entity].values():
        if _find(cols, names, set()) is not None:
            score += 3
    if len(info.primary_key) == 1:
        score += 2
    if entity != "produto" and any(h in tokens for h in ("item", "itens", "det", "detalhe")):
        score -= 20  # a detail table, never the entity itself
    return score


def inspect_database(engine: Engine, *, sample: int = 200, schema: str | None = None) -> InspectResult:
    """Reflect the database and guess a map (read-only)."""
    result = InspectResult()
    infos = [i for i in (describe_table(engine, t, schema) for t in list_tables(engine, schema)) if i is not None]
    result.tabelas = [i.name for i in infos]
    used: set[str] = set()
    for entity in ENTITY_TYPES:
        scored = sorted(
            ((_table_score(entity, i), i.name, i) for i in infos if i.name not in used), key=lambda s: (-s[0], s[1])
        )
        for score, _name, info in scored:
            if score < 15:
                break
            guess = _guess_table(engine, entity, info, sample, entity)
            if any(f not in guess.campos for f in _required(entity)):
                continue  # e.g. `venda_itens` looks like a venda but has no cliente
            guess.motivo = f"tabela escolhida pelo nome e pelas colunas (pontuação {score})"
            result.entidades[entity] = guess
            used.add(info.name)
            break
    venda = result.entidades.get("venda")
    if venda is not None and "cliente" not in result.entidades:
        del result.entidades["venda"]
        venda = None
    if venda is not None:
        result.itens = _guess_items(engine, venda, [i for i in infos if i.name not in used], sample)
        if result.itens is not None and "produto" not in result.entidades:
            result.itens = None
    return result


def _required(entity: str) -> tuple[str, ...]:
    return {"cliente": ("nome",), "produto": ("nome",), "venda": ("cliente_id", "data"), "item": ("produto_id",)}[
        entity
    ]


def _guess_items(engine: Engine, venda: TableGuess, infos: list[TableInfo], sample: int) -> TableGuess | None:
    best: tuple[int, TableInfo, str] | None = None
    for info in infos:
        link = None
        for cols, referred, _ in info.foreign_keys:
            if referred == venda.tabela and len(cols) == 1:
                link = cols[0]
        if link is None and venda.chave_primaria in info.columns and venda.chave_primaria not in info.primary_key:
            link = venda.chave_primaria
        if link is None:
            continue
        name = _norm(info.name)
        score = 10 + sum(5 for h in ITEM_HINTS if h in name) + (5 if _norm(venda.tabela) in name else 0)
        if best is None or score > best[0]:
            best = (score, info, link)
    if best is None:
        return None
    _score, info, link = best
    guess = _guess_table(engine, "item", info, sample, "item")
    guess.campos = {k: v for k, v in guess.campos.items() if v.coluna != link}
    guess.padroes_insercao.pop(link, None)
    if any(f not in guess.campos for f in ("produto_id", "quantidade", "valor_unitario")):
        return None
    guess.coluna_venda = link
    guess.motivo = f"itens: a coluna '{link}' aponta para '{venda.tabela}'"
    return guess


# -- YAML with `# revisar` comments ------------------------------------------------------

REVIEW = "# revisar"


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("...").strip()


def render_draft(result: InspectResult) -> str:
    """The draft map as YAML, every guess marked `# revisar: <why>`."""
    lines = [
        "# Rascunho gerado por `crmsync schema inspect`. Revise cada linha marcada",
        "# '# revisar', depois valide com `crmsync schema check`.",
        "versao: 1",
        "entidades:",
    ]
    if not result.entidades:
        lines.append("  {}  # revisar: nenhuma tabela parecida com clientes, produtos ou vendas")
    for name, g in result.entidades.items():
        lines.append(f"  {name}:")
        lines += _render_table(g, "    ", with_store=True)
        if name == "venda" and result.itens is not None:
            lines.append("    itens:")
            lines += _render_table(result.itens, "      ", with_store=False)
    return "\n".join(lines) + "\n"


def _render_table(g: TableGuess, ind: str, *, with_store: bool) -> list[str]:
    out = [f"{ind}tabela: {g.tabela}  {REVIEW}: {g.motivo}"]
    if g.esquema:
        out.append(f"{ind}esquema: {g.esquema}")
    out.append(f"{ind}chave_primaria: {g.chave_primaria}  {REVIEW}")
    if g.coluna_venda is not None:
        out.append(f"{ind}coluna_venda: {g.coluna_venda}  {REVIEW}")
    if with_store:
        out.append(f"{ind}loja: {_scalar(g.loja)}  {REVIEW}: {g.loja_motivo}")
        if g.modificado_em:
            out.append(f"{ind}modificado_em: {g.modificado_em}  {REVIEW}: coluna de alteração pelo nome")
        else:
            out.append(f"{ind}# modificado_em: nenhuma coluna de alteração encontrada (só varreduras completas)")
    out.append(f"{ind}exclusao: {_scalar(g.exclusao)}  {REVIEW}: {g.exclusao_motivo}")
    if g.padroes_insercao:
        out.append(f"{ind}padroes_insercao:  {REVIEW}: colunas NOT NULL sem padrão que o crmsync preencherá")
        for col, value in g.padroes_insercao.items():
            out.append(f"{ind}  {col}: {_scalar(value)}  {REVIEW}")
    out.append(f"{ind}campos:")
    for name, guess in g.campos.items():
        out.append(f"{ind}  {name}: {_scalar(guess.as_map())}  {REVIEW}: {guess.motivo}")
    return out
