"""Seed data, per-sandbox custom fields, and ``crmsync sandbox --provider suitecrm`` as a real process."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import typer
from support.processes import sandbox_process
from typer.testing import CliRunner

from crmsync.cli.sandbox import register
from crmsync.sandbox.formats import SandboxClock, digits
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.sandbox.suitecrm.seed import seed_store
from crmsync.sandbox.suitecrm.store import SuiteCrmStore

UFS = {"MG", "SP", "RJ", "PR", "RS", "BA", "PE", "CE", "DF", "GO", "AM", "PA", "SC", "ES"}


def _cpf_ok(value: str) -> bool:
    d = [int(c) for c in digits(value)]
    if len(d) != 11:
        return False
    for n in (9, 10):
        rest = sum(x * w for x, w in zip(d[:n], range(n + 1, 1, -1), strict=True)) % 11
        if d[n] != (0 if rest < 2 else 11 - rest):
            return False
    return True


def test_seed_makes_brazilian_contacts_accounts_and_products() -> None:
    with SuiteCrmSandboxServer(seed=3, seed_records=25) as suite:
        assert {m: suite.store.count(m) for m in ("Contacts", "Accounts", "AOS_Products")} == {
            "Contacts": 25,
            "Accounts": 25,
            "AOS_Products": 25,
        }
        contacts = suite.store.list_all("Contacts")
        assert all(_cpf_ok(c["cpf_c"]) for c in contacts if c["cpf_c"])
        assert sum(1 for c in contacts if c["cpf_c"]) >= 20  # a few foreigners have none
        assert {c["primary_address_state"] for c in contacts} <= UFS
        accounts = suite.store.list_all("Accounts")
        assert all(len(digits(a["cnpj_c"])) == 14 for a in accounts)
        products = suite.store.list_all("AOS_Products")
        assert all(re.fullmatch(r"\d+\.\d{6}", p["price"]) for p in products)
        # Seeded stamps are spread over the past year, minute-cut like every stamp.
        assert len({c["date_modified"] for c in contacts}) > 20
        assert all(c["date_modified"].endswith(":00+00:00") for c in contacts)


def test_seed_is_deterministic_and_leaves_a_filled_store_alone() -> None:
    def names(seed: int) -> list[str]:
        store = SuiteCrmStore(None, SandboxClock(), {"Contacts": ["cpf_c"]})
        seed_store(store, {"Contacts": 10}, seed)
        return [c["name"] for c in store.list_all("Contacts")]

    assert names(5) == names(5)
    assert names(5) != names(6)
    store = SuiteCrmStore(None, SandboxClock())
    assert seed_store(store, {"Contacts": 3}, 1) == {"Contacts": 3}
    assert seed_store(store, {"Contacts": 3}, 1) == {}
    assert store.count("Contacts") == 3


def test_a_sqlite_file_keeps_beans_across_runs(tmp_path: Path) -> None:
    db = str(tmp_path / "suite.sqlite")
    with SuiteCrmSandboxServer(db_path=db, seed=1, seed_records={"Contacts": 4}) as first:
        bean = first.store.create("Accounts", {"name": "Persistida LTDA"})
    first.close()
    with SuiteCrmSandboxServer(db_path=db, seed=1, seed_records={"Contacts": 4}) as second:
        assert second.store.count("Contacts") == 4  # not seeded twice
        assert second.store.get("Accounts", bean["id"])["name"] == "Persistida LTDA"
    second.close()


def test_custom_fields_are_per_sandbox() -> None:
    with SuiteCrmSandboxServer(custom_fields={"Contacts": ["documento_c"], "AOS_Products": ["ncm_c"]}) as suite:
        headers = suite.headers()
        ok = httpx.post(
            suite.base_url + "/Api/V8/module",
            headers=headers,
            json={"data": {"type": "Contacts", "attributes": {"last_name": "X", "documento_c": "52998224725"}}},
        )
        assert ok.status_code == 201
        assert ok.json()["data"]["attributes"]["documento_c"] == "52998224725"
        missing = httpx.post(
            suite.base_url + "/Api/V8/module",
            headers=headers,
            json={"data": {"type": "Contacts", "attributes": {"cpf_c": "52998224725"}}},
        )
        assert missing.status_code == 400
        assert missing.json()["errors"]["detail"] == "Property cpf_c in Contact module is invalid"
        product = httpx.post(
            suite.base_url + "/Api/V8/module",
            headers=headers,
            json={"data": {"type": "AOS_Products", "attributes": {"name": "Café", "ncm_c": "09012100"}}},
        )
        assert product.json()["data"]["attributes"]["ncm_c"] == "09012100"


def test_command_options_and_bad_values() -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    for option in ("--provider", "--client-id", "--client-secret", "--token-ttl"):
        assert option in result.output
    unknown = runner.invoke(app, ["--provider", "hubspot"])
    assert unknown.exit_code == 2
    assert "Provedor desconhecido: hubspot" in unknown.output
    for args in (
        ["--fault-rate", "2"],
        ["--token-ttl", "0"],
        ["--webhook-url", "http://x"],
        ["--custom-fields", "Leads:x_c"],
        ["--custom-fields", "cpf_c"],
        ["--custom-fields", "Contacts:not a name"],
    ):
        bad = runner.invoke(app, ["--provider", "suitecrm", "--port", "0", *args])
        assert bad.exit_code == 2, args


def test_runs_as_a_separate_process_until_ctrl_c() -> None:
    args = ["--provider", "suitecrm", "--port", "0", "--records", "4", "--seed", "2", "--client-id", "loja-1"]
    args += ["--client-secret", "super-secret-value", "--token-ttl", "120"]
    with sandbox_process(*args, "--custom-fields", "Contacts:documento_c;Accounts:cnpj_c") as sandbox:
        base, output = sandbox.base_url, sandbox.output
        assert base in sandbox.lines[0]
        assert "super-secret-value" not in output and "supe…" in output
        assert "Contacts: 4" in output
        token = httpx.post(
            base + "/Api/access_token",
            data={"grant_type": "client_credentials", "client_id": "loja-1", "client_secret": "super-secret-value"},
            timeout=60,
        ).json()
        assert token["expires_in"] == 120
        body = httpx.get(
            base + "/Api/V8/module/Accounts",
            params={"page[size]": 3},
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=60,
        ).json()
        assert body["meta"]["total-pages"] == 2
        contact = httpx.get(
            base + "/Api/V8/module/Contacts",
            params={"page[size]": 1, "fields[Contacts]": "documento_c"},
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=60,
        ).json()
        assert set(contact["data"][0]["attributes"]) == {"documento_c"}
