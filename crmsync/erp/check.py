"""`crmsync schema check`: a schema map against the live ERP database, before any sync.

Three kinds of finding:
- problems of the map itself against the database (a table or column that does not exist,
  a converter that does not fit the column's type, a latin1 column written without the
  charset guard): nothing can sync until they are fixed;
- rows that will not convert (invalid CPF check digit, empty name, a date of 31 Feb, a flag
  value nobody mapped), listed with table, key and reason: these would become failed items;
- warnings (a NOT NULL column without a default that an insert would leave empty).

Only reads: a check never writes to the database.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from crmsync.erp.dbinfo import ColumnInfo, TableInfo, describe_table, sample_rows
from crmsync.erp.schema_map import REQUIRED_FIELDS, EntityMap, FieldMap, RowConversionError, SchemaMap, TableMap
from crmsync.model.canonical import canonicalize

# Column kinds each converter reads and writes correctly.
_TEXT = {"text"}
_NUMBER = {"integer", "decimal"}
CONVERTER_KINDS: dict[str, set[str]] = {
    "texto": _TEXT,
    "email": _TEXT,
    "cpf_formatado": _TEXT,
    "cpf_digitos": _TEXT,
    "cnpj_formatado": _TEXT,
    "cnpj_digitos": _TEXT,
    "cpf_numero": _NUMBER,
    "cnpj_numero": _NUMBER,
    "documento": _TEXT | _NUMBER,
    "cep": _TEXT | _NUMBER,
    "telefone": _TEXT | {"integer"},
    "flag": _TEXT | {"integer", "boolean"},
    "booleano": {"boolean", "integer"},
    "valores": _TEXT | {"integer"},
    "data": {"date", "datetime"} | _TEXT,
    "data_zero": {"date", "datetime"} | _TEXT,
    "datahora": {"datetime"} | _TEXT,
    "datahora_zero": {"datetime"} | _TEXT,
    "dinheiro_virgula": _TEXT,
    # Our own Money column is text on SQLite (no exact decimal there).
    "decimal": _NUMBER | {"float"} | _TEXT,
    "inteiro": _NUMBER | _TEXT,
}
_NARROW_CHARSETS = {"latin1", "cp1252", "utf8mb3", "utf8", "ascii"}
_CHARSET_OPTION = {"latin1": "latin1", "cp1252": "latin1", "utf8mb3": "utf8mb3", "utf8": "utf8mb3", "ascii": "latin1"}


@dataclass
class RowFailure:
    """A row that will not convert (a failed item once synced)."""

    entidade: str
    tabela: str
    chave: str
    campo: str
    coluna: str
    motivo: str


@dataclass
class CheckReport:
    problemas: list[str] = field(default_factory=list)
    avisos: list[str] = field(default_factory=list)
    linhas_com_erro: list[RowFailure] = field(default_factory=list)
    linhas_verificadas: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problemas and not self.linhas_com_erro

    def summary(self) -> str:
        """One line naming the first problem (the CLI's stderr line on exit 2)."""
        if self.problemas:
            more = f" (e mais {len(self.problemas) - 1} problema(s))" if len(self.problemas) > 1 else ""
            return f"mapa não confere com o banco: {self.problemas[0]}{more}"
        if self.linhas_com_erro:
            first = self.linhas_com_erro[0]
            n = len(self.linhas_com_erro)
            return (
                f"{n} linha(s) não convertem; a primeira: {first.tabela} chave {first.chave}, "
                f"{first.campo} ({first.coluna}): {first.motivo}"
            )
        return "mapa confere com o banco"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problemas": self.problemas,
            "avisos": self.avisos,
            "linhas_com_erro": [asdict(r) for r in self.linhas_com_erro],
            "linhas_verificadas": self.linhas_verificadas,
        }


def _check_column(report: CheckReport, where: str, info: TableInfo, name: str | None) -> ColumnInfo | None:
    if name is None:
        return None
    col = info.columns.get(name)
    if col is None:
        report.problemas.append(f"{where}: coluna '{name}' não existe em '{info.name}'")
    return col


def _check_field(report: CheckReport, where: str, info: TableInfo, fmap: FieldMap) -> None:
    col = _check_column(report, f"{where}.coluna", info, fmap.coluna)
    if col is None:
        return
    kinds = CONVERTER_KINDS.get(fmap.conversor, set())
    if col.kind != "other" and col.kind not in kinds:
        report.problemas.append(
            f"{where}.conversor: '{fmap.conversor}' não serve para a coluna '{col.name}' ({col.type_name})"
        )
    if not fmap.somente_leitura:
        _check_capacity(report, where, col, fmap)
    charset = (col.charset or "").lower()
    free_text = fmap.conversor in ("texto", "email")  # the others write ASCII spellings
    if free_text and not fmap.somente_leitura and col.kind == "text" and charset in _NARROW_CHARSETS:
        wanted = _CHARSET_OPTION[charset]
        if str(fmap.opcoes.get("charset", "")).lower() not in (wanted, "cp1252" if wanted == "latin1" else wanted):
            report.problemas.append(
                f"{where}.opcoes.charset: a coluna '{col.name}' é {charset}; "
                f"use charset: {wanted} (senão um caractere fora dele viraria '?')"
            )
    sized = "tamanho" in fmap.opcoes or "largura" in fmap.opcoes
    if free_text and not fmap.somente_leitura and col.kind == "text" and col.length and not sized:
        report.avisos.append(
            f"{where}.opcoes.tamanho: a coluna '{col.name}' guarda {col.length} caracteres; "
            f"com tamanho: {col.length} um texto maior vira item falho em vez de erro do banco"
        )


def _check_capacity(report: CheckReport, where: str, col: ColumnInfo, fmap: FieldMap) -> None:
    """A map that lets through more than the column keeps: the database would refuse the
    write (text) or, worse, round it silently (decimals), and the next scan would see a
    change nobody made."""
    for option in ("tamanho", "largura"):
        size = fmap.opcoes.get(option)
        if col.kind == "text" and col.length and isinstance(size, int) and size > col.length:
            report.problemas.append(
                f"{where}.opcoes.{option}: {size} é maior que a coluna '{col.name}' ({col.length} caracteres)"
            )
    if fmap.conversor == "decimal" and col.kind == "decimal" and col.scale is not None:
        casas = fmap.opcoes.get("casas")
        if casas is None or (isinstance(casas, int) and casas > col.scale):
            report.problemas.append(
                f"{where}.opcoes.casas: a coluna '{col.name}' guarda {col.scale} casas decimais; "
                f"use casas: {col.scale} (o banco arredondaria em silêncio)"
            )


def _check_table(report: CheckReport, engine: Engine, where: str, tmap: TableMap) -> TableInfo | None:
    info = describe_table(engine, tmap.tabela, tmap.esquema)
    if info is None:
        report.problemas.append(f"{where}.tabela: tabela '{tmap.tabela}' não existe")
        return None
    key = _check_column(report, f"{where}.chave_primaria", info, tmap.chave_primaria)
    if key is not None and key.kind not in ("integer", "other"):
        report.problemas.append(
            f"{where}.chave_primaria: a coluna '{key.name}' ({key.type_name}) não é inteira; "
            "o crmsync sincroniza tabelas de chave inteira"
        )
    elif key is not None and not key.autoincrement:
        report.avisos.append(
            f"{where}.chave_primaria: '{key.name}' não é numerada pelo banco (AUTO_INCREMENT/SERIAL); "
            "inclusões pelo crmsync falhariam"
        )
    if info.primary_key and info.primary_key != [tmap.chave_primaria]:
        report.avisos.append(
            f"{where}.chave_primaria: a chave primária de '{info.name}' é {', '.join(info.primary_key)}"
        )
    _check_column(report, f"{where}.exclusao.coluna", info, tmap.exclusao.coluna)
    for name, fmap in tmap.campos.items():
        _check_field(report, f"{where}.campos.{name}", info, fmap)
    for column in tmap.padroes_insercao:
        _check_column(report, f"{where}.padroes_insercao.{column}", info, column)
    written = tmap.writable_columns() | {tmap.chave_primaria}
    for col in info.columns.values():
        if not col.nullable and not col.has_default and not col.autoincrement and col.name not in written:
            report.avisos.append(
                f"{where}.padroes_insercao: a coluna '{col.name}' é NOT NULL sem padrão; "
                "uma inclusão pelo crmsync falharia (defina um valor em padroes_insercao)"
            )
    return info


def _sample(
    report: CheckReport, engine: Engine, entity: str, label: str, tmap: TableMap, info: TableInfo, limit: int
) -> None:
    cols = [c for c in tmap.read_columns() if c in info.columns]
    if len(cols) != len(tmap.read_columns()):
        return  # missing columns already reported
    count = 0
    canon_entity = "venda" if entity == "item" else entity
    for row in sample_rows(engine, tmap.tabela, cols, schema=tmap.esquema, limit=limit, order_by=tmap.chave_primaria):
        count += 1
        key = str(row.get(tmap.chave_primaria))
        if tmap.is_deleted(row):
            continue
        try:
            values = tmap.row_to_canonical(row)
        except RowConversionError as exc:
            for p in exc.problems:
                report.linhas_com_erro.append(RowFailure(entity, tmap.tabela, key, p.field, p.column, p.reason))
            continue
        empty = [f for f in REQUIRED_FIELDS[entity] if values.get(f) is None]
        for field_name in empty:
            column = tmap.campos[field_name].coluna
            report.linhas_com_erro.append(
                RowFailure(entity, tmap.tabela, key, field_name, column, "campo obrigatório vazio")
            )
        if empty or entity == "item":
            continue  # items are validated inside their venda by the engine
        try:
            canonicalize(canon_entity, values, partial=True)
        except (ValidationError, ValueError) as exc:
            for field_name, reason in _reasons(exc):
                column = tmap.campos[field_name].coluna if field_name in tmap.campos else "?"
                report.linhas_com_erro.append(RowFailure(entity, tmap.tabela, key, field_name, column, reason))
    report.linhas_verificadas[label] = count


def _reasons(exc: Exception) -> list[tuple[str, str]]:
    if isinstance(exc, ValidationError):
        return [
            (str(err["loc"][0]) if err["loc"] else "?", str(err["msg"]).removeprefix("Value error, "))
            for err in exc.errors()
        ]
    return [("?", str(exc))]


#: fields that identify a customer on both sides (the duplicate matching's keys).
UNIQUE_KEYS = frozenset({"email", "cpf", "cnpj"})


def check_schema_map(schema_map: SchemaMap, engine: Engine, *, sample: int = 1000) -> CheckReport:
    """Validate `schema_map` against the database behind `engine` (read-only)."""
    report = CheckReport()
    cliente = schema_map.entidades.get("cliente")
    if cliente is not None and not UNIQUE_KEYS & set(cliente.campos):
        report.avisos.append(
            "entidades.cliente: nenhuma chave única mapeada (email, cpf ou cnpj): sem ela o crmsync não "
            "reconhece no CRM um cliente que já existe lá, e o cadastra de novo"
        )
    for name, ent in schema_map.entidades.items():
        where = f"entidades.{name}"
        info = _check_table(report, engine, where, ent)
        if info is not None:
            _check_entity_columns(report, where, info, ent)
        items_info = None
        if ent.itens is not None:
            items_info = _check_table(report, engine, f"{where}.itens", ent.itens)
            if items_info is not None:
                _check_column(report, f"{where}.itens.coluna_venda", items_info, ent.itens.coluna_venda)
                _check_column(report, f"{where}.itens.coluna_valor_total", items_info, ent.itens.coluna_valor_total)
        if report.problemas:
            continue
        if info is not None:
            _sample(report, engine, name, name, ent, info, sample)
        if ent.itens is not None and items_info is not None:
            _sample(report, engine, "item", f"{name}.itens", ent.itens, items_info, sample)
    return report


def _check_entity_columns(report: CheckReport, where: str, info: TableInfo, ent: EntityMap) -> None:
    _check_column(report, f"{where}.loja.coluna", info, ent.loja.coluna)
    col = _check_column(report, f"{where}.modificado_em", info, ent.modificado_em)
    if col is not None and col.kind not in ("datetime", "date", "integer", "other"):
        report.problemas.append(
            f"{where}.modificado_em: a coluna '{col.name}' ({col.type_name}) não é data/hora nem contador"
        )
