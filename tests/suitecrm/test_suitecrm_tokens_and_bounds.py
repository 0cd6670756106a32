"""SuiteCRM tokens are reused across processes until shortly before they expire (stored
encrypted), and SuiteCRM's answers — the token's too — are bounded like GestãoClick's: an
overall deadline per request and the size cap enforced while reading."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from crmsync.providers.base import ProtocolError
from crmsync.providers.suitecrm import SuiteCrmProvider
from crmsync.providers.suitecrm.auth import TOKEN_FILE, forget_all_tokens
from crmsync.providers.transport import TransportError
from crmsync.sandbox.suitecrm import SuiteCrmSandboxServer
from crmsync.settings import Settings
from tests.tenants.loopback import Chunks, LoopbackServer, head

KEY = "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY="


def _provider(sb: SuiteCrmSandboxServer, settings: Settings) -> SuiteCrmProvider:
    return SuiteCrmProvider(
        sb.base_url,
        credentials={"client_id": sb.client_id, "client_secret": sb.client_secret},
        settings=settings,
        rate_limit_per_second=None,
    )


def _list_once(sb: SuiteCrmSandboxServer, settings: Settings) -> None:
    """One page listed by a fresh provider, closed after it."""
    provider = _provider(sb, settings)
    try:
        provider.list_page("cliente", 1)
    finally:
        provider.close()


def test_ten_providers_without_a_shared_memory_mint_one_token(suite: SuiteCrmSandboxServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=KEY)
    for _ in range(10):
        forget_all_tokens()  # as a new process would start
        _list_once(suite, settings)
    assert suite.stats()["tokens"]["issued"] == 1
    stored = sqlite3.connect(tmp_path / TOKEN_FILE).execute("SELECT token FROM tokens").fetchall()
    assert len(stored) == 1 and stored[0][0].startswith("gAAAA")  # Fernet, never the token itself
    issued_token_text = json.dumps(suite.stats())
    assert stored[0][0] not in issued_token_text


def test_processes_share_the_token(suite: SuiteCrmSandboxServer, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from crmsync.providers.suitecrm import SuiteCrmProvider\n"
        "from crmsync.settings import Settings\n"
        "p = SuiteCrmProvider(sys.argv[1], credentials={'client_id': sys.argv[2], 'client_secret': sys.argv[3]},\n"
        "    settings=Settings(data_dir=Path(sys.argv[4]), secret_key=sys.argv[5]), rate_limit_per_second=None)\n"
        "p.list_page('cliente', 1)\n"
        "p.close()\n"
    )
    args = [suite.base_url, suite.client_id, suite.client_secret, str(tmp_path), KEY]
    for _ in range(3):
        subprocess.run([sys.executable, "-c", script, *args], check=True, timeout=120)
    assert suite.stats()["tokens"]["issued"] == 1


def test_a_refused_shared_token_is_replaced_once(suite: SuiteCrmSandboxServer, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=KEY)
    _list_once(suite, settings)
    suite.expire_tokens()  # the server forgets every token (a restart, a revocation)
    forget_all_tokens()
    _list_once(suite, settings)
    assert suite.stats()["tokens"]["issued"] == 2
    forget_all_tokens()
    _list_once(suite, settings)  # the replacement is what the store now holds
    assert suite.stats()["tokens"]["issued"] == 2


class DrainingServer(LoopbackServer):
    """The loopback server, reading a request's body before it answers (a POST's form left
    unread would make the close a reset, not the answer under test)."""

    def _one(self, conn: socket.socket) -> None:
        reader = _Replay(conn)
        super()._one(reader)  # type: ignore[arg-type]


class _Replay:
    """A socket whose first recv reads the whole request (head and declared body)."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.done = False

    def recv(self, size: int) -> bytes:
        if self.done:
            return self.conn.recv(size)
        data = b""
        while b"\r\n\r\n" not in data:
            got = self.conn.recv(65536)
            if not got:
                return data
            data += got
        head_part, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head_part.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(rest) < length:
            got = self.conn.recv(65536)
            if not got:
                break
            rest += got
        self.done = True
        return data if length == 0 else head_part + b"\r\n\r\n" + rest

    def sendall(self, data: bytes) -> None:
        self.conn.sendall(data)

    def __enter__(self) -> _Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


TOKEN = json.dumps({"token_type": "Bearer", "expires_in": 3600, "access_token": "t0k3n"}).encode()


def _bounded_provider(url: str, tmp_path: Path, **settings: float) -> SuiteCrmProvider:
    return SuiteCrmProvider(
        url,
        credentials={"client_id": "c", "client_secret": "s"},
        settings=Settings(data_dir=tmp_path, secret_key=KEY, **settings),  # type: ignore[arg-type]
        rate_limit_per_second=None,
        timeout=1.0,
        max_attempts=1,
    )


@pytest.mark.parametrize("which", ["token", "record"])
def test_drip_fed_answer_ends_at_the_deadline(servers: list[LoopbackServer], tmp_path: Path, which: str) -> None:
    forget_all_tokens()
    body = b'{"data": []}' + b" " * 40
    drip: Chunks = [(0.2, body[i : i + 1]) for i in range(len(body))]  # ~10 s, each byte within the read timeout

    def answer(line: str) -> tuple[bytes, Chunks]:
        if "access_token" in line:
            return (head(length=len(TOKEN)), [(0, TOKEN)]) if which == "record" else (head(length=len(body)), drip)
        return head(length=len(body), content_type="application/vnd.api+json"), drip

    server = DrainingServer(answer)
    servers.append(server)
    provider = _bounded_provider(server.url, tmp_path, http_deadline_seconds=1.5)
    try:
        with pytest.raises(TransportError) as info:
            provider.list_page("cliente", 1)
        assert info.value.timed_out
        assert ("POST /Api/access_token" if which == "token" else "GET /Api/V8/module/Contacts") in str(info.value)
    finally:
        provider.close()
    forget_all_tokens()


@pytest.mark.parametrize("which", ["token", "record"])
@pytest.mark.parametrize("declared", [True, False])
def test_answer_over_the_cap_is_refused_while_reading(
    servers: list[LoopbackServer], tmp_path: Path, which: str, declared: bool
) -> None:
    forget_all_tokens()
    big = b'{"data": [' + b'"x",' * 200_000 + b'"x"]}'
    chunks: Chunks = [(0, big[i : i + 65536]) for i in range(0, len(big), 65536)]

    def answer(line: str) -> tuple[bytes, Chunks]:
        if "access_token" in line and which == "record":
            return head(length=len(TOKEN)), [(0, TOKEN)]
        return head(length=len(big) if declared else None), chunks

    server = DrainingServer(answer)
    servers.append(server)
    provider = _bounded_provider(server.url, tmp_path, http_max_answer_bytes=100_000)
    try:
        with pytest.raises(ProtocolError, match="maior que o limite"):
            provider.list_page("cliente", 1)
    finally:
        provider.close()
    forget_all_tokens()
