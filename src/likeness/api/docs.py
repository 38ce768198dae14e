"""The OpenAPI document and its Swagger UI, served from this package (no CDN: it works
offline) and behind the API token when one is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from likeness.api.auth import require_login, require_token

SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def install_docs(app: FastAPI) -> None:
    """``/docs`` (a browser without the token is sent to the login form) and
    ``/openapi.json`` (401 without the token)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json", dependencies=[Depends(require_token)])
    def openapi() -> JSONResponse:
        document: dict[str, Any] = app.openapi()
        return JSONResponse(document)

    @router.get("/docs", response_class=HTMLResponse, dependencies=[Depends(require_login)])
    def docs(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "docs.html", {"title": app.title})

    app.include_router(router)
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")
