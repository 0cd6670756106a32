"""Runtime commands: `worker` (scale-out), `retry` and `ignore` (failed items), `demo`."""

from __future__ import annotations

import typer

from crmsync.cli.common import JsonOption, answer, console, emit_json, fail, user_errors


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("retry")(retry)
    app.command("ignore")(ignore)
    app.command("demo")(demo)


def worker(
    concurrency: int = typer.Option(2, "--concurrency", "-c", min=1, max=64, help="Threads de trabalho."),
    no_scheduler: bool = typer.Option(False, "--no-scheduler", help="Não agendar (só executar jobs da fila)."),
) -> None:
    """Só o worker (para escalar): executa os jobs da fila e o agendador compartilhado.

    SIGTERM termina com elegância: os jobs em andamento terminam, os demais ficam na fila."""
    from crmsync.cli.admin import migrate
    from crmsync.logs import configure
    from crmsync.runtime.embedded import run_worker
    from crmsync.settings import get_settings

    configure(get_settings().log_level)
    with user_errors():
        migrate()
    settings = get_settings()
    queue = settings.resolved_queue_url().split("?", 1)[0]
    typer.echo(f"crmsync worker: fila {queue.rsplit('@', 1)[-1]}; {concurrency} threads", err=True)
    run_worker(concurrency, scheduler=not no_scheduler, settings=settings)


def retry(
    loja: int | None = typer.Option(None, "--loja", help="Só os itens desta loja."),
    item_id: int | None = typer.Option(None, "--id", help="Só este item."),
    as_json: bool = JsonOption,
) -> None:
    """Tentar de novo agora os itens que falharam (zera as tentativas)."""
    from crmsync.cli.admin import migrated_session
    from crmsync.services.failures import item_to_dict, retry_item, retry_many

    with migrated_session() as session:
        pairs = [retry_item(session, item_id, loja)] if item_id is not None else retry_many(session, loja)
        out = [dict(item_to_dict(item), enfileirado=queued) for item, queued in pairs]
    if as_json:
        emit_json({"itens": out, "total": len(out)})
    else:
        if not out:
            console.print("Nenhum item falho para tentar de novo.")
        for row in out:
            alvo = row["entity_id"] if row["direcao"] == "push" else row["external_id"]
            situacao = "na fila" if row["enfileirado"] else "já estava na fila"
            console.print(
                f"item {row['id']}: {row['entity_type']} {alvo} ({row['direcao']}) {situacao}",
                markup=False,
                highlight=False,
            )


def ignore(
    item_id: int = typer.Argument(..., help="Id do item falho."),
    loja: int | None = typer.Option(None, "--loja", help="Confirmar que o item é desta loja."),
    as_json: bool = JsonOption,
) -> None:
    """Parar de tentar um item falho (volta a ser sincronizado se o registro mudar de novo)."""
    from crmsync.cli.admin import migrated_session
    from crmsync.services.failures import ignore_item, item_to_dict

    with migrated_session() as session:
        data = item_to_dict(ignore_item(session, item_id, loja))
    answer(as_json, data, f"item {data['id']} ignorado.")


def demo(
    once: bool = typer.Option(False, "--once", help="Mostrar o resultado e sair (CI, README)."),
    port: int = typer.Option(0, "--port", help="Porta da API/console (0 = uma livre)."),
    sandbox_port: int = typer.Option(0, "--sandbox-port", help="Porta do sandbox (0 = uma livre)."),
    clientes: int = typer.Option(20, "--clientes", min=1, max=5000, help="Clientes de exemplo no CRM."),
    as_json: bool = JsonOption,
) -> None:
    """Sandbox do GestãoClick + crmsync serve + dados de exemplo + uma sincronização; mostra onde olhar."""
    from crmsync.cli.demo import DemoError, run_demo
    from crmsync.logs import configure

    configure("WARNING")

    try:
        code = run_demo(once=once, port=port, sandbox_port=sandbox_port, clientes=clientes, as_json=as_json)
    except DemoError as exc:
        fail(str(exc))
    raise typer.Exit(code)
