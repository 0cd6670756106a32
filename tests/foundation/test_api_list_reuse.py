"""A list's page statement is built once per set of filters and reused with other values
(`crmsync.services.local_data._page_statement`): each request must still answer its own
store, filter values and page, and a session may only be taken where it gets closed."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from crmsync.api.deps import SessionDep
from crmsync.api.limits import ReleasingRoute

from .helpers import CPF_OK, CPF_OK_2, Store, new_cliente, new_produto


def _ids(client: TestClient, store: Store, query: str, entity: str = "clientes") -> tuple[list[Any], int]:
    answer = client.get(f"/api/{entity}?{query}", headers=store.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [r["nome"] for r in body["registros"]], body["total"]


def test_the_same_filters_with_other_values_stores_and_pages(
    client: TestClient, store: Store, other_store: Store
) -> None:
    new_cliente(client, store, nome="Ana", email="ana@x.com", cpf=CPF_OK)
    new_cliente(client, store, nome="Bia", email="bia@x.com", cpf=CPF_OK_2)
    new_cliente(client, store, nome="Caio")
    new_cliente(client, other_store, nome="Duda", email="ana@x.com")
    new_produto(client, store, nome="Caneta", codigo="C1")
    new_produto(client, other_store, nome="Lápis", codigo="C1")

    assert _ids(client, store, "email=ana@x.com") == (["Ana"], 1)
    assert _ids(client, store, "email=BIA@x.com") == (["Bia"], 1)
    assert _ids(client, other_store, "email=ana@x.com") == (["Duda"], 1)
    assert _ids(client, store, "email=ana@x.com&cpf=111.444.777-35") == ([], 0)
    assert _ids(client, store, "email=bia@x.com&cpf=111.444.777-35") == (["Bia"], 1)
    assert _ids(client, store, "limit=1") == (["Ana"], 3)
    assert _ids(client, store, "limit=1&offset=2") == (["Caio"], 3)
    assert _ids(client, store, "pagina=2&limite=2") == (["Caio"], 3)
    assert _ids(client, store, "limit=2&offset=5") == ([], 3)  # past the end: counted apart
    assert _ids(client, other_store, "limit=5") == (["Duda"], 1)
    assert _ids(client, store, "codigo=C1", "produtos") == (["Caneta"], 1)
    assert _ids(client, other_store, "codigo=C1", "produtos") == (["Lápis"], 1)


def _nested(session: SessionDep) -> Session:  # a dependency taking the request's session
    return session


def test_a_session_is_taken_only_by_a_sync_endpoint_itself() -> None:
    router = APIRouter(route_class=ReleasingRoute)

    async def in_async(session: SessionDep) -> dict[str, Any]:
        return {}

    with pytest.raises(TypeError, match="SessionDep"):
        router.add_api_route("/async", in_async)

    def in_dependency(session: Annotated[Session, Depends(_nested)]) -> dict[str, Any]:
        return {}

    with pytest.raises(TypeError, match="SessionDep"):
        router.add_api_route("/nested", in_dependency)

    def in_sync(session: SessionDep) -> dict[str, Any]:
        return {}

    router.add_api_route("/sync", in_sync)  # the one place a session is closed
