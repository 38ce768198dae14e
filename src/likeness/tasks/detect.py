"""detect_faces task: SCRFD + ArcFace on the process-wide engine (models stay loaded)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from likeness.face.engine import get_face_engine
from likeness.face.image_loading import LoadedImage
from likeness.face.types import Face


@task(name="detect_faces", cache_policy=NO_CACHE)
def detect_faces(image: LoadedImage) -> list[Face]:
    engine = get_face_engine()
    faces = engine.detect_image(image)
    get_run_logger().info(
        "%d face(s) in %s (%dx%d) with %s: confidences %s",
        len(faces),
        image.path,
        *image.source_size,
        engine.model_id,
        [round(face.confidence, 3) for face in faces],
    )
    return faces
