"""How errors are answered: always JSON with a ``detail``, never a stack trace, SQL or a
server path. Bad input is a 4xx; a database or photo store that cannot be reached is a 503."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from likeness.api.params import NO_NUL
from likeness.db.repository import Conflict, NoEmbedding, NoSourceImage, NotFound
from likeness.db.session import SchemaOutdated
from likeness.storage import StorageUnavailable
from likeness.storage.uploads import UploadRejected

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
STATUS_FOR: dict[type[Exception], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    NoSourceImage: status.HTTP_400_BAD_REQUEST,
    NoEmbedding: status.HTTP_400_BAD_REQUEST,
}


def validation_problems(errors: Any) -> list[dict[str, Any]]:
    """Each problem's place, message and type; not the input echoed back, nor the
    validator's internals (a multipart upload's input is a Starlette object)."""
    problems = []
    for error in errors:
        message = error.get("msg", "invalid value")
        if (error.get("ctx") or {}).get("pattern") == NO_NUL:
            message = "must not contain NUL bytes"
        problems.append(
            {"loc": list(error.get("loc", ())), "msg": message, "type": error.get("type")}
        )
    return problems


async def _known(request: Request, error: Exception) -> JSONResponse:
    code = next(c for kind, c in STATUS_FOR.items() if isinstance(error, kind))
    return JSONResponse({"detail": str(error)}, status_code=code)


async def _upload_rejected(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UploadRejected)
    return JSONResponse({"detail": str(error)}, status_code=error.status_code)


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse(
        {"detail": validation_problems(error.errors())},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _refused_by_database(request: Request, error: Exception) -> JSONResponse:
    log.warning("%s %s: the database refused a value: %s", request.method, request.url, error)
    return JSONResponse(
        {"detail": "a value of this request is out of range or not allowed"},
        status_code=status.HTTP_400_BAD_REQUEST,
    )


def _unavailable(what: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """A 503 with ``Retry-After`` for a service that cannot be reached (``what``)."""

    async def handler(request: Request, error: Exception) -> JSONResponse:
        log.error("%s %s: %s unavailable: %s", request.method, request.url, what, error)
        return JSONResponse(
            {"detail": f"the {what} is unavailable; try again shortly"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    return handler


async def _schema_outdated(request: Request, error: Exception) -> JSONResponse:
    log.error("%s %s: %s", request.method, request.url, error)
    return JSONResponse(
        {"detail": "the database schema is not this version's; the operator must migrate it"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url, exc_info=error)
    return JSONResponse(
        {"detail": "internal error; the server log has the details"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def install_error_handlers(app: FastAPI) -> None:
    for kind in STATUS_FOR:
        app.add_exception_handler(kind, _known)
    app.add_exception_handler(UploadRejected, _upload_rejected)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(DataError, _refused_by_database)
    for kind in (OperationalError, InterfaceError, psycopg.OperationalError):
        app.add_exception_handler(kind, _unavailable("database"))
    app.add_exception_handler(StorageUnavailable, _unavailable("photo store"))
    app.add_exception_handler(SchemaOutdated, _schema_outdated)
    app.add_exception_handler(Exception, _unexpected)
