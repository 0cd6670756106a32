"""The console on an ERP's own tables: the same pages and buttons as on ours. A conflict on a
legacy row is shown with both values and decided with a click (written into the ERP's mapped
column only), and legacy rows that do not convert are listed with table, key and reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from erp_world import Erp
from fastapi.testclient import TestClient
from sqlalchemy import select

from crmsync.api.app import create_app
from crmsync.crypto import hash_api_key
from crmsync.db.local import Loja
from crmsync.db.sync import CrmConflito

KEY = "crm_erp_console_test_key_0123456789ab"


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture
def console(erp: Erp) -> Iterator[TestClient]:
    with erp.sf() as s, s.begin():
        loja = s.get(Loja, 1)
        assert loja is not None
        loja.api_key_hash = hash_api_key(KEY)
    with TestClient(create_app(), follow_redirects=False) as client:
        form = client.get("/console/entrar")
        signed = client.post("/console/entrar", data={"api_key": KEY, "csrf_token": _csrf(form.text)})
        assert signed.status_code == 303, signed.text
        yield client


def test_a_conflict_on_a_legacy_row_is_decided_in_the_console(erp: Erp, console: TestClient) -> None:
    erp.engine().push("cliente")
    jose = erp.remote("clientes", "nome", "José da Conceição")[0]
    erp.sb.panel_update("clientes", jose["id"], {**jose, "email": "crm@example.com"})
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    erp.sql("UPDATE cad_clientes SET email = 'erp@example.com', dt_alteracao = :now WHERE cod_cli = 1", now=now)
    before = erp.one("SELECT fantasia, obs, tipo_cad, dt_nasc, cep FROM cad_clientes WHERE cod_cli = 1")
    erp.set_config({"estrategia_padrao": "manual"})
    assert erp.engine().push("cliente").conflitos >= 1
    with erp.sf() as s:
        conflito = s.scalar(select(CrmConflito).where(CrmConflito.entity_id == 1, CrmConflito.status == "pendente"))
        assert conflito is not None
        cid = conflito.id

    listing = console.get("/console/conflitos")
    assert listing.status_code == 200 and f"/console/conflitos/{cid}" in listing.text
    detail = console.get(f"/console/conflitos/{cid}")
    assert detail.status_code == 200
    assert "erp@example.com" in detail.text and "crm@example.com" in detail.text
    decided = console.post(
        f"/console/conflitos/{cid}/resolver", data={"usar": "externo", "csrf_token": _csrf(detail.text)}
    )
    assert decided.status_code == 303, decided.text
    after = console.get(f"/console/conflitos/{cid}")
    assert "Conflito resolvido" in after.text and "Traceback" not in after.text
    # the CRM's value is in the ERP's e-mail column; every other column kept its bytes
    assert erp.one("SELECT email FROM cad_clientes WHERE cod_cli = 1").email == "crm@example.com"
    assert tuple(erp.one("SELECT fantasia, obs, tipo_cad, dt_nasc, cep FROM cad_clientes WHERE cod_cli = 1")) == tuple(
        before
    )


def test_legacy_rows_that_do_not_convert_are_listed_with_table_key_and_reason(erp: Erp, console: TestClient) -> None:
    erp.engine().push("cliente")
    page = console.get("/console/registro")
    assert page.status_code == 200
    assert "cad_clientes #4" in page.text and "dígito verificador" in page.text
    assert "cad_clientes #5" in page.text and "nome: vazio" in page.text
    assert "pydantic" not in page.text and "Traceback" not in page.text
