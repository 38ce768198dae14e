"""Measure the sample photos, from which the data-quality bounds are set.

Run: ``python -m likeness.devtools.calibration``.
"""

from __future__ import annotations

import numpy as np

from likeness.config import get_settings
from likeness.expectations.frames import mean_cosine_to_others
from likeness.face.engine import get_face_engine
from likeness.face.image_loading import load_configured
from likeness.face.model_pack import sample_photos
from likeness.identity.policy import EmbeddingConfig


def main() -> None:
    settings = get_settings()
    engine = get_face_engine(settings)
    confidences: list[float] = []
    embeddings = []
    for name, path in sample_photos().items():
        image = load_configured(path, settings)
        faces = engine.detect_image(image)
        confidences += [face.confidence for face in faces]
        embeddings += [face.embedding for face in faces]
        per_photo = [
            v
            for v in mean_cosine_to_others([f.embedding for f in faces], list(range(len(faces))))
            if v is not None
        ]
        print(
            f"{name}: {len(faces)} faces, mean cosine between them "
            f"{np.mean(per_photo) if per_photo else float('nan'):.3f}"
        )
    values = np.asarray(confidences)
    threshold = EmbeddingConfig().confidence_threshold  # the studio default a database starts with
    print(
        f"all: {values.size} faces, confidence mean {values.mean():.3f}, median "
        f"{np.median(values):.3f}, 10% quantile {np.quantile(values, 0.1):.3f}, "
        f"share below {threshold}: {(values < threshold).mean():.2f}"
    )
    # Each face as its own character: the collapse check's statistic over all of them.
    spread = mean_cosine_to_others(embeddings, list(range(len(embeddings))))
    print(
        f"mean cosine between different faces: {np.mean([v for v in spread if v is not None]):.3f}"
    )


if __name__ == "__main__":
    main()
