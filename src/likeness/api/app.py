"""The FastAPI application: REST API, upload webhook, UI; OpenAPI at /docs."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from likeness.api import (
    characters,
    embedding_config,
    event_feed,
    health,
    likeness_checks,
    projects,
    references,
    ui,
    webhooks,
)
from likeness.api.auth import require_token
from likeness.api.docs import install_docs
from likeness.api.errors import install_error_handlers
from likeness.api.http_security import protect


def create_app() -> FastAPI:
    app = FastAPI(
        title="likeness",
        summary="Face identity embeddings for studio characters.",
        version="0.1.0",
        docs_url=None,  # served by install_docs: offline, behind the token
        redoc_url=None,
        openapi_url=None,
    )
    protected = [Depends(require_token)]
    app.include_router(characters.router, dependencies=protected)
    app.include_router(references.router, dependencies=protected)
    app.include_router(event_feed.router, dependencies=protected)
    app.include_router(embedding_config.router, dependencies=protected)
    app.include_router(projects.router, dependencies=protected)
    app.include_router(likeness_checks.router, dependencies=protected)
    app.include_router(ui.router)  # its pages send a browser without the token to /login
    app.include_router(ui.login_router)
    app.include_router(webhooks.router)  # signed with HMAC instead
    app.include_router(health.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    install_docs(app)
    install_error_handlers(app)
    app.middleware("http")(protect)
    return app
