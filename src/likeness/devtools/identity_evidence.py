"""``likeness bench --only references``: does a template of several references match a new
photo of the same person at least as well as its best single reference, and keep other
people as far? Two studies:

* Yao Ming in the sample photos: his portrait and variants derived from it are his
  references; his face in the team photo (and variants of it) are the new photos.
* Barack Obama in the published photos (``published_photos``): three different photos; each
  in turn is the new photo (with variants of it), the other two are the references.

Everyone else in the sample and published photos is someone else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from likeness.config import get_settings
from likeness.devtools.published_photos import published_photos
from likeness.devtools.samples import YAO_MING_IN_PLAYERS, crop_square
from likeness.face.engine import get_face_engine
from likeness.face.image_loading import load_configured
from likeness.face.model_pack import sample_photos
from likeness.identity.faces import BoundingBox, Face
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
YAO_MING = "Yao Ming"
STUDIED_IN_PUBLISHED_PHOTOS = "Barack Obama"
UNKNOWN = ""  # a face of the sample photos that is neither studied person


@dataclass(frozen=True)
class Scores:
    name: str
    same_person: list[float]  # similarity to each new photo of the same person
    nearest_other: float  # highest similarity to anyone else

    @property
    def margin(self) -> float:
        """Worst same-person similarity minus the nearest other person."""
        return min(self.same_person) - self.nearest_other


@dataclass(frozen=True)
class Study:
    title: str
    references: list[Scores]  # one row per single reference
    template: Scores
    agreement: tuple[float, float] | None  # the references' lowest and mean similarity


def _largest(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda face: face.bounding_box.area) if faces else None


def _detect(path: Path) -> list[Face]:
    return get_face_engine().detect_image(load_configured(path, get_settings()))


def embed_variants(source: Path, work_dir: Path, prefix: str) -> dict[str, np.ndarray]:
    """The (largest) face's embedding of each variant of the photo ``source``."""
    embeddings: dict[str, np.ndarray] = {}
    with Image.open(source) as photo:
        image = photo.convert("RGB")
    for name, variant in VARIANTS.items():
        target = work_dir / f"{prefix}-{len(embeddings)}.png"
        variant(image).save(target)
        face = _largest(_detect(target))
        if face is not None:
            embeddings[name] = face.embedding
    return embeddings


def labelled_faces(published: dict[str, list[Path]]) -> list[tuple[str, np.ndarray]]:
    """Every face of the sample photos and the published photos, with who it is."""
    yao = BoundingBox(*YAO_MING_IN_PLAYERS)
    faces: list[tuple[str, np.ndarray]] = []
    for name, path in sample_photos().items():
        for face in _detect(path):
            is_yao = name == "yaoming.jpg" or (
                name == "players.jpg" and face.bounding_box.iou(yao) > 0.5
            )
            faces.append((YAO_MING if is_yao else UNKNOWN, face.embedding))
    for person, paths in published.items():
        for path in paths:
            largest = _largest(_detect(path))
            if largest is not None:
                faces.append((person, largest.embedding))
    return faces


def study(
    title: str,
    references: dict[str, np.ndarray],
    new_photos: list[np.ndarray],
    others: np.ndarray,
) -> Study:
    def scores(name: str, vector: np.ndarray) -> Scores:
        return Scores(name, [float(vector @ p) for p in new_photos], float((others @ vector).max()))

    vectors = list(references.values())
    return Study(
        title,
        [scores(f"reference: {name}", vector) for name, vector in references.items()],
        scores(f"template of the {len(vectors)}", identity_template(vectors)),
        consistency(vectors),
    )


def measure(work_dir: Path) -> list[Study]:
    """The Yao Ming study, then one Barack Obama study per photo held out."""
    published = published_photos()
    faces = labelled_faces(published)

    def others_than(person: str) -> np.ndarray:
        return np.stack([vector for who, vector in faces if who != person])

    photos = sample_photos()
    team_crop = crop_square(photos["players.jpg"], YAO_MING_IN_PLAYERS, 1.0, work_dir / "yao.png")
    studies = [
        study(
            "Yao Ming: his portrait and 5 variants of it as references; his face in the team "
            "photo and its variants as new photos",
            embed_variants(photos["yaoming.jpg"], work_dir, "yao-reference"),
            list(embed_variants(team_crop, work_dir, "yao-new").values()),
            others_than(YAO_MING),
        )
    ]
    person = STUDIED_IN_PUBLISHED_PHOTOS
    variants = {path.name: embed_variants(path, work_dir, path.stem) for path in published[person]}
    for held_out, its_variants in variants.items():
        references = {name: v["as is"] for name, v in variants.items() if name != held_out}
        studies.append(
            study(
                f"{person}: {' and '.join(references)} as references; {held_out} and its "
                "variants as new photos",
                references,
                list(its_variants.values()),
                others_than(person),
            )
        )
    return studies
