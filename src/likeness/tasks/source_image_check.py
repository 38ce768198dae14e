"""The source-image check as a Prefect task (``likeness.source_image_check`` does it)."""

from __future__ import annotations

from likeness import source_image_check
from likeness.source_image_check import SourceCheckDone
from likeness.tasks.retry import database_task


@database_task("check_image")
def check_image(character_id: int, image_key: str) -> SourceCheckDone:
    """Image-level QA of the image and the duplicate search, stored with an event."""
    return source_image_check.check_source_image(character_id, image_key)
