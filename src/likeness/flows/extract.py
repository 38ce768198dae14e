"""extract_character_embedding: one character's source image to its face embedding."""

from __future__ import annotations

from prefect import flow

from likeness.db.repository import NoSourceImage
from likeness.events import PublishedEvent
from likeness.face.engine import get_engine
from likeness.face.errors import ImageError, ModelPackError
from likeness.tasks.check_faces import DataCheckFailed, check_faces
from likeness.tasks.detect import detect_faces
from likeness.tasks.load_image import load_character_image
from likeness.tasks.notify import notify
from likeness.tasks.persist import begin_extraction, persist_faces, record_failure
from likeness.tasks.resolve_primary import resolve_primary


def run_extraction_tasks(character_id: int) -> list[PublishedEvent]:
    """The extraction steps shared by every flow; returns the committed events.

    A bad image ends in ``failed`` with its reason; any other error also leaves the
    character ``failed`` (never ``extracting``), is announced, and re-raised.
    """
    try:
        job = begin_extraction(character_id)
    except NoSourceImage as error:
        return record_failure(character_id, str(error))
    try:
        image = load_character_image(job.image_path)
        faces = detect_faces(image)
        outcome = resolve_primary(faces, job.config, job.chosen_box)
        check_faces(character_id, image, faces, outcome)
        return persist_faces(
            character_id, faces, outcome, get_engine().model_id, job.config.drift_threshold
        )
    except ImageError as error:
        return record_failure(character_id, error.message)
    except DataCheckFailed as error:
        # Nothing of the batch was written; the run fails visibly.
        notify(record_failure(character_id, str(error)))
        raise
    except ModelPackError as error:
        # The worker's models, not the image: the character fails, the worker goes on.
        notify(record_failure(character_id, f"face model could not be loaded: {error}"))
        raise
    except Exception as error:
        notify(record_failure(character_id, f"extraction error: {error}"))
        raise


@flow(name="extract-character-embedding", flow_run_name="extract-character-{character_id}")
def extract_character_embedding(character_id: int) -> str:
    """Detect, embed and store; return the character's resulting status."""
    events = run_extraction_tasks(character_id)
    notify(events)
    return str(events[0].payload["status"])
