"""Benchmark: requests per write on the real SuiteCRM 7.14.6, and token requests per CLI run.

    set -a; eval "$(bash ../shared/realcrm/suitecrm/setup.sh)"; set +a
    .venv/bin/python bench/suitecrm_real.py [--records 20]

Against the real instance (``SUITECRM_URL``/``SUITECRM_CLIENT_ID``/``SUITECRM_CLIENT_SECRET``),
through the engine (`SyncEngine.push_one`, what the automatic push and `crmsync push` run),
requests counted on the wire (token requests included, none here after the first):

* a new PF cliente (with CPF and e-mail): the unique-key look-ups, the POST;
* an update of one ordinary field (the engine's read of the record, the PATCH);
* an e-mail change of that record (read, the addresses' listing, the unlink, the PATCH);

and then `crmsync integration set-connection ID --base-url URL` run 10 times as separate
processes (each checks the connection: a token if it has none, then one request), counting
the rows SuiteCRM adds to ``oauth2tokens`` (target: 1 while the token lives).

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx


class Counting(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _cpf(seed: int) -> str:
    base = [int(d) for d in f"{seed % 10**9:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(base, range(length + 1, 1, -1), strict=True))
        digit = (total * 10) % 11
        base.append(0 if digit == 10 else digit)
    return "".join(map(str, base))


def _token_rows() -> int:
    import pymysql

    conn = pymysql.connect(
        host="127.0.0.1", port=3306, user="root", database=os.environ.get("SUITECRM_DB", "suitecrm_test")
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM oauth2tokens")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def run(records: int) -> int:
    url = os.environ["SUITECRM_URL"]
    creds = {"client_id": os.environ["SUITECRM_CLIENT_ID"], "client_secret": os.environ["SUITECRM_CLIENT_SECRET"]}
    workdir = Path(tempfile.mkdtemp(prefix="crmsync-bench-suitecrm-real-"))
    db_path = workdir / "bench.db"
    env = {
        "CRMSYNC_DATA_DIR": str(workdir),
        "CRMSYNC_DATABASE_URL": f"sqlite:///{db_path}",
        "CRMSYNC_SECRET_KEY": "xJ7Ob0rNwrZ0Vq3r9mOe2jvV6lE4hN8XcZ1pQ5sT7uY=",
        "CRMSYNC_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)

    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    from crmsync.config import parse_config
    from crmsync.crypto import encrypt_json
    from crmsync.db.local import Cliente, Loja
    from crmsync.db.schema import create_schema
    from crmsync.db.session import get_sessionmaker
    from crmsync.db.sync import CrmIntegracao
    from crmsync.engine import RunOptions, SyncEngine
    from crmsync.providers.suitecrm import SuiteCrmProvider

    create_schema(env["CRMSYNC_DATABASE_URL"])
    sf = get_sessionmaker(env["CRMSYNC_DATABASE_URL"])
    with sf() as s, s.begin():
        loja = Loja(nome="Bench", api_key_hash="b" * 64, api_key_prefix="crm_")
        s.add(loja)
        s.flush()
        integ = CrmIntegracao(
            id_loja=loja.id,
            provider="suitecrm",
            base_url=url,
            credenciais=encrypt_json(creds),
            credenciais_hash="bench",
            config={},
            webhook_token="bench",
        )
        s.add(integ)
        s.flush()
        integ_id, loja_id = integ.id, loja.id

    counting = Counting()
    provider = SuiteCrmProvider(
        url, credentials=creds, config=parse_config({}), rate_limit_per_second=None, http_transport=counting
    )
    engine = SyncEngine(sf, integ_id, provider=provider, options=RunOptions(trigger="manual", actor="bench"))
    provider.check_access()  # the token, outside the figures
    tag = uuid.uuid4().hex[:8]
    per: dict[str, list[int]] = {"create": [], "update": [], "email_change": []}
    seconds: dict[str, list[float]] = {k: [] for k in per}
    for i in range(records):
        with sf() as s, s.begin():
            row = Cliente(
                id_loja=loja_id,
                nome=f"Bench {i} {tag}",
                email=f"bench{i}.{tag}@example.com",
                cpf=_cpf(uuid.uuid4().int),
            )
            s.add(row)
            s.flush()
            rid = row.id
        for kind, change in (
            ("create", None),
            ("update", {"cidade": f"Cidade {i}"}),
            ("email_change", {"email": f"novo{i}.{tag}@example.com"}),
        ):
            if change is not None:
                with sf() as s, s.begin():
                    got = s.get(Cliente, rid)
                    assert got is not None
                    for key, value in change.items():
                        setattr(got, key, value)
            before = len(counting.sent)
            started = time.perf_counter()
            result = engine.push_one("cliente", rid)
            seconds[kind].append(time.perf_counter() - started)
            assert result.success, result
            per[kind].append(len(counting.sent) - before)
    engine.provider.close()
    figures: dict[str, Any] = {"bench": "suitecrm_real", "records": records}
    for kind, counts in per.items():
        figures[f"requests_per_{kind}"] = statistics.mean(counts)
        figures[f"requests_per_{kind}_max"] = max(counts)
        figures[f"seconds_per_{kind}_median"] = round(statistics.median(seconds[kind]), 3)
    print(
        f"requests per new record {figures['requests_per_create']}, per update {figures['requests_per_update']}, "
        f"per e-mail change {figures['requests_per_email_change']}",
        file=sys.stderr,
    )

    # Ten CLI runs that talk to SuiteCRM, each its own process.
    cli_env = {**os.environ, **env}
    (workdir / "crmsync-tokens.db").unlink(missing_ok=True)  # no token yet: the first run mints one
    before = _token_rows()
    for _ in range(10):
        subprocess.run(
            [
                str(Path(sys.executable).with_name("crmsync")),
                *("integration", "set-connection", str(integ_id), "--base-url", url),
            ],
            check=True,
            env=cli_env,
            capture_output=True,
            timeout=300,
        )
    figures["token_requests_per_10_cli_runs"] = _token_rows() - before
    print(f"oauth2tokens rows added by 10 CLI runs: {figures['token_requests_per_10_cli_runs']}", file=sys.stderr)
    print(json.dumps(figures))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20)
    args = parser.parse_args()
    if not all(os.environ.get(k) for k in ("SUITECRM_URL", "SUITECRM_CLIENT_ID", "SUITECRM_CLIENT_SECRET")):
        print("set SUITECRM_URL/SUITECRM_CLIENT_ID/SUITECRM_CLIENT_SECRET (run ../shared/realcrm/suitecrm/setup.sh)")
        return 2
    return run(args.records)


if __name__ == "__main__":
    raise SystemExit(main())
