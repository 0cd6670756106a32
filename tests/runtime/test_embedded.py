"""The embedded runtime stops with the web app (what `crmsync serve` relies on: uvicorn ends
the process right after its own shutdown, so the runtime must stop inside it)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from crmsync.api.app import create_app
from crmsync.runtime.embedded import EmbeddedRuntime
from runtime.conftest import Env, wait_for


def test_runtime_attached_to_the_app_stops_gracefully_on_shutdown(rt_env: Env) -> None:
    app = create_app()
    runtime = EmbeddedRuntime().start().attach(app)
    assert runtime.consumer is not None and runtime.scheduler is not None
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here, port 0: no free-port race with parallel tests
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="server up")
    time.sleep(0.3)
    server.should_exit = True
    thread.join(30)
    sock.close()
    assert not thread.is_alive()
    assert runtime.consumer is None and runtime.scheduler is None  # stopped by the app's shutdown
