"""check_source_image: image-level QA of an uploaded image, beside (never waiting for) its
extraction run."""

from __future__ import annotations

from prefect import flow, get_run_logger

from likeness.db.repository import NotFound, NotRequested
from likeness.tasks.notify import notify
from likeness.tasks.source_image_check import check_image


@flow(name="check-source-image", flow_run_name="check-source-image-{character_id}")
def check_source_image(character_id: int, image_key: str) -> str:
    """pass, warn or fail: the worst of the image's checks."""
    try:
        done = check_image(character_id, image_key)
    except (NotFound, NotRequested) as refusal:  # deleted, or another image meanwhile
        get_run_logger().warning("nothing checked: %s", refusal)
        return "not checked"
    notify(done.events)
    return done.result
