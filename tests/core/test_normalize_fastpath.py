"""The fast paths of canonicalisation (plain e-mails, usual Brazilian phone spellings, the
cliente model's validation in plain Python) must give exactly what the reference paths give
(email_validator, phonenumbers, the Pydantic model) for every input: same value, or the
same error. Compared here on random text, realistic Faker pt_BR data and edge cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from faker import Faker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crmsync.mapping import normalize as n
from crmsync.model import canonical as c

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_FAKE = Faker("pt_BR")
_FAKE.seed_instance(7)


def _pool(make: Callable[[], Any], size: int = 300) -> st.SearchStrategy[Any]:
    """Faker values drawn up front: Hypothesis needs generation that does not depend on
    outside state, so a test case replays the same data."""
    return st.sampled_from([make() for _ in range(size)])


_F_EMAIL = _pool(_FAKE.email)
_F_USER = _pool(_FAKE.user_name)
_F_FREE = _pool(_FAKE.free_email_domain, 20)
_F_FIRST = _pool(_FAKE.first_name)
_F_DOMAIN = _pool(_FAKE.domain_name)
_F_PHONE = _pool(_FAKE.phone_number)
_F_CELL = _pool(_FAKE.cellphone_number)
_F_NAME = _pool(_FAKE.name)
_F_CPF = _pool(_FAKE.cpf)
_F_CNPJ = _pool(_FAKE.cnpj)
_F_COMPANY = _pool(_FAKE.company, 50)
_F_RG = _pool(_FAKE.rg, 50)
_F_DATE = _pool(_FAKE.date, 50)
_F_POSTCODE = _pool(_FAKE.postcode, 50)
_F_STREET = _pool(_FAKE.street_name, 50)
_F_BUILDING = _pool(_FAKE.building_number, 50)
_F_BAIRRO = _pool(_FAKE.bairro, 50)
_F_CITY = _pool(_FAKE.city, 50)
_F_UF = _pool(_FAKE.estado_sigla, 27)


def _outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args, **kwargs))
    except n.NormalizationError as exc:
        return ("NormalizationError", (exc.field, exc.message, str(exc)))
    except ValidationError as exc:
        return ("ValidationError", [(e["loc"], e["msg"], e["type"]) for e in exc.errors()])
    except Exception as exc:  # any other error must be the same too
        return (type(exc).__name__, str(exc))


def _same_email(value: Any) -> None:
    assert _outcome(n.normalize_email, value, "mail") == _outcome(n._normalize_email_reference, value, "mail")


def _same_phone(value: Any) -> None:
    assert _outcome(n.normalize_phone, value, "fone") == _outcome(n._normalize_phone_reference, value, "fone")


def _same_canon(data: dict[str, Any], partial: bool) -> None:
    fast = _outcome(c.canonicalize, "cliente", data, partial=partial)
    ref = _outcome(c._canonicalize_reference, "cliente", data, partial=partial)
    assert fast == ref
    if fast[0] == "ok":
        assert list(fast[1]) == list(ref[1])  # same key order too


def _casing(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.upper() if f else ch for ch, f in zip(text, flips, strict=True))


_ws = st.sampled_from(["", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u180e", "\x1f"])
_ascii_email_chars = st.text(alphabet="abcxyzABZ0129._+-@'\"!#%&*/=?^`{|}~ ()<>[]:;,\\", max_size=40)


@st.composite
def emails(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        base = draw(_F_EMAIL)
    elif kind == 1:
        base = f"{draw(_F_USER)}{draw(st.integers(0, 99999))}@{draw(_F_FREE)}"
    elif kind == 2:
        local = draw(st.from_regex(r"[a-z0-9._+\-]{1,70}", fullmatch=True))
        labels = draw(st.lists(st.from_regex(r"[a-z0-9\-]{0,66}", fullmatch=True), min_size=1, max_size=4))
        tld = draw(
            st.sampled_from(
                [
                    "com",
                    "br",
                    "c",
                    "test",
                    "local",
                    "localhost",
                    "invalid",
                    "onion",
                    "arpa",
                    "museum",
                    "x1",
                    "1com",
                    "co-m",
                    "",
                ]
            )
        )
        base = f"{local}@{'.'.join([*labels, tld])}"
    elif kind == 3:
        base = draw(_ascii_email_chars)
    elif kind == 4:
        base = draw(st.text(max_size=30)) + "@" + draw(st.text(max_size=30))
    elif kind == 5:
        base = f"{draw(_F_FIRST)}@{draw(_F_DOMAIN)}"  # accents in the local part
    else:
        base = f"user@{draw(st.sampled_from(['xn--bcher-kva.com', 'ab--cd.com', 'mail.example.com', 'a.b.test']))}"
    if draw(st.booleans()):
        base = _casing(draw, base)
    return draw(_ws) + base + draw(_ws)


@st.composite
def phones(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 6))
    ddd = draw(st.from_regex(r"[0-9]{2}", fullmatch=True))
    rest = draw(st.from_regex(r"[0-9]{7,10}", fullmatch=True))
    if kind == 0:
        base = draw(_F_PHONE)
    elif kind == 1:
        base = draw(_F_CELL)
    elif kind == 2:
        base = f"({ddd}) {rest[:-4]}-{rest[-4:]}"
    elif kind == 3:
        base = f"({ddd}) 9 {rest[-8:-4]}-{rest[-4:]}"
    elif kind == 4:
        base = draw(st.sampled_from(["+55", "55", "+1", "0", "", "+"])) + ddd + rest
    elif kind == 5:
        base = draw(st.text(alphabet="0123456789()+- 9x#٣", max_size=20))
    else:
        base = draw(st.text(max_size=20))
    return draw(_ws) + base + draw(_ws)


@SETTINGS
@given(emails())
def test_email_fast_path_matches_reference(value: str) -> None:
    _same_email(value)


@SETTINGS
@given(st.one_of(st.none(), st.text(max_size=60), st.integers(), st.binary(max_size=10)))
def test_email_any_value_matches_reference(value: Any) -> None:
    _same_email(value)


@pytest.mark.parametrize(
    "value",
    [
        "maria@x.com",
        " Maria@X.com ",
        "a.b@c.com",
        "a..b@c.com",
        ".a@c.com",
        "a.@c.com",
        "a@c",
        "a@c.d",
        "a@c.test",
        "a@b.local",
        "a@localhost",
        "a@-c.com",
        "a@c-.com",
        "a@c.com.",
        "a@c..com",
        "x" * 64 + "@c.com",
        "x" * 65 + "@c.com",
        "a@" + "b" * 63 + ".com",
        "a@" + "b" * 64 + ".com",
        "a+tag@c.com",
        "a-b_c@c.com",
        "joão@c.com",
        "a@bücher.com",
        "a@xn--bcher-kva.com",
        "a@1.com",
        "a@c.123",
        "A@C.COM",
        "",
        "   ",
        None,
    ],
)
def test_email_edge_cases(value: Any) -> None:
    _same_email(value)


@SETTINGS
@given(phones())
def test_phone_fast_path_matches_reference(value: str) -> None:
    _same_phone(value)


@SETTINGS
@given(
    st.from_regex(r"[1-9][0-9]", fullmatch=True),
    st.from_regex(r"[0-9]{8,9}", fullmatch=True),
    st.sampled_from(["({d}) {a}-{b}", "({d}){a}-{b}", "({d}) {a}{b}", "{d}{a}{b}", "+55{d}{a}{b}", "({d}) 9 {a}-{b}"]),
)
def test_phone_every_area_code(ddd: str, number: str, template: str) -> None:
    _same_phone(template.format(d=ddd, a=number[:-4], b=number[-4:]))


@pytest.mark.parametrize(
    "value",
    [
        "(11) 3522-8899",
        "(96) 9 9194-9455",
        "(96) 99194-9455",
        "1135228899",
        "+551135228899",
        "(55) 3522-8899",
        "(55) 9 9194-9455",
        "5535228899",
        "+555535228899",
        "(01) 3522-8899",
        "(90) 3522-8899",
        "(90) 9 9194-9455",
        "0 11 3522-8899",
        "+1 650 253 0000",
        "123",
        "(11) 3522-889",
        "(11) 9 9194-94555",
        "(١١) ٣٥٢٢-٨٨٩٩",
        "+5511352288990",
        "",
        " ",
        None,
    ],
)
def test_phone_edge_cases(value: Any) -> None:
    _same_phone(value)


_text_values = st.one_of(
    st.none(),
    st.text(max_size=12),
    _ws.map(lambda w: w + "x" + w),
    st.sampled_from(["a\ud800b", "  ", "PF", "PJ", "ES", "pf", " PJ "]),
)


@st.composite
def cliente_data(draw: st.DrawFn) -> dict[str, Any]:
    realistic = {
        "tipo_pessoa": draw(st.sampled_from(["PF", "PJ", "ES", "pf", "XX", "", None])),
        "nome": draw(st.one_of(_F_NAME, st.sampled_from(["  ", "", None, " José  da   Silva ", "a\ud800"]))),
        "razao_social": draw(_F_COMPANY),
        "cpf": draw(
            st.one_of(_F_CPF, _F_CPF.map(lambda v: v.replace(".", "")), st.sampled_from(["123.456.789-00", "", None]))
        ),
        "cnpj": draw(st.one_of(_F_CNPJ, st.sampled_from(["11.222.333/0001-00", "", None]))),
        "rg": draw(_F_RG),
        "inscricao_estadual": str(draw(st.integers(0, 10**9))),
        "data_nascimento": draw(st.one_of(_F_DATE, st.sampled_from(["2020-02-30", "", None, "1980-01-02T10:00:00"]))),
        "email": draw(emails()),
        "telefone": draw(phones()),
        "celular": draw(phones()),
        "cep": draw(st.one_of(_F_POSTCODE, st.sampled_from(["123", "", None]))),
        "logradouro": draw(_F_STREET),
        "numero": draw(_F_BUILDING),
        "complemento": draw(st.sampled_from(["Apto 101", "", None, " \t "])),
        "bairro": draw(_F_BAIRRO),
        "cidade": draw(_F_CITY),
        "estado": draw(st.one_of(_F_UF, st.sampled_from(["sp", "S", "", None, "S1"]))),
        "ativo": draw(st.sampled_from([True, False, "1", 0, None])),
        "observacoes": draw(_text_values),
    }
    keys = draw(st.lists(st.sampled_from(sorted(realistic)), unique=True))
    data = {k: realistic[k] for k in keys}
    for k in draw(st.lists(st.sampled_from(sorted(realistic)), max_size=3)):
        data[k] = draw(_text_values)
    if draw(st.integers(0, 9)) == 0:
        data["desconhecido"] = "x"
    return data


@SETTINGS
@given(cliente_data(), st.booleans())
def test_cliente_canonical_fast_path_matches_model(data: dict[str, Any], partial: bool) -> None:
    _same_canon(data, partial)


def test_cliente_canonical_realistic_records_take_the_fast_path() -> None:
    """Guard that the ordinary record really skips the model (else the pull is slow again)."""
    data = {
        "tipo_pessoa": "PF",
        "nome": "Maria  Silva",
        "cpf": "141.777.631-52",
        "email": "maria.silva0@gmail.com",
        "telefone": "(19) 3244-0034",
        "celular": "(19) 9 9425-7297",
        "cep": "13705-967",
        "estado": "SP",
        "cidade": "Campinas",
        "data_nascimento": "1988-10-28",
        "ativo": True,
    }
    for partial in (True, False):
        fast = c._cliente_fast(data, partial)
        assert fast is not None
        assert fast == c._canonicalize_reference("cliente", data, partial=partial)


def _same_doc(fast: Callable[..., Any], ref: Callable[..., Any], value: Any) -> None:
    assert _outcome(fast, value, "doc") == _outcome(ref, value, "doc")


def _with_check_digits(body: str, weights: tuple[tuple[int, ...], ...], cpf: bool) -> str:
    for w in weights:
        total = sum(int(ch) * k for ch, k in zip(body, w, strict=False))
        body += str(total * 10 % 11 % 10) if cpf else str(0 if total % 11 < 2 else 11 - total % 11)
    return body


def _documents(
    real: st.SearchStrategy[str],
    body: int,
    weights: tuple[tuple[int, ...], ...],
    cpf: bool,
    lengths: tuple[int, int],
    junk: str,
) -> st.SearchStrategy[str]:
    """Document spellings: real ones, random bodies with right check digits, wrong lengths,
    one digit repeated, and junk (Arabic-Indic and full-width digits, letters)."""
    digits = st.from_regex(f"[0-9]{{{body}}}", fullmatch=True)
    base = st.one_of(
        real,
        digits.map(lambda b: _with_check_digits(b, weights, cpf=cpf)),
        st.from_regex(f"[0-9]{{{lengths[0] - 1},{lengths[1]}}}", fullmatch=True),
        st.builds(lambda d, n: d * n, st.sampled_from("0123456789"), st.integers(*lengths)),
        st.text(alphabet=junk, max_size=16 if cpf else 20),
    )
    return st.builds(lambda a, b, c: a + b + c, _ws, base, _ws)


def cpfs() -> st.SearchStrategy[str]:
    return _documents(
        _F_CPF, 9, (tuple(range(10, 1, -1)), tuple(range(11, 1, -1))), True, (10, 12), "0123456789.-/ ٣１a"
    )


def cnpjs() -> st.SearchStrategy[str]:
    return _documents(
        _F_CNPJ,
        12,
        ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)),
        False,
        (13, 15),
        "0123456789.-/ ٣１aB",
    )


@SETTINGS
@given(cpfs())
def test_cpf_fast_check_matches_validate_docbr(value: str) -> None:
    _same_doc(n.normalize_cpf, n._normalize_cpf_reference, value)


@SETTINGS
@given(cnpjs())
def test_cnpj_fast_check_matches_validate_docbr(value: str) -> None:
    _same_doc(n.normalize_cnpj, n._normalize_cnpj_reference, value)


@SETTINGS
@given(st.one_of(st.none(), st.text(max_size=20)))
def test_documents_any_text_match_reference(value: Any) -> None:
    _same_doc(n.normalize_cpf, n._normalize_cpf_reference, value)
    _same_doc(n.normalize_cnpj, n._normalize_cnpj_reference, value)


def test_generated_check_digits_are_valid() -> None:
    """Guard on the test's own generator: most kind-1 documents must be valid, so the
    comparison above really covers the accepting branch."""
    assert n._normalize_cpf_reference(_FAKE.cpf()) is not None
    body = _with_check_digits("123456789", (tuple(range(10, 1, -1)), tuple(range(11, 1, -1))), cpf=True)
    assert n._normalize_cpf_reference(body) == body
    body = _with_check_digits(
        "112223330001", ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)), cpf=False
    )
    assert n._normalize_cnpj_reference(body) == body
