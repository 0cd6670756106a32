"""``crmsync schema``: attach crmsync to an ERP's own tables.

inspect (reflect the database and write a draft map, every guess marked `# revisar`),
check (validate a map against the live database: exit 2 naming the first problem), and
triggers install|remove (optional change triggers feeding `crm_erp_outbox`).
The database is the ERP's (CRMSYNC_ERP_DATABASE_URL, else CRMSYNC_DATABASE_URL) unless
`--url` says otherwise; the map is CRMSYNC_SCHEMA_MAP unless given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from crmsync.cli.common import EXIT_ITEM_ERRORS, EXIT_USAGE, JsonOption, console, database_cause, emit_json, fail

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from crmsync.erp.probe import ProbeResult
    from crmsync.erp.schema_map import SchemaMap

# SQLAlchemy and crmsync.erp (pydantic models, phone and document validators) are imported
# inside the commands, as the other command modules do: every `crmsync` invocation loads
# every command module, and only `schema ...` needs them (start-up time).

schema_app = typer.Typer(help="Mapa do esquema do ERP: inspecionar, validar, gatilhos.", no_args_is_help=True)
triggers_app = typer.Typer(help="Gatilhos opcionais que avisam mudanças (crm_erp_outbox).", no_args_is_help=True)

UrlOption = typer.Option(None, "--url", help="URL do banco do ERP (padrão: CRMSYNC_ERP_DATABASE_URL).")
MapArgument = typer.Argument(None, help="Arquivo YAML do mapa (padrão: CRMSYNC_SCHEMA_MAP).")
PapelOption = typer.Option(
    None,
    "--papel-erp",
    help="Papel (PostgreSQL) com que o ERP grava: a escrita de teste roda como ele (SET ROLE).",
)


def register(app: typer.Typer) -> None:
    app.add_typer(schema_app, name="schema")
    schema_app.add_typer(triggers_app, name="triggers")


def _engine(url: str | None) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError, NoSuchModuleError, OperationalError

    from crmsync.settings import get_settings

    target = url or get_settings().resolved_erp_database_url()
    try:
        engine = create_engine(target)
        with engine.connect():
            pass
    except (OperationalError, DBAPIError, NoSuchModuleError, ValueError, ImportError) as exc:
        fail(f"não foi possível conectar ao banco do ERP: {database_cause(exc)}")
    return engine


@contextmanager
def _erp(url: str | None, refused: str = "erro ao ler o banco do ERP") -> Iterator[Engine]:
    """The ERP's database for one command, disposed after it; a trigger error, or the
    database refusing (`refused` says what it refused), ends the command in one line."""
    from sqlalchemy.exc import DBAPIError

    from crmsync.erp.triggers import TriggerError

    engine = _engine(url)
    try:
        yield engine
    except TriggerError as exc:
        fail(str(exc))
    except DBAPIError as exc:
        fail(f"{refused}: {database_cause(exc)}")
    finally:
        engine.dispose()


def _map(path: Path | None) -> SchemaMap:
    from crmsync.erp.schema_map import SchemaMapError, load_schema_map
    from crmsync.settings import get_settings

    source = path or (Path(get_settings().schema_map) if get_settings().schema_map else None)
    if source is None:
        fail("informe o arquivo do mapa (ou defina CRMSYNC_SCHEMA_MAP)")
    try:
        return load_schema_map(source)
    except SchemaMapError as exc:
        fail(str(exc))


@schema_app.command("inspect")
def inspect_cmd(
    url: str | None = UrlOption,
    saida: Path | None = typer.Option(None, "--saida", "-o", help="Grava o rascunho neste arquivo (não sobrescreve)."),
    amostra: int = typer.Option(200, "--amostra", min=1, max=100_000, help="Linhas lidas por coluna para adivinhar."),
    esquema: str | None = typer.Option(None, "--esquema", help="Esquema do PostgreSQL (padrão: o da conexão)."),
    as_json: bool = JsonOption,
) -> None:
    """Lê o banco do ERP e escreve um rascunho de mapa (cada palpite marcado '# revisar')."""
    from crmsync.erp.inspect import inspect_database, render_draft

    if saida is not None and saida.exists():
        fail(f"'{saida}' já existe; escolha outro nome (o rascunho nunca sobrescreve um mapa)")
    with _erp(url) as engine:
        result = inspect_database(engine, sample=amostra, schema=esquema)
    draft = render_draft(result)
    if saida is not None:
        saida.write_text(draft, encoding="utf-8")
    if as_json:
        emit_json({"mapa": result.as_map_data(), "tabelas": result.tabelas, "arquivo": str(saida) if saida else None})
    elif saida is None:
        typer.echo(draft, nl=False)
    else:
        found = ", ".join(f"{k}={g.tabela}" for k, g in result.entidades.items()) or "nenhuma entidade"
        console.print(
            f"Rascunho gravado em {saida} ({found}). Revise e rode `crmsync schema check {saida}`.",
            markup=False,
            soft_wrap=True,
        )


@schema_app.command("check")
def check_cmd(
    mapa: Path | None = MapArgument,
    url: str | None = UrlOption,
    amostra: int = typer.Option(1000, "--amostra", min=1, max=10_000_000, help="Linhas verificadas por tabela."),
    papel_erp: str | None = PapelOption,
    as_json: bool = JsonOption,
) -> None:
    """Valida o mapa contra o banco do ERP. Sai com 0 (confere), 1 (mapa certo, mas há linhas
    que não convertem: listadas) ou 2 (mapa quebrado: o primeiro problema)."""
    from crmsync.erp.check import check_schema_map

    schema_map = _map(mapa)
    with _erp(url) as engine:
        report = check_schema_map(schema_map, engine, sample=amostra)
        if not report.problemas:  # with crmsync's triggers on its tables, the ERP must still write
            report.problemas.extend(p.line() for p in _probe(schema_map, engine, papel_erp) if p.ok is False)
    if as_json:
        emit_json(report.as_dict())
    else:
        for problem in report.problemas:
            console.print(f"problema {problem}", highlight=False, markup=False, soft_wrap=True)
        for row in report.linhas_com_erro:
            console.print(
                f"linha {row.tabela} chave={row.chave} {row.campo} ({row.coluna}): {row.motivo}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        for warning in report.avisos:
            console.print(f"aviso {warning}", highlight=False, markup=False, soft_wrap=True)
        checked = ", ".join(f"{k}: {v}" for k, v in report.linhas_verificadas.items())
        if checked:
            console.print(f"linhas verificadas: {checked}", highlight=False, markup=False)
    if report.problemas:  # the map itself is broken
        fail(report.summary(), EXIT_USAGE)
    if report.linhas_com_erro:  # the map is sound; these rows will be failed items
        fail(report.summary(), EXIT_ITEM_ERRORS)
    if not as_json:
        console.print("mapa confere com o banco", markup=False)


def _optional_map(path: Path | None) -> SchemaMap | None:
    from crmsync.settings import get_settings

    return _map(path) if path is not None or get_settings().schema_map else None


def _probe(schema_map: SchemaMap, engine: Engine, role: str | None) -> list[ProbeResult]:
    """The rolled-back ERP writes, when crmsync triggers sit on the map's tables."""
    from crmsync.erp.probe import probe_writes
    from crmsync.erp.triggers import installed_triggers

    if not installed_triggers(engine):
        return []
    return probe_writes(schema_map, engine, role)


@triggers_app.command("install")
def triggers_install(
    mapa: Path | None = MapArgument,
    url: str | None = UrlOption,
    papel_erp: str | None = PapelOption,
    as_json: bool = JsonOption,
) -> None:
    """Cria crm_erp_outbox e os gatilhos das tabelas do mapa; testa a escrita do ERP (e desfaz se falhar)."""
    from crmsync.erp.probe import probe_writes
    from crmsync.erp.triggers import install_triggers, remove_triggers

    schema_map = _map(mapa)
    with _erp(url, "o banco recusou os gatilhos") as engine:
        found = install_triggers(schema_map, engine)
        probes = probe_writes(schema_map, engine, papel_erp)
        broken = [p for p in probes if p.ok is False]
        if broken:  # never leave the ERP unable to write: take them out again
            remove_triggers(engine, schema_map)
            fail(f"gatilhos removidos: {broken[0].line()}")
    if as_json:
        emit_json(
            {
                "gatilhos": [{"tabela": t, "gatilho": n} for t, n in found],
                "teste_escrita": [p.__dict__ for p in probes],
            }
        )
    else:
        console.print(f"{len(found)} gatilho(s) instalados em {len({t for t, _ in found})} tabela(s)", markup=False)
        for probe in probes:
            console.print(probe.line(), markup=False, highlight=False, soft_wrap=True)
        console.print("o serve passa a usá-los em poucos segundos (sem reiniciar)", markup=False)


@triggers_app.command("remove")
def triggers_remove(
    mapa: Path | None = MapArgument,
    url: str | None = UrlOption,
    manter_outbox: bool = typer.Option(False, "--manter-outbox", help="Não apaga a tabela crm_erp_outbox."),
    as_json: bool = JsonOption,
) -> None:
    """Remove os gatilhos do crmsync das tabelas do mapa (sem mapa: todos) e, se nenhum restar, a crm_erp_outbox."""
    from crmsync.erp.triggers import remove_triggers

    schema_map = _optional_map(mapa)
    with _erp(url, "o banco recusou a remoção") as engine:
        count = remove_triggers(engine, schema_map, keep_outbox=manter_outbox)
    if as_json:
        emit_json({"removidos": count})
    else:
        console.print(f"{count} gatilho(s) removidos", markup=False)


@triggers_app.command("status")
def triggers_status(
    mapa: Path | None = MapArgument,
    url: str | None = UrlOption,
    papel_erp: str | None = PapelOption,
    as_json: bool = JsonOption,
) -> None:
    """Lista os gatilhos do crmsync e, com o mapa, testa que o ERP ainda grava (sai com 1 se não)."""
    from crmsync.erp.triggers import installed_triggers

    schema_map = _optional_map(mapa)
    with _erp(url) as engine:
        found = installed_triggers(engine)
        probes = _probe(schema_map, engine, papel_erp) if schema_map is not None else []
    if as_json:
        emit_json(
            {"gatilhos": [{"tabela": t, "gatilho": n} for t, n in found], "teste_escrita": [p.__dict__ for p in probes]}
        )
    else:
        for table, name in found:
            console.print(f"{table}\t{name}", markup=False)
        if not found:
            console.print("nenhum gatilho do crmsync instalado", markup=False)
        for probe in probes:
            console.print(probe.line(), markup=False, highlight=False, soft_wrap=True)
    broken = [p for p in probes if p.ok is False]
    if broken:
        fail(broken[0].line(), EXIT_ITEM_ERRORS)
