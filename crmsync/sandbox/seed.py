"""Realistic Brazilian sample data for the sandbox (Faker pt_BR + valid documents).

Deterministic for a given ``seed`` so demos and benchmarks are reproducible. CPF/CNPJ check
digits are computed here (not by Faker) to keep seeding of large volumes fast.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from faker import Faker

from crmsync.sandbox import lookups
from crmsync.sandbox.formats import SAO_PAULO
from crmsync.sandbox.store import SandboxStore

# (cidade_id, nome, UF, DDD, CEP prefix) - a few real cities so city/UF/DDD/CEP agree.
CIDADES: list[tuple[str, str, str, str, str]] = [
    ("1411", "Belo Horizonte", "MG", "31", "31"),
    ("3550", "São Paulo", "SP", "11", "01"),
    ("3509", "Campinas", "SP", "19", "13"),
    ("3304", "Rio de Janeiro", "RJ", "21", "20"),
    ("4106", "Curitiba", "PR", "41", "80"),
    ("4314", "Porto Alegre", "RS", "51", "90"),
    ("2927", "Salvador", "BA", "71", "40"),
    ("2611", "Recife", "PE", "81", "50"),
    ("2304", "Fortaleza", "CE", "85", "60"),
    ("5300", "Brasília", "DF", "61", "70"),
    ("5208", "Goiânia", "GO", "62", "74"),
    ("1302", "Manaus", "AM", "92", "69"),
    ("1501", "Belém", "PA", "91", "66"),
    ("4205", "Florianópolis", "SC", "48", "88"),
    ("3205", "Vitória", "ES", "27", "29"),
]
SUFIXOS_PJ = ("LTDA", "ME", "EIRELI", "Ltda.", "S.A.", "EPP")
RAMOS = (
    "Comércio de Materiais",
    "Distribuidora",
    "Serviços Contábeis",
    "Transportes",
    "Tecnologia",
    "Alimentos",
    "Confecções",
    "Construtora",
    "Papelaria",
    "Auto Peças",
    "Farmácia",
    "Móveis",
)
PRODUTOS_BASE = (
    ("Camiseta Básica Algodão", "803219", 18, 39.9),
    ("Calça Jeans Masculina", "803219", 55, 129.9),
    ("Fone de Ouvido Bluetooth", "803218", 45, 99.9),
    ("Carregador USB-C 20W", "803218", 22, 59.9),
    ("Smart TV LED 32", "803218", 700.62, 850.99),
    ("Caderno Universitário 10 Matérias", "803221", 9.5, 24.9),
    ("Caneta Esferográfica Azul", "803221", 0.8, 2.5),
    ("Café Torrado 500g", "803220", 11, 21.9),
    ("Arroz Tipo 1 5kg", "803220", 17, 27.9),
    ("Furadeira de Impacto 650W", "803222", 140, 249.9),
    ("Jogo de Chaves Combinadas", "803222", 60, 119.9),
    ("Mouse Sem Fio", "803218", 25, 69.9),
)


def _check_digit(numbers: list[int], weights: list[int]) -> int:
    rest = sum(n * w for n, w in zip(numbers, weights, strict=True)) % 11
    return 0 if rest < 2 else 11 - rest


def make_cpf(rng: random.Random) -> str:
    """A valid CPF (check digits computed), formatted ``000.000.000-00``."""
    while True:
        base = [rng.randint(0, 9) for _ in range(9)]
        if len(set(base)) > 1:
            break
    base.append(_check_digit(base, list(range(10, 1, -1))))
    base.append(_check_digit(base, list(range(11, 1, -1))))
    d = "".join(map(str, base))
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def make_cnpj(rng: random.Random) -> str:
    """A valid CNPJ (head office ``0001``), formatted ``00.000.000/0001-00``."""
    base = [rng.randint(0, 9) for _ in range(8)] + [0, 0, 0, 1]
    base.append(_check_digit(base, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]))
    base.append(_check_digit(base, [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]))
    d = "".join(map(str, base))
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum() or ch == " ").strip().replace(" ", ".")


def _rg(rng: random.Random) -> str:
    return f"{rng.randint(10, 99)}.{rng.randint(100, 999)}.{rng.randint(100, 999)}-{rng.randint(0, 9)}"


def _stamps(rng: random.Random) -> dict[str, str]:
    """Spread creation over the last year and edits after it, so ordering by date means something."""
    now = datetime.now(SAO_PAULO).replace(microsecond=0, tzinfo=None)
    created = now - timedelta(seconds=rng.randint(3600, 365 * 86400))
    modified = created + timedelta(seconds=rng.randint(0, int((now - created).total_seconds())))
    fmt = "%Y-%m-%d %H:%M:%S"
    return {"cadastrado_em": created.strftime(fmt), "modificado_em": modified.strftime(fmt)}


def _phone(rng: random.Random, ddd: str, mobile: bool) -> str:
    if mobile:
        return f"({ddd}) 9 {rng.randint(8000, 9999)}-{rng.randint(0, 9999):04d}"
    return f"({ddd}) {rng.randint(2000, 3999)}-{rng.randint(0, 9999):04d}"


def cliente_records(count: int, seed: int | None = None, start: int = 0) -> Iterator[dict[str, Any]]:
    """Cliente request bodies: ~70% PF, ~27% PJ, a few ES; some inactive; one address each."""
    fake = Faker("pt_BR")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    for n in range(start, start + count):
        cidade_id, cidade, uf, ddd, cep = rng.choice(CIDADES)
        roll = rng.random()
        if roll < 0.70:
            nome = fake.name()
            doc: dict[str, Any] = {
                "tipo_pessoa": "PF",
                "nome": nome,
                "cpf": make_cpf(rng),
                "rg": _rg(rng),
                "data_nascimento": (date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))).isoformat(),
            }
            email = f"{_slug(nome)}{n}@{fake.free_email_domain()}"
        elif roll < 0.97:
            nome = f"{fake.last_name()} {rng.choice(RAMOS)} {rng.choice(SUFIXOS_PJ)}"
            doc = {
                "tipo_pessoa": "PJ",
                "nome": nome,
                "razao_social": nome,
                "cnpj": make_cnpj(rng),
                "inscricao_estadual": str(rng.randint(100000000, 999999999)),
            }
            email = f"contato{n}@{_slug(nome.split()[0])}.com.br"
        else:
            nome = f"{rng.choice(['John', 'Maria', 'Luca', 'Sophie', 'Hans'])} {fake.last_name()}"
            doc = {"tipo_pessoa": "ES", "nome": nome}
            email = f"{_slug(nome)}{n}@example.com"
        yield {
            **doc,
            "telefone": _phone(rng, ddd, mobile=False),
            "celular": _phone(rng, ddd, mobile=True),
            "email": email,
            "ativo": "1" if rng.random() < 0.92 else "0",
            **_stamps(rng),
            "contatos": [],
            "enderecos": [
                {
                    "endereco": {
                        "cep": f"{cep}{rng.randint(100, 999)}-{rng.randint(0, 999):03d}",
                        "logradouro": fake.street_name(),
                        "numero": str(rng.randint(1, 2500)),
                        "complemento": rng.choice([None, None, "Apto 101", "Sala 3", "Casa 2", "Loja A"]),
                        "bairro": fake.bairro(),
                        "cidade_id": cidade_id,
                        "nome_cidade": cidade,
                        "estado": uf,
                    }
                }
            ],
        }


def produto_records(count: int, seed: int | None = None) -> Iterator[dict[str, Any]]:
    rng = random.Random((seed or 0) + 1)
    for n in range(count):
        nome, grupo, custo, venda = PRODUTOS_BASE[n % len(PRODUTOS_BASE)]
        lote = n // len(PRODUTOS_BASE)
        yield {
            "nome": nome if lote == 0 else f"{nome} - Modelo {lote + 1}",
            "codigo_interno": f"{1000 + n:05d}",
            "codigo_barra": f"789{rng.randint(10**9, 10**10 - 1)}",
            "grupo_id": grupo,
            "valor_custo": f"{custo * (1 + lote * 0.05):.2f}",
            "valor_venda": f"{venda * (1 + lote * 0.05):.2f}",
            "estoque": str(rng.randint(0, 200)),
            "ativo": "1" if rng.random() < 0.95 else "0",
            "descricao": f"{nome} - produto de demonstração",
            **_stamps(rng),
            "ncm": rng.choice(["61091000", "85183000", "85044010", "48202000", "09012100"]),
        }


def venda_records(
    count: int, cliente_ids: list[int], produtos: list[dict[str, Any]], seed: int | None = None
) -> Iterator[dict[str, Any]]:
    rng = random.Random((seed or 0) + 2)
    situacoes = [s["id"] for s in lookups.SITUACOES_VENDAS]
    formas = [f["id"] for f in lookups.FORMAS_PAGAMENTOS]
    today = date.today()
    for _ in range(count):
        itens = []
        for produto in rng.sample(produtos, k=min(len(produtos), rng.randint(1, 3))):
            itens.append(
                {
                    "produto": {
                        "produto_id": produto["id"],
                        "quantidade": str(rng.randint(1, 5)),
                        "valor_venda": produto["valor_venda"],
                    }
                }
            )
        data = today - timedelta(days=rng.randint(0, 120))
        yield {
            "tipo": "produto",
            "cliente_id": str(rng.choice(cliente_ids)),
            "situacao_id": rng.choice(situacoes),
            "data": data.isoformat(),
            "valor_frete": rng.choice(["0.00", "0.00", "15.00", "25.90"]),
            "nome_canal_venda": rng.choice(["Loja física", "Internet", "WhatsApp"]),
            "loja_id": rng.choice(["1", "1", "2"]),
            "forma_pagamento_id": rng.choice(formas),
            "produtos": itens,
            **_stamps(rng),
        }


def seed_store(store: SandboxStore, records: dict[str, int] | int, seed: int | None = None) -> dict[str, int]:
    """Fill an empty store (a persisted one that already has data is left alone)."""
    wanted = {"clientes": records} if isinstance(records, int) else dict(records)
    created: dict[str, int] = {}
    n = wanted.get("clientes", 0)
    if n and store.count("clientes") == 0:
        created["clientes"] = store.bulk_create("clientes", cliente_records(n, seed))
    n = wanted.get("produtos", 0)
    if n and store.count("produtos") == 0:
        created["produtos"] = store.bulk_create("produtos", produto_records(n, seed))
    n = wanted.get("vendas", 0)
    if n and store.count("vendas") == 0:
        cliente_ids = store.ids("clientes")
        produtos = store.list_all("produtos")
        if not cliente_ids:
            created["clientes"] = store.bulk_create("clientes", cliente_records(max(5, n // 5), seed))
            cliente_ids = store.ids("clientes")
        if not produtos:
            created["produtos"] = store.bulk_create("produtos", produto_records(12, seed))
            produtos = store.list_all("produtos")
        created["vendas"] = store.bulk_create("vendas", venda_records(n, cliente_ids, produtos, seed))
    return created
