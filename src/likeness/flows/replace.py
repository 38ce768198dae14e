"""handle_source_image_replaced: archive (and flag quality scores stale), re-extract, notify."""

from __future__ import annotations

from prefect import flow

from likeness.flows.requested_extraction import extract_as_requested


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
    return extract_as_requested(character_id, replacing=new_image_path).status
