"""Test world for engine tests: one store, one integration, a MemoryProvider (a real in-process
provider, not a mock) and helpers acting as a user on each side."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crmsync.crypto import encrypt_json
from crmsync.db.local import Cliente, Loja, Produto, Venda, VendaItem
from crmsync.db.sync import CrmEntityLink, CrmIntegracao
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.memory import MemoryProvider


class World:
    """One store, one integration, the provider, and helpers to act as a user on each side."""

    def __init__(self, sf: sessionmaker[Session], provider: MemoryProvider, integracao_id: int, loja_id: int) -> None:
        self.sf = sf
        self.provider = provider
        self.integracao_id = integracao_id
        self.loja_id = loja_id

    def engine(
        self, *, dry_run: bool = False, trigger: str = "manual", run_id: str | None = None, provider: Any = None
    ) -> SyncEngine:
        return SyncEngine(
            self.sf,
            self.integracao_id,
            provider=provider or self.provider,
            options=RunOptions(trigger=trigger, dry_run=dry_run, run_id=run_id, actor="teste"),
        )

    def set_config(self, config: dict[str, Any]) -> None:
        with self.sf() as s, s.begin():
            integ = s.get(CrmIntegracao, self.integracao_id)
            assert integ is not None
            integ.config = config

    # ---- local side (a user of the ERP)
    def add_cliente(self, **fields: Any) -> int:
        with self.sf() as s, s.begin():
            row = Cliente(id_loja=fields.pop("id_loja", self.loja_id), **fields)
            s.add(row)
            s.flush()
            return int(row.id)

    def add_produto(self, **fields: Any) -> int:
        fields.setdefault("valor_venda", Decimal("10"))
        with self.sf() as s, s.begin():
            row = Produto(id_loja=self.loja_id, **fields)
            s.add(row)
            s.flush()
            return int(row.id)

    def add_venda(self, cliente_id: int, itens: list[tuple[int, str, str]], **fields: Any) -> int:
        with self.sf() as s, s.begin():
            venda = Venda(
                id_loja=self.loja_id, id_cliente=cliente_id, data=fields.pop("data", date(2025, 1, 14)), **fields
            )
            for produto_id, qty, unit in itens:
                total = Decimal(qty) * Decimal(unit)
                venda.itens.append(
                    VendaItem(
                        id_produto=produto_id, quantidade=Decimal(qty), valor_unitario=Decimal(unit), valor_total=total
                    )
                )
            s.add(venda)
            s.flush()
            return int(venda.id)

    def edit(self, model: Any, row_id: int, **fields: Any) -> None:
        with self.sf() as s, s.begin():
            row = s.get(model, row_id)
            assert row is not None
            for key, value in fields.items():
                setattr(row, key, value)

    def get(self, model: Any, row_id: int) -> Any:
        with self.sf() as s:
            return s.get(model, row_id)

    def rows(self, model: Any) -> list[Any]:
        with self.sf() as s:
            return list(s.scalars(select(model).where(model.id_loja == self.loja_id).order_by(model.id)))

    def link_of(self, entity_type: str, entity_id: int) -> CrmEntityLink | None:
        with self.sf() as s:
            return s.scalars(
                select(CrmEntityLink).where(
                    CrmEntityLink.entity_type == entity_type, CrmEntityLink.entity_id == entity_id
                )
            ).first()

    def count(self, model: Any) -> int:
        with self.sf() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)

    def all(self, model: Any) -> list[Any]:
        with self.sf() as s:
            return list(s.scalars(select(model).order_by(model.id)))


def make_world(
    sf: sessionmaker[Session],
    provider: MemoryProvider,
    config: dict[str, Any] | None = None,
    loja_nome: str = "Loja 10",
) -> World:
    with sf() as s, s.begin():
        loja = Loja(nome=loja_nome, api_key_hash=loja_nome.encode().hex()[:64], api_key_prefix="crm_")
        s.add(loja)
        s.flush()
        integ = CrmIntegracao(
            id_loja=loja.id,
            provider="gestao_click",
            ativo=True,
            base_url="memory://",
            credenciais=encrypt_json({"access_token": "x", "secret_access_token": "y"}),
            credenciais_hash=f"h{loja.id}",
            config=config or {},
            webhook_token=f"tok{loja.id}",
        )
        s.add(integ)
        s.flush()
        return World(sf, provider, integ.id, loja.id)


def crm_venda(provider: MemoryProvider, cliente_external_id: str) -> str:
    """A venda made in the CRM's panel for that cliente, of a produto made there too (2 × "Mouse"
    MS-1 at 50, dated 2025-01-14, code 77): what a pull must import with its references."""
    produto = provider.panel_create("produto", {"nome": "Mouse", "codigo": "MS-1", "valor_venda": "50"})
    return provider.panel_create(
        "venda",
        {
            "cliente_id": cliente_external_id,
            "data": "2025-01-14",
            "codigo": "77",
            "itens": [{"produto_id": produto, "quantidade": "2", "valor_unitario": "50"}],
        },
    )
