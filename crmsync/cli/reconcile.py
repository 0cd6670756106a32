"""``crmsync reconcile``: the level-triggered safety net, run by hand.

What the scheduler's reconcile does for a store, now: the hash scan of every entity the
schema map has (each row's fingerprint compared with what was last synced, streamed in
key-ordered pages), pushing what changed, with a progress bar (or JSON progress lines) and
`--json`. With `--full`, also a full pull of each entity (every CRM record compared, not
only those changed since the cursor). `crmsync push --entity E` without options is the
same scan for one entity.

Exit codes: 0 done; 1 finished with failed items; 2 bad usage or configuration (nothing
changed). Heavy imports stay inside the command (start-up time of every `crmsync` call).
"""

from __future__ import annotations

from typing import Any

import typer


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)


def reconcile(
    loja: int = typer.Option(..., "--loja", help="Id da loja."),
    entity: list[str] | None = typer.Option(None, "--entity", "-e", help="Só esta entidade (repita para várias)."),
    full: bool = typer.Option(False, "--full", help="Também relê do CRM todos os registros (pull completo)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Mostra cada escrita planejada sem gravar nada."),
    as_json: bool = typer.Option(False, "--json", help="Saída em JSON para máquinas."),
) -> None:
    """Reconcilia a loja: varre por hash cada entidade do mapa e envia o que mudou (--full: e relê tudo do CRM).

    Código de saída: 0 feito; 1 terminou com falhas em itens; 2 uso ou configuração inválidos.
    """
    from crmsync.cli.sync import (
        _actor,
        _finish,
        _logs_to_stderr,
        _ProgressReporter,
        _pull_line,
        _push_errors,
        _push_line,
        _run_errors,
    )

    _logs_to_stderr()
    from crmsync.config import integration_config
    from crmsync.db.session import session_scope
    from crmsync.services.sync import find_integration, import_entity, mapped_entities, push_changed, resolve_entity

    with _run_errors(as_json):
        entities = [resolve_entity(e) for e in entity] if entity else mapped_entities()
        with session_scope() as session:  # refused before any work: unknown store, no integration
            config = integration_config(find_integration(session, loja))
        out: dict[str, Any] = {"loja": loja, "completo": full, "entidades": {}}
        lines: list[str] = []
        errors: list[Any] = []
        success = True
        for ent in entities:
            block: dict[str, Any] = {}
            if config.syncs(ent, "push"):
                with _ProgressReporter(as_json, f"varrendo {ent}") as reporter:
                    pushed = push_changed(loja, ent, dry_run=dry_run, actor=_actor(), progress=reporter).as_dict()
                block["para_crm"] = pushed
                lines.append(f"{ent}: {_push_line(pushed)}")
                errors += _push_errors(pushed)
                success = success and bool(pushed.get("success"))
            if full and config.syncs(ent, "pull"):
                with _ProgressReporter(as_json, f"relendo {ent} do CRM") as reporter:
                    pulled = import_entity(
                        loja, ent, full=True, dry_run=dry_run, actor=_actor(), progress=reporter
                    ).as_dict()
                block["do_crm"] = pulled
                lines.append(f"{ent}: {_pull_line(pulled)}")
                errors += list(pulled.get("erros") or [])
                success = success and bool(pulled.get("success"))
            out["entidades"][ent] = block
        out["success"] = success
        _finish(out, success, as_json, dry_run, "\n".join(lines) or "nada a reconciliar", errors)
