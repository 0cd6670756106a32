"""``crmsync sandbox`` and ``python -m crmsync.sandbox``: run a local GestãoClick (default)
or SuiteCRM stand-in until Ctrl-C (demos, manual tests, benchmarks).

The command lives with the sandboxes, not in ``crmsync/cli``: ``python -m crmsync.sandbox``
then needs nothing of the CLI above it, and ``cli/sandbox.py`` only registers it. Building
it (``--help``) reads the option defaults from the two config modules (plain dataclasses);
the servers (FastAPI, uvicorn) are imported when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, Protocol, TypeVar

import typer

from crmsync.sandbox.config import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_SECRET_ACCESS_TOKEN,
    CompanyCredentials,
    SandboxConfig,
    numbered_companies,
)
from crmsync.sandbox.suitecrm.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SuiteCrmSandboxConfig,
    parse_custom_fields,
)

PROVIDERS = ("gestaoclick", "suitecrm")


class _Runnable(Protocol):
    @property
    def base_url(self) -> str: ...

    def start(self, timeout: float = 15.0) -> Any: ...

    def serve_forever(self) -> None: ...


_Config = TypeVar("_Config", SandboxConfig, SuiteCrmSandboxConfig)


def _hint(secret: str) -> str:
    """Never print a credential in full: the first 4 characters are enough to tell them apart."""
    return f"{secret[:4]}…"


def _refuse(message: str) -> NoReturn:
    """Bad options: one line on stderr, exit 2, nothing started."""
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _checked(build: Callable[[], _Config]) -> _Config:
    """The config ``build`` makes, validated; a bad value is a one-line refusal."""
    try:
        config = build()
        config.validate()
    except ValueError as exc:
        _refuse(f"Configuração inválida: {exc}")
    return config


def _run(server: _Runnable, describe: Callable[[], list[str]]) -> None:
    """Start ``server``, print ``describe()`` (where, how to log in, limits), block until Ctrl-C."""
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        _refuse(f"Não foi possível iniciar o simulador: {exc}")
    for line in describe():
        typer.echo(line)
    typer.echo(f"Estatísticas: {server.base_url}/_sandbox/stats  —  Ctrl-C para encerrar.")
    server.serve_forever()
    typer.echo("Simulador encerrado.")


def sandbox(
    provider: str = typer.Option("gestaoclick", "--provider", help="Qual API simular: gestaoclick ou suitecrm."),
    host: str = typer.Option("127.0.0.1", "--host", help="Endereço de escuta."),
    port: int = typer.Option(8900, "--port", help="Porta (0 = uma livre)."),
    rate_limit: float | None = typer.Option(
        None, "--rate-limit", help="Requisições/s (GestãoClick: por empresa, padrão 3; SuiteCRM: padrão sem limite)."
    ),
    daily_quota: int = typer.Option(30000, "--daily-quota", help="Requisições/dia por empresa (0 = sem)."),
    fault_rate: float = typer.Option(0.0, "--fault-rate", help="Probabilidade de falha injetada (0 a 1)."),
    seed: int | None = typer.Option(None, "--seed", help="Semente para dados e falhas determinísticos."),
    records: int = typer.Option(
        0, "--records", help="Registros de exemplo (GestãoClick: clientes; SuiteCRM: de cada módulo)."
    ),
    webhook_url: str | None = typer.Option(None, "--webhook-url", help="URL que recebe os webhooks."),
    webhook_secret: str | None = typer.Option(None, "--webhook-secret", help="Segredo HMAC dos webhooks."),
    access_token: str = typer.Option(DEFAULT_ACCESS_TOKEN, "--access-token", help="Header access-token."),
    secret_access_token: str = typer.Option(
        DEFAULT_SECRET_ACCESS_TOKEN, "--secret-access-token", help="Header secret-access-token."
    ),
    companies: int = typer.Option(
        0, "--companies", help="Quantas empresas numeradas (empresa-N, tokens sandbox-access-token-N...)."
    ),
    company: list[str] = typer.Option(
        [],
        "--company",
        help="Uma empresa NOME:ACCESS_TOKEN:SECRET_ACCESS_TOKEN (repetível), com dados e limites próprios.",
    ),
    db: str | None = typer.Option(None, "--db", help="Arquivo SQLite (padrão: em memória)."),
    slow_seconds: float = typer.Option(3.0, "--slow-seconds", help="Atraso da falha 'resposta lenta'."),
    client_id: str = typer.Option(DEFAULT_CLIENT_ID, "--client-id", help="SuiteCRM: client_id do cliente OAuth2."),
    client_secret: str = typer.Option(
        DEFAULT_CLIENT_SECRET, "--client-secret", help="SuiteCRM: client_secret do cliente OAuth2."
    ),
    token_ttl: float = typer.Option(3600.0, "--token-ttl", help="SuiteCRM: validade dos tokens em segundos."),
    custom_fields: str = typer.Option(
        "Contacts:cpf_c;Accounts:cnpj_c", "--custom-fields", help="SuiteCRM: campos *_c por módulo (Módulo:a_c,b_c;…)."
    ),
) -> None:
    """Sobe um simulador local da API do GestãoClick ou do SuiteCRM (até Ctrl-C)."""
    if provider not in PROVIDERS:
        _refuse(f"Provedor desconhecido: {provider} (use {' ou '.join(PROVIDERS)}).")
    if provider == "suitecrm":
        if webhook_url or webhook_secret:
            _refuse("O SuiteCRM não envia webhooks: --webhook-url não se aplica.")
        suite = _checked(
            lambda: SuiteCrmSandboxConfig(
                custom_fields=parse_custom_fields(custom_fields),
                client_id=client_id,
                client_secret=client_secret,
                token_ttl_seconds=token_ttl,
                rate_limit=rate_limit or 0.0,
                fault_rate=fault_rate,
                slow_seconds=slow_seconds,
                seed=seed,
                seed_records=records or None,
                db_path=db,
            )
        )
        _serve_suitecrm(suite, host, port)
        return
    gestao = _checked(
        lambda: SandboxConfig(
            companies=[CompanyCredentials.parse(text) for text in company] + numbered_companies(max(0, companies)),
            access_token=access_token,
            secret_access_token=secret_access_token,
            rate_limit=3.0 if rate_limit is None else rate_limit,
            daily_quota=daily_quota,
            fault_rate=fault_rate,
            seed=seed,
            seed_records=records or None,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            db_path=db,
            slow_seconds=slow_seconds,
        )
    )
    _serve_gestaoclick(gestao, host, port)


def _serve_gestaoclick(config: SandboxConfig, host: str, port: int) -> None:
    from crmsync.sandbox.server import SandboxServer  # FastAPI and uvicorn: only when it runs

    server = SandboxServer(config, host=host, port=port)

    def describe() -> list[str]:
        lines = [f"Simulador GestãoClick em {server.base_url} (também em {server.base_url}/api)"]
        for c in config.company_list():
            creds = f"access-token={_hint(c.access_token)} secret-access-token={_hint(c.secret_access_token)}"
            lines.append(f"Empresa {c.name}: {creds}")
        limites = f"{config.rate_limit:g} req/s" if config.rate_limit else "sem limite por segundo"
        cota = f"{config.daily_quota} req/dia" if config.daily_quota else "sem cota diária"
        lines.append(f"Limites: {limites}, {cota}; falhas injetadas: {config.fault_rate:.0%}")
        if config.seed_records:
            lines.append(f"Clientes de exemplo: {server.store.count('clientes')}")
        if config.webhook_url:
            lines.append(f"Webhooks para {config.webhook_url}")
        return lines

    _run(server, describe)


def _serve_suitecrm(config: SuiteCrmSandboxConfig, host: str, port: int) -> None:
    from crmsync.sandbox.suitecrm.server import SuiteCrmSandboxServer  # FastAPI and uvicorn: only when it runs

    server = SuiteCrmSandboxServer(config, host=host, port=port)

    def describe() -> list[str]:
        base = server.base_url
        ritmo = f"{config.rate_limit:g} req/s" if config.rate_limit else "sem limite de ritmo"
        fields = config.custom_fields
        campos = "; ".join(f"{m}: {', '.join(f)}" for m, f in fields.items() if f) or "nenhum"
        lines = [
            f"Simulador SuiteCRM em {base} (API em {base}/Api/V8, token em /Api/access_token)",
            f"Cliente OAuth2: client_id={config.client_id} client_secret={_hint(config.client_secret)}",
            f"Tokens valem {config.token_ttl_seconds:g} s; {ritmo}; falhas injetadas: {config.fault_rate:.0%}",
            f"Campos personalizados: {campos}",
        ]
        if config.seed_records:
            counts = ", ".join(f"{m}: {server.store.count(m)}" for m in ("Contacts", "Accounts", "AOS_Products"))
            lines.append(f"Registros de exemplo: {counts}")
        return lines

    _run(server, describe)
