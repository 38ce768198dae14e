"""POST /webhooks/source-image-uploaded: an external upload service reports a stored image."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from likeness.api.schemas import WebhookIn, WebhookOut
from likeness.api.webhook_signature import SignatureRejected, verify
from likeness.config import get_settings
from likeness.db import repository
from likeness.db.extraction_locks import holding_delivery_lock
from likeness.db.session import transaction
from likeness.identity.errors import ImageOutsideStorage
from likeness.orchestration.requests import start_or_leave_pending
from likeness.storage import get_store, in_project

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post(
    "/source-image-uploaded", status_code=status.HTTP_202_ACCEPTED, response_model=WebhookOut
)
async def source_image_uploaded(
    request: Request,
    x_likeness_timestamp: Annotated[str | None, Header()] = None,
    x_likeness_signature: Annotated[str | None, Header()] = None,
) -> WebhookOut | JSONResponse:
    """Signed delivery (docs/integrate.md): re-extract the character from the stored image.

    A delivery id seen before is acknowledged with ``duplicate: true`` and starts nothing.
    """
    settings = get_settings()
    if not settings.webhook_secret:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "LIKENESS_WEBHOOK_SECRET is not set"
        )
    body = await request.body()
    try:
        verify(
            settings.webhook_secret,
            timestamp=x_likeness_timestamp,
            signature=x_likeness_signature,
            body=body,
        )
    except SignatureRejected as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from error
    try:
        delivery = WebhookIn.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from error
    # The store, the database and Prefect calls are blocking: off the event loop.
    return await run_in_threadpool(accept_delivery, delivery)


def stored_key(delivery: WebhookIn) -> str:
    """The key ``image_path`` names in the store (a key, a path inside the storage folder,
    or an s3:// URL inside the bucket and prefix): 400 for anything else, 404 when
    nothing is stored there."""
    store = get_store()
    try:
        key = store.key_of(delivery.image_path)
    except ImageOutsideStorage as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, error.message) from error
    if not store.exists(key):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stored image at {delivery.image_path}")
    return key


def accept_delivery(delivery: WebhookIn) -> WebhookOut | JSONResponse:
    """One delivery id at a time: a concurrent duplicate waits for the first and is
    answered with the run it started."""
    key = stored_key(delivery)
    with holding_delivery_lock(delivery.delivery_id):
        return first_or_duplicate(delivery, key)


def first_or_duplicate(delivery: WebhookIn, key: str) -> WebhookOut | JSONResponse:
    with transaction() as session:
        earlier = repository.find_webhook_delivery(session, delivery_id=delivery.delivery_id)
        if earlier is not None:
            duplicate = WebhookOut(
                delivery_id=earlier.delivery_id,
                character_id=earlier.character_id,
                flow_run_id=earlier.flow_run_id,
                duplicate=True,
            )
            return JSONResponse(duplicate.model_dump(mode="json"), status_code=status.HTTP_200_OK)
        character = repository.get_character(session, character_id=delivery.character_id)
        project = repository.project_name(session, project_id=character.project_id)
        if not in_project(key, project):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                f"{delivery.image_path} is not in the storage folder of project {project!r}: "
                "a file belongs to the project it was uploaded for",
            )
        character = repository.request_extraction(
            session, character_id=delivery.character_id, source_image_path=key
        )
        repository.record_webhook_delivery(
            session, delivery_id=delivery.delivery_id, character_id=character.id
        )
    run_id = start_or_leave_pending(character)
    with transaction() as session:
        repository.record_webhook_delivery(
            session, delivery_id=delivery.delivery_id, character_id=character.id, flow_run_id=run_id
        )
    return WebhookOut(
        delivery_id=delivery.delivery_id,
        character_id=character.id,
        flow_run_id=run_id,
        duplicate=False,
    )
