"""handle_source_image_replaced: archive (and flag quality scores stale), re-extract, notify."""

from __future__ import annotations

from prefect import flow

from likeness.db.repository import NotRequested
from likeness.tasks.archive import archive_embedding
from likeness.tasks.extraction import extract_one, leave_unrequested, sole_extraction
from likeness.tasks.notify import notify


@flow(name="handle-source-image-replaced", flow_run_name="replace-character-{character_id}")
def handle_source_image_replaced(character_id: int, new_image_path: str) -> str:
    """The replacement of one character's source image, as one run in the Prefect UI.

    ``new_image_path`` must be the image the replacement was requested with (the API or
    webhook stored it on the character); any other path is refused before anything is
    written. Archiving flags the character's quality scores stale in the same transaction.
    The archived embedding stays in ``embedding_history`` whatever the new image gives;
    the drift against it is measured once the new embedding exists. Any other run that
    takes the character first switches to the waiting image the same way.
    """
    with sole_extraction(character_id) as other_run:
        if other_run is not None:
            return other_run
        try:
            archive_embedding(character_id, new_image_path)
            events = extract_one(character_id)
        except NotRequested as refusal:
            return leave_unrequested(character_id, refusal)
    notify(events)
    return str(events[0].payload["status"])
