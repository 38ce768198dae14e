"""The source-image check that runs beside every extraction of an uploaded, replaced or
reference image: image-level QA (``face.image_checks``) and whether the same photo is
already another character's source image, stored per image with an event."""

from __future__ import annotations

from dataclasses import dataclass

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.repository import NotRequested
from likeness.db.session import transaction
from likeness.face.image_checks import (
    SAME_PHOTO_BITS,
    Check,
    ImageReport,
    Verdict,
    check_image,
    duplicate_check,
    worst,
)
from likeness.identity.errors import ImageError
from likeness.identity.events import SOURCE_IMAGE_CHECKED, PublishedEvent
from likeness.services.outbox import publish
from likeness.storage import get_store


@dataclass(frozen=True)
class SourceCheckDone:
    result: str
    events: list[PublishedEvent]


def check_source_image(character_id: int, image_key: str) -> SourceCheckDone:
    """Check the image and store the result. :class:`NotRequested` unless ``image_key`` is
    the character's image (or the replacement waiting for it): flow parameters come from
    Prefect's API, which anyone on its network can call."""
    with transaction() as session:
        character = repository.get_character(session, character_id=character_id)
        if image_key not in (character.source_image_path, character.pending_source_image_path):
            raise NotRequested(f"{image_key!r} is not an image of character {character_id}")
    report = _report(image_key)
    with transaction() as session:
        matches = []
        if report.perceptual_hash is not None:
            matches = repository.same_photo_characters(
                session,
                character_id=character_id,
                perceptual_hash=report.perceptual_hash,
                max_bits=SAME_PHOTO_BITS,
            )
        checks = [*report.checks, duplicate_check(matches)]
        result = worst(checks)
        repository.record_source_check(
            session,
            character_id=character_id,
            image_key=image_key,
            result=result.value,
            checks=[check.as_dict() for check in checks],
            perceptual_hash=report.perceptual_hash,
        )
        payload = {
            "character_id": character_id,
            "result": result.value,
            "problems": [
                f"{check.name}: {check.reason}" for check in checks if check.result != Verdict.PASS
            ],
        }
        event = publish(
            session, event_type=SOURCE_IMAGE_CHECKED, character_id=character_id, payload=payload
        )
    return SourceCheckDone(result.value, [event])


def _report(image_key: str) -> ImageReport:
    settings = get_settings()
    try:
        with get_store(settings).open(image_key, settings.max_image_bytes) as stream:
            data = stream.read()
    except ImageError as error:
        return ImageReport([Check("file", Verdict.FAIL, error.message)], None)
    return check_image(data)
