"""Sync commands: `push`, `pull`, `sync`, `conflicts list|resolve`, `duplicates list|resolve`,
`log`.

Why they look like this: they are what a store's operator runs by hand or from cron, so
every refusal is one Portuguese line on stderr with exit code 2 *before anything changes*
(unknown store, unknown entity, bad `--since`, no or disabled integration), a run whose
items partly failed exits 1 with the failures listed, and `--json` prints the same facts
for scripts. Long runs show a Rich progress bar fed by the engine's `progress` callback
(records, pages, quota left); with `--json` the same progress facts go to stderr as JSON
lines so stdout stays one parseable document. `--dry-run` prints every write the engine
planned and writes nothing.

The work itself is done by the same functions the REST API calls
(`crmsync.services.sync.push_record` & co.), so both paths validate and scope identically.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from crmsync.cli.common import (
    EXIT_ITEM_ERRORS,
    EXIT_OK,
    console,
    emit_json,
    err_console,
    fail,
    user_errors,
)

if TYPE_CHECKING:
    from rich.progress import Progress

    from crmsync.services.queries import PageDict

LojaOpt = typer.Option(..., "--loja", help="Id da loja.")
EntityOpt = typer.Option(..., "--entity", "-e", help="Entidade: cliente, produto ou venda.")
DryRunOpt = typer.Option(False, "--dry-run", help="Mostra cada escrita planejada sem gravar nada.")
JsonOpt = typer.Option(False, "--json", help="Saída em JSON para máquinas.")
# The listing commands' filters (conflicts, duplicates, log).
LojaFilter = typer.Option(None, "--loja", help="Só desta loja.")
LimitOpt = typer.Option(50, "--limit")


def _logs_to_stderr() -> None:
    """Keep stdout for results: `--json` output must parse, and `crmsync pull > file` must
    hold only the summary. The runtime's one logging setup sends structlog through stdlib
    logging to stderr (and leaves an existing configuration alone)."""
    from crmsync.logs import configure
    from crmsync.settings import get_settings

    configure(get_settings().log_level)


def _actor(by: str | None = None) -> str:
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli"


# ------------------------------------------------------------------------------ progress


class _ProgressReporter:
    """Adapter from the engine's `progress(dict)` callback to a Rich bar or JSON lines."""

    def __init__(self, as_json: bool, label: str) -> None:
        self.as_json = as_json
        self.label = label
        self.last: dict[str, Any] = {}
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> _ProgressReporter:
        return self

    def _start(self) -> None:
        """Started on the first event, so a run refused before any work prints no bar."""
        if self._progress is None:
            # Rich's progress and table modules are imported by the commands that draw them
            # (start-up time: `crmsync --help` and `crmsync sandbox` do not).
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                TextColumn("{task.fields[records]} registros"),
                TextColumn("{task.fields[pages]} páginas"),
                TextColumn("{task.fields[attach]}"),  # a first attach: matches and creates
                TextColumn("cota restante: {task.fields[quota]}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None, records=0, pages=0, attach="", quota="-")

    def __call__(self, event: dict[str, Any]) -> None:
        self.last = dict(event)
        if self.as_json:
            line = {"evento": "progresso", **event}
            sys.stderr.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            sys.stderr.flush()
            return
        self._start()
        if self._progress is not None:
            quota = event.get("quota_left")
            desc = f"{self.label} {event['entity']}" if event.get("entity") else self.label
            self._progress.update(
                self._task,
                description=desc,
                records=event.get("records", 0),
                pages=event.get("pages", 0),
                attach=(
                    f"{event.get('matches', 0)} vinculados, {event.get('creates', 0)} criados"
                    if event.get("matches") or event.get("creates")  # a pull that only updated: no column
                    else ""
                ),
                quota="-" if quota is None else quota,
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


# ------------------------------------------------------------------------------ output


def _collect_planned(data: Any) -> list[dict[str, Any]]:
    """Every `planned` entry anywhere in a result (push summaries nest them per item)."""
    found: list[dict[str, Any]] = []
    if isinstance(data, dict) and isinstance(data.get("planned"), list):
        # A run's own list already holds every plan of its parts: do not count them twice.
        return [v if isinstance(v, dict) else {"acao": str(v)} for v in data["planned"]]
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "planned" and isinstance(value, list):
                found.extend(v if isinstance(v, dict) else {"acao": str(v)} for v in value)
            else:
                found.extend(_collect_planned(value))
    elif isinstance(data, list):
        for value in data:
            found.extend(_collect_planned(value))
    return found


def _plan_line(entry: dict[str, Any]) -> str:
    """One human line per planned write: side, action, entity, ids, then the fields."""
    side = entry.get("lado") or entry.get("side") or entry.get("destino") or entry.get("direcao") or ""
    action = entry.get("acao") or entry.get("operacao") or entry.get("action") or "escrita"
    entity = entry.get("entity_type") or entry.get("entidade") or ""
    ids = []
    if entry.get("entity_id") is not None:
        ids.append(f"local={entry['entity_id']}")
    if entry.get("external_id") is not None:
        ids.append(f"externo={entry['external_id']}")
    known = {
        "lado",
        "side",
        "destino",
        "direcao",
        "acao",
        "operacao",
        "action",
        "entity_type",
        "entidade",
        "entity_id",
        "external_id",
    }
    rest = {k: v for k, v in entry.items() if k not in known}
    extra = json.dumps(rest, ensure_ascii=False, default=str, sort_keys=True) if rest else ""
    parts = [p for p in ("[simulação]", str(side), str(action), str(entity), " ".join(ids), extra) if p]
    return " ".join(parts)


def _print_plan(data: dict[str, Any]) -> None:
    planned = _collect_planned(data)
    if not planned:
        console.print("[simulação] nenhuma escrita planejada", markup=False, highlight=False)
        return
    for entry in planned:
        console.print(_plan_line(entry), markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"[simulação] {len(planned)} escrita(s) planejada(s); nada foi gravado.", markup=False, highlight=False
    )


def _print_errors(errors: list[Any]) -> None:
    for err in errors:
        if isinstance(err, dict):
            ref = err.get("external_id") or err.get("entity_id") or "?"
            msg = err.get("erro") or err.get("message") or err.get("mensagem") or json.dumps(err, default=str)
            err_console.print(f"  falha em {ref}: {msg}", markup=False, highlight=False, soft_wrap=True)
        else:
            err_console.print(f"  falha: {err}", markup=False, highlight=False, soft_wrap=True)


def _finish(
    data: dict[str, Any],
    success: bool,
    as_json: bool,
    dry_run: bool,
    summary: str,
    errors: list[Any],
    progress: dict[str, Any] | None = None,
) -> None:
    if as_json:
        out = dict(data)
        if progress:
            out.setdefault("progresso", progress)
        emit_json(out)
    else:
        if dry_run:
            _print_plan(data)
        console.print(summary, markup=False, highlight=False, soft_wrap=True)
        if errors:
            _print_errors(errors)
    if not success:
        if not as_json:
            err_console.print(
                "a execução terminou com falhas em itens (veja `crmsync log --status erro`)",
                markup=False,
                highlight=False,
            )
        raise typer.Exit(EXIT_ITEM_ERRORS)
    raise typer.Exit(EXIT_OK)


@contextmanager
def _run_errors(as_json: bool = False) -> Iterator[None]:
    """user_errors() plus: provider unreachable -> exit 1 with one clear line (and, with
    --json, the same fact as a JSON document on stdout)."""
    from crmsync.services.sync import ProviderUnavailableError

    with user_errors():
        try:
            yield
        except ProviderUnavailableError as exc:
            if as_json:
                emit_json({"success": False, "message": exc.message, "http_status": exc.status_code})
            fail(exc.message, EXIT_ITEM_ERRORS)


def _push_errors(summary: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in summary.get("itens") or []:
        if isinstance(item, dict) and not item.get("success", True):
            out.append(
                {
                    "entity_id": item.get("entity_id"),
                    "external_id": item.get("external_id"),
                    "erro": item.get("message") or item.get("operacao"),
                }
            )
    return out


def _push_line(summary: dict[str, Any]) -> str:
    return (
        f"enviados ao CRM: {summary.get('total', 0)} no total, {summary.get('sucessos', 0)} com sucesso, "
        f"{summary.get('ignorados', 0)} ignorados, {summary.get('conflitos', 0)} em conflito, "
        f"{summary.get('erros', 0)} com erro"
    )


def _pull_line(result: dict[str, Any]) -> str:
    return (
        f"recebidos do CRM: {result.get('total_processados', 0)} processados, "
        f"{result.get('total_criados', 0)} criados, {result.get('total_atualizados', 0)} atualizados, "
        f"{result.get('total_vinculados', 0)} vinculados, {result.get('total_ignorados', 0)} ignorados, "
        f"{result.get('total_conflitos', 0)} em conflito, {result.get('total_excluidos', 0)} excluídos, "
        f"{len(result.get('erros') or [])} com erro ({result.get('paginas', 0)} páginas)"
    )


# ------------------------------------------------------------------------------ commands


def push(
    loja: int = LojaOpt,
    entity: str = EntityOpt,
    id_: int | None = typer.Option(None, "--id", help="Envia só este registro local."),
    since: str | None = typer.Option(None, "--since", help="Só os alterados neste período: 30m, 24h, 7d."),
    all_rows: bool = typer.Option(False, "--all", help="Envia todos os registros da entidade."),
    dry_run: bool = DryRunOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Local -> CRM: um registro (--id), os alterados num período (--since), todos (--all) ou,
    sem opção, os que mudaram desde a última sincronização.

    Código de saída: 0 feito; 1 terminou com falhas em itens; 2 uso ou configuração inválidos
    (nada foi alterado).
    """
    _logs_to_stderr()
    from crmsync.services.queries import parse_duration
    from crmsync.services.sync import push_changed, push_record

    chosen = [
        name for name, on in (("--id", id_ is not None), ("--since", since is not None), ("--all", all_rows)) if on
    ]
    if len(chosen) > 1:
        fail(f"use só uma de {', '.join(chosen)}")
    with _run_errors(as_json):
        delta = parse_duration(since) if since is not None else None
        if id_ is not None:
            result = push_record(loja, entity, id_, dry_run=dry_run, actor=_actor()).as_dict()
            ok = bool(result.get("success"))
            line = f"{result.get('operacao')}: {entity} {id_} -> externo {result.get('external_id') or '-'}" + (
                f" ({result['message']})" if result.get("message") else ""
            )
            why = result.get("message") or result.get("operacao")
            errors = [] if ok else [{"entity_id": id_, "erro": why}]
            _finish(result, ok, as_json, dry_run, line, errors)
        with _ProgressReporter(as_json, "enviando") as reporter:
            summary = push_changed(
                loja, entity, since=delta, all_rows=all_rows, dry_run=dry_run, actor=_actor(), progress=reporter
            ).as_dict()
        _finish(
            summary,
            bool(summary.get("success")),
            as_json,
            dry_run,
            _push_line(summary),
            _push_errors(summary),
            reporter.last,
        )


def pull(
    loja: int = LojaOpt,
    entity: str = EntityOpt,
    full: bool = typer.Option(False, "--full", help="Lê tudo, não só o que mudou desde o cursor."),
    dry_run: bool = DryRunOpt,
    as_json: bool = JsonOpt,
) -> None:
    """CRM -> local: as mudanças desde o último cursor (ou tudo, com --full)."""
    _logs_to_stderr()
    from crmsync.services.sync import import_entity

    with _run_errors(as_json), _ProgressReporter(as_json, "recebendo") as reporter:
        result = import_entity(loja, entity, full=full, dry_run=dry_run, actor=_actor(), progress=reporter).as_dict()
    _finish(
        result,
        bool(result.get("success")),
        as_json,
        dry_run,
        _pull_line(result),
        list(result.get("erros") or []),
        reporter.last,
    )


def sync(
    loja: int = LojaOpt,
    entity: list[str] | None = typer.Option(None, "--entity", "-e", help="Entidade (repita para várias)."),
    dry_run: bool = DryRunOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Os dois sentidos: envia, recebe e aplica conflitos já decididos."""
    _logs_to_stderr()
    from crmsync.services.sync import sync_store

    with _run_errors(as_json), _ProgressReporter(as_json, "sincronizando") as reporter:
        result = sync_store(
            loja, list(entity or []) or None, dry_run=dry_run, actor=_actor(), progress=reporter
        ).as_dict()
    para = result.get("para_crm") or {}
    do = result.get("do_crm") or {}
    conf = result.get("conflitos") or {}
    lines = [
        _summary_block("para o CRM", para, _push_line),
        _summary_block("do CRM", do, _pull_line),
        f"conflitos: {conf.get('total_conflitos', 0)} no total, {conf.get('resolvidos', 0)} resolvidos, "
        f"{conf.get('pendentes', 0)} pendentes",
    ]
    errors = _push_errors_any(para) + _pull_errors_any(do)
    _finish(result, bool(result.get("success")), as_json, dry_run, "\n".join(lines), errors, reporter.last)


def _per_entity(block: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`para_crm`/`do_crm` hold a total plus `por_entidade` {entity: summary}; one line and
    the failures per entity read better than the total alone."""
    per = block.get("por_entidade") if isinstance(block, dict) else None
    if isinstance(per, dict) and per:
        return {str(k): v for k, v in per.items() if isinstance(v, dict)}
    return {"": block}


def _summary_block(label: str, block: dict[str, Any], fmt: Any) -> str:
    parts = []
    for ent, summary in _per_entity(block).items():
        parts.append(f"{label}{' (' + ent + ')' if ent else ''}: {fmt(summary).split(': ', 1)[-1]}")
    return "\n".join(parts) if parts else f"{label}: nada"


def _push_errors_any(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for s in _per_entity(block).values() for e in _push_errors(s)]


def _pull_errors_any(block: dict[str, Any]) -> list[Any]:
    return [e for s in _per_entity(block).values() for e in (s.get("erros") or [])]


# ------------------------------------------------------------------------------ review


conflicts_app = typer.Typer(help="Conflitos que esperam uma decisão.", no_args_is_help=True)
duplicates_app = typer.Typer(help="Possíveis duplicatas encontradas por semelhança de nome.", no_args_is_help=True)


def _short(value: Any, width: int = 40) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


@conflicts_app.command("list")
def conflicts_list(
    loja: int | None = LojaFilter,
    status: str = typer.Option("pendente", "--status", help="pendente, resolvido ou todos."),
    entity: str | None = typer.Option(None, "--entity", "-e"),
    limit: int = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Lista conflitos (pendentes, por padrão) com os valores de cada lado."""
    from crmsync.services.queries import list_conflicts
    from crmsync.services.sync import resolve_entity

    page, names = _review_page(
        loja,
        status,
        lambda session, wanted: list_conflicts(
            session,
            loja_id=loja,
            status=wanted,
            entity_type=resolve_entity(entity) if entity else None,
            limit=limit,
        ),
    )
    if not _page_header(page, as_json, "nenhum conflito", "Conflitos", status):
        return
    for c in page["items"]:
        # One block per conflict, like the spec's review screen: a header line, then one row
        # per field with both sides and the value both had before (fits an 80-column terminal).
        console.print(
            f"\n#{c['id']} {c['entity_type']} local {c['entity_id']} <-> externo {c['external_id']} "
            f"(loja {c['id_loja']}, {c['status']}, {str(c['criado_em'])[:19]})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        from rich.table import Table

        table = Table(show_header=True, box=None, pad_edge=False)
        for col in ("campo", "Ecletech", names.get(c.get("id_integracao"), "CRM"), "antes"):
            table.add_column(col, overflow="fold")
        for name, vals in (c["campos"] or {}).items():
            vals = vals if isinstance(vals, dict) else {}
            table.add_row(name, _short(vals.get("local")), _short(vals.get("externo")), _short(vals.get("base")))
        console.print(table)
    console.print(
        "\nresolva com: crmsync conflicts resolve ID --use local|external|merge [--field NOME=local]",
        markup=False,
        highlight=False,
    )


@conflicts_app.command("resolve")
def conflicts_resolve(
    conflito_id: int = typer.Argument(..., metavar="ID"),
    use: str = typer.Option(..., "--use", help="local, external ou merge."),
    field: list[str] | None = typer.Option(None, "--field", help="NOME=local|external (com --use merge)."),
    by: str | None = typer.Option(None, "--by", help="Quem decidiu (vai para o log)."),
    as_json: bool = JsonOpt,
) -> None:
    """Decide um conflito: grava a escolha nos dois lados, atualiza a base e registra quem decidiu."""
    _logs_to_stderr()
    from crmsync.services.review import resolve_conflict_now

    choices = {"local": "local", "external": "externo", "externo": "externo", "merge": "merge"}
    choice = choices.get(use.strip().lower())
    if choice is None:
        fail(f"--use inválido '{use}' (use local, external ou merge)")
    campos: dict[str, str] = {}
    for item in field or []:
        name, sep, side = item.partition("=")
        side_norm = {"local": "local", "external": "externo", "externo": "externo"}.get(side.strip().lower())
        if not sep or not name.strip() or side_norm is None:
            fail(f"--field inválido '{item}' (use NOME=local ou NOME=external)")
        campos[name.strip()] = side_norm
    if campos and choice != "merge":
        fail("--field só vale com --use merge")
    with _run_errors(as_json):
        result = resolve_conflict_now(conflito_id, choice, campos or None, actor=_actor(by))
    if as_json:
        emit_json(result)
        return
    console.print(
        f"conflito {conflito_id} resolvido ({choice})"
        + (f": {', '.join(f'{k}={v}' for k, v in campos.items())}" if campos else ""),
        markup=False,
        highlight=False,
    )


def _review_page(
    loja: int | None, status: str, fetch: Callable[[Any, str | None], PageDict]
) -> tuple[PageDict, dict[Any, str]]:
    """A page of the review queue (conflicts or duplicates) in `status` ("todos": any) and its
    integrations' provider names, read in one session; an unknown store or entity is exit 2."""
    from crmsync.db.session import session_scope

    with user_errors(), session_scope() as session:
        _check_loja(session, loja)
        page = fetch(session, None if status == "todos" else status)
        names = _provider_names(session, page["items"])
    return page, names


def _page_header(page: PageDict, as_json: bool, none: str, title: str, status: str) -> bool:
    """Print the page as JSON, or that it is empty ("nenhum conflito pendente"), or its title:
    True when its items follow."""
    if as_json:
        emit_json(page)
        return False
    if not page["items"]:
        console.print(none + (" pendente" if status == "pendente" else ""), markup=False)
        return False
    console.print(f"{title}: {page['total']}", markup=False, highlight=False)
    return True


def _provider_names(session: Any, items: list[dict[str, Any]]) -> dict[Any, str]:
    """Integration id -> its provider's display name ("GestãoClick", "SuiteCRM")."""
    from crmsync.db.sync import CrmIntegracao  # lazily, as the other commands: a fast --help
    from crmsync.providers.registry import display_name

    names: dict[Any, str] = {}
    for integ_id in {item.get("id_integracao") for item in items}:
        integ = session.get(CrmIntegracao, integ_id) if integ_id is not None else None
        if integ is not None:
            names[integ_id] = display_name(integ.provider)
    return names


@duplicates_app.command("list")
def duplicates_list(
    loja: int | None = LojaFilter,
    status: str = typer.Option("pendente", "--status", help="pendente, vinculado, descartado ou todos."),
    limit: int = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Lista sugestões de duplicata (mesma pessoa/produto nos dois lados, sem vínculo)."""
    from crmsync.services.queries import list_duplicates

    page, names = _review_page(
        loja, status, lambda session, wanted: list_duplicates(session, loja_id=loja, status=wanted, limit=limit)
    )
    if not _page_header(page, as_json, "nenhuma duplicata", "Possíveis duplicatas", status):
        return
    for d in page["items"]:
        console.print(
            f"\n#{d['id']} {d['entity_type']} semelhança {d['score']:.2f} "
            f"(loja {d['id_loja']}, {d['status']})\n"
            f"  Ecletech    local {d['entity_id']}: {_short(d['dados_local'].get('nome'), 60)}\n"
            f"  {names.get(d.get('id_integracao'), 'CRM'):<11} externo {d['external_id']}: "
            f"{_short(d['dados_externo'].get('nome'), 60)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    console.print("\nresolva com: crmsync duplicates resolve ID --link|--dismiss", markup=False, highlight=False)


@duplicates_app.command("resolve")
def duplicates_resolve(
    duplicata_id: int = typer.Argument(..., metavar="ID"),
    link: bool = typer.Option(False, "--link", help="São o mesmo registro: vincula e mescla."),
    dismiss: bool = typer.Option(False, "--dismiss", help="São registros diferentes: descarta a sugestão."),
    by: str | None = typer.Option(None, "--by", help="Quem decidiu (vai para o log)."),
    as_json: bool = JsonOpt,
) -> None:
    """Vincula (--link) ou descarta (--dismiss) uma sugestão de duplicata."""
    _logs_to_stderr()
    from crmsync.services.review import resolve_duplicate_now

    if link == dismiss:
        fail("use exatamente uma de --link ou --dismiss")
    action = "vincular" if link else "descartar"
    with _run_errors(as_json):
        result = resolve_duplicate_now(duplicata_id, action, actor=_actor(by))
    if as_json:
        emit_json(result)
        return
    console.print(f"duplicata {duplicata_id}: {'vinculada' if link else 'descartada'}", markup=False)


def log(
    loja: int | None = LojaFilter,
    status: str | None = typer.Option(None, "--status", help="sucesso, erro, ignorado, conflito, simulado."),
    entity: str | None = typer.Option(None, "--entity", "-e"),
    direction: str | None = typer.Option(None, "--direction", help="push, pull ou conflito."),
    trigger: str | None = typer.Option(None, "--trigger", help="automatico, manual, cron, webhook, bulk."),
    since: str | None = typer.Option(None, "--since", help="Período: 30m, 24h, 7d."),
    run_id: str | None = typer.Option(None, "--run", help="Só desta execução (run id)."),
    limit: int = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """O log de sincronização, mais recente primeiro."""
    from crmsync.db.session import session_scope
    from crmsync.services.queries import list_log, parse_duration
    from crmsync.services.sync import resolve_entity

    with user_errors(), session_scope() as session:
        _check_loja(session, loja)
        ent = resolve_entity(entity) if entity else None
        delta = parse_duration(since) if since else None
        page = list_log(
            session,
            loja_id=loja,
            status=status,
            entity_type=ent,
            direction=direction,
            trigger=trigger,
            since=delta,
            run_id=run_id,
            limit=limit,
        )
    if as_json:
        emit_json(page)
        return
    if not page["items"]:
        console.print("nenhum registro no log", markup=False)
        return
    console.print(
        f"Log de sincronização: {len(page['items'])} de {page['total']} (mais recente primeiro)",
        markup=False,
        highlight=False,
    )
    rows = []
    for r in page["items"]:
        if r["entity_id"] is None and r["external_id"] is None:
            registro = r["entity_type"]  # a run's summary row
        else:
            registro = f"{r['entity_type']} {r['entity_id'] or '-'}<->{r['external_id'] or '-'}"
        rows.append(
            (
                str(r["criado_em"])[:19].replace("T", " "),
                f"{r['direcao']} {r['operacao']}",
                registro,
                r["status"],
                r["mensagem"] or "",
            )
        )
    # Plain aligned lines: the fixed columns never shrink, only the message is cut to the
    # terminal's width (the full text: --json).
    titles = ("quando (UTC)", "operação", "registro", "status")
    widths = [max([len(t), *(len(row[i]) for row in rows)]) for i, t in enumerate(titles)]
    room = max(20, console.width - sum(widths) - 2 * len(widths))

    def line(cells: tuple[str, ...]) -> str:
        fixed = "  ".join(c.ljust(w) for c, w in zip(cells[:4], widths, strict=True))
        msg = cells[4] if len(cells[4]) <= room else cells[4][: room - 1] + "…"
        return f"{fixed}  {msg}".rstrip()

    console.print(line((*titles, "mensagem")), markup=False, highlight=False, soft_wrap=True)
    for row in rows:
        console.print(line(row), markup=False, highlight=False, soft_wrap=True)


def _check_loja(session: Any, loja: int | None) -> None:
    if loja is None:
        return
    from crmsync.db.local import Loja

    if session.get(Loja, loja) is None:
        fail(f"loja {loja} não encontrada")


def register(app: typer.Typer) -> None:
    app.command("push")(push)
    app.command("pull")(pull)
    app.command("sync")(sync)
    app.command("log")(log)
    app.add_typer(conflicts_app, name="conflicts")
    app.add_typer(duplicates_app, name="duplicates")
