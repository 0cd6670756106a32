"""``crmsync sandbox --provider suitecrm``: run the local SuiteCRM stand-in until Ctrl-C.

Kept apart from ``cli/sandbox.py`` (the GestãoClick command's home) so that file only gains
the ``--provider`` switch and the options both sandboxes share.
"""

from __future__ import annotations

import typer

from crmsync.cli.sandbox import _hint
from crmsync.sandbox.suitecrm.config import SuiteCrmSandboxConfig, parse_custom_fields
from crmsync.sandbox.suitecrm.server import SuiteCrmSandboxServer


def serve_suitecrm(
    *,
    host: str,
    port: int,
    client_id: str,
    client_secret: str,
    token_ttl: float,
    custom_fields: str,
    rate_limit: float,
    fault_rate: float,
    slow_seconds: float,
    seed: int | None,
    records: int,
    db: str | None,
) -> None:
    """Validate, start, print where and how to log in (secret hidden), then block until Ctrl-C."""
    try:
        fields = parse_custom_fields(custom_fields)
    except ValueError as exc:
        typer.echo(f"Configuração inválida: {exc}", err=True)
        raise typer.Exit(2) from exc
    config = SuiteCrmSandboxConfig(
        custom_fields=fields,
        client_id=client_id,
        client_secret=client_secret,
        token_ttl_seconds=token_ttl,
        rate_limit=rate_limit,
        fault_rate=fault_rate,
        slow_seconds=slow_seconds,
        seed=seed,
        seed_records=records or None,
        db_path=db,
    )
    try:
        config.validate()
    except ValueError as exc:
        typer.echo(f"Configuração inválida: {exc}", err=True)
        raise typer.Exit(2) from exc
    server = SuiteCrmSandboxServer(config, host=host, port=port)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        typer.echo(f"Não foi possível iniciar o simulador: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"Simulador SuiteCRM em {server.base_url} (API em {server.base_url}/Api/V8, token em /Api/access_token)")
    typer.echo(f"Cliente OAuth2: client_id={client_id} client_secret={_hint(client_secret)}")
    ritmo = f"{rate_limit:g} req/s" if rate_limit else "sem limite de ritmo"
    typer.echo(f"Tokens valem {token_ttl:g} s; {ritmo}; falhas injetadas: {fault_rate:.0%}")
    campos = "; ".join(f"{m}: {', '.join(f)}" for m, f in fields.items() if f) or "nenhum"
    typer.echo(f"Campos personalizados: {campos}")
    if records:
        counts = ", ".join(f"{m}: {server.store.count(m)}" for m in ("Contacts", "Accounts", "AOS_Products"))
        typer.echo(f"Registros de exemplo: {counts}")
    typer.echo(f"Estatísticas: {server.base_url}/_sandbox/stats  —  Ctrl-C para encerrar.")
    server.serve_forever()
    typer.echo("Simulador encerrado.")
