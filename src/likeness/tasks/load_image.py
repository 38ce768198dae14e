"""load_image task: decode the source image (storage root, EXIF, limits); a bad file fails
at once."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from likeness.config import get_settings
from likeness.face.image_loading import LoadedImage, load_source_image
from likeness.tasks.retry import retry_on_transient


@task(
    name="load_image",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=1,
    retry_condition_fn=retry_on_transient,
)
def load_character_image(path: str) -> LoadedImage:
    return load_source_image(path, get_settings())
