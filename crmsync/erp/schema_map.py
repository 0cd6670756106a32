"""The schema map: where each canonical field of cliente, produto and venda lives in the
ERP's own tables, and how its column spells it.

crmsync attaches to the tables the ERP already has (as Heroku Connect and SymmetricDS do)
instead of asking the ERP to move onto ours; our own built-in tables are just the default
map (`default_schema_map`), so the engine, API and console have one code path.

The YAML keys are Portuguese like the integration config, unknown keys are refused, and
every error names the key path (`entidades.cliente.campos.cpf.conversor: ...`), because a
typo in a map must never quietly mean "not synced". The row helpers at the end
(`row_to_canonical`, `to_columns`, ...) are pure, so the engine and `schema check` convert
rows the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from crmsync.erp.converters import (
    ConversionError,
    Converter,
    ConverterOptionError,
    Documento,
    get_converter,
)
from crmsync.model.canonical import CANONICAL_MODELS, ENTITY_ALIASES, ENTITY_TYPES, ItemVendaCanon
from crmsync.settings import get_settings

log = logging.getLogger("crmsync.erp")

#: canonical fields a map may place, per entity of model.canonical (venda's items have
#: their own map, `item`).
CANONICAL_FIELDS: dict[str, frozenset[str]] = {
    **{entity: frozenset(model.model_fields) - {"itens"} for entity, model in CANONICAL_MODELS.items()},
    "item": frozenset(ItemVendaCanon.model_fields),
}
#: fields a record cannot exist without: the map must place them.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "cliente": ("nome",),
    "produto": ("nome",),
    "venda": ("cliente_id", "data"),
    "item": ("produto_id", "quantidade", "valor_unitario"),
}
#: markers allowed as insert defaults, resolved at write time.
DEFAULT_MARKERS = ("$agora", "$hoje")

# Plain SQL identifiers only: the trigger DDL and the scans quote them, but a name with
# quotes, spaces or dots in a hand-edited map is far more likely a mistake than real.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,63}")


class SchemaMapError(ValueError):
    """An invalid map, with the offending key path named (shown to the user as is)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"mapa de esquema inválido em '{key}': {message}")
        self.key = key
        self.message = message


class FieldProblem(BaseModel):
    """One field of one row that does not convert."""

    field: str
    column: str
    reason: str


class RowConversionError(ValueError):
    """A row with fields that do not convert; every bad field is listed."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field} ({p.column}): {p.reason}" for p in problems))
        self.problems = problems


def _identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"nome inválido '{value}' (letras, dígitos e _; até 64 caracteres)")
    return value


#: a table or column name of the map: checked once here, for every key that names one.
Identifier = Annotated[str, AfterValidator(_identifier)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMap(_Strict):
    """Where one canonical field lives: its column, converter and whether we may write it."""

    coluna: Identifier
    conversor: str = "texto"
    somente_leitura: bool = False
    opcoes: dict[str, Any] = Field(default_factory=dict)
    _converter: Converter = PrivateAttr()

    @model_validator(mode="after")
    def _build_converter(self) -> FieldMap:
        # Built here so an unknown converter or option fails at load time, with the key.
        self._converter = get_converter(self.conversor, self.opcoes)
        return self

    @property
    def converter(self) -> Converter:
        return self._converter


class LojaMap(_Strict):
    """The store of a row: a column holding crmsync's store id, or one fixed store for a
    single-store ERP."""

    coluna: Identifier | None = None
    fixa: int | None = None

    @model_validator(mode="after")
    def _one_of(self) -> LojaMap:
        if (self.coluna is None) == (self.fixa is None):
            raise ValueError("informe 'coluna' ou 'fixa' (uma das duas)")
        return self


class ExclusaoMap(_Strict):
    """How the ERP deletes a row: really (`fisico`), by a flag column, or by a date column
    (whose `valor_ativo`, when the column is NOT NULL, is its "no date", e.g.
    '0000-00-00 00:00:00'; NULL and a zero date always mean "not deleted")."""

    modo: Literal["fisico", "flag", "data"] = "fisico"
    coluna: Identifier | None = None
    valor_excluido: Any = None
    valor_ativo: Any = None

    @model_validator(mode="after")
    def _fits_mode(self) -> ExclusaoMap:
        if self.modo == "fisico":
            if self.coluna is not None or self.valor_excluido is not None or self.valor_ativo is not None:
                raise ValueError("modo 'fisico' não usa coluna nem valores")
            return self
        if self.coluna is None:
            raise ValueError(f"modo '{self.modo}' precisa de 'coluna'")
        if self.modo == "flag":
            if self.valor_excluido is None or self.valor_ativo is None:
                raise ValueError("modo 'flag' precisa de 'valor_excluido' e 'valor_ativo'")
            if str(self.valor_excluido) == str(self.valor_ativo):
                raise ValueError("'valor_excluido' e 'valor_ativo' devem ser diferentes")
        elif self.valor_excluido is not None:
            raise ValueError("modo 'data' não usa valor_excluido (a data preenchida marca a exclusão)")
        return self


class TableMap(_Strict):
    """What the entity and the items maps share: a table, its key, fields, deletes, defaults."""

    tabela: Identifier
    esquema: Identifier | None = None
    chave_primaria: Identifier
    exclusao: ExclusaoMap = Field(default_factory=ExclusaoMap)
    padroes_insercao: dict[str, Any] = Field(default_factory=dict)
    campos: dict[str, FieldMap] = Field(default_factory=dict)

    @field_validator("padroes_insercao")
    @classmethod
    def _defaults(cls, v: dict[str, Any]) -> dict[str, Any]:
        for column, value in v.items():
            _identifier(column)
            if isinstance(value, str) and value.startswith("$") and value not in DEFAULT_MARKERS:
                raise ValueError(f"marcador desconhecido '{value}' em '{column}' (use {', '.join(DEFAULT_MARKERS)})")
            if isinstance(value, (dict, list)):
                raise ValueError(f"'{column}': use um valor simples")
        return v

    # -- structure -----------------------------------------------------------------------

    def _structural_columns(self) -> dict[str, str]:
        """Columns with a fixed role (key -> role label), which no field may also write."""
        roles = {self.chave_primaria: "chave_primaria"}
        if self.exclusao.coluna is not None:
            roles.setdefault(self.exclusao.coluna, "exclusao.coluna")
        return roles

    def _check_fields(self, kind: str) -> None:
        """Refuse unknown fields, two fields on one column, a missing required field and a
        field writing a column with a fixed role (raising ValueError with `campos.<f>`)."""
        known = CANONICAL_FIELDS[kind]
        for name in self.campos:
            if name not in known:
                raise _KeyedError(
                    f"campos.{name}", f"campo canônico desconhecido (use um de: {', '.join(sorted(known))})"
                )
        for name in REQUIRED_FIELDS[kind]:
            if name not in self.campos:
                raise _KeyedError(f"campos.{name}", "campo obrigatório não mapeado")
        by_column: dict[str, str] = {}
        roles = self._structural_columns()
        for name, fmap in self.campos.items():
            other = by_column.get(fmap.coluna)
            if other is not None and not _shared_document(self.campos[other], fmap):
                raise _KeyedError(f"campos.{name}.coluna", f"a coluna '{fmap.coluna}' já é do campo '{other}'")
            by_column.setdefault(fmap.coluna, name)
            role = roles.get(fmap.coluna)
            if role is not None and not fmap.somente_leitura:
                raise _KeyedError(
                    f"campos.{name}.coluna",
                    f"a coluna '{fmap.coluna}' é a {role}; mapeie-a com somente_leitura: true",
                )
        # A default may name a field's column too: it is what an insert writes when the
        # field has no value (a NOT NULL `situacao` of a venda that came without one).
        for column in self.padroes_insercao:
            if column == self.chave_primaria:
                raise _KeyedError(f"padroes_insercao.{column}", "a chave primária não recebe padrão")

    # -- rows ----------------------------------------------------------------------------

    def read_columns(self) -> list[str]:
        """Every column a scan needs, key first, each once."""
        cols = [self.chave_primaria, *self._extra_read_columns(), *(f.coluna for f in self.campos.values())]
        if self.exclusao.coluna is not None:
            cols.append(self.exclusao.coluna)
        return list(dict.fromkeys(cols))

    def _extra_read_columns(self) -> list[str]:
        return []

    def writable_columns(self) -> set[str]:
        """Columns crmsync may ever write in this table (fields, defaults, delete marker)."""
        cols = {f.coluna for f in self.campos.values() if not f.somente_leitura}
        cols |= set(self.padroes_insercao)
        if self.exclusao.coluna is not None:
            cols.add(self.exclusao.coluna)
        return cols

    @cached_property
    def _read_plan(self) -> tuple[tuple[str, str, Callable[[Any], Any], Documento | None], ...]:
        """(field, column, reader, typed document) per field, resolved once: a full hash scan
        calls `row_to_canonical` for every row, and the attribute look-ups were most of its
        cost. `tipo_pessoa` is read first, so a `documento` column reads as the row's type
        says (CPF for PF, CNPJ for PJ) when the map has one."""
        typed = "tipo_pessoa" in self.campos
        fields = sorted(self.campos.items(), key=lambda kv: kv[0] != "tipo_pessoa")
        return tuple(
            (
                name,
                f.coluna,
                f.converter.to_canonical,
                f.converter if typed and isinstance(f.converter, Documento) else None,
            )
            for name, f in fields
        )

    def row_to_canonical(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The mapped fields of a row, canonical; RowConversionError lists every bad field."""
        out: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        get = row.get
        for name, column, read, document in self._read_plan:
            try:
                value = (
                    read(get(column))
                    if document is None
                    else document.to_canonical_as(get(column), out.get("tipo_pessoa"))
                )
            except ConversionError as exc:
                problems.append(FieldProblem(field=name, column=column, reason=exc.reason))
                continue
            if value is None and name in out:
                continue  # cpf and cnpj sharing a `documento` column: keep the one found
            out[name] = value
        if problems:
            raise RowConversionError(problems)
        return out

    def to_columns(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Column values for the writable mapped fields present in `values` (canonical).
        Raises RowConversionError when a value does not fit its column."""
        out: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        for name, value in values.items():
            fmap = self.campos.get(name)
            if fmap is None or fmap.somente_leitura:
                continue
            try:
                raw = fmap.converter.to_column(value)
            except ConversionError as exc:
                problems.append(FieldProblem(field=name, column=fmap.coluna, reason=exc.reason))
                continue
            if fmap.coluna in out and (raw is None or raw == fmap.converter.vazio):
                continue  # the other document of a shared column holds the value
            out[fmap.coluna] = raw
        if problems:
            raise RowConversionError(problems)
        return out

    def insert_defaults(self, now: datetime) -> dict[str, Any]:
        """`padroes_insercao` with the markers resolved (`$agora` = now, `$hoje` = today).
        A default on a field's column applies only when the record has no value for it:
        the caller lays `to_columns` over these, skipping None."""
        out: dict[str, Any] = {}
        for column, value in self.padroes_insercao.items():
            if value == "$agora":
                out[column] = now
            elif value == "$hoje":
                out[column] = now.date()
            else:
                out[column] = value
        return out

    def is_deleted(self, row: Mapping[str, Any]) -> bool:
        """Soft-deleted by the map's convention (a hard-deleted row is simply absent)."""
        ex = self.exclusao
        if ex.modo == "fisico" or ex.coluna is None:
            return False
        raw = row.get(ex.coluna)
        if ex.modo == "data":
            if raw is None or (ex.valor_ativo is not None and str(raw).strip() == str(ex.valor_ativo).strip()):
                return False
            return not (isinstance(raw, str) and (not raw.strip() or raw.startswith("0000-00-00")))
        if raw is None:
            return False
        return str(raw).strip() == str(ex.valor_excluido).strip()

    def deleted_values(self, now: datetime) -> dict[str, Any]:
        """What a soft delete writes ({} for `fisico`: the row is deleted instead)."""
        ex = self.exclusao
        if ex.coluna is None:
            return {}
        return {ex.coluna: now if ex.modo == "data" else ex.valor_excluido}

    def undeleted_values(self) -> dict[str, Any]:
        """What an insert (or a restore) writes in the delete column."""
        ex = self.exclusao
        if ex.coluna is None:
            return {}
        return {ex.coluna: ex.valor_ativo}  # for `data`: None, or the map's "no date" value


class _KeyedError(ValueError):
    """Raised inside validation with a key path relative to the model being validated."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _shared_document(a: FieldMap, b: FieldMap) -> bool:
    """cpf and cnpj may share one column, both with the `documento` converter."""
    ca, cb = a.converter, b.converter
    return isinstance(ca, Documento) and isinstance(cb, Documento) and ca.tipo != cb.tipo


class ItemsMap(TableMap):
    """A venda's items: their own table, pointing at the venda by `coluna_venda`."""

    coluna_venda: Identifier
    coluna_valor_total: Identifier | None = None

    def _structural_columns(self) -> dict[str, str]:
        roles = super()._structural_columns()
        roles.setdefault(self.coluna_venda, "coluna_venda")
        if self.coluna_valor_total is not None:
            roles.setdefault(self.coluna_valor_total, "coluna_valor_total")
        return roles

    def _extra_read_columns(self) -> list[str]:
        return [self.coluna_venda]

    def writable_columns(self) -> set[str]:
        cols = super().writable_columns() | {self.coluna_venda}
        if self.coluna_valor_total is not None:
            cols.add(self.coluna_valor_total)
        return cols


class EntityMap(TableMap):
    """One entity (cliente, produto, venda) in the ERP's table."""

    loja: LojaMap
    modificado_em: Identifier | None = None
    itens: ItemsMap | None = None

    def _structural_columns(self) -> dict[str, str]:
        roles = super()._structural_columns()
        if self.loja.coluna is not None:
            roles.setdefault(self.loja.coluna, "loja.coluna")
        if self.modificado_em is not None:
            roles.setdefault(self.modificado_em, "modificado_em")
        return roles

    def _extra_read_columns(self) -> list[str]:
        cols = []
        if self.loja.coluna is not None:
            cols.append(self.loja.coluna)
        if self.modificado_em is not None:
            cols.append(self.modificado_em)
        return cols

    def writable_columns(self) -> set[str]:
        """Also the store column (on insert) and the modified column, which every write
        sets to its time so the ERP, like crmsync's own scans, sees the change."""
        cols = super().writable_columns()
        if self.loja.coluna is not None:
            cols.add(self.loja.coluna)
        if self.modificado_em is not None:
            cols.add(self.modificado_em)
        return cols

    def store_of(self, row: Mapping[str, Any]) -> int:
        """crmsync's store id of a row."""
        if self.loja.fixa is not None:
            return self.loja.fixa
        assert self.loja.coluna is not None
        return int(row[self.loja.coluna])

    def store_values(self, id_loja: int) -> dict[str, Any]:
        """What an insert writes for the store ({} for a fixed store)."""
        return {} if self.loja.coluna is None else {self.loja.coluna: id_loja}


class SchemaMap(_Strict):
    versao: Literal[1] = 1
    entidades: dict[str, EntityMap]

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("entidades"), Mapping):
            ents: dict[str, Any] = {}
            for key, value in data["entidades"].items():
                name = ENTITY_ALIASES.get(str(key), str(key))
                if name not in ENTITY_TYPES:
                    raise _KeyedError(f"entidades.{key}", "entidade desconhecida (use cliente, produto ou venda)")
                ents[name] = value
            data = {**data, "entidades": ents}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> SchemaMap:
        if not self.entidades:
            raise _KeyedError("entidades", "mapeie ao menos uma entidade")
        tables: dict[tuple[str | None, str], str] = {}
        for name, ent in self.entidades.items():
            try:
                ent._check_fields(name)
                if name != "venda" and ent.itens is not None:
                    raise _KeyedError("itens", "só a venda tem itens")
                if ent.itens is not None:
                    try:
                        ent.itens._check_fields("item")
                    except _KeyedError as exc:
                        raise _KeyedError(f"itens.{exc.key}", exc.message) from None
            except _KeyedError as exc:
                raise _KeyedError(f"entidades.{name}.{exc.key}", exc.message) from None
            for key, table in ((f"entidades.{name}.tabela", ent), (f"entidades.{name}.itens.tabela", ent.itens)):
                if table is None:
                    continue
                ident = (table.esquema, table.tabela)
                if ident in tables:
                    raise _KeyedError(key, f"a tabela '{table.tabela}' já é de '{tables[ident]}'")
                if table.tabela.lower().startswith("crm_"):
                    raise _KeyedError(key, "tabelas 'crm_*' são do próprio crmsync")
                tables[ident] = key.removeprefix("entidades.").removesuffix(".tabela")
        venda = self.entidades.get("venda")
        if venda is not None:
            if "cliente" not in self.entidades:
                raise _KeyedError("entidades.venda", "a venda referencia clientes: mapeie também 'cliente'")
            if venda.itens is not None and "produto" not in self.entidades:
                raise _KeyedError("entidades.venda.itens", "os itens referenciam produtos: mapeie também 'produto'")
        return self

    def entity(self, name: str) -> EntityMap | None:
        return self.entidades.get(name)


def _error_from_validation(exc: ValidationError) -> SchemaMapError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _KeyedError):
        # A keyed error raised by a model validator: its path is relative to that model.
        return SchemaMapError(".".join([*loc, ctx_error.key]), ctx_error.message)
    if isinstance(ctx_error, ConverterOptionError):
        return SchemaMapError(".".join([*loc, "opcoes", ctx_error.key]), ctx_error.message)
    if isinstance(ctx_error, ValueError) and str(ctx_error).startswith("conversor desconhecido"):
        return SchemaMapError(".".join([*loc, "conversor"]), str(ctx_error))
    key = ".".join(loc) or "mapa"
    if err["type"] == "missing":
        return SchemaMapError(key, "chave obrigatória ausente")
    if err["type"] == "extra_forbidden":
        return SchemaMapError(key, "chave desconhecida")
    return SchemaMapError(key, str(err["msg"]).removeprefix("Value error, "))


def parse_schema_map(data: Any) -> SchemaMap:
    """Validate a map given as plain data (parsed YAML)."""
    if not isinstance(data, Mapping):
        raise SchemaMapError("mapa", "o mapa deve ser um objeto YAML com 'versao' e 'entidades'")
    try:
        return SchemaMap.model_validate(dict(data))
    except ValidationError as exc:
        raise _error_from_validation(exc) from None
    except _KeyedError as exc:
        raise SchemaMapError(exc.key, exc.message) from None


def load_schema_map(source: str | Path | Mapping[str, Any]) -> SchemaMap:
    """A map from a YAML file path, YAML text (containing a newline) or parsed data."""
    if isinstance(source, Mapping):
        return parse_schema_map(source)
    text: str
    if isinstance(source, Path) or "\n" not in source:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaMapError(str(path), f"não foi possível ler o arquivo: {exc.strerror}") from None
    else:
        text = source
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaMapError("mapa", f"YAML inválido: {str(exc).splitlines()[0]}") from None
    return parse_schema_map(data)


def _same_name_fields(names: list[str], converters: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        spec: dict[str, Any] = {"coluna": name}
        conv = converters.get(name)
        if conv is not None:
            spec["conversor"] = conv
        out[name] = spec
    return out


_OUR_EXCLUSAO = {"modo": "data", "coluna": "deletado_em"}
_OUR_DEFAULTS = {"cadastrado_em": "$agora"}


def default_schema_map_data() -> dict[str, Any]:
    """Our built-in tables (crmsync.db.local) as a map, as plain data."""
    cliente_conv = {
        "cpf": "cpf_digitos",
        "cnpj": "cnpj_digitos",
        "email": "email",
        "telefone": "telefone",
        "celular": "telefone",
        "cep": "cep",
        "data_nascimento": "data",
        "ativo": "booleano",
    }
    cliente = _same_name_fields(sorted(CANONICAL_FIELDS["cliente"]), cliente_conv)
    for phone in ("telefone", "celular"):
        cliente[phone]["opcoes"] = {"formato": "e164"}
    money = {"conversor": "decimal", "opcoes": {"casas": 4}}
    produto = _same_name_fields(sorted(CANONICAL_FIELDS["produto"]), {"ativo": "booleano"})
    for field in ("valor_custo", "valor_venda", "estoque"):
        produto[field].update(money)
    venda = _same_name_fields(["codigo", "data", "situacao", "observacoes"], {"data": "data"})
    venda["cliente_id"] = {"coluna": "id_cliente", "conversor": "inteiro"}
    venda["valor_total"] = {"coluna": "valor_total", **money}
    itens = {
        "produto_id": {"coluna": "id_produto", "conversor": "inteiro"},
        "quantidade": {"coluna": "quantidade", **money},
        "valor_unitario": {"coluna": "valor_unitario", **money},
        "desconto": {"coluna": "desconto", **money},
    }

    def entity(table: str, campos: dict[str, Any]) -> dict[str, Any]:
        return {
            "tabela": table,
            "chave_primaria": "id",
            "loja": {"coluna": "id_loja"},
            "modificado_em": "modificado_em",
            "exclusao": dict(_OUR_EXCLUSAO),
            "padroes_insercao": dict(_OUR_DEFAULTS),
            "campos": campos,
        }

    venda_map = entity("vendas", venda)
    venda_map["padroes_insercao"]["situacao"] = "Em aberto"
    venda_map["itens"] = {
        "tabela": "venda_itens",
        "chave_primaria": "id",
        "coluna_venda": "id_venda",
        "coluna_valor_total": "valor_total",
        "campos": itens,
    }
    return {
        "versao": 1,
        "entidades": {
            "cliente": entity("clientes", cliente),
            "produto": entity("produtos", produto),
            "venda": venda_map,
        },
    }


_DEFAULT: SchemaMap | None = None


def default_schema_map() -> SchemaMap:
    """Our own tables (lojas/clientes/produtos/vendas/venda_itens) expressed as a map, so
    the engine reads and writes them through the same code as an ERP's."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = parse_schema_map(default_schema_map_data())
    return _DEFAULT


def is_default_map(schema_map: SchemaMap) -> bool:
    return schema_map == default_schema_map()


@cache
def _schema_from_file(path: str, mtime: float) -> SchemaMap | SchemaMapError:
    """The map of one version of the file (its mtime): a refused version is remembered too,
    so a bad edit is parsed once, not on every call."""
    try:
        return load_schema_map(Path(path))
    except SchemaMapError as exc:
        return exc


_LAST_GOOD: dict[str, SchemaMap] = {}


def active_schema_map() -> SchemaMap:
    """The map the process runs on: ``CRMSYNC_SCHEMA_MAP`` (a YAML file) or our own tables.
    Here, not in crmsync.erp.table, so the shared config can ask which entities are mapped
    without importing the engine's table side (and the database models it uses).

    An edit that breaks the file (or deletes it) while crmsync runs does not stop the sync:
    the last map that loaded stays in use, and the error is logged once per version of the
    file. Without a good map yet (at start-up) the error is raised: `serve`, `worker` and
    every command then stop with exit 2 naming the key (see crmsync.cli.admin.migrate)."""
    path = get_settings().schema_map.strip()
    if not path:
        return default_schema_map()
    try:
        loaded = _schema_from_file(path, Path(path).stat().st_mtime)
    except OSError as exc:
        loaded = SchemaMapError(path, f"não foi possível ler o arquivo: {exc.strerror}")
    if isinstance(loaded, SchemaMap):
        _LAST_GOOD[path] = loaded
        return loaded
    last = _LAST_GOOD.get(path)
    if last is None:
        raise loaded
    if str(loaded) not in _REPORTED:
        _REPORTED.add(str(loaded))
        log.error("schema map %s refused, the previous map stays in use: %s", path, loaded)
    return last


_REPORTED: set[str] = set()
