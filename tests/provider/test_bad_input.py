"""Bodies the sandbox cannot produce (HTML pages, truncated JSON, wrong types, broken
pagination), fed through httpx.MockTransport: the provider raises a clear ProtocolError
naming the request, keeps good items of a page, never loops and never leaks a token."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from gc_helpers import ACCESS, SECRET, make_cpf
from structlog.testing import capture_logs

from crmsync.providers.base import ProtocolError
from crmsync.providers.gestaoclick import GestaoClickProvider

Handler = Callable[[httpx.Request], httpx.Response]


def gc_cliente(i: int, **extra: Any) -> dict[str, Any]:
    cpf = make_cpf(i)
    return {
        "id": str(i),
        "tipo_pessoa": "PF",
        "nome": f"Cliente {i}",
        "razao_social": None,
        "cnpj": None,
        "cpf": f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}",
        "rg": None,
        "data_nascimento": "1988-03-30",
        "telefone": "(11) 3522-8899",
        "celular": "(96) 9 9194-9455",
        "fax": None,
        "email": f"c{i}@example.com",
        "ativo": "1",
        "contatos": [],
        "enderecos": [
            {
                "endereco": {
                    "cep": "31260-210",
                    "logradouro": "Rua X",
                    "numero": "10",
                    "complemento": None,
                    "bairro": "Centro",
                    "cidade_id": "1411",
                    "nome_cidade": "Belo Horizonte",
                    "estado": "MG",
                }
            }
        ],
        **extra,
    }


def envelope(data: Any, **meta: Any) -> dict[str, Any]:
    base_meta = {
        "total_registros": len(data) if isinstance(data, list) else 1,
        "total_da_pagina": 0,
        "pagina_atual": 1,
        "limite_por_pagina": 100,
        "pagina_anterior": None,
        "url_anterior": None,
        "proxima_pagina": None,
        "proxima_url": None,
    }
    base_meta.update(meta)
    return {"code": 200, "status": "success", "meta": base_meta, "data": data}


@pytest.fixture
def mocked(make_provider: Callable[..., GestaoClickProvider]) -> Callable[[Handler], GestaoClickProvider]:
    def make(handler: Handler) -> GestaoClickProvider:
        def checked(request: httpx.Request) -> httpx.Response:
            assert request.headers["access-token"] == ACCESS
            assert request.headers["secret-access-token"] == SECRET
            assert request.headers["content-type"] == "application/json"
            return handler(request)

        return make_provider("https://gc.test/api/", http_transport=httpx.MockTransport(checked), max_attempts=1)

    return make


def assert_clean(exc: BaseException) -> None:
    text = str(exc) + repr(exc.args)
    assert ACCESS not in text and SECRET not in text


def test_html_page_is_a_protocol_error_naming_the_request(
    mocked: Callable[[Handler], GestaoClickProvider],
) -> None:
    provider = mocked(
        lambda r: httpx.Response(
            200, text="<html><body>Manutenção</body></html>", headers={"content-type": "text/html"}
        )
    )
    with pytest.raises(ProtocolError) as info:
        provider.list_page("cliente", 1)
    assert "HTML" in str(info.value)
    assert info.value.request == "GET /clientes?pagina=1&limite=100"
    assert_clean(info.value)


def test_truncated_json(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    body = json.dumps(envelope([gc_cliente(1)]))[:57]
    provider = mocked(lambda r: httpx.Response(200, text=body, headers={"content-type": "application/json"}))
    with pytest.raises(ProtocolError, match="truncado") as info:
        provider.get("cliente", "1")
    assert info.value.request == "GET /clientes/1"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": 200, "status": "success", "data": "texto"}, "data deveria ser uma lista"),
        ([1, 2, 3], "envelope deveria ser um objeto"),
        ({"code": 200, "status": "success", "data": [], "meta": "x"}, "meta deveria ser um objeto"),
        (envelope([], total_registros="muitos"), "meta.total_registros"),
        ({"code": 500, "status": "error", "data": "Falha interna"}, "code 500"),
        ({"code": "abc", "status": "success", "data": []}, "code com tipo inesperado"),
        ({"status": "success"}, "sem o campo data"),
    ],
)
def test_wrong_shapes_are_protocol_errors(
    mocked: Callable[[Handler], GestaoClickProvider], body: Any, expected: str
) -> None:
    provider = mocked(lambda r: httpx.Response(200, json=body))
    with pytest.raises(ProtocolError, match=expected) as info:
        provider.list_page("cliente", 1)
    assert info.value.request == "GET /clientes?pagina=1&limite=100"


def test_bad_items_go_to_page_errors_and_the_rest_is_kept(
    mocked: Callable[[Handler], GestaoClickProvider],
) -> None:
    items = [
        gc_cliente(1),
        gc_cliente(2, ativo="talvez"),  # unexpected flag
        "not an object",
        gc_cliente(4, cpf="111.111.111-12"),  # wrong check digit
        gc_cliente(5, enderecos={"endereco": {}}),  # wrapper list of the wrong type
        {k: v for k, v in gc_cliente(6).items() if k != "id"},
        gc_cliente(7),
    ]
    provider = mocked(lambda r: httpx.Response(200, json=envelope(items)))
    page = provider.list_page("cliente", 1)
    assert [r.external_id for r in page.records] == ["1", "7"]
    assert [e[0] for e in page.errors] == ["2", "?", "4", "5", "?"]
    assert all("GET /clientes?pagina=1&limite=100" in e[1] for e in page.errors)
    assert "cpf" in dict(page.errors)["4"]


def test_empty_page_in_the_middle_of_a_listing(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["pagina"])
        if page == 1:
            return httpx.Response(
                200,
                json=envelope([gc_cliente(i) for i in range(1, 101)], total_registros=250, proxima_pagina=2),
            )
        return httpx.Response(200, json=envelope([], total_registros=250, pagina_atual=page, proxima_pagina=3))

    provider = mocked(handler)
    pages = provider.iter_pages("cliente")
    assert len(next(pages).records) == 100
    with pytest.raises(ProtocolError, match="vazia") as info:
        next(pages)
    assert info.value.request == "GET /clientes?pagina=2&limite=100"


def test_empty_page_while_total_says_more(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    provider = mocked(lambda r: httpx.Response(200, json=envelope([], total_registros=150, pagina_atual=2)))
    with pytest.raises(ProtocolError, match="total informado é 150"):
        provider.list_page("cliente", 2)


def test_empty_last_page_is_fine(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    provider = mocked(lambda r: httpx.Response(200, json=envelope([], total_registros=100, pagina_atual=2)))
    page = provider.list_page("cliente", 2)
    assert page.records == [] and page.next_page is None


def test_pagination_loop_is_refused(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        page = int(request.url.params["pagina"])
        return httpx.Response(
            200,
            json=envelope(
                [gc_cliente(page)],
                total_registros=500,
                pagina_atual=page,
                proxima_pagina=1 if page == 2 else 2,
            ),
        )

    provider = mocked(handler)
    with pytest.raises(ProtocolError, match="laço") as info:
        list(provider.iter_pages("cliente"))
    assert info.value.request == "GET /clientes?pagina=2&limite=100"
    assert len(calls) == 2


def test_server_answering_another_page_is_refused(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    provider = mocked(lambda r: httpx.Response(200, json=envelope([gc_cliente(1)], pagina_atual=1)))
    with pytest.raises(ProtocolError, match="página 1 quando pedimos a 3"):
        provider.list_page("cliente", 3)


def test_relative_proxima_url_and_meta_variant_b(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    """Produtos use meta variant B; only `proxima_url` (relative to the host) says where to go."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.path}?{request.url.query.decode()}")
        page = int(request.url.params["pagina"])
        item = {
            "id": str(page),
            "nome": f"P{page}",
            "codigo_interno": f"C{page}",
            "valor_custo": "1.0000",
            "valor_venda": "2.0000",
            "estoque": 3,
            "ativo": "1",
            "descricao": "",
        }
        meta = {
            "total_registros": 2,
            "total_paginas": 2,
            "total_registros_pagina": 1,
            "pagina_atual": page,
            "limite_por_pagina": 1,
            "pagina_anterior": None,
            "url_anterior": None,
            "proxima_pagina": None,
            "proxima_url": "/api/produtos?pagina=2" if page == 1 else None,
        }
        return httpx.Response(200, json={"code": 200, "status": "success", "meta": meta, "data": [item]})

    provider = mocked(handler)
    pages = list(provider.iter_pages("produto"))
    assert [p.records[0].data["codigo"] for p in pages] == ["C1", "C2"]
    assert pages[0].total == 2
    assert seen == ["/api/produtos?pagina=1&limite=100", "/api/produtos?pagina=2&limite=100"]


def test_errors_and_logs_never_show_a_token(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    provider = mocked(lambda r: httpx.Response(503, text="<html>503</html>", headers={"content-type": "text/html"}))
    with capture_logs() as logs, pytest.raises(Exception) as info:
        provider.get("cliente", "9")
    assert_clean(info.value)
    assert ACCESS not in repr(logs) and SECRET not in repr(logs)
    assert info.value.request == "GET /clientes/9"  # type: ignore[attr-defined]


@pytest.mark.parametrize("ext_id", ["1/../../usuarios", "7?limite=1000", "3#x", "a b", "%2e%2e"])
def test_external_ids_are_escaped_as_one_path_segment(
    mocked: Callable[[Handler], GestaoClickProvider], ext_id: str
) -> None:
    """An id from a CRM or a webhook can never address another resource or add a parameter."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"code": 404, "status": "error", "data": "Registro não encontrado"})

    provider = mocked(handler)
    with pytest.raises(Exception):  # noqa: B017 - the 404 itself is not what is tested here
        provider.get("cliente", ext_id)
    with pytest.raises(Exception):  # noqa: B017
        provider.delete("cliente", ext_id)
    for request in seen:
        raw = request.url.raw_path.decode()
        path, _, query = raw.partition("?")
        assert path.startswith("/api/clientes/") and path.count("/") == 3, raw
        assert query == "", raw  # nothing of the id became a parameter
        assert unquote(path.rsplit("/", 1)[1]) == ext_id  # the id, intact, as one segment


def test_a_crm_error_text_is_cleaned_and_cut(mocked: Callable[[Handler], GestaoClickProvider]) -> None:
    """Whatever a CRM answers in an error (markup, control characters, a huge message) is
    repeated only as a short, cleaned message."""
    noisy = "<script>alert(1)</script>Erro\x00\x1b[31m interno " + "x" * 50_000
    fields = {f"campo{i}": ["<b>inválido</b>"] * 100 for i in range(200)}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"code": 404, "data": noisy})
        return httpx.Response(422, json={"code": 422, "data": fields})

    provider = mocked(handler)
    with pytest.raises(Exception) as first:
        provider.get("cliente", "1")
    with pytest.raises(Exception) as second:
        provider.create("cliente", {"nome": "Ana", "tipo_pessoa": "PF"})
    for exc in (first.value, second.value):
        text = str(exc)
        assert len(text) < 700, len(text)
        assert "<" not in text and "\x00" not in text and "\x1b" not in text
        assert_clean(exc)
    assert "Erro" in str(first.value)
