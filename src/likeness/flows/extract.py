"""extract_character_embedding: one character's source image to its face embedding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import flow, get_run_logger, tags
from prefect.runtime import flow_run

from likeness.db import repository
from likeness.db.extraction_locks import holding_extraction_locks
from likeness.db.repository import NoSourceImage, NotRequested
from likeness.db.session import transaction
from likeness.domain.events import PublishedEvent
from likeness.face.engine import get_face_engine
from likeness.face.errors import ImageError, ModelPackError
from likeness.tasks.check_faces import DataCheckFailed, check_faces
from likeness.tasks.detect import detect_faces
from likeness.tasks.load_image import load_character_image
from likeness.tasks.notify import notify
from likeness.tasks.persist import begin_extraction, persist_faces, record_failure
from likeness.tasks.resolve_primary import resolve_primary
from likeness.tasks.sweep import (
    SWEEP_BATCH,
    SWEEP_ROUNDS,
    claim_waiting,
    close_claimed,
    extract_waiting,
)


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
            character_id, faces, outcome, get_face_engine().model_id, job.config.drift_threshold
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


@contextmanager
def sole_extraction(character_id: int) -> Iterator[str | None]:
    """Hold the character's extraction lock for the whole run; yields None when it holds
    it, or the character's status when another live run is extracting it (this run then
    leaves the character to that one, so two extractions never overlap)."""
    with holding_extraction_locks([character_id]) as held:
        if held:
            yield None
            return
        with transaction() as session:
            current = repository.get_character(session, character_id=character_id).status
        get_run_logger().warning(
            "character %d is being extracted by another run; this run leaves it to that one",
            character_id,
        )
        yield current.value


def leave_unrequested(character_id: int, refusal: NotRequested) -> str:
    """A run nobody asked for (its request withdrawn by an erasure, or started straight on
    Prefect's API) ends having written nothing; returns the status left as it was."""
    get_run_logger().warning("%s: this run writes nothing", refusal)
    with transaction() as session:
        return repository.get_character(session, character_id=character_id).status.value


@flow(name="extract-character-embedding", flow_run_name="extract-character-{character_id}")
def extract_character_embedding(character_id: int) -> str:
    """Detect, embed and store; return the character's resulting status."""
    with sole_extraction(character_id) as other_run:
        if other_run is not None:
            return other_run
        try:
            events = run_extraction_tasks(character_id)
        except NotRequested as refusal:
            return leave_unrequested(character_id, refusal)
    notify(events)
    sweep_waiting_uploads()
    return str(events[0].payload["status"])


def sweep_waiting_uploads() -> None:
    """Under a burst, take the uploads waiting behind this one and extract them here, a
    batch at a time (one model pass each, one check, one transaction per batch): the
    Prefect server then handles one run for many uploads instead of one each, which is
    what bounds the rate on a small machine. Each upload's own run is closed as completed,
    naming this run; a lone upload finds nothing waiting and costs one query."""
    done_by = f"run {flow_run.get_name()} ({flow_run.get_id()})"
    try:
        for _ in range(SWEEP_ROUNDS):
            claimed = claim_waiting(SWEEP_BATCH)
            if not claimed:
                return
            with tags(*(f"character-{character_id}" for character_id in claimed)):
                result = extract_waiting(list(claimed))
            notify(result.events)
            close_claimed(claimed, result.statuses, done_by)
    except Exception as error:  # this run's own upload is done; the reconciler takes the rest
        get_run_logger().warning("sweep of waiting uploads stopped: %s", error)
