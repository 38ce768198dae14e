"""The face-batch suite over one or more images' faces, as the flows run it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from likeness.config import Settings
from likeness.expectations.check_process import (
    CheckProcessGone,
    forget_check_process,
    running_check_process,
)
from likeness.expectations.results import CheckResult
from likeness.face.engine import FaceEngine
from likeness.identity.faces import Face


@dataclass(frozen=True)
class CheckedImage:
    """One image's faces about to be written for a character."""

    character_id: int
    image_size: tuple[int, int]  # source-image pixels
    faces: Sequence[Face]
    primary_index: int | None


def check_face_batch(images: Sequence[CheckedImage], settings: Settings) -> CheckResult:
    """The face-batch suite on these images' faces: in the check process of a command
    that runs one (:mod:`likeness.expectations.check_process`), in this process otherwise."""
    process = running_check_process()
    if process is not None:
        try:
            return process.check_face_batch(images, settings)
        except CheckProcessGone:
            forget_check_process(process)
    return check_face_batch_here(images, settings)


def check_face_batch_here(images: Sequence[CheckedImage], settings: Settings) -> CheckResult:
    # Imported here: pandas and Great Expectations (2.5 s) are for the process that
    # validates, which in a command is its check process.
    from likeness.expectations.frames import comparable, face_batch_frame
    from likeness.expectations.runner import run_suite
    from likeness.expectations.suites import face_batch_suite

    frame = face_batch_frame(
        [face for image in images for face in image.faces],
        character_ids=[image.character_id for image in images for _ in image.faces],
        image_sizes=[image.image_size for image in images for _ in image.faces],
        primary=[
            index == image.primary_index for image in images for index in range(len(image.faces))
        ],
    )
    return run_suite(face_batch_suite(settings, comparable=comparable(frame)), frame)


def warm_up(engine: FaceEngine, settings: Settings) -> None:
    """Run both models and the face-batch suite once on a sample photo, so that the first
    real image of a worker pays for neither onnxruntime's nor Great Expectations' setup."""
    from likeness.face.image_loading import load_configured
    from likeness.face.model_pack import sample_photos

    image = load_configured(sample_photos()["yaoming.jpg"], settings)
    faces = engine.detect_image(image)
    check_face_batch([CheckedImage(0, image.source_size, faces, 0 if faces else None)], settings)
