"""A long full scan is listed by another process (crmsync.engine.listing): the same pages in
the same order, the process ends with the loop, and a listing process that dies leaves a
checkpoint from which the next run converges without a duplicate.

Real parts: the GestãoClick sandbox on loopback, a second process with the real provider,
the engine on a SQLite file. The hand-over thresholds are lowered so a few pages suffice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_world import make_world
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import crmsync.engine.listing as listing
from crmsync.config import parse_config
from crmsync.db.local import Cliente
from crmsync.db.sync import CrmCursor, CrmEntityLink
from crmsync.engine import RunOptions, SyncEngine
from crmsync.providers.base import ProviderError, RetriableError
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.providers.read_ahead import ListingProcess, portable_error
from crmsync.providers.transport import ServerError
from crmsync.sandbox import SandboxServer
from crmsync.settings import Settings

CREDS = {"access_token": "sandbox-access-token", "secret_access_token": "sandbox-secret-token"}
# 30 pages: page 1 decides, page 2 is read here, pages 3-30 by the listing process. Enough
# that a kill or an outage at page 2 or 3 meets a listing still under way (the process may
# run a few pages ahead: two read ahead, one in the pipe, one on the wire).
RECORDS = 3000
PAGES = 30
PACED_RECORDS = 700  # the paced test's 7 pages at 8 requests/s


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.0, seed=3, seed_records=RECORDS) as sb:
        yield sb


@pytest.fixture(autouse=True)
def short_handover(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "HANDOVER_PAGES", 1)
    monkeypatch.setattr(listing, "PROCESS_MIN_PAGES", 2)


def _provider(sb: SandboxServer, tmp_path: Path, **kwargs: Any) -> GestaoClickProvider:
    kwargs.setdefault("rate_limit_per_second", None)
    kwargs.setdefault("daily_quota", None)
    return GestaoClickProvider(sb.base_url, credentials=CREDS, settings=Settings(data_dir=tmp_path), **kwargs)


def _children() -> set[int]:
    """Processes started by this one (by any of its threads) and not yet reaped."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue  # a thread that ended meanwhile
    return pids


class _RecordedListingProcess(ListingProcess):
    """The real listing process, its pid noted for the test as it starts."""

    started: list[int] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started.append(self.pid)


def _listing_children() -> list[int]:
    """Processes started by this one that run the listing child (found by command line)."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue  # a thread that ended meanwhile
        for pid in children:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue  # ended meanwhile
            if b"child_main" in command:
                pids.append(int(pid))
    return pids


def test_pages_after_the_handover_come_from_another_process(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child is known by the pid its ListingProcess started, not by its command line:
    # Popen returns once exec has begun, and /proc/PID/cmdline reads empty until the kernel
    # has laid out the new program's arguments, so a look at page 1 could miss it.
    started: list[int] = []
    monkeypatch.setattr(_RecordedListingProcess, "started", started)
    monkeypatch.setattr(listing, "ListingProcess", _RecordedListingProcess)
    provider = _provider(sandbox, tmp_path)
    try:
        expected = [
            (p.page, [(r.external_id, r.data, r.version) for r in p.records]) for p in provider.iter_pages("cliente")
        ]
        got = []
        alive_at = []
        for page in listing.read_ahead(provider, "cliente", 1, depth=2, log_level="WARNING"):
            alive_at.append(page.page if len(started) == 1 and started[0] in _children() else None)
            got.append((page.page, [(r.external_id, r.data, r.version) for r in page.records]))
            assert page.fetched_at is not None
    finally:
        provider.close()
    assert got == expected and len(got) == PAGES
    # Started as soon as page 1 showed a long listing, one process only, and a child of this
    # one (unreaped, so still listed once it has sent its last page) until the loop ended.
    assert alive_at == list(range(1, PAGES + 1)), alive_at
    assert started[0] not in _children()  # and gone (reaped) with the loop
    assert _listing_children() == []


def test_stopping_early_ends_the_listing_process(sandbox: SandboxServer, tmp_path: Path) -> None:
    provider = _provider(sandbox, tmp_path)
    try:
        pages = listing.read_ahead(provider, "cliente", 1, depth=2, log_level="WARNING")
        for page in pages:
            if page.page == 4:
                break
        pages.close()
    finally:
        provider.close()
    assert _listing_children() == []


def test_a_provider_that_cannot_share_its_limits_lists_in_this_process(sandbox: SandboxServer, tmp_path: Path) -> None:
    # Pacing in this process's memory: a second process would pace on its own.
    in_memory = _provider(sandbox, tmp_path, rate_limit_per_second=1000.0, ratelimit_url="sqlite://")
    on_disk = _provider(
        sandbox,
        tmp_path,
        rate_limit_per_second=1000.0,
        ratelimit_url=f"sqlite:///{(tmp_path / 'limits.db').as_posix()}",
    )
    try:
        assert in_memory.listing_factory() is None
        assert on_disk.listing_factory() is not None
        pages = []
        for page in listing.read_ahead(in_memory, "cliente", 1, depth=2, log_level="WARNING"):
            assert _listing_children() == []
            pages.append(page.page)
        assert pages == list(range(1, PAGES + 1))
    finally:
        in_memory.close()
        on_disk.close()


def test_the_listing_process_paces_and_counts_against_the_same_budget(tmp_path: Path) -> None:
    """Parent and child send requests at once (the engine's gets, the child's pages): the
    sandbox, which enforces the limit itself, never sees more than the limit in a second,
    and the child's requests count in the shared quota and in this process's figures."""
    limit = 8.0
    token = uuid.uuid4().hex  # a company of its own
    creds = {"access_token": "acc-" + token, "secret_access_token": "sec-" + token}
    with SandboxServer(
        rate_limit=limit,
        daily_quota=30000,
        fault_rate=0.0,
        seed=3,
        seed_records=PACED_RECORDS,
        access_token=creds["access_token"],
        secret_access_token=creds["secret_access_token"],
    ) as sb:
        provider = GestaoClickProvider(
            sb.base_url,
            credentials=creds,
            settings=Settings(data_dir=tmp_path),
            rate_limit_per_second=limit,
            daily_quota=30000,
        )
        try:
            pages = gets = listed_elsewhere = 0
            for page in listing.read_ahead(provider, "cliente", 1, depth=2, log_level="WARNING"):
                pages += 1
                listed_elsewhere += len(_listing_children())
                for record in page.records[:2]:
                    provider.get("cliente", record.external_id)
                    gets += 1
            used = provider.requests_used_today()
            counted = provider.stats()["requests_sent"]  # the child's own counters added at its end
        finally:
            provider.close()
        company = sb.stats()["companies"]["empresa-1"]
    assert pages == 7 and listed_elsewhere
    assert company["requests_total"] == pages + gets == used == counted  # the child's requests in the shared quota
    assert company["rate_limited"] == 0
    assert company["max_requests_in_any_1s_window"] <= limit, company


def test_errors_cross_the_process_boundary_with_their_meaning() -> None:
    # ServerError needs its status as a keyword: it cannot be rebuilt by unpickling.
    portable = portable_error(ServerError("HTTP 502 do CRM", status=502))
    assert isinstance(portable, RetriableError) and "HTTP 502" in str(portable)
    fatal = portable_error(ProviderError("credenciais recusadas"))
    assert type(fatal) is ProviderError and str(fatal) == "credenciais recusadas"


def test_a_killed_listing_process_keeps_the_checkpoint_and_the_next_run_converges(
    sf: sessionmaker[Session], sandbox: SandboxServer, tmp_path: Path
) -> None:
    world = make_world(sf, None, {})  # type: ignore[arg-type]
    killed: list[int] = []

    def kill_the_lister(progress: dict[str, Any]) -> None:
        if progress["pages"] == 3 and not killed:
            for pid in _listing_children():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    def engine(**kwargs: Any) -> SyncEngine:
        provider = _provider(sandbox, tmp_path, config=parse_config({}))
        return SyncEngine(sf, world.integracao_id, provider=provider, options=RunOptions(trigger="bulk"), **kwargs)

    with engine(progress=kill_the_lister) as eng:
        first = eng.pull("cliente", full=True)
    assert killed, "the listing process was never running"
    assert not first.success and "processo de leitura" in (first.message or "")
    with sf() as s:
        checkpoint = s.scalars(select(CrmCursor.checkpoint).where(CrmCursor.entity_type == "cliente")).one()
        applied = s.scalar(select(func.count()).select_from(Cliente)) or 0
    assert checkpoint is not None and checkpoint["page"] >= 3
    assert applied == checkpoint["page"] * 100  # whole pages only

    with engine() as eng:
        second = eng.pull("cliente", full=True)
    assert second.success, second.as_dict()
    assert _listing_children() == []
    with sf() as s:
        rows = s.scalar(select(func.count()).select_from(Cliente)) or 0
        linked = s.scalars(select(CrmEntityLink.external_id).where(CrmEntityLink.entity_type == "cliente")).all()
    remote_ids = {str(r["id"]) for r in sandbox.panel_list("clientes")}
    assert len(linked) == len(set(linked)) == rows
    assert set(linked) == remote_ids


def test_a_listing_error_in_the_process_fails_the_run_at_its_page_and_the_next_run_resumes(
    sf: sessionmaker[Session], tmp_path: Path
) -> None:
    world = make_world(sf, None, {})  # type: ignore[arg-type]
    with SandboxServer(rate_limit=0, daily_quota=0, fault_rate=0.0, seed=4, seed_records=RECORDS) as sb:

        def outage(progress: dict[str, Any]) -> None:
            if progress["pages"] == 2:  # the process lists from page 3: it meets the outage
                sb.stop()

        def engine(**kwargs: Any) -> SyncEngine:
            provider = GestaoClickProvider(
                sb.base_url,
                credentials=CREDS,
                settings=Settings(data_dir=tmp_path),
                config=parse_config({}),
                rate_limit_per_second=None,
                daily_quota=None,
                max_attempts=1,
            )
            return SyncEngine(sf, world.integracao_id, provider=provider, options=RunOptions(trigger="bulk"), **kwargs)

        with engine(progress=outage) as eng:
            first = eng.pull("cliente", full=True)
        assert not first.success
        message = first.message or ""
        assert message.startswith("falha ao ler a página") and "processo de leitura" not in message, message
        with sf() as s:
            checkpoint = s.scalars(select(CrmCursor.checkpoint).where(CrmCursor.entity_type == "cliente")).one()
        failed_page = re.match(r"falha ao ler a página (\d+) do CRM", message)
        assert failed_page and checkpoint is not None and int(failed_page[1]) == checkpoint["page"] + 1, message

        sb.start()
        with engine() as eng:
            second = eng.pull("cliente", full=True)
        assert second.success, second.as_dict()
        with sf() as s:
            linked = s.scalars(select(CrmEntityLink.external_id).where(CrmEntityLink.entity_type == "cliente")).all()
        assert len(linked) == len(set(linked)) == len(sb.panel_list("clientes"))
    assert _listing_children() == []


UNGUARDED_SCRIPT = """
import sys
from pathlib import Path

import crmsync.engine.listing as listing
from crmsync.providers.gestaoclick import GestaoClickProvider
from crmsync.settings import Settings

# No `if __name__ == "__main__":` on purpose: a process that imported this script again
# would append a second line and list a second time.
with open(sys.argv[2], "a") as marker:
    marker.write("ran\\n")
listing.HANDOVER_PAGES, listing.PROCESS_MIN_PAGES = 1, 2
provider = GestaoClickProvider(sys.argv[1], credentials={CREDS!r}, settings=Settings(data_dir=Path(sys.argv[3])),
                               rate_limit_per_second=None, daily_quota=None)
pages = [page.page for page in listing.read_ahead(provider, "cliente", 1, depth=2, log_level="WARNING")]
assert pages == list(range(1, {PAGES} + 1)), pages
"""


def test_a_script_without_a_main_guard_runs_once(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The listing process is a fresh interpreter: unlike multiprocessing's spawn, it does
    not import the caller's main script again (which would run its top level twice)."""
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_SCRIPT.replace("{CREDS!r}", repr(CREDS)).replace("{PAGES}", str(PAGES)))
    marker = tmp_path / "runs.txt"
    done = subprocess.run(
        [sys.executable, str(script), sandbox.base_url, str(marker), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.read_text() == "ran\n"
