"""Duplicate matching: name normalisation, exact keys in the spec's order, blocked fuzzy
suggestions that find near-duplicates and never suggest clearly different records."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.matching import (
    MAX_BLOCK,
    Candidate,
    MatchIndex,
    exact_value,
    ignored_keys,
    is_placeholder,
    name_similarity,
    normalize_name,
)

# ------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("JOÃO DA SILVA LTDA", "joao da silva"),
        ("Joao da Silva", "joao da silva"),
        ("  João   da Silva  ", "joao da silva"),
        ("Padaria Pão Quente Ltda. - ME", "padaria pao quente"),
        ("Construtora Ação EIRELI", "construtora acao"),
        ("Mercadinho Bom Preço EPP", "mercadinho bom preco"),
        ("Maria Souza MEI", "maria souza"),
        ("Casa Grande - EI", "casa grande"),
        ("Mendes S.A.", "mendes"),
        ("Mendes S/A", "mendes"),
        ("Mendes SA", "mendes"),
        ("Irmãos Rocha & Cia", "irmaos rocha"),
        ("Irmãos Rocha e Cia. Ltda", "irmaos rocha"),
        ("Rocha & Filhos", "rocha e filhos"),
        ("Maria de Sá", "maria de sa"),  # the surname Sá is not the suffix SA
        ("Sra. Sarah Lima", "sarah lima"),
        ("Dr. Álvaro Gonçalves", "alvaro goncalves"),
        ("O'Brien, Ana-Luísa", "o brien ana luisa"),
        ("LTDA", "ltda"),  # a name made only of a suffix is kept, not emptied
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_name(raw: str | None, normal: str) -> None:
    assert normalize_name(raw) == normal


@given(st.text(max_size=40))
def test_normalize_name_gives_plain_lower_ascii_words(raw: str) -> None:
    normal = normalize_name(raw)
    assert normal.isascii() and normal == normal.lower()
    assert normal == " ".join(normal.split())
    assert all(word.isalnum() for word in normal.split())


def test_name_similarity_ignores_accents_case_suffixes_and_word_order() -> None:
    assert name_similarity("JOÃO DA SILVA LTDA", "Joao da Silva") == 1.0
    assert name_similarity("Silva, João", "João Silva") == 1.0
    assert name_similarity("Ana Gomes", "Anna Gomes") > 0.9
    assert name_similarity("Maria Souza", "João Pereira") < 0.5
    assert name_similarity(None, "João") == 0.0
    assert name_similarity("", "") == 0.0


@given(st.text(max_size=30), st.text(max_size=30))
def test_name_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    s = name_similarity(a, b)
    assert 0.0 <= s <= 1.0
    assert s == name_similarity(b, a)


# ------------------------------------------------------------------------- exact keys


def cliente(nome: str, **keys: Any) -> dict[str, Any]:
    return {"tipo_pessoa": "PF", "nome": nome, "email": None, "cpf": None, "cnpj": None, **keys}


def test_exact_tries_email_then_cpf_then_cnpj() -> None:
    index = MatchIndex("cliente")
    index.add(1, cliente("A", email="joao@email.com"))
    index.add(2, cliente("B", cpf="52998224725"))
    index.add(3, cliente("C", cnpj="11222333000181"))

    assert index.exact(cliente("X", email="joao@email.com", cpf="52998224725")) == (1, "email")
    assert index.exact(cliente("X", email="outro@email.com", cpf="52998224725", cnpj="11222333000181")) == (2, "cpf")
    assert index.exact(cliente("X", cnpj="11222333000181")) == (3, "cnpj")
    assert index.exact(cliente("X", email="JOAO@Email.com ")) == (1, "email")  # case-insensitive
    assert index.exact(cliente("X")) is None


def test_case_7_4_same_email_links_without_a_duplicate() -> None:
    index = MatchIndex("cliente")
    index.add(450, cliente("João Silva", email="joao@email.com"))
    assert index.exact(cliente("João S.", email="joao@email.com")) == (450, "email")


def test_empty_keys_never_match() -> None:
    index = MatchIndex("cliente")
    index.add(1, cliente("A", email="", cpf=None))
    index.add(2, cliente("B", email="   "))
    assert index.exact(cliente("A", email="", cpf="")) is None
    assert index.exact(cliente("B", email="   ")) is None


def test_produto_matches_code_then_barcode_and_venda_its_code() -> None:
    produtos = MatchIndex("produto")
    produtos.add(1, {"nome": "Caneta", "codigo": "CAN-1", "codigo_barra": None})
    produtos.add(2, {"nome": "Lápis", "codigo": None, "codigo_barra": "7891234567895"})
    assert produtos.exact({"codigo": "CAN-1", "codigo_barra": "7891234567895"}) == (1, "codigo")
    assert produtos.exact({"codigo": "OUTRO", "codigo_barra": "7891234567895"}) == (2, "codigo_barra")

    vendas = MatchIndex("venda")
    vendas.add(9, {"codigo": "V-100", "cliente_id": 1})
    assert vendas.exact({"codigo": "V-100"}) == (9, "codigo")
    assert vendas.fuzzy({"codigo": "V-101"}) == []


def test_unknown_entity_type_is_refused() -> None:
    with pytest.raises(ValueError, match="entity type"):
        MatchIndex("pedido")


def test_add_replaces_and_remove_forgets() -> None:
    index = MatchIndex("cliente")
    index.add(1, cliente("João Silva", email="a@x.com"))
    index.add(1, cliente("Maria Souza", email="b@x.com"))
    assert len(index) == 1
    assert index.exact(cliente("X", email="a@x.com")) is None
    assert index.exact(cliente("X", email="b@x.com")) == (1, "email")
    assert index.fuzzy(cliente("João Silva")) == []

    index.remove(1)
    index.remove(1)  # unknown ids are ignored
    assert len(index) == 0
    assert index.exact(cliente("X", email="b@x.com")) is None
    assert index.fuzzy(cliente("Maria Souza")) == []


emails = st.sampled_from(["a@x.com", "b@x.com", "c@x.com", None])
cpfs = st.sampled_from(["11111111111", "22222222222", None, ""])
cnpjs = st.sampled_from(["11222333000181", None])
records = st.builds(cliente, st.sampled_from(["Ana", "Bia"]), email=emails, cpf=cpfs, cnpj=cnpjs)


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=12), records, st.randoms(use_true_random=False))
def test_exact_does_not_depend_on_insertion_order(
    stored: list[dict[str, Any]], query: dict[str, Any], rnd: random.Random
) -> None:
    in_order = MatchIndex("cliente")
    for local_id, rec in enumerate(stored):
        in_order.add(local_id, rec)
    shuffled = MatchIndex("cliente")
    ids = list(range(len(stored)))
    rnd.shuffle(ids)
    for local_id in ids:
        shuffled.add(local_id, stored[local_id])

    found = in_order.exact(query)
    assert shuffled.exact(query) == found
    # and it is the right answer: the first key in spec order held by anyone, lowest id
    expected = None
    for key in ("email", "cpf", "cnpj"):
        if query[key]:
            holders = [i for i, r in enumerate(stored) if r[key] == query[key]]
            if holders:
                expected = (min(holders), key)
                break
    assert found == expected


# ------------------------------------------------------------------------- fuzzy


def test_fuzzy_finds_the_same_name_written_differently() -> None:
    index = MatchIndex("cliente")
    index.add(1, cliente("JOÃO DA SILVA LTDA"))
    index.add(2, cliente("Maria Souza"))
    index.add(3, cliente("Pedro Álvares Cabral"))

    found = index.fuzzy(cliente("Joao da Silva"))

    assert [c.local_id for c in found] == [1]
    assert found[0].score == 1.0
    assert "joao da silva" in found[0].reason


def test_fuzzy_finds_a_typo_and_ranks_best_first() -> None:
    index = MatchIndex("cliente")
    index.add(10, cliente("Ana Gomes"))
    index.add(11, cliente("Anna Gomes"))
    index.add(12, cliente("Ana Gomes Pereira"))
    index.add(13, cliente("Bruno Gomes"))

    found = index.fuzzy(cliente("Ana Gomes"), threshold=0.8)

    assert [c.local_id for c in found[:2]] == [10, 11]
    assert all(c.score >= 0.8 for c in found)
    assert 13 not in [c.local_id for c in found]
    assert found == sorted(found, key=lambda c: (-c.score, c.local_id))


def test_fuzzy_matches_a_company_by_its_legal_name_too() -> None:
    index = MatchIndex("cliente")
    index.add(5, {"tipo_pessoa": "PJ", "nome": "Padaria Central", "razao_social": "Silva & Irmãos Panificadora Ltda"})
    found = index.fuzzy({"tipo_pessoa": "PJ", "nome": "SILVA E IRMAOS PANIFICADORA"})
    assert [c.local_id for c in found] == [5]


def test_fuzzy_never_links_different_names() -> None:
    index = MatchIndex("cliente")
    for local_id, nome in enumerate(
        [
            "João Silva",
            "Joana Silveira",
            "Maria da Silva",
            "José Santos",
            "Silva Materiais de Construção Ltda",
            "João Souza",
        ]
    ):
        index.add(local_id, cliente(nome))
    assert index.fuzzy(cliente("Pedro Henrique Oliveira")) == []
    assert [c.local_id for c in index.fuzzy(cliente("João Silva"))] == [0]


def test_fuzzy_leaves_out_records_whose_document_proves_they_differ() -> None:
    index = MatchIndex("cliente")
    index.add(1, cliente("João Silva", cpf="11111111111"))
    index.add(2, cliente("João Silva", cpf=None))
    index.add(3, cliente("João Silva", cpf="22222222222"))

    assert [c.local_id for c in index.fuzzy(cliente("João Silva", cpf="22222222222"))] == [2, 3]
    assert [c.local_id for c in index.fuzzy(cliente("João Silva"))] == [1, 2, 3]


def test_fuzzy_skips_any_number_of_homonyms_with_other_documents() -> None:
    """600 "João Silva" with their own CPFs are other people; the one without a CPF, and
    the one holding the incoming CPF, are the only suggestions, however late they came."""
    index = MatchIndex("cliente")
    for local_id in range(600):
        index.add(local_id, cliente("João Silva", cpf=f"{local_id:011d}"))
    index.add(900, cliente("JOAO SILVA"))
    index.add(901, cliente("João Silva", cpf="99999999999", cnpj=None))

    found = index.fuzzy(cliente("João Silva", cpf="99999999999"), limit=10)

    assert [c.local_id for c in found] == [900, 901]
    assert [c.local_id for c in index.fuzzy(cliente("João Silva"), limit=3)] == [0, 1, 2]
    pj = index.fuzzy({"tipo_pessoa": "PJ", "nome": "João Silva", "cnpj": "11222333000181"}, limit=2)
    assert [c.local_id for c in pj] == [0, 1]  # a CNPJ says nothing against a person's CPF


def test_removing_one_homonym_keeps_the_others_findable() -> None:
    index = MatchIndex("cliente")
    index.add(1, cliente("Ana Gomes", cpf="11111111111"))
    index.add(2, cliente("Ana Gomes"))
    index.add(3, {"tipo_pessoa": "PJ", "nome": "Padaria Central", "razao_social": "Ana Gomes ME"})

    index.remove(2)
    assert [c.local_id for c in index.fuzzy(cliente("Ana Gomes"))] == [1, 3]
    index.add(1, cliente("Ana Gomes"))  # its CPF was cleared
    assert [c.local_id for c in index.fuzzy(cliente("Ana Gomes", cpf="22222222222"))] == [1, 3]
    index.remove(1)
    index.remove(3)
    assert index.fuzzy(cliente("Ana Gomes")) == []
    assert len(index) == 0


def test_fuzzy_honours_limit_and_empty_names() -> None:
    index = MatchIndex("cliente")
    for local_id in range(10):
        index.add(local_id, cliente("Ana Gomes"))
    assert [c.local_id for c in index.fuzzy(cliente("Ana Gomes"), limit=3)] == [0, 1, 2]
    assert index.fuzzy(cliente("Ana Gomes"), limit=0) == []
    assert index.fuzzy(cliente("")) == []
    assert index.fuzzy({"nome": None}) == []


def test_produto_fuzzy_uses_the_product_name() -> None:
    index = MatchIndex("produto")
    index.add(1, {"nome": "Caneta Esferográfica Azul", "codigo": "1"})
    index.add(2, {"nome": "Caderno Universitário", "codigo": "2"})
    assert [c.local_id for c in index.fuzzy({"nome": "CANETA ESFEROGRAFICA AZUL", "codigo": "9"})] == [1]


def test_blocking_finds_near_duplicates_among_many_records_sharing_common_words() -> None:
    """Thousands of records share "silva", "maria", "santos": those words are skipped as
    blocking keys, yet a near-duplicate (one typo, a suffix, upper case) is still found."""
    rnd = random.Random(7)
    first = [
        "Maria",
        "José",
        "Ana",
        "João",
        "Antônio",
        "Francisco",
        "Carlos",
        "Paulo",
        "Pedro",
        "Lucas",
        "Luiz",
        "Marcos",
        "Luís",
        "Gabriel",
        "Rafael",
        "Daniel",
        "Marcelo",
        "Bruno",
        "Eduardo",
        "Felipe",
    ]
    last = [
        "Silva",
        "Santos",
        "Oliveira",
        "Souza",
        "Rodrigues",
        "Ferreira",
        "Alves",
        "Pereira",
        "Lima",
        "Gomes",
        "Costa",
        "Ribeiro",
        "Martins",
        "Carvalho",
        "Almeida",
        "Lopes",
        "Soares",
        "Fernandes",
    ]
    index = MatchIndex("cliente")
    names: dict[int, str] = {}
    for local_id in range(6000):
        names[local_id] = f"{rnd.choice(first)} {rnd.choice(last)} {rnd.choice(last)}"
        index.add(local_id, cliente(names[local_id]))
    assert sum("Silva" in n for n in names.values()) > MAX_BLOCK  # common words really are common

    target = 4242
    variants = [names[target].upper() + " LTDA", names[target].replace("a", "á", 1)]
    words = names[target].split()
    words[1] = words[1][0] + words[1][2:] if len(words[1]) > 4 else words[1] + "s"
    variants.append(" ".join(words))
    for variant in variants:
        found = index.fuzzy(cliente(variant), limit=50)
        assert target in [c.local_id for c in found], variant
        assert all(name_similarity(variant, names[c.local_id]) >= 0.85 for c in found)


@settings(max_examples=150, deadline=None)
@given(
    stored=st.lists(
        st.sampled_from(
            [
                "João Silva",
                "Joao da Silva LTDA",
                "J. Silva",
                "Joana Silva",
                "Maria Souza",
                "Mária Sousa",
                "Silva João",
                "Ana",
                "Anna",
                "",
            ]
        ),
        max_size=15,
    ),
    query=st.sampled_from(["João Silva", "Maria Souza", "Ana", "Joana Silveira", "Sr. João Silva"]),
    threshold=st.floats(min_value=0.0, max_value=1.0),
    limit=st.integers(1, 6),
)
def test_fuzzy_never_returns_a_score_below_the_threshold(
    stored: list[str], query: str, threshold: float, limit: int
) -> None:
    index = MatchIndex("cliente")
    for local_id, nome in enumerate(stored):
        index.add(local_id, cliente(nome))

    found = index.fuzzy(cliente(query), threshold=threshold, limit=limit)

    assert len(found) <= limit
    assert len({c.local_id for c in found}) == len(found)
    for candidate in found:
        assert isinstance(candidate, Candidate)
        assert threshold <= candidate.score <= 1.0
        assert candidate.score == pytest.approx(name_similarity(query, stored[candidate.local_id]))
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


@settings(max_examples=100, deadline=None)
@given(
    stored=st.lists(
        st.sampled_from(
            ["João Silva", "Joao da Silva LTDA", "Joana Silva", "Maria Souza", "Mária Sousa", "Silva João"]
        ),
        max_size=10,
    ),
    rnd=st.randoms(use_true_random=False),
)
def test_fuzzy_does_not_depend_on_insertion_order(stored: list[str], rnd: random.Random) -> None:
    a, b = MatchIndex("cliente"), MatchIndex("cliente")
    ids = list(range(len(stored)))
    for local_id in ids:
        a.add(local_id, cliente(stored[local_id]))
    rnd.shuffle(ids)
    for local_id in ids:
        b.add(local_id, cliente(stored[local_id]))
    assert a.fuzzy(cliente("João Silva"), threshold=0.6) == b.fuzzy(cliente("João Silva"), threshold=0.6)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(("add", "remove")),
            st.integers(0, 6),
            st.sampled_from(["João Silva", "Joao da Silva LTDA", "Joana Silva", "Maria Souza", "Ana"]),
            st.sampled_from(["11111111111", "22222222222", None]),
        ),
        max_size=30,
    ),
    query=st.sampled_from(["João Silva", "Maria Souza", "Ana"]),
    query_cpf=st.sampled_from(["11111111111", None]),
)
def test_an_index_updated_in_place_answers_like_one_built_from_scratch(
    ops: list[tuple[str, int, str, str | None]], query: str, query_cpf: str | None
) -> None:
    index = MatchIndex("cliente")
    alive: dict[int, dict[str, Any]] = {}
    for op, local_id, nome, cpf in ops:
        if op == "add":
            alive[local_id] = cliente(nome, cpf=cpf, email=f"{nome[:3]}@x.com")
            index.add(local_id, alive[local_id])
        else:
            alive.pop(local_id, None)
            index.remove(local_id)
    fresh = MatchIndex("cliente")
    for local_id, rec in alive.items():
        fresh.add(local_id, rec)

    probe = cliente(query, cpf=query_cpf, email=f"{query[:3]}@x.com")
    assert len(index) == len(fresh) == len(alive)
    assert index.exact(probe) == fresh.exact(probe)
    assert index.fuzzy(probe, threshold=0.5) == fresh.fuzzy(probe, threshold=0.5)


@pytest.mark.parametrize(
    "email",
    [
        "naotem@gmail.com",
        "NAO.TEM@hotmail.com",
        "sem_email@loja.com",
        "x@x.com",
        "nao-possui@email.com",
        "xxx@xxx.com.br",
        "consumidor.final@loja.com",
    ],
)
def test_placeholder_emails_are_not_keys(email: str) -> None:
    assert exact_value("email", email) is None
    index = MatchIndex("cliente")
    index.add(1, {"nome": "Ana Pereira", "email": email})
    assert index.exact({"nome": "Carla Dias", "email": email}) is None


@pytest.mark.parametrize("email", ["natalia@gmail.com", "naotem.silva@x.com", "xavier@x.com", "ana@naotem.com"])
def test_real_emails_stay_keys(email: str) -> None:
    assert not is_placeholder("email", email)
    index = MatchIndex("cliente")
    index.add(1, {"nome": "Ana Pereira", "email": email})
    assert index.exact({"nome": "Outra", "email": email.upper()}) == (1, "email")


def test_a_stores_own_placeholders_are_not_keys() -> None:
    ignored = ignored_keys(["Loja@Minha.com", "12.345.678/0001-95"])
    assert exact_value("email", "loja@minha.com", ignored) is None
    assert exact_value("cnpj", "12345678000195", ignored) is None
    assert exact_value("cnpj", "11222333000181", ignored) == "11222333000181"
    index = MatchIndex("cliente", ignored)
    index.add(1, {"nome": "Ana", "cnpj": "12345678000195", "email": "loja@minha.com"})
    assert index.exact({"nome": "Bia", "cnpj": "12345678000195", "email": "LOJA@minha.com"}) is None
    assert MatchIndex("cliente").exact({"nome": "Bia", "email": "loja@minha.com"}) is None  # empty index
