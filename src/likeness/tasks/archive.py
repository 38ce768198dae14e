"""archive_embedding task: the first step of a source image replacement."""

from __future__ import annotations

from prefect import get_run_logger

from likeness.db import repository
from likeness.db.session import transaction
from likeness.tasks.retry import database_task


@database_task("archive_embedding")
def archive_embedding(character_id: int, new_image_path: str) -> bool:
    """History row from the current embedding, faces cleared, new image in place."""
    with transaction() as session:
        archived = repository.archive_embedding(
            session, character_id=character_id, new_image_path=new_image_path
        )
    get_run_logger().info(
        "character %d: %s",
        character_id,
        "embedding archived, faces cleared" if archived else "already switched to the new image",
    )
    return archived
