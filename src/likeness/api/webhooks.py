"""POST /webhooks/source-image-uploaded: an external upload service reports a stored image."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from likeness import extraction_requests
from likeness.api.dependencies import SettingsDep
from likeness.api.schemas import WebhookIn, WebhookOut
from likeness.api.webhook_signature import SignatureRejected, verify
from likeness.db import repository
from likeness.db.extraction_locks import holding_delivery_lock
from likeness.db.session import transaction
from likeness.identity.errors import ImageMissing, ImageOutsideStorage
from likeness.storage import existing_key

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post(
    "/source-image-uploaded", status_code=status.HTTP_202_ACCEPTED, response_model=WebhookOut
)
async def source_image_uploaded(
    request: Request,
    settings: SettingsDep,
    x_likeness_timestamp: Annotated[str | None, Header()] = None,
    x_likeness_signature: Annotated[str | None, Header()] = None,
) -> WebhookOut | JSONResponse:
    """Signed delivery (docs/integrate.md): re-extract the character from the stored image.

    A delivery id seen before is acknowledged with ``duplicate: true`` and starts nothing.
    """
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


def accept_delivery(delivery: WebhookIn) -> WebhookOut | JSONResponse:
    """One delivery id at a time: a concurrent duplicate waits for the first and is
    answered with the run it started."""
    try:  # the store is asked before the database, not inside its transaction
        key = existing_key(delivery.image_path)
    except ImageOutsideStorage as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, error.message) from error
    except ImageMissing as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, error.message) from error
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
        try:
            character = extraction_requests.stored_source_image(
                session, character_id=delivery.character_id, key=key
            )
        except extraction_requests.NotInProject as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from error
        repository.record_webhook_delivery(
            session, delivery_id=delivery.delivery_id, character_id=character.id
        )
    run_id = extraction_requests.start(character).flow_run_id
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
