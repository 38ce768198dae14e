"""check_faces task: the Great Expectations face-batch suite, before anything is written."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from likeness.config import get_settings
from likeness.domain.decisions import Outcome
from likeness.expectations.face_checks import CheckedImage, check_face_batch
from likeness.expectations.runner import DATA_CHECK_FAILED
from likeness.face.image_loading import LoadedImage
from likeness.face.types import Face


class DataCheckFailed(RuntimeError):
    """A batch failed its expectations; it must not be written."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__(DATA_CHECK_FAILED + ", ".join(failures))
        self.failures = failures


@task(name="check_faces", cache_policy=NO_CACHE)
def check_faces(character_id: int, image: LoadedImage, faces: list[Face], outcome: Outcome) -> None:
    """Raise :class:`DataCheckFailed` naming the failed expectations; attach the results."""
    if not faces:
        return
    checked = CheckedImage(character_id, image.source_size, faces, outcome.primary_index)
    result = check_face_batch([checked], get_settings())
    create_markdown_artifact(
        key=f"face-check-character-{character_id}",
        markdown=result.markdown(),
        description=f"Great Expectations face-batch suite for character {character_id}",
    )
    if not result.success:
        raise DataCheckFailed(result.failures)
