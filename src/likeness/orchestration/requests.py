"""A requested extraction becomes a run here, and only here: the API, the webhook, the demo
and the reconciler all start runs through these two functions.

The request itself (the character committed ``pending``, with the image it is for) is the
caller's transaction; the run's idempotency key is tied to that state change, so a retried
call never starts a second run for one request.
"""

from __future__ import annotations

import logging
from uuid import UUID

from likeness.db.models import Character
from likeness.orchestration.runs import (
    RunNotStarted,
    start_extraction,
    start_likeness_check,
    start_reference_extraction,
    start_replacement,
    start_source_image_check,
)

log = logging.getLogger(__name__)

__all__ = ["RunNotStarted", "start_image_check", "start_likeness_check", "start_or_leave_pending"]


def start_requested_run(character: Character) -> UUID:
    """The run for a character committed as ``pending``: the replacement flow when a new
    image awaits it, else the extraction flow; the reference flow for an extra reference.
    :class:`RunNotStarted` when Prefect cannot be reached or refuses."""
    state = f"{character.id}-{character.updated_at.isoformat()}"
    if character.reference_of is not None:
        return start_reference_extraction(
            character.id,
            character.reference_of,
            character.pending_source_image_path,
            idempotency_key=f"reference-{state}",
        )
    if character.pending_source_image_path:
        return start_replacement(
            character.id,
            character.pending_source_image_path,
            idempotency_key=f"replace-{state}",
        )
    return start_extraction(character.id, idempotency_key=f"extract-{state}")


def start_or_leave_pending(character: Character) -> UUID | None:
    """:func:`start_requested_run`, and beside it the source-image check of the new image;
    when Prefect cannot be reached the request still stands: the character stays
    ``pending`` (the database is the truth) and the workers' reconciler starts its run (and
    the check, if it has none) once Prefect answers again. Returns the extraction run's id,
    if started."""
    try:
        run_id: UUID | None = start_requested_run(character)
    except RunNotStarted as error:
        log.warning("character %d stays pending for the reconciler: %s", character.id, error)
        run_id = None
    try:
        start_image_check(character)
    except RunNotStarted as error:
        log.warning("character %d: its image is checked later: %s", character.id, error)
    return run_id


def start_image_check(character: Character) -> None:
    """The source-image check of the character's new image, after its extraction's run
    and on the background queue: a worker claims the upload's extraction first, and the
    check takes no slot an upload needs. :class:`RunNotStarted` when Prefect refuses."""
    image = character.pending_source_image_path or character.source_image_path
    if image:
        start_source_image_check(
            character.id,
            image,
            idempotency_key=f"source-check-{character.id}-{character.updated_at.isoformat()}",
        )
