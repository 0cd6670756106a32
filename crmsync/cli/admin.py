"""Administration commands: `db upgrade`, `loja add|list|rotate-key|revoke-key|enable|disable`,
`integration add|list|show|set-config|set-connection|rotate-webhook-secret|enable|disable`.

They run the same service functions as the admin API (`crmsync.services`), so both paths
validate identically. Each command brings the database to the current schema first (a
no-op when it already is), so `crmsync loja add` works on a fresh machine before the first
`crmsync serve`. A store's API key is printed once, at creation; credentials are only ever
shown masked. Errors are one Portuguese line on stderr with exit code 2, nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from crmsync.cli.common import JsonOption, answer, console, emit_json, provider_secret, user_errors
from crmsync.cli.lazy import lazy_module

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crmsync.services import integracoes as integ_svc
    from crmsync.services import lojas as lojas_svc
else:  # loaded by the first command that calls them: `crmsync --help` pays for no ORM
    integ_svc = lazy_module("crmsync.services.integracoes")
    lojas_svc = lazy_module("crmsync.services.lojas")

db_app = typer.Typer(help="Banco de dados.", no_args_is_help=True)
loja_app = typer.Typer(help="Lojas (cada uma com sua chave de API).", no_args_is_help=True)
integration_app = typer.Typer(help="Integrações de uma loja com um CRM/ERP externo.", no_args_is_help=True)


SkipCheckOption = typer.Option(
    False,
    "--sem-verificar",
    "--no-check",
    help="Não verifica as credenciais no provedor antes de gravar (configuração offline).",
)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(loja_app, name="loja")
    app.add_typer(integration_app, name="integration")


def migrate() -> str:
    """Apply pending migrations to the configured database; return its URL without password."""
    from sqlalchemy.engine import make_url

    from crmsync.db import schema
    from crmsync.erp.schema_map import active_schema_map
    from crmsync.settings import get_settings

    url = get_settings().resolved_database_url()
    active_schema_map()  # a missing or invalid CRMSYNC_SCHEMA_MAP stops here, key named (exit 2)
    schema.upgrade(url)
    return make_url(url).render_as_string(hide_password=True)


def _logs_to_stderr() -> None:
    """The credential check talks to the CRM: its logs go to stderr at the configured level
    (structlog's default would print every request on stdout), so a refusal stays one line."""
    import logging

    from crmsync.logs import configure
    from crmsync.settings import get_settings

    # At WARNING at least: the request and migration logs of a person's one command would
    # bury the one line that says why the credentials were refused.
    configured = logging.getLevelName(get_settings().log_level.upper())
    configure(get_settings().log_level if isinstance(configured, int) and configured > logging.WARNING else "WARNING")


@contextmanager
def migrated_session() -> Iterator[Session]:
    """Migrated database, one unit of work, expected errors turned into exit 2 (what most
    commands that read or change crmsync's own data start with)."""
    from crmsync.db.session import session_scope

    with user_errors():
        migrate()
        with session_scope() as session:
            yield session


def _print_fields(data: dict[str, Any]) -> None:
    for key, value in data.items():
        console.print(f"[bold]{key}[/bold]: {value}", highlight=False)


# --- db ------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(as_json: bool = JsonOption) -> None:
    """Aplica as migrações pendentes ao banco configurado (CRMSYNC_DATABASE_URL)."""
    with user_errors():
        url = migrate()
    answer(as_json, {"ok": True, "database": url}, f"banco atualizado: {url}")


# --- loja ----------------------------------------------------------------------------------


@loja_app.command("add")
def loja_add(
    nome: str = typer.Option(..., "--nome", help="Nome da loja."),
    loja_id: int | None = typer.Option(None, "--id", help="Id a usar (o da loja no ERP existente)."),
    as_json: bool = JsonOption,
) -> None:
    """Cria uma loja e mostra sua chave de API (só desta vez: guarde-a)."""
    with migrated_session() as session:
        loja, key = lojas_svc.create_loja(session, nome, loja_id)
        data = {**lojas_svc.loja_to_dict(loja), "api_key": key}
    if as_json:
        emit_json(data)
        return
    console.print(f"loja criada: id {data['id']} ({data['nome']})", highlight=False, markup=False)
    console.print(f"chave de API: {key}", highlight=False, markup=False, soft_wrap=True)
    console.print("guarde a chave agora: ela não será mostrada de novo.", highlight=False, markup=False)


@loja_app.command("list")
def loja_list(as_json: bool = JsonOption) -> None:
    """Lista as lojas (sem as chaves)."""
    with migrated_session() as session:
        rows = [lojas_svc.loja_to_dict(loja) for loja in lojas_svc.list_lojas(session)]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table  # drawn by the list commands only (start-up time)

    table = Table("id", "nome", "ativo", "chave (início)", "cadastrada em")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["nome"],
            "sim" if row["ativo"] else "não",
            row["api_key_prefix"] + "…",
            row["cadastrado_em"],
        )
    console.print(table)


@loja_app.command("rotate-key")
def loja_rotate_key(loja_id: int = typer.Argument(..., help="Id da loja."), as_json: bool = JsonOption) -> None:
    """Gera uma nova chave de API (mostrada só desta vez); a antiga para de funcionar na hora."""
    with migrated_session() as session:
        loja, key = lojas_svc.rotate_api_key(session, loja_id)
        data = {**lojas_svc.loja_to_dict(loja), "api_key": key}
    if as_json:
        emit_json(data)
        return
    console.print(f"nova chave de API da loja {loja_id}: {key}", highlight=False, markup=False, soft_wrap=True)
    console.print("a chave anterior já não funciona; guarde esta agora.", highlight=False, markup=False)


@loja_app.command("revoke-key")
def loja_revoke_key(loja_id: int = typer.Argument(..., help="Id da loja."), as_json: bool = JsonOption) -> None:
    """Revoga a chave de API da loja sem criar outra (use rotate-key para uma nova)."""
    with migrated_session() as session:
        data = lojas_svc.loja_to_dict(lojas_svc.revoke_api_key(session, loja_id))
    answer(as_json, data, f"chave de API da loja {loja_id} revogada")


def _set_loja_active(loja_id: int, ativo: bool, as_json: bool) -> None:
    with migrated_session() as session:
        data = lojas_svc.loja_to_dict(lojas_svc.set_loja_active(session, loja_id, ativo))
    answer(as_json, data, f"loja {loja_id} {'ativada' if ativo else 'desativada'}")


@loja_app.command("enable")
def loja_enable(loja_id: int = typer.Argument(..., help="Id da loja."), as_json: bool = JsonOption) -> None:
    """Reativa a loja."""
    _set_loja_active(loja_id, True, as_json)


@loja_app.command("disable")
def loja_disable(loja_id: int = typer.Argument(..., help="Id da loja."), as_json: bool = JsonOption) -> None:
    """Desativa a loja: sua chave não abre nada e nada dela sincroniza (nada é apagado)."""
    _set_loja_active(loja_id, False, as_json)


# --- integration ---------------------------------------------------------------------------


@integration_app.command("add")
def integration_add(
    loja_id: int = typer.Option(..., "--loja", help="Id da loja."),
    provider: str = typer.Option("gestao_click", "--provider", help="Provedor: gestao_click ou suitecrm."),
    base_url: str = typer.Option(..., "--base-url", help="URL base da API do provedor."),
    access_token: str | None = typer.Option(
        None, "--access-token", help="access-token (GestãoClick; prefira o arquivo ou a variável de ambiente)."
    ),
    secret_access_token: str | None = typer.Option(
        None, "--secret-access-token", help="secret-access-token (GestãoClick; idem)."
    ),
    access_token_file: Path | None = typer.Option(
        None, "--access-token-file", help="Arquivo com o access-token (não fica no histórico do shell)."
    ),
    secret_access_token_file: Path | None = typer.Option(
        None, "--secret-access-token-file", help="Arquivo com o secret-access-token."
    ),
    client_id: str | None = typer.Option(None, "--client-id", help="client_id do cliente OAuth2 (SuiteCRM)."),
    client_secret: str | None = typer.Option(
        None, "--client-secret", help="client_secret OAuth2 (SuiteCRM; prefira o arquivo ou a variável de ambiente)."
    ),
    client_secret_file: Path | None = typer.Option(
        None, "--client-secret-file", help="Arquivo com o client_secret (SuiteCRM)."
    ),
    config_file: Path | None = typer.Option(None, "--config", help="Arquivo de configuração YAML ou JSON."),
    skip_check: bool = SkipCheckOption,
    as_json: bool = JsonOption,
) -> None:
    """Conecta uma loja a um provedor. As credenciais ficam cifradas e nunca são mostradas inteiras.

    Cada credencial vem da opção, do arquivo (`--access-token-file`) ou da variável de
    ambiente CRMSYNC_ACCESS_TOKEN / CRMSYNC_SECRET_ACCESS_TOKEN, nessa ordem: o arquivo e a
    variável não deixam o segredo na linha de comando (visível em `ps` e no histórico).
    As credenciais são verificadas com uma requisição ao provedor (`--sem-verificar` pula)."""
    from crmsync.config import load_config_file
    from crmsync.providers.registry import available_providers, credential_fields

    if not skip_check:
        _logs_to_stderr()
    with migrated_session() as session:
        # Only the secrets this provider asks for (GestãoClick's token pair, SuiteCRM's client).
        needs = credential_fields(provider) if provider in available_providers() else ()
        if "access_token" in needs:
            access_token = provider_secret("access_token", access_token, access_token_file, "CRMSYNC_ACCESS_TOKEN")
        if "secret_access_token" in needs:
            secret_access_token = provider_secret(
                "secret_access_token", secret_access_token, secret_access_token_file, "CRMSYNC_SECRET_ACCESS_TOKEN"
            )
        if "client_secret" in needs:
            client_secret = provider_secret("client_secret", client_secret, client_secret_file, "CRMSYNC_CLIENT_SECRET")
        config = load_config_file(config_file) if config_file is not None else None
        integ = integ_svc.create_integracao(
            session,
            loja_id=loja_id,
            provider=provider,
            base_url=base_url,
            access_token=access_token,
            secret_access_token=secret_access_token,
            credentials={"client_id": client_id, "client_secret": client_secret},
            config=config,
            verify=not skip_check,
        )
        data = integ_svc.integracao_to_dict(integ, include_config=False)
    if as_json:
        emit_json(data)
        return
    from crmsync.providers.registry import display_name

    name = display_name(provider)
    console.print(f"integração criada: id {data['id']} (loja {loja_id}, {name})", highlight=False, markup=False)
    console.print(f"webhook: POST {data['webhook_path']}", highlight=False, markup=False, soft_wrap=True)


@integration_app.command("list")
def integration_list(
    loja_id: int | None = typer.Option(None, "--loja", help="Só as desta loja."),
    as_json: bool = JsonOption,
) -> None:
    """Lista as integrações."""
    with migrated_session() as session:
        rows = [
            integ_svc.integracao_to_dict(i, include_config=False) for i in integ_svc.list_integracoes(session, loja_id)
        ]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("id", "loja", "provider", "ativo", "base_url", "access_token")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["id_loja"]),
            row["provider"],
            "sim" if row["ativo"] else "não",
            row["base_url"],
            str(row["credenciais"].get("access_token") or row["credenciais"].get("client_id", "")),
        )
    console.print(table)


@integration_app.command("show")
def integration_show(
    integracao_id: int = typer.Argument(..., help="Id da integração."),
    as_json: bool = JsonOption,
) -> None:
    """Mostra uma integração com sua configuração (credenciais mascaradas)."""
    with migrated_session() as session:
        data = integ_svc.integracao_to_dict(integ_svc.get_integracao(session, integracao_id))
    if as_json:
        emit_json(data)
        return
    config = data.pop("config")
    _print_fields(data)
    console.print("[bold]config[/bold]:")
    console.print_json(data=config)


@integration_app.command("set-config")
def integration_set_config(
    integracao_id: int = typer.Argument(..., help="Id da integração."),
    config_file: Path = typer.Argument(..., help="Arquivo de configuração YAML ou JSON."),
    as_json: bool = JsonOption,
) -> None:
    """Troca a configuração. Inválida: erro nomeando a chave, e a configuração antiga fica."""
    with migrated_session() as session:
        integ = integ_svc.set_config_file(session, integracao_id, str(config_file))
        config = dict(integ.config or {})
    answer(as_json, {"id": integracao_id, "config": config}, f"configuração da integração {integracao_id} atualizada")


@integration_app.command("set-connection")
def integration_set_connection(
    integracao_id: int = typer.Argument(..., help="Id da integração."),
    base_url: str | None = typer.Option(None, "--base-url", help="Nova URL base da API do provedor."),
    access_token: str | None = typer.Option(
        None, "--access-token", envvar="CRMSYNC_NEW_ACCESS_TOKEN", help="Novo access-token (ou a variável)."
    ),
    secret_access_token: str | None = typer.Option(
        None,
        "--secret-access-token",
        envvar="CRMSYNC_NEW_SECRET_ACCESS_TOKEN",
        help="Novo secret-access-token (ou a variável).",
    ),
    client_id: str | None = typer.Option(None, "--client-id", help="Novo client_id OAuth2 (SuiteCRM)."),
    client_secret: str | None = typer.Option(
        None,
        "--client-secret",
        envvar="CRMSYNC_NEW_CLIENT_SECRET",
        help="Novo client_secret (SuiteCRM; ou a variável).",
    ),
    skip_check: bool = SkipCheckOption,
    as_json: bool = JsonOption,
) -> None:
    """Troca a URL base e/ou as credenciais (todas juntas) de uma integração; a nova conexão é
    verificada com uma requisição ao provedor antes de gravar (`--sem-verificar` pula)."""
    if not skip_check:
        _logs_to_stderr()
    with migrated_session() as session:
        integ = integ_svc.update_connection(
            session,
            integracao_id,
            base_url=base_url,
            access_token=access_token,
            secret_access_token=secret_access_token,
            credentials={"client_id": client_id, "client_secret": client_secret},
            verify=not skip_check,
        )
        data = integ_svc.integracao_to_dict(integ, include_config=False)
    answer(as_json, data, f"conexão da integração {integracao_id} atualizada")


@integration_app.command("rotate-webhook-secret")
def integration_rotate_webhook_secret(
    integracao_id: int = typer.Argument(..., help="Id da integração."), as_json: bool = JsonOption
) -> None:
    """Gera um novo segredo e uma nova URL de webhook (o segredo é mostrado só desta vez)."""
    with migrated_session() as session:
        integ, secret = integ_svc.rotate_webhook_secret(session, integracao_id)
        data = {**integ_svc.integracao_to_dict(integ, include_config=False), "webhook_secret": secret}
    if as_json:
        emit_json(data)
        return
    console.print(f"webhook: POST {data['webhook_path']}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"segredo do webhook: {secret}", highlight=False, markup=False, soft_wrap=True)


def _set_active(integracao_id: int, ativo: bool, as_json: bool) -> None:
    with migrated_session() as session:
        data = integ_svc.integracao_to_dict(integ_svc.set_active(session, integracao_id, ativo), include_config=False)
    if as_json:
        emit_json(data)
    else:
        state = "ativada" if ativo else "desativada"
        console.print(f"integração {integracao_id} {state}", highlight=False, markup=False)


@integration_app.command("enable")
def integration_enable(
    integracao_id: int = typer.Argument(..., help="Id da integração."), as_json: bool = JsonOption
) -> None:
    """Reativa a sincronização desta integração."""
    _set_active(integracao_id, True, as_json)


@integration_app.command("disable")
def integration_disable(
    integracao_id: int = typer.Argument(..., help="Id da integração."), as_json: bool = JsonOption
) -> None:
    """Para a sincronização desta integração (nada é apagado)."""
    _set_active(integracao_id, False, as_json)
