"""``likeness bench --only references``: does a template of several references match a new
photo of the same person at least as well as its best single reference, and keep other
people as far? Measured on the sample photos: Yao Ming's portrait and variants derived from
it are his references; his face in the team photo (and variants of it) are the new photos;
every other face of the sample photos is someone else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from likeness.config import get_settings
from likeness.devtools.samples import YAO_MING_IN_PLAYERS, crop_square
from likeness.face.engine import get_face_engine
from likeness.face.image_loading import load_configured
from likeness.face.model_pack import sample_photos
from likeness.face.types import BoundingBox
from likeness.identity.template import consistency, identity_template

Variant = Callable[[Image.Image], Image.Image]
VARIANTS: dict[str, Variant] = {
    "as is": lambda image: image,
    "mirrored": ImageOps.mirror,
    "darker (0.6)": lambda image: ImageEnhance.Brightness(image).enhance(0.6),
    "brighter (1.4)": lambda image: ImageEnhance.Brightness(image).enhance(1.4),
    "tilted 12°": lambda image: image.rotate(12, resample=Image.Resampling.BICUBIC),
    "half size": lambda image: image.resize((image.width // 2, image.height // 2)),
}


@dataclass(frozen=True)
class Scores:
    name: str
    same_person: list[float]  # similarity to each new photo of the same person
    nearest_other: float  # highest similarity to anyone else

    @property
    def margin(self) -> float:
        """Worst same-person similarity minus the nearest other person."""
        return min(self.same_person) - self.nearest_other


def embed_variants(source: Path, work_dir: Path, prefix: str) -> dict[str, np.ndarray]:
    """The (largest) face's embedding of each variant of the photo ``source``."""
    settings, engine = get_settings(), get_face_engine()
    embeddings: dict[str, np.ndarray] = {}
    with Image.open(source) as photo:
        image = photo.convert("RGB")
    for name, variant in VARIANTS.items():
        target = work_dir / f"{prefix}-{len(embeddings)}.png"
        variant(image).save(target)
        faces = engine.detect_image(load_configured(target, settings))
        if faces:
            largest = max(faces, key=lambda face: face.bounding_box.area)
            embeddings[name] = largest.embedding
    return embeddings


def other_people() -> list[np.ndarray]:
    """Every face of the sample photos but Yao Ming's."""
    settings, engine = get_settings(), get_face_engine()
    yao = BoundingBox(*YAO_MING_IN_PLAYERS)
    others = []
    for name, path in sample_photos().items():
        if name == "yaoming.jpg":
            continue
        for face in engine.detect_image(load_configured(path, settings)):
            if not (name == "players.jpg" and face.bounding_box.iou(yao) > 0.5):
                others.append(face.embedding)
    return others


def measure(work_dir: Path) -> tuple[list[Scores], tuple[float, float] | None]:
    """Scores of each single reference and of the template; the references' consistency."""
    photos = sample_photos()
    references = embed_variants(photos["yaoming.jpg"], work_dir, "reference")
    team_crop = crop_square(photos["players.jpg"], YAO_MING_IN_PLAYERS, 1.0, work_dir / "yao.png")
    new_photos = list(embed_variants(team_crop, work_dir, "new").values())
    others = np.stack(other_people())

    def scores(name: str, vector: np.ndarray) -> Scores:
        return Scores(name, [float(vector @ p) for p in new_photos], float((others @ vector).max()))

    rows = [scores(f"reference: {name}", vector) for name, vector in references.items()]
    template = identity_template(list(references.values()))
    rows.append(scores(f"template of all {len(references)}", template))
    return rows, consistency(list(references.values()))
