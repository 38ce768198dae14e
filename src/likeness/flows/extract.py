"""extract_character_embedding: one character's source image to its face embedding."""

from __future__ import annotations

from prefect import flow

from likeness.db.repository import NoSourceImage
from likeness.face.engine import get_engine
from likeness.face.errors import ImageError
from likeness.tasks.detect import detect_faces
from likeness.tasks.load_image import load_source_image
from likeness.tasks.notify import notify
from likeness.tasks.persist import begin_extraction, persist_faces, record_failure
from likeness.tasks.resolve_primary import resolve_primary


@flow(name="extract-character-embedding", flow_run_name="extract-character-{character_id}")
def extract_character_embedding(character_id: int) -> str:
    """Detect, embed and store; return the character's resulting status.

    A bad image ends in ``failed`` with its reason and a completed run; any other error
    also leaves the character ``failed`` (never ``extracting``) and fails the run.
    """
    try:
        job = begin_extraction(character_id)
    except NoSourceImage as error:
        event = record_failure(character_id, str(error))
        notify(event)
        return str(event.payload["status"])
    try:
        image = load_source_image(job.image_path)
        faces = detect_faces(image)
        outcome = resolve_primary(faces, job.confidence_threshold)
        event = persist_faces(character_id, faces, outcome, get_engine().model_id)
    except ImageError as error:
        event = record_failure(character_id, error.message)
    except Exception as error:
        notify(record_failure(character_id, f"extraction error: {error}"))
        raise
    notify(event)
    return str(event.payload["status"])
