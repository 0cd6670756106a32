"""``crmsync sandbox``: run the local GestãoClick stand-in until Ctrl-C (demos, manual tests)."""

from __future__ import annotations

import typer

from crmsync.sandbox.config import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_SECRET_ACCESS_TOKEN,
    CompanyCredentials,
    SandboxConfig,
    numbered_companies,
)


def _hint(secret: str) -> str:
    """Never print a credential in full: the first 4 characters are enough to tell them apart."""
    return f"{secret[:4]}…"


def sandbox(
    host: str = typer.Option("127.0.0.1", "--host", help="Endereço de escuta."),
    port: int = typer.Option(8900, "--port", help="Porta (0 = uma livre)."),
    rate_limit: float = typer.Option(3.0, "--rate-limit", help="Requisições/s por empresa (0 = sem)."),
    daily_quota: int = typer.Option(30000, "--daily-quota", help="Requisições/dia por empresa (0 = sem)."),
    fault_rate: float = typer.Option(0.0, "--fault-rate", help="Probabilidade de falha injetada (0 a 1)."),
    seed: int | None = typer.Option(None, "--seed", help="Semente para dados e falhas determinísticos."),
    records: int = typer.Option(0, "--records", help="Quantidade de clientes de exemplo a criar."),
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
) -> None:
    """Sobe um simulador local da API do GestãoClick (até Ctrl-C)."""
    from crmsync.sandbox.server import SandboxServer

    try:
        declared = [CompanyCredentials.parse(text) for text in company] + numbered_companies(max(0, companies))
    except ValueError as exc:
        typer.echo(f"Configuração inválida: {exc}", err=True)
        raise typer.Exit(2) from exc
    config = SandboxConfig(
        companies=declared,
        access_token=access_token,
        secret_access_token=secret_access_token,
        rate_limit=rate_limit,
        daily_quota=daily_quota,
        fault_rate=fault_rate,
        seed=seed,
        seed_records=records or None,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        db_path=db,
        slow_seconds=slow_seconds,
    )
    try:
        config.validate()
    except ValueError as exc:
        typer.echo(f"Configuração inválida: {exc}", err=True)
        raise typer.Exit(2) from exc
    server = SandboxServer(config, host=host, port=port)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        typer.echo(f"Não foi possível iniciar o simulador: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"Simulador GestãoClick em {server.base_url} (também em {server.base_url}/api)")
    for c in config.company_list():
        creds = f"access-token={_hint(c.access_token)} secret-access-token={_hint(c.secret_access_token)}"
        typer.echo(f"Empresa {c.name}: {creds}")
    limites = f"{rate_limit:g} req/s" if rate_limit else "sem limite por segundo"
    cota = f"{daily_quota} req/dia" if daily_quota else "sem cota diária"
    typer.echo(f"Limites: {limites}, {cota}; falhas injetadas: {fault_rate:.0%}")
    if records:
        typer.echo(f"Clientes de exemplo: {server.store.count('clientes')}")
    if webhook_url:
        typer.echo(f"Webhooks para {webhook_url}")
    typer.echo(f"Estatísticas: {server.base_url}/_sandbox/stats  —  Ctrl-C para encerrar.")
    server.serve_forever()
    typer.echo("Simulador encerrado.")


def register(app: typer.Typer) -> None:
    """Adds the ``sandbox`` command to the main Typer app."""
    app.command("sandbox")(sandbox)
