"""The FastAPI application: REST API, upload webhook, UI; OpenAPI at /docs."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from likeness.api import characters, events, settings, ui, webhooks
from likeness.api.auth import require_token
from likeness.api.uploads import UploadRejected
from likeness.db.repository import Conflict, NoEmbedding, NoSourceImage, NotFound


def _error(status_code: int) -> object:
    async def handler(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status_code)

    return handler


async def _upload_rejected(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UploadRejected)
    return JSONResponse({"detail": str(error)}, status_code=error.status_code)


def create_app() -> FastAPI:
    app = FastAPI(
        title="likeness",
        summary="Face identity embeddings for studio characters.",
        version="0.1.0",
    )
    protected = [Depends(require_token)]
    app.include_router(characters.router, dependencies=protected)
    app.include_router(events.router, dependencies=protected)
    app.include_router(settings.router, dependencies=protected)
    app.include_router(ui.router)  # its pages send a browser without the token to /login
    app.include_router(ui.login_router)
    app.include_router(webhooks.router)  # signed with HMAC instead
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_exception_handler(NotFound, _error(status.HTTP_404_NOT_FOUND))  # type: ignore[arg-type]
    app.add_exception_handler(Conflict, _error(status.HTTP_409_CONFLICT))  # type: ignore[arg-type]
    app.add_exception_handler(NoSourceImage, _error(status.HTTP_400_BAD_REQUEST))  # type: ignore[arg-type]
    app.add_exception_handler(NoEmbedding, _error(status.HTTP_400_BAD_REQUEST))  # type: ignore[arg-type]
    app.add_exception_handler(UploadRejected, _upload_rejected)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
