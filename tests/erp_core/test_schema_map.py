"""The schema map: a legacy map loads, rows convert both ways through it, and every bad
map is refused with the key named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmsync.erp.schema_map import (
    RowConversionError,
    SchemaMapError,
    default_schema_map,
    default_schema_map_data,
    is_default_map,
    load_schema_map,
    parse_schema_map,
)
from crmsync.model.canonical import canonicalize

LEGACY = """
versao: 1
entidades:
  clientes:
    tabela: cad_clientes
    chave_primaria: cod_cli
    loja: {coluna: cod_empresa}
    modificado_em: dt_alteracao
    exclusao: {modo: flag, coluna: excluido, valor_excluido: "S", valor_ativo: "N"}
    padroes_insercao: {tipo_cad: "C", dt_cadastro: "$agora"}
    campos:
      nome: {coluna: razao}
      cpf: {coluna: cpf_cnpj, conversor: documento, opcoes: {tipo: cpf, formato: formatado}}
      cnpj: {coluna: cpf_cnpj, conversor: documento, opcoes: {tipo: cnpj, formato: formatado}}
      telefone: {coluna: fone, conversor: telefone}
      ativo: {coluna: ativo, conversor: flag, opcoes: {verdadeiro: "S", falso: "N"}}
      data_nascimento: {coluna: dt_nasc, conversor: data_zero}
      observacoes: {coluna: obs, somente_leitura: true}
  produto:
    tabela: estoque
    chave_primaria: id_prod
    loja: {fixa: 1}
    campos:
      nome: {coluna: descricao}
      valor_venda: {coluna: preco, conversor: dinheiro_virgula}
  venda:
    tabela: pedidos
    chave_primaria: num_ped
    loja: {fixa: 1}
    campos:
      cliente_id: {coluna: cod_cli, conversor: inteiro}
      data: {coluna: dt_ped, conversor: data_zero}
    itens:
      tabela: pedidos_itens
      chave_primaria: id_item
      coluna_venda: num_ped
      campos:
        produto_id: {coluna: id_prod, conversor: inteiro}
        quantidade: {coluna: qtd, conversor: decimal}
        valor_unitario: {coluna: unit, conversor: dinheiro_virgula}
"""


def test_legacy_map_converts_rows_both_ways() -> None:
    smap = load_schema_map(LEGACY)
    ent = smap.entidades["cliente"]
    row = {
        "cod_cli": 7,
        "cod_empresa": 3,
        "razao": "José  da Silva   ",
        "cpf_cnpj": "111.444.777-35",
        "fone": "(11) 3522-8899",
        "ativo": "S",
        "dt_nasc": "0000-00-00",
        "obs": "cliente antigo",
        "excluido": "N",
    }
    values = ent.row_to_canonical(row)
    assert values["cpf"] == "11144477735" and values["cnpj"] is None
    assert values["data_nascimento"] is None and values["ativo"] is True
    canon = canonicalize("cliente", values, partial=True)
    assert canon["nome"] == "José da Silva" and canon["telefone"] == "+551135228899"
    assert ent.store_of(row) == 3 and not ent.is_deleted(row)
    assert ent.is_deleted({**row, "excluido": "S"})
    cols = ent.to_columns({**canon, "ativo": False, "observacoes": "novo"})
    assert cols["cpf_cnpj"] == "111.444.777-35" and cols["ativo"] == "N"
    assert "obs" not in cols  # read-only: never written back
    assert set(cols) <= ent.writable_columns()
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ent.insert_defaults(now) == {"tipo_cad": "C", "dt_cadastro": now}
    assert ent.deleted_values(now) == {"excluido": "S"} and ent.undeleted_values() == {"excluido": "N"}
    assert ent.read_columns()[0] == "cod_cli" and len(ent.read_columns()) == len(set(ent.read_columns()))
    assert smap.entidades["produto"].store_of({}) == 1


def test_every_bad_field_of_a_row_is_listed() -> None:
    ent = load_schema_map(LEGACY).entidades["cliente"]
    with pytest.raises(RowConversionError) as info:
        ent.row_to_canonical({"razao": "A", "cpf_cnpj": "111.444.777-00", "ativo": "X", "dt_nasc": "2021-02-31"})
    assert {(p.field, p.column) for p in info.value.problems} == {
        ("cpf", "cpf_cnpj"),
        ("cnpj", "cpf_cnpj"),
        ("ativo", "ativo"),
        ("data_nascimento", "dt_nasc"),
    }
    with pytest.raises(RowConversionError, match="telefone"):
        ent.to_columns({"telefone": "+5511"})


def test_default_map_is_our_tables() -> None:
    smap = default_schema_map()
    assert {e: m.tabela for e, m in smap.entidades.items()} == {
        "cliente": "clientes",
        "produto": "produtos",
        "venda": "vendas",
    }
    assert smap.entidades["venda"].itens is not None and smap.entidades["venda"].itens.tabela == "venda_itens"
    assert is_default_map(parse_schema_map(default_schema_map_data()))
    assert not is_default_map(load_schema_map(LEGACY))


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "mapa.yaml"
    path.write_text(LEGACY, encoding="utf-8")
    assert load_schema_map(path).entidades["venda"].itens is not None
    with pytest.raises(SchemaMapError, match="não foi possível ler"):
        load_schema_map(tmp_path / "nao-existe.yaml")


BAD = [
    ("conversor: telefone", "conversor: fone_x", "entidades.cliente.campos.telefone.conversor", "desconhecido"),
    ("{coluna: fone,", "{coluna: razao,", "entidades.cliente.campos.telefone.coluna", "já é do campo 'nome'"),
    ("      observacoes:", "      obs_x:", "entidades.cliente.campos.obs_x", "campo canônico desconhecido"),
    ("    chave_primaria: cod_cli\n", "", "entidades.cliente.chave_primaria", "ausente"),
    ("      nome: {coluna: descricao}\n", "", "entidades.produto.campos.nome", "obrigatório"),
    ('falso: "N"}}', 'falso: "N", zz: 1}}', "entidades.cliente.campos.ativo.opcoes.zz", "opção desconhecida"),
    ("    tabela: estoque\n", "    tabela: estoque\n    foo: 1\n", "entidades.produto.foo", "desconhecida"),
    ("nome: {coluna: razao}", "nome: {coluna: cod_cli}", "entidades.cliente.campos.nome.coluna", "chave_primaria"),
    ("coluna: excluido,", "coluna: ativo,", "entidades.cliente.campos.ativo.coluna", "exclusao.coluna"),
    ("  produto:\n", "  fornecedor: {}\n  produto:\n", "entidades.fornecedor", "entidade desconhecida"),
    ("tabela: pedidos_itens", "tabela: estoque", "entidades.venda.itens.tabela", "já é de"),
    ("tabela: estoque", "tabela: crm_produtos", "entidades.produto.tabela", "crmsync"),
    (
        "loja: {fixa: 1}\n    campos:\n      nome",
        "loja: {}\n    campos:\n      nome",
        "entidades.produto.loja",
        "coluna",
    ),
    ('"$agora"', '"$ontem"', "entidades.cliente.padroes_insercao", "marcador"),
    ("tabela: cad_clientes", "tabela: 'cad clientes'", "entidades.cliente.tabela", "nome inválido"),
    (
        "modo: flag, coluna: excluido, valor_excluido",
        "modo: flag, coluna: excluido, x_excluido",
        "entidades.cliente.exclusao",
        "",
    ),
    ("versao: 1", "versao: 2", "versao", ""),
]


@pytest.mark.parametrize(("old", "new", "key", "words"), BAD)
def test_bad_maps_name_the_key(old: str, new: str, key: str, words: str) -> None:
    assert old in LEGACY
    with pytest.raises(SchemaMapError) as info:
        load_schema_map(LEGACY.replace(old, new, 1))
    assert info.value.key.startswith(key), str(info.value)
    assert words in info.value.message
    assert f"'{info.value.key}'" in str(info.value)


def test_venda_needs_cliente_and_not_a_list() -> None:
    with pytest.raises(SchemaMapError, match="cliente"):
        load_schema_map(
            LEGACY.split("  produto:")[0].replace("clientes:", "produto_x:").split("entidades:")[0]
            + "entidades:\n  venda:"
            + LEGACY.split("  venda:")[1]
        )
    with pytest.raises(SchemaMapError, match="objeto YAML"):
        load_schema_map("- a\n- b\n")
    with pytest.raises(SchemaMapError, match="YAML inválido"):
        load_schema_map("versao: [1\nx")


def test_insert_default_on_a_field_column_and_never_on_the_key() -> None:
    smap = load_schema_map(LEGACY.replace('tipo_cad: "C",', 'tipo_cad: "C", fone: "",', 1))
    assert smap.entidades["cliente"].insert_defaults(datetime(2026, 1, 1, tzinfo=UTC))["fone"] == ""
    assert default_schema_map().entidades["venda"].padroes_insercao["situacao"] == "Em aberto"
    with pytest.raises(SchemaMapError) as info:
        load_schema_map(LEGACY.replace('tipo_cad: "C",', "cod_cli: 1,", 1))
    assert info.value.key == "entidades.cliente.padroes_insercao.cod_cli"


def test_deleted_at_column_with_a_zero_date_for_not_deleted() -> None:
    smap = load_schema_map(
        LEGACY.replace(
            'exclusao: {modo: flag, coluna: excluido, valor_excluido: "S", valor_ativo: "N"}',
            'exclusao: {modo: data, coluna: dt_exclusao, valor_ativo: "0000-00-00 00:00:00"}',
        )
    )
    ent = smap.entidades["cliente"]
    assert not ent.is_deleted({"dt_exclusao": "0000-00-00 00:00:00"}) and not ent.is_deleted({"dt_exclusao": None})
    assert ent.is_deleted({"dt_exclusao": datetime(2026, 1, 1)})
    assert ent.undeleted_values() == {"dt_exclusao": "0000-00-00 00:00:00"}
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert ent.deleted_values(now) == {"dt_exclusao": now}
    plain = load_schema_map(
        LEGACY.replace(
            'modo: flag, coluna: excluido, valor_excluido: "S", valor_ativo: "N"', "modo: data, coluna: dt_exclusao"
        )
    )
    assert plain.entidades["cliente"].undeleted_values() == {"dt_exclusao": None}
