"""Per-company sliding-window rate limit, daily quota, stats and the request log."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from crmsync.sandbox import CompanyCredentials, SandboxServer
from crmsync.sandbox.formats import SAO_PAULO

LIMIT_BODY = {"code": 429, "status": "error", "data": "O limite de requisicoes foi atingido"}


def test_burst_beyond_the_window_gets_429_with_retry_after() -> None:
    with SandboxServer(rate_limit=3.0) as sb, httpx.Client(base_url=sb.base_url, headers=sb.headers) as c:
        responses = [c.get("/api/clientes") for _ in range(30)]
        limited = [r for r in responses if r.status_code == 429]
        served = [r for r in responses if r.status_code == 200]
        assert limited, "a burst of 30 requests must exceed 3 per second"
        assert limited[0].json() == LIMIT_BODY
        assert int(limited[0].headers["Retry-After"]) >= 1
        stats = sb.stats()
        company = stats["companies"]["empresa-1"]
        assert company["max_requests_in_any_1s_window"] > 3
        assert company["rate_limited"] == len(limited)
        # 429s do not consume the daily quota.
        assert company["requests_today"] == len(served)
        assert company["quota_left"] == 30000 - len(served)
        route = stats["routes"]["GET /clientes"]
        assert route["429"] == len(limited) and route["served"] == len(served)
        assert stats["total_requests"] == 30


def test_slow_rate_gives_one_request_per_window_and_header_can_be_disabled() -> None:
    with (
        SandboxServer(rate_limit=0.2, retry_after_header=False) as sb,
        httpx.Client(base_url=sb.base_url, headers=sb.headers) as c,
    ):
        assert c.get("/clientes").status_code == 200
        second = c.get("/clientes")  # a 5-second window: certainly inside it
        assert second.status_code == 429 and "retry-after" not in second.headers


def test_daily_quota_is_per_company_and_resets_on_the_next_sao_paulo_day() -> None:
    companies = [
        CompanyCredentials("tok-a", "sec-a", "loja-a"),
        CompanyCredentials("tok-b", "sec-b", "loja-b"),
    ]
    with (
        SandboxServer(rate_limit=0, daily_quota=3, companies=companies) as sb,
        httpx.Client(base_url=sb.base_url) as c,
    ):
        a = {"access-token": "tok-a", "secret-access-token": "sec-a"}
        b = {"access-token": "tok-b", "secret-access-token": "sec-b"}
        assert [c.get("/clientes", headers=a).status_code for _ in range(5)] == [200, 200, 200, 429, 429]
        refused = c.get("/clientes", headers=a)
        assert refused.json() == LIMIT_BODY and int(refused.headers["Retry-After"]) >= 1
        assert c.get("/clientes", headers=b).status_code == 200  # another company, another budget
        # The default pair is not valid when companies are listed explicitly.
        default = {"access-token": "sandbox-access-token", "secret-access-token": "sandbox-secret-token"}
        assert c.get("/clientes", headers=default).status_code == 401
        stats = sb.stats()["companies"]
        assert stats["loja-a"]["quota_left"] == 0 and stats["loja-a"]["quota_exceeded"] == 3
        assert stats["loja-b"]["requests_today"] == 1 and stats["loja-b"]["quota_left"] == 2
        sb.set_clock_offset(86400)  # tomorrow
        assert c.get("/clientes", headers=a).status_code == 200
        assert sb.stats()["companies"]["loja-a"]["requests_today"] == 1


def test_requests_log_reset_and_http_control_routes() -> None:
    with SandboxServer(rate_limit=0) as sb, httpx.Client(base_url=sb.base_url, headers=sb.headers) as c:
        c.get("/api/clientes/77")
        c.get("/produtos", headers={"access-token": "x"})
        log = httpx.get(sb.base_url + "/_sandbox/requests").json()
        assert [(e["method"], e["path"], e["status"]) for e in log] == [
            ("GET", "/api/clientes/77", 404),
            ("GET", "/produtos", 401),
        ]
        assert log[0]["company"] == "empresa-1" and log[1]["company"] is None
        assert isinstance(log[0]["t"], float)
        stats = httpx.get(sb.base_url + "/_sandbox/stats").json()  # no auth needed
        assert stats["routes"]["GET /clientes/{id}"]["served"] == 1
        assert stats["routes"]["GET /produtos"]["401"] == 1
        assert httpx.post(sb.base_url + "/_sandbox/reset-stats").json() == {"ok": True}
        assert sb.stats()["total_requests"] == 0 and sb.requests() == []
        clock = httpx.post(sb.base_url + "/_sandbox/clock", json={"offset_seconds": -7200}).json()
        assert clock["offset_seconds"] == -7200 and sb.state.clock.offset_seconds == -7200
        created = sb.panel_create("clientes", {"tipo_pessoa": "PF", "nome": "Relógio atrasado"})
        an_hour_ago = (datetime.now(SAO_PAULO) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
        assert created["cadastrado_em"] < an_hour_ago  # the sandbox clock runs two hours behind
        sb.reset_stats()
        assert sb.stats()["companies"]["empresa-1"]["max_requests_in_any_1s_window"] == 0
