"""Converters: every column spelling reads to the canonical value, and a canonical value
written and read back is unchanged (Hypothesis), with refusals instead of silent changes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from validate_docbr import CNPJ, CPF

from crmsync.erp.converters import CONVERTERS, ConversionError, ConverterOptionError, get_converter
from crmsync.mapping import normalize as n

_CPF, _CNPJ = CPF(), CNPJ()


def _with_check_digits(base: str, kind: str) -> str:
    """A valid document from its first digits (the check digits computed by validate_docbr)."""
    gen = _CPF if kind == "cpf" else _CNPJ
    for tail in range(100):
        candidate = base + f"{tail:02d}"
        if gen.validate(candidate):
            return candidate
    raise AssertionError("unreachable: every base has check digits")


cpfs = (
    st.text("0123456789", min_size=9, max_size=9)
    .filter(lambda s: len(set(s)) > 1)
    .map(lambda b: _with_check_digits(b, "cpf"))
)
cnpjs = (
    st.text("0123456789", min_size=12, max_size=12)
    .filter(lambda s: len(set(s)) > 1)
    .map(lambda b: _with_check_digits(b, "cnpj"))
)
# CPFs that start with zeros: the case a BIGINT column loses.
zero_cpfs = (
    st.text("0123456789", min_size=6, max_size=6)
    .filter(lambda s: s.strip("0"))
    .map(lambda b: _with_check_digits("000" + b, "cpf"))
)


def roundtrip(name: str, value: Any, **opcoes: Any) -> Any:
    conv = get_converter(name, opcoes)
    return conv.to_canonical(conv.to_column(value))


@given(cpfs)
def test_cpf_spellings_read_the_same_and_roundtrip(cpf: str) -> None:
    formatted = n.format_cpf(cpf)
    for name in ("cpf_formatado", "cpf_digitos", "cpf_numero"):
        conv = get_converter(name)
        assert conv.to_canonical(formatted) == cpf
        assert conv.to_canonical(cpf) == cpf
        assert conv.to_canonical(int(cpf)) == cpf  # the number that lost its leading zeros
        assert roundtrip(name, cpf) == cpf
    assert get_converter("cpf_formatado").to_column(cpf) == formatted
    assert get_converter("cpf_numero").to_column(cpf) == int(cpf)


@given(zero_cpfs)
def test_cpf_with_leading_zeros_in_a_bigint(cpf: str) -> None:
    conv = get_converter("cpf_numero")
    stored = conv.to_column(cpf)
    assert isinstance(stored, int) and len(str(stored)) < 11
    assert conv.to_canonical(stored) == cpf
    assert conv.to_canonical(Decimal(stored)) == cpf


@given(cnpjs)
def test_cnpj_spellings_roundtrip(cnpj: str) -> None:
    for name in ("cnpj_formatado", "cnpj_digitos", "cnpj_numero"):
        conv = get_converter(name)
        assert conv.to_canonical(n.format_cnpj(cnpj)) == cnpj
        assert conv.to_canonical(int(cnpj)) == cnpj
        assert roundtrip(name, cnpj) == cnpj


@given(st.one_of(cpfs, zero_cpfs), cnpjs, st.sampled_from(["formatado", "digitos", "numero"]))
def test_documento_column_holds_either(cpf: str, cnpj: str, fmt: str) -> None:
    as_cpf = get_converter("documento", {"tipo": "cpf", "formato": fmt})
    as_cnpj = get_converter("documento", {"tipo": "cnpj", "formato": fmt})
    stored_cpf = as_cpf.to_column(cpf)
    stored_cnpj = as_cnpj.to_column(cnpj)
    assert as_cpf.to_canonical(stored_cpf) == cpf and as_cnpj.to_canonical(stored_cpf) is None
    assert as_cnpj.to_canonical(stored_cnpj) == cnpj and as_cpf.to_canonical(stored_cnpj) is None


def test_documents_refuse_wrong_check_digits_and_read_zero_as_none() -> None:
    for name, bad in (
        ("cpf_formatado", "123.456.789-00"),
        ("cpf_numero", 12345678900),
        ("cnpj_digitos", "11222333000180"),
    ):
        with pytest.raises(ConversionError, match="inválido"):
            get_converter(name).to_canonical(bad)
    assert get_converter("cpf_numero").to_canonical(0) is None
    assert get_converter("cnpj_formatado").to_canonical("  .   .   /    -  ") is None
    with pytest.raises(ConversionError):
        get_converter("cpf_digitos").to_column("12345678900")
    with pytest.raises(ConversionError):
        get_converter("documento", {"tipo": "cpf"}).to_canonical("123")


PHONES = st.builds(
    lambda ddd, first, rest: f"+55{ddd}{first}{rest}",
    st.integers(11, 99).filter(lambda d: d % 10 != 0),
    st.sampled_from(["9", "3", "2"]),
    st.text("0123456789", min_size=7, max_size=7),
).filter(lambda e: n.normalize_phone(e) == e)


@given(PHONES, st.sampled_from(["nacional", "digitos", "e164"]))
def test_phone_formats_roundtrip(e164: str, fmt: str) -> None:
    assert roundtrip("telefone", e164, formato=fmt) == e164


def test_phone_spellings() -> None:
    conv = get_converter("telefone")
    for spelling in ("(11) 3522-8899", "11 3522 8899", "1135228899", "+55 11 3522-8899", 1135228899):
        assert conv.to_canonical(spelling) == "+551135228899"
    assert conv.to_column("+551135228899") == "(11) 3522-8899"
    with pytest.raises(ConversionError):
        conv.to_canonical("abc")


@pytest.mark.parametrize(("true", "false"), [("S", "N"), ("A", "I"), (1, 0), ("1", "0"), ("T", "F"), (True, False)])
def test_flag_pairs(true: Any, false: Any) -> None:
    conv = get_converter("flag", {"verdadeiro": true, "falso": false})
    assert conv.to_canonical(true) is True and conv.to_canonical(false) is False
    assert conv.to_column(True) == true and conv.to_column(False) == false
    if isinstance(true, str):
        assert conv.to_canonical(f"{true} ") is True  # CHAR(2) padding
    with pytest.raises(ConversionError, match="não mapeado"):
        conv.to_canonical("X")
    with pytest.raises(ConversionError, match="vazia"):
        conv.to_canonical(None)


def test_flag_numeric_column_reads_strings_and_ints_and_lists() -> None:
    conv = get_converter("flag", {"verdadeiro": ["S", "s"], "falso": ["N", "n"], "nulo": True})
    assert conv.to_canonical("s") is True and conv.to_canonical(None) is True
    assert conv.to_column(False) == "N"
    assert get_converter("flag", {"verdadeiro": 1, "falso": 0}).to_canonical("1") is True
    with pytest.raises(ConverterOptionError):
        get_converter("flag", {"verdadeiro": "S", "falso": "S"})


def test_zero_dates_mean_none() -> None:
    conv = get_converter("data_zero")
    assert conv.to_canonical("0000-00-00") is None
    assert conv.to_canonical(None) is None
    assert conv.to_column(None) == "0000-00-00"
    assert conv.to_canonical(date(2020, 2, 29)) == "2020-02-29"
    assert conv.to_column("2020-02-29") == date(2020, 2, 29)
    with pytest.raises(ConversionError):
        conv.to_canonical("2021-02-31")
    dt = get_converter("datahora_zero")
    assert dt.to_canonical("0000-00-00 00:00:00") is None
    assert dt.to_column(None) == "0000-00-00 00:00:00"
    with pytest.raises(ConversionError):
        get_converter("data").to_canonical("0000-00-00")  # only data_zero reads it as none


@given(st.dates(min_value=date(1, 1, 1)), st.sampled_from(["data", "data_zero"]))
def test_dates_roundtrip(day: date, name: str) -> None:
    assert roundtrip(name, day.isoformat()) == day.isoformat()


@given(st.dates(min_value=date(1000, 1, 1)))
def test_text_dates_in_their_own_format(day: date) -> None:
    conv = get_converter("data", {"formato": "%d/%m/%Y"})
    stored = conv.to_column(day.isoformat())
    assert stored == day.strftime("%d/%m/%Y")
    assert conv.to_canonical(stored) == day.isoformat()


@given(st.datetimes(min_value=datetime(1000, 1, 1)).map(lambda d: d.replace(microsecond=0)))
def test_datetimes_roundtrip(moment: datetime) -> None:
    assert roundtrip("datahora", moment.isoformat()) == moment.isoformat()


MONEY = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False)


@given(MONEY, st.booleans())
def test_decimal_comma_money_roundtrips(amount: Decimal, milhar: bool) -> None:
    canonical = n.normalize_decimal(amount, "v")
    conv = get_converter("dinheiro_virgula", {"milhar": milhar})
    stored = conv.to_column(canonical)
    assert "." not in stored or milhar
    assert conv.to_canonical(stored) == canonical


def test_money_spellings_and_refusals() -> None:
    conv = get_converter("dinheiro_virgula")
    assert conv.to_canonical("1.234,56") == "1234.5600"
    assert conv.to_canonical("10,5") == "10.5000"
    assert conv.to_canonical("7") == "7.0000"
    assert conv.to_column("1234.5600") == "1234,56"
    assert get_converter("dinheiro_virgula", {"milhar": True}).to_column("1234.5") == "1.234,50"
    with pytest.raises(ConversionError, match="casas"):
        conv.to_column("1.2345")
    assert get_converter("dinheiro_virgula", {"arredondar": True}).to_column("1.2351") == "1,24"
    with pytest.raises(ConversionError):
        conv.to_canonical("R$ abc")


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False))
def test_decimal_roundtrips(amount: Decimal) -> None:
    canonical = n.normalize_decimal(amount, "v")
    assert roundtrip("decimal", canonical, casas=4) == canonical
    assert get_converter("decimal").to_canonical(1.5) == "1.5000"


@given(st.integers(-(2**62), 2**62))
def test_integer_roundtrips(number: int) -> None:
    assert roundtrip("inteiro", str(number)) == str(number)


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(
    lambda s: s.strip() and s == s.rstrip(" ")
)


@given(TEXT, st.integers(30, 40))
def test_fixed_width_char_padding(text: str, width: int) -> None:
    conv = get_converter("texto", {"largura": width})
    stored = conv.to_column(text)
    assert len(stored) == width and stored.startswith(text)
    assert conv.to_canonical(stored) == text


def test_text_is_never_cut() -> None:
    with pytest.raises(ConversionError, match="não cabe"):
        get_converter("texto", {"tamanho": 5}).to_column("Joaquim")
    with pytest.raises(ConversionError, match="não cabe"):
        get_converter("texto", {"largura": 3}).to_column("abcd")


LATIN1_TEXT = st.text(st.sampled_from("aãâáàçéêíóôõúüÁÃÇÉÕÚ€ºª§ Zz09-"), min_size=1, max_size=40)


@given(LATIN1_TEXT)
def test_latin1_text_roundtrips(text: str) -> None:
    conv = get_converter("texto", {"charset": "latin1"})
    assert conv.to_canonical(conv.to_column(text)) == (text.rstrip(" ") or None)


@pytest.mark.parametrize("bad", ["✓", "中", "😀", "\u0080", "Ω"])
def test_latin1_refuses_what_it_cannot_hold(bad: str) -> None:
    with pytest.raises(ConversionError, match="charset latin1"):
        get_converter("texto", {"charset": "latin1"}).to_column(f"José {bad}")
    if ord(bad) > 0xFFFF:
        with pytest.raises(ConversionError):
            get_converter("texto", {"charset": "utf8mb3"}).to_column(bad)


def test_vazio_is_the_columns_none() -> None:
    conv = get_converter("texto", {"vazio": ""})
    assert conv.to_column(None) == "" and conv.to_canonical("") is None
    num = get_converter("cnpj_numero", {"vazio": 0})
    assert num.to_column(None) == 0 and num.to_canonical(0) is None


def test_cep_spellings() -> None:
    for fmt in ("formatado", "digitos", "numero"):
        assert roundtrip("cep", "01310100", formato=fmt) == "01310100"
    assert get_converter("cep").to_canonical(1310100) == "01310100"
    assert get_converter("cep", {"formato": "formatado"}).to_column("01310100") == "01310-100"
    with pytest.raises(ConversionError):
        get_converter("cep").to_canonical("123")


def test_valores_and_booleano() -> None:
    conv = get_converter("valores", {"valores": {"F": "PF", "J": "PJ"}})
    assert conv.to_canonical("J") == "PJ" and conv.to_column("PF") == "F"
    with pytest.raises(ConversionError):
        conv.to_canonical("X")
    b = get_converter("booleano")
    assert b.to_canonical(1) is True and b.to_canonical(False) is False
    with pytest.raises(ConversionError):
        b.to_canonical(2)


def test_email() -> None:
    assert get_converter("email").to_canonical(" Maria@X.com ") == "maria@x.com"
    with pytest.raises(ConversionError):
        get_converter("email").to_canonical("not-an-email")


def test_unknown_converter_and_options() -> None:
    with pytest.raises(ValueError, match="conversor desconhecido 'cpf_x'"):
        get_converter("cpf_x", {})
    with pytest.raises(ConverterOptionError) as info:
        get_converter("texto", {"largura": "dez"})
    assert info.value.key == "largura"
    with pytest.raises(ConverterOptionError):
        get_converter("texto", {"charset": "ebcdic"})
    assert {
        "texto",
        "cpf_formatado",
        "cpf_digitos",
        "cpf_numero",
        "cnpj_formatado",
        "cnpj_digitos",
        "cnpj_numero",
        "documento",
        "telefone",
        "email",
        "flag",
        "data",
        "data_zero",
        "datahora",
        "datahora_zero",
        "dinheiro_virgula",
        "decimal",
        "inteiro",
    } <= set(CONVERTERS)


CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("texto", {}),
    ("texto", {"largura": 10, "charset": "latin1"}),
    ("email", {}),
    ("cpf_formatado", {}),
    ("cpf_digitos", {}),
    ("cpf_numero", {}),
    ("cnpj_formatado", {}),
    ("cnpj_numero", {"vazio": 0}),
    ("documento", {"tipo": "cpf", "formato": "formatado"}),
    ("documento", {"tipo": "cnpj", "formato": "numero"}),
    ("cep", {"formato": "numero"}),
    ("telefone", {}),
    ("telefone", {"formato": "digitos"}),
    ("flag", {"verdadeiro": "S", "falso": "N", "nulo": False}),
    ("booleano", {}),
    ("valores", {"valores": {"F": "PF", "J": "PJ"}}),
    ("data", {}),
    ("data_zero", {}),
    ("data", {"formato": "%d/%m/%Y"}),
    ("datahora_zero", {}),
    ("dinheiro_virgula", {"milhar": True}),
    ("decimal", {"casas": 2}),
    ("inteiro", {}),
]
RAW = st.one_of(
    st.none(),
    st.text(max_size=25),
    st.text("0123456789.-/ ,()+", max_size=20),
    st.integers(-(10**15), 10**15),
    st.decimals(allow_nan=True, allow_infinity=True, places=3),
    st.floats(allow_nan=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.sampled_from(["0000-00-00", "0000-00-00 00:00:00", "S", "N", "2021-02-31", "1.234,56", "nan", "Infinity"]),
)


@settings(max_examples=1500)
@given(st.sampled_from(CONFIGS), RAW)
def test_any_column_value_converts_or_is_refused_and_what_converts_is_stable(
    config: tuple[str, dict[str, Any]], raw: Any
) -> None:
    """Whatever a legacy column holds: ConversionError (a failed item) or a canonical value
    that survives its own write and re-read; never another exception (a crashed run)."""
    conv = get_converter(*config)
    try:
        value = conv.to_canonical(raw)
    except ConversionError:
        return
    try:
        stored = conv.to_column(value)
    except ConversionError:
        return  # e.g. text the column cannot hold: refused on write, not cut
    assert conv.to_canonical(stored) == value


_TYPED_DOCUMENT_MAP = """
versao: 1
entidades:
  cliente:
    tabela: t
    chave_primaria: id
    loja: {fixa: 1}
    campos:
      nome: {coluna: nome}
      tipo_pessoa: {coluna: tp, conversor: valores, opcoes: {valores: {F: PF, J: PJ}}}
      cpf: {coluna: doc, conversor: documento, opcoes: {tipo: cpf, formato: numero}}
      cnpj: {coluna: doc, conversor: documento, opcoes: {tipo: cnpj, formato: numero}}
"""


@pytest.mark.parametrize(
    ("tp", "doc", "expected"),
    [
        # 191 is a valid CPF padded to 11 and a valid CNPJ padded to 14: the F/J column decides
        ("J", 191, {"cpf": None, "cnpj": "00000000000191"}),
        ("F", 191, {"cpf": "00000000191", "cnpj": None}),
        (None, 191, {"cpf": "00000000191", "cnpj": None}),  # no type: the digits decide
        ("J", 6990590000123, {"cpf": None, "cnpj": "06990590000123"}),
        ("J", 0, {"cpf": None, "cnpj": None}),  # 0 = no document, never an error
        ("F", None, {"cpf": None, "cnpj": None}),
    ],
)
def test_documento_reads_as_the_rows_person_type_says(
    tp: str | None, doc: int | None, expected: dict[str, Any]
) -> None:
    from crmsync.erp.schema_map import load_schema_map

    ent = load_schema_map(_TYPED_DOCUMENT_MAP).entidades["cliente"]
    got = ent.row_to_canonical({"nome": "x", "tp": tp, "doc": doc})
    assert {k: got[k] for k in ("cpf", "cnpj")} == expected


def test_documento_of_the_wrong_kind_for_the_person_type_is_refused_with_the_field() -> None:
    from crmsync.erp.schema_map import RowConversionError, load_schema_map

    ent = load_schema_map(_TYPED_DOCUMENT_MAP).entidades["cliente"]
    with pytest.raises(RowConversionError, match="CNPJ inválido"):
        ent.row_to_canonical({"nome": "x", "tp": "J", "doc": 11144477735})  # a CPF on a PJ
