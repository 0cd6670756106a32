"""SQLite-backed record store of the sandbox.

One table per resource: the canonical JSON record in ``body`` plus a few indexed columns for
filters and ordering, so a page deep into 100,000 rows is an index walk + LIMIT/OFFSET and only
the page's rows are deserialised. One connection guarded by a lock: uvicorn runs endpoint work
in a thread pool and tests poke the store directly from their own thread.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from crmsync.sandbox import lookups
from crmsync.sandbox.formats import SandboxClock, blank_to_none, digits, parse_date, parse_int
from crmsync.sandbox.records import (
    REQUIRED,
    NotFound,
    ValidationFailed,
    build_cliente,
    build_produto,
    build_venda,
    new_hash,
    produto_input_from_record,
)

RESOURCES = ("clientes", "produtos", "vendas")
SINGULAR = {"clientes": "cliente", "produtos": "produto", "vendas": "venda"}
DELETE_MESSAGES = {
    "clientes": "Cliente excluido com sucesso",
    "produtos": "Produto excluido com sucesso",
    "vendas": "Venda excluida com sucesso",
}
REQUIRED_FIELDS = {
    "clientes": ("tipo_pessoa", "nome"),
    "produtos": ("nome", "codigo_interno", "valor_custo"),
    "vendas": ("cliente_id", "situacao_id", "data"),
}
ORDER_COLUMNS = {
    "id": "id",
    "nome": "nome",
    "cadastrado_em": "cadastrado_em",
    "modificado_em": "modificado_em",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clientes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, nome TEXT, busca TEXT, tipo_pessoa TEXT, doc TEXT, phones TEXT,
    email TEXT, ativo TEXT, cidades TEXT, estados TEXT, cadastrado_em TEXT, modificado_em TEXT,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_clientes_doc ON clientes (doc);
CREATE INDEX IF NOT EXISTS ix_clientes_email ON clientes (email);
CREATE TABLE IF NOT EXISTS produtos (
    id INTEGER PRIMARY KEY AUTOINCREMENT, nome TEXT, busca TEXT, codigo_interno TEXT, grupo_id TEXT,
    ativo TEXT,
    loja_id TEXT, cadastrado_em TEXT, modificado_em TEXT, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_produtos_codigo ON produtos (codigo_interno);
CREATE TABLE IF NOT EXISTS vendas (
    id INTEGER PRIMARY KEY AUTOINCREMENT, nome TEXT, busca TEXT, codigo INTEGER, tipo TEXT,
    cliente_id INTEGER,
    situacao_id TEXT, data_venda TEXT, loja_id TEXT, cadastrado_em TEXT, modificado_em TEXT,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_vendas_codigo ON vendas (codigo);
CREATE INDEX IF NOT EXISTS ix_vendas_cliente ON vendas (cliente_id);
CREATE INDEX IF NOT EXISTS ix_vendas_data ON vendas (data_venda, id);
CREATE TABLE IF NOT EXISTS seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# A listing sorts by one of ORDER_COLUMNS, ties by id: one index per table and order (named
# as before: a sandbox file from an earlier run keeps its indexes).
_SCHEMA += "".join(
    f"CREATE INDEX IF NOT EXISTS ix_{table}_{short} ON {table} ({column}, id);\n"
    for table in RESOURCES
    for short, column in (("nome", "nome"), ("cad", "cadastrado_em"), ("mod", "modificado_em"))
)

ChangeListener = Callable[[str, str, str, "dict[str, Any] | None", str], None]
"""(evento, recurso, id, record-or-None, origem) -> None; origem is "api" or "painel"."""


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fold(text: Any) -> str:
    """Case- and accent-insensitive search key (the real API's MySQL collation behaves so)."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": str(row["id"]), **json.loads(row["body"])}


def _columns(recurso: str, rec: dict[str, Any]) -> dict[str, Any]:
    """Indexed/filterable columns derived from a canonical record."""
    nome = rec.get("nome_cliente") if recurso == "vendas" else rec.get("nome")
    base = {
        "nome": nome,
        "busca": fold(nome),
        "cadastrado_em": rec["cadastrado_em"],
        "modificado_em": rec["modificado_em"],
    }
    if recurso == "clientes":
        ends = [e["endereco"] for e in rec.get("enderecos") or []]
        phones = [digits(rec.get(k)) for k in ("telefone", "celular", "fax") if rec.get(k)]
        return {
            **base,
            "tipo_pessoa": rec["tipo_pessoa"],
            "doc": digits(rec.get("cpf") or rec.get("cnpj")),
            "phones": "|" + "|".join(phones) + "|",
            "email": (rec.get("email") or "").lower(),
            "ativo": rec["ativo"],
            "cidades": "|" + "|".join(str(e.get("cidade_id") or "") for e in ends) + "|",
            "estados": "|" + "|".join(str(e.get("estado") or "") for e in ends) + "|",
        }
    if recurso == "produtos":
        return {
            **base,
            "codigo_interno": rec["codigo_interno"],
            "grupo_id": rec.get("grupo_id"),
            "ativo": rec["ativo"],
            "loja_id": rec.get("_loja_id") or lookups.DEFAULT_LOJA_ID,
        }
    return {
        **base,
        "codigo": parse_int(rec.get("codigo")),
        "tipo": rec["tipo"],
        "cliente_id": parse_int(rec["cliente_id"]),
        "situacao_id": rec["situacao_id"],
        "data_venda": rec["data"],
        "loja_id": rec.get("loja_id"),
    }


class SandboxStore:
    """Records of one sandbox company database, plus change notification for webhooks."""

    def __init__(self, db_path: str | None = None, clock: SandboxClock | None = None, seed: int | None = None) -> None:
        self.db_path = db_path
        self.clock = clock or SandboxClock()
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(db_path or ":memory:", check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        if db_path:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._listeners: list[ChangeListener] = []
        # Fields an API update answers without storing (SandboxConfig.ignore_on_update).
        self.ignore_on_update: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def replace_listener(self, old: ChangeListener, new: ChangeListener) -> None:
        self._listeners = [new if listener is old else listener for listener in self._listeners]

    def _emit(self, evento: str, recurso: str, id_: str, record: dict[str, Any] | None, origem: str) -> None:
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a broken listener must never break the API
                listener(evento, recurso, id_, record, origem)

    def _next_seq(self, name: str, start: int) -> int:
        row = self._conn.execute("SELECT value FROM seq WHERE name = ?", (name,)).fetchone()
        value = (row["value"] + 1) if row else start
        self._conn.execute("INSERT OR REPLACE INTO seq (name, value) VALUES (?, ?)", (name, value))
        return value

    def _next_variation_id(self) -> int:
        return self._next_seq("variacao", 1000)

    def _next_codigo(self) -> int:
        row = self._conn.execute("SELECT MAX(codigo) AS m FROM vendas").fetchone()
        return max(int(row["m"] or 0) + 1, self._next_seq("codigo_venda", 1))

    @staticmethod
    def _check(recurso: str) -> None:
        if recurso not in RESOURCES:
            raise NotFound(recurso)

    def _row(self, recurso: str, id_: int) -> dict[str, Any] | None:
        row = self._conn.execute(f"SELECT id, body FROM {recurso} WHERE id = ?", (id_,)).fetchone()
        return _decode(row) if row else None

    @staticmethod
    def _public(rec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in rec.items() if not k.startswith("_")}

    def _build(
        self, recurso: str, merged: dict[str, Any], previous: dict[str, Any] | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        if recurso == "clientes":
            return build_cliente(merged)
        if recurso == "produtos":
            return build_produto(merged, self._next_variation_id, previous, body)

        def get_cliente(cid: int) -> dict[str, Any] | None:
            return self._row("clientes", cid)

        def get_produto(pid: int) -> dict[str, Any] | None:
            found = self._row("produtos", pid)
            if found is None and previous is not None and "produtos" not in body:
                # Items kept from the stored sale carry their own values; a product deleted
                # since then must not make an unrelated edit of the sale fail.
                return {"id": str(pid), "nome": None, "variacoes": [], "valor_venda": "0", "valor_custo": "0"}
            return found

        return build_venda(merged, get_cliente=get_cliente, get_produto=get_produto)

    def _write(self, recurso: str, rec: dict[str, Any], id_: int | None) -> int:
        """Insert (``id_`` None) or replace a row; the JSON body leaves ``id`` to the row id."""
        cols = _columns(recurso, rec)
        body = json.dumps({k: v for k, v in rec.items() if k != "id"}, ensure_ascii=False)
        if id_ is None:
            names = ", ".join([*cols, "body"])
            marks = ", ".join("?" for _ in range(len(cols) + 1))
            cur = self._conn.execute(f"INSERT INTO {recurso} ({names}) VALUES ({marks})", (*cols.values(), body))
            assert cur.lastrowid is not None
            id_ = int(cur.lastrowid)
        else:
            sets = ", ".join(f"{c} = ?" for c in [*cols, "body"])
            self._conn.execute(f"UPDATE {recurso} SET {sets} WHERE id = ?", (*cols.values(), body, id_))
        rec["id"] = str(id_)
        return id_

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write under the lock: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any failure."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _insert(self, recurso: str, rec: dict[str, Any], src: dict[str, Any]) -> None:
        """Write a new record with what the API gives it besides its body: its shop (a
        produto's ``loja_id``), a venda's next code (when none was sent) and hash."""
        if recurso == "produtos":
            rec["_loja_id"] = str(src.get("loja_id") or lookups.DEFAULT_LOJA_ID)
        if recurso == "vendas":
            if rec.get("codigo") is None:
                rec["codigo"] = str(self._next_codigo())
            rec["hash"] = new_hash(self._rng)
        self._write(recurso, rec, None)

    def _announce(self, event: str, recurso: str, rec: dict[str, Any], origem: str, emit: bool) -> dict[str, Any]:
        """The public record, told to the listeners (``cliente.criado``...) when `emit`."""
        public = self._public(rec)
        if emit:
            self._emit(f"{SINGULAR[recurso]}.{event}", recurso, public["id"], public, origem)
        return public

    # ------------------------------------------------------------------ CRUD
    def create(
        self,
        recurso: str,
        body: dict[str, Any],
        *,
        loja_id: str | None = None,
        origem: str = "api",
        emit: bool = True,
    ) -> dict[str, Any]:
        """Validate, normalise and insert; returns the public record (as the API answers it)."""
        self._check(recurso)
        if not isinstance(body, dict):
            raise ValidationFailed("O corpo da requisição deve ser um objeto JSON.")
        with self._transaction():
            src = {k: v for k, v in body.items() if k not in ("id", "cadastrado_em", "modificado_em")}
            if loja_id and "loja_id" not in src:
                src["loja_id"] = loja_id
            rec = self._build(recurso, src, None, src)
            stamp = self.clock.stamp()
            rec["cadastrado_em"] = rec["modificado_em"] = stamp
            self._insert(recurso, rec, src)
        return self._announce("criado", recurso, rec, origem, emit)

    def update(
        self,
        recurso: str,
        id_: Any,
        body: dict[str, Any],
        *,
        origem: str = "api",
        emit: bool = True,
        require_full: bool = False,
    ) -> dict[str, Any]:
        """PUT semantics: absent fields stay, given nested lists replace the stored ones.

        ``require_full`` (the API's PUT) also demands the documented required fields in the
        body, as the real API does; panel edits may change a single field.
        """
        self._check(recurso)
        key = parse_int(id_)
        if not isinstance(body, dict):
            raise ValidationFailed("O corpo da requisição deve ser um objeto JSON.")
        with self._transaction():
            previous = self._row(recurso, key) if key is not None else None
            if previous is None or key is None:
                raise NotFound(f"{recurso}/{id_}")
            if require_full:
                missing = {
                    name: REQUIRED.format(campo=name)
                    for name in REQUIRED_FIELDS[recurso]
                    if blank_to_none(body.get(name)) is None
                }
                if missing:
                    raise ValidationFailed(missing)
            base = produto_input_from_record(previous) if recurso == "produtos" else dict(previous)
            if recurso == "produtos" and isinstance(body.get("fiscal"), dict):
                base.update(body["fiscal"])
            if recurso == "vendas" and "prazo_entrega" in body:
                base.pop("previsao_entrega", None)
            ignored: tuple[str, ...] = ("id", "cadastrado_em", "modificado_em", "hash", "fiscal")
            if origem == "api":
                ignored += tuple(self.ignore_on_update)
            changes = {k: v for k, v in body.items() if k not in ignored}
            merged = {**base, **changes}
            rec = self._build(recurso, merged, previous, changes)
            rec["id"] = str(key)
            rec["cadastrado_em"] = previous["cadastrado_em"]
            rec["modificado_em"] = self.clock.stamp()
            if recurso == "produtos":
                rec["_loja_id"] = str(body.get("loja_id") or previous.get("_loja_id") or lookups.DEFAULT_LOJA_ID)
            if recurso == "vendas":
                rec["hash"] = previous.get("hash")
                if rec.get("codigo") is None:
                    rec["codigo"] = previous.get("codigo") or str(self._next_codigo())
            self._write(recurso, rec, key)
        return self._announce("atualizado", recurso, rec, origem, emit)

    def delete(self, recurso: str, id_: Any, *, origem: str = "api", emit: bool = True) -> str:
        """Hard delete, like the real API; returns the success message."""
        self._check(recurso)
        key = parse_int(id_)
        with self._lock:
            cur = self._conn.execute(f"DELETE FROM {recurso} WHERE id = ?", (key,)) if key is not None else None
            if cur is None or cur.rowcount == 0:
                raise NotFound(f"{recurso}/{id_}")
        if emit:
            self._emit(f"{SINGULAR[recurso]}.excluido", recurso, str(key), None, origem)
        return DELETE_MESSAGES[recurso]

    def get(self, recurso: str, id_: Any) -> dict[str, Any]:
        self._check(recurso)
        key = parse_int(id_)
        with self._lock:
            rec = self._row(recurso, key) if key is not None else None
        if rec is None:
            raise NotFound(f"{recurso}/{id_}")
        return self._public(rec)

    def count(self, recurso: str) -> int:
        self._check(recurso)
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {recurso}").fetchone()[0])

    def list_all(self, recurso: str) -> list[dict[str, Any]]:
        """Every record by id (the panel view; no paging)."""
        self._check(recurso)
        with self._lock:
            rows = self._conn.execute(f"SELECT id, body FROM {recurso} ORDER BY id").fetchall()
        return [self._public(_decode(r)) for r in rows]

    # ------------------------------------------------------------------ panel (a user in the web panel)
    def panel_create(self, recurso: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.create(recurso, data, origem="painel")

    def panel_update(self, recurso: str, id_: Any, data: dict[str, Any]) -> dict[str, Any]:
        """A partial edit is fine here (the web panel form keeps the other fields)."""
        return self.update(recurso, id_, data, origem="painel")

    def panel_delete(self, recurso: str, id_: Any) -> None:
        self.delete(recurso, id_, origem="painel")

    def panel_list(self, recurso: str) -> list[dict[str, Any]]:
        return self.list_all(recurso)

    def set_clock_offset(self, seconds: float) -> None:
        """Shift the sandbox clock (shared with the rate limiter/quota of the same app)."""
        self.clock.offset_seconds = float(seconds)

    # ------------------------------------------------------------------ listing
    def _where(self, recurso: str, filters: dict[str, str]) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []

        def add(clause: str, *values: Any) -> None:
            clauses.append(clause)
            params.extend(values)

        f = {k: v.strip() for k, v in filters.items() if v is not None and v.strip() != ""}
        if "id" in f:
            add("id = ?", parse_int(f["id"]))
        if "nome" in f:
            add("busca LIKE ? ESCAPE '\\'", _like(fold(f["nome"])))
        if recurso == "clientes":
            if "tipo_pessoa" in f:
                add("tipo_pessoa = ?", f["tipo_pessoa"].upper())
            if "cpf_cnpj" in f:
                add("doc = ?", digits(f["cpf_cnpj"]) or f["cpf_cnpj"])
            if "telefone" in f:
                add("phones LIKE ? ESCAPE '\\'", _like(digits(f["telefone"]) or f["telefone"]))
            if "email" in f:
                add("email = ?", f["email"].lower())
            if "situacao" in f:
                add("ativo = ?", f["situacao"])
            if "cidade_id" in f:
                add("cidades LIKE ? ESCAPE '\\'", _like(f"|{f['cidade_id']}|"))
            if "estado" in f:
                add("estados LIKE ? ESCAPE '\\'", _like(f"|{f['estado'].upper()}|"))
        elif recurso == "produtos":
            if "codigo" in f:
                add("codigo_interno = ?", f["codigo"])
            if "grupo_id" in f:
                add("grupo_id = ?", f["grupo_id"])
            if "ativo" in f:
                add("ativo = ?", f["ativo"])
            if "loja_id" in f:
                add("loja_id = ?", f["loja_id"])
        elif recurso == "vendas":
            # Third-party observation [V-code S3]: tipo defaults to "produto"; counter sales
            # (vendas_balcao) and service sales must be asked for explicitly.
            if "id" not in f:
                add("tipo = ?", f.get("tipo", "produto").lower())
            if "codigo" in f:
                add("codigo = ?", parse_int(f["codigo"]))
            if "situacao_id" in f:
                add("situacao_id = ?", f["situacao_id"])
            if "cliente_id" in f:
                add("cliente_id = ?", parse_int(f["cliente_id"]))
            if "loja_id" in f:
                add("loja_id = ?", f["loja_id"])
            for name, op in (("data_inicio", ">="), ("data_fim", "<=")):
                if name in f:
                    parsed = parse_date(f[name])
                    add(f"data_venda {op} ?", parsed.isoformat() if parsed else f[name])
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list_page(
        self,
        recurso: str,
        filters: dict[str, str] | None = None,
        *,
        pagina: int = 1,
        limite: int = 20,
        ordenacao: str = "id",
        direcao: str = "asc",
    ) -> Page:
        """One page: COUNT + ordered id window (index only), then bodies of that window only."""
        self._check(recurso)
        where, params = self._where(recurso, filters or {})
        column = ORDER_COLUMNS.get(ordenacao, "id")
        direction = "DESC" if direcao.lower() == "desc" else "ASC"
        if column == "id":
            inner, outer = f"id {direction}", f"t.id {direction}"
        else:
            inner = f"{column} {direction}, id {direction}"
            outer = f"t.{column} {direction}, t.id {direction}"
        offset = (max(pagina, 1) - 1) * limite
        with self._lock:
            total = int(self._conn.execute(f"SELECT COUNT(*) FROM {recurso}{where}", params).fetchone()[0])
            if offset >= total:
                return Page([], total)
            rows = self._conn.execute(
                f"SELECT t.id, t.body FROM (SELECT id FROM {recurso}{where} ORDER BY {inner} "
                f"LIMIT ? OFFSET ?) AS w JOIN {recurso} AS t ON t.id = w.id ORDER BY {outer}",
                [*params, limite, offset],
            ).fetchall()
        return Page([self._public(_decode(r)) for r in rows], total)

    def explain_page(self, recurso: str, ordenacao: str = "id") -> list[str]:
        """The SQLite plan of a page query (tests assert it walks an index, not a sort of all rows)."""
        column = ORDER_COLUMNS.get(ordenacao, "id")
        order = "id" if column == "id" else f"{column}, id"
        with self._lock:
            rows = self._conn.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM {recurso} ORDER BY {order} LIMIT 100 OFFSET 99900"
            ).fetchall()
        return [str(r[3]) for r in rows]

    # ------------------------------------------------------------------ bulk
    def bulk_create(self, recurso: str, bodies: Iterable[dict[str, Any]]) -> int:
        """Fast path for seeding: one transaction, no webhooks. Returns how many were created."""
        self._check(recurso)
        n = 0
        with self._transaction():
            stamp = self.clock.stamp()
            for body in bodies:
                src = dict(body)
                stamps = (src.pop("cadastrado_em", None), src.pop("modificado_em", None))
                rec = self._build(recurso, src, None, src)
                rec["cadastrado_em"] = stamps[0] or stamp
                rec["modificado_em"] = stamps[1] or rec["cadastrado_em"]
                self._insert(recurso, rec, src)
                n += 1
        return n

    def ids(self, recurso: str) -> list[int]:
        self._check(recurso)
        with self._lock:
            return [int(r[0]) for r in self._conn.execute(f"SELECT id FROM {recurso} ORDER BY id")]
