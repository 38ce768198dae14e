"""``likeness bench --only quality``: does the quality score predict recognition? The
error-versus-discard measurement of ISO/IEC 29794-1 and NIST's FATE Quality: genuine pairs
of real photos and degraded variants of them; discarding the pairs whose worse face scores
lowest should lower the false non-match rate (at the buffalo_s match threshold) faster than
discarding by detection confidence. Also how far off the head-pose angles are on photos
of known pose, and what the components cost per face.

Labelled photos: Yao Ming (portrait, face in the team photo) and Barack Obama (three
photos), each with degraded variants; genuine pairs join two different photos of one
person, never a photo and its own variant.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from likeness.config import get_settings
from likeness.devtools.identity_evidence import YAO_MING
from likeness.devtools.published_photos import published_photos
from likeness.devtools.samples import YAO_MING_IN_PLAYERS, crop_square
from likeness.face.engine import get_face_engine
from likeness.face.image_loading import load_configured
from likeness.face.model_pack import sample_photos
from likeness.face.quality import measure
from likeness.identity.faces import Face
from likeness.identity.verdicts import MEASURED_THRESHOLDS

Degrade = Callable[[Image.Image], Image.Image]
DEGRADATIONS: dict[str, Degrade] = {
    "as is": lambda image: image,
    "downscaled 1/4": lambda image: image.resize((image.width // 4, image.height // 4)),
    "downscaled 1/8": lambda image: image.resize((image.width // 8, image.height // 8)),
    "blurred 3": lambda image: image.filter(ImageFilter.GaussianBlur(3)),
    "blurred 6": lambda image: image.filter(ImageFilter.GaussianBlur(6)),
    "darkened 0.3": lambda image: ImageEnhance.Brightness(image).enhance(0.3),
    "darkened 0.12": lambda image: ImageEnhance.Brightness(image).enhance(0.12),
    "rotated 30°": lambda image: image.rotate(30, resample=Image.Resampling.BICUBIC),
    "rotated 60°": lambda image: image.rotate(60, resample=Image.Resampling.BICUBIC),
    "small and blurred": lambda image: image.resize((image.width // 4, image.height // 4)).filter(
        ImageFilter.GaussianBlur(1.5)
    ),
}
DISCARDED = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
ROLLS = (-30, -15, 15, 30)


@dataclass(frozen=True)
class Measured:
    person: str
    photo: str
    variant: str
    face: Face | None  # the largest face, None when none was found


@dataclass(frozen=True)
class Pair:
    similarity: float
    quality: float  # the worse face's score
    confidence: float  # the worse face's detection confidence


@dataclass(frozen=True)
class QualityEvidence:
    pairs: list[Pair]
    missed: int  # variants in which no face was found (a non-match that no score can help)
    curves: dict[str, list[float]]  # ranking -> false non-match rate per discarded fraction
    roll_errors: list[float]  # measured minus known roll, degrees
    mirrored_yaw_sums: list[float]  # yaw of a photo plus yaw of its mirror image (0 ideal)
    ms_per_face: float  # the components alone
    ms_per_image: float  # decode and detection with the components


def _largest(path: Path) -> Face | None:
    faces = get_face_engine().detect_image(load_configured(path, get_settings()))
    return max(faces, key=lambda face: face.bounding_box.area) if faces else None


def _photos(work_dir: Path) -> dict[tuple[str, str], Image.Image]:
    photos = sample_photos()
    team = crop_square(photos["players.jpg"], YAO_MING_IN_PLAYERS, 1.5, work_dir / "yao.png")
    sources = {(YAO_MING, "portrait"): photos["yaoming.jpg"], (YAO_MING, "team"): team}
    for path in published_photos()["Barack Obama"]:
        sources[("Barack Obama", path.name)] = path
    loaded = {}
    for key, path in sources.items():
        with Image.open(path) as photo:
            loaded[key] = photo.convert("RGB")
    return loaded


def measure_all(work_dir: Path) -> list[Measured]:
    measured: list[Measured] = []
    for (person, photo), image in _photos(work_dir).items():
        for variant, degrade in DEGRADATIONS.items():
            target = work_dir / f"{person}-{photo}-{len(measured)}.png"
            degrade(image).save(target)
            measured.append(Measured(person, photo, variant, _largest(target)))
    return measured


def error_versus_discard(pairs: list[Pair], key: Callable[[Pair], float]) -> list[float]:
    """False non-match rate at the match threshold once the lowest-ranked pairs are gone."""
    match = MEASURED_THRESHOLDS["buffalo_s"].match
    ranked = sorted(pairs, key=key)
    curve = []
    for fraction in DISCARDED:
        kept = ranked[round(fraction * len(ranked)) :]
        curve.append(float(np.mean([pair.similarity < match for pair in kept])) if kept else 0.0)
    return curve


def quality_evidence(work_dir: Path) -> QualityEvidence:
    measured = measure_all(work_dir)
    found = [m for m in measured if m.face is not None]
    pairs = []
    for first, second in itertools.combinations(found, 2):
        if first.person != second.person or first.photo == second.photo:
            continue
        assert first.face and second.face and first.face.quality and second.face.quality
        pairs.append(
            Pair(
                float(first.face.embedding @ second.face.embedding),
                min(first.face.quality.score, second.face.quality.score),
                min(first.face.confidence, second.face.confidence),
            )
        )
    curves = {
        "quality score": error_versus_discard(pairs, lambda pair: pair.quality),
        "detection confidence": error_versus_discard(pairs, lambda pair: pair.confidence),
    }
    rolls, yaws = _pose_errors(work_dir)
    per_face, per_image = _cost(work_dir)
    return QualityEvidence(
        pairs, len(measured) - len(found), curves, rolls, yaws, per_face, per_image
    )


def _pose_errors(work_dir: Path) -> tuple[list[float], list[float]]:
    """Roll against photos turned by a known angle; yaw of a photo against its mirror."""
    rolls, yaws = [], []
    for index, ((_, _), image) in enumerate(_photos(work_dir).items()):
        upright_path = work_dir / f"pose-{index}.png"
        image.save(upright_path)
        upright = _largest(upright_path)
        mirror_path = work_dir / f"pose-{index}-mirror.png"
        ImageOps.mirror(image).save(mirror_path)
        mirrored = _largest(mirror_path)
        if upright is None or upright.quality is None:
            continue
        if mirrored is not None and mirrored.quality is not None:
            yaws.append(upright.quality.yaw + mirrored.quality.yaw)
        for angle in ROLLS:
            turned_path = work_dir / f"pose-{index}-{angle}.png"
            image.rotate(angle, resample=Image.Resampling.BICUBIC).save(turned_path)
            turned = _largest(turned_path)
            if turned is not None and turned.quality is not None:
                # PIL turns anticlockwise: the eye line falls to the right by the angle.
                rolls.append(turned.quality.roll - upright.quality.roll + angle)
    return rolls, yaws


def _cost(work_dir: Path, rounds: int = 5) -> tuple[float, float]:
    """Milliseconds of the components per face, and of a whole image with them."""
    settings, engine = get_settings(), get_face_engine()
    images = [load_configured(path, settings) for path in sample_photos().values()]
    detected = [(image, engine.detect(image.pixels)) for image in images]
    faces = sum(len(found) for _, found in detected)
    started = time.perf_counter()
    for _ in range(rounds):
        for image, found in detected:
            for face in found:
                landmarks = np.asarray(face.landmarks, dtype=np.float32)
                measure(image.pixels, face.bounding_box.as_tuple(), landmarks, image.scale)
    per_face = 1000 * (time.perf_counter() - started) / (rounds * faces)
    started = time.perf_counter()
    for _ in range(rounds):
        for image in images:
            engine.detect_image(image)
    per_image = 1000 * (time.perf_counter() - started) / (rounds * len(images))
    return per_face, per_image
