"""FastAPI application factory: every router of every area, one error shape.

Routers are listed here and owned by their modules: local data (local), administration
(admin), sync triggers (sync), review of conflicts/duplicates/log (review), webhooks,
status/metrics (status) and the web console (crmsync.web.console).
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

ROUTER_MODULES = (
    "crmsync.api.local",
    "crmsync.api.admin",
    "crmsync.api.sync",
    "crmsync.api.review",
    "crmsync.api.webhooks",
    "crmsync.api.status",
    "crmsync.web.console",
)


def create_app() -> FastAPI:
    app = FastAPI(title="crmsync", version="0.1.0")
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(name).router)
    return app
