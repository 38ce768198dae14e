"""Quality components and their words on real photos and degraded variants of them: each
degradation moves the component it should, and the words name it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from likeness.config import get_settings
from likeness.devtools.published_photos import published_photos
from likeness.face.engine import FaceEngine
from likeness.face.image_loading import load_configured
from likeness.identity.face_problems import face_problems, is_weak
from likeness.identity.faces import FaceQuality
from likeness.identity.policy import EmbeddingConfig

DEFAULTS = EmbeddingConfig()


def largest_face_quality(engine: FaceEngine, path: Path) -> FaceQuality:
    faces = engine.detect_image(load_configured(path, get_settings()))
    face = max(faces, key=lambda f: f.bounding_box.area)
    assert face.quality is not None
    return face.quality


def words(quality: FaceQuality) -> list[str]:
    values = quality.as_dict()
    return face_problems({**values, "quality_score": values["score"]}, DEFAULTS)


@pytest.fixture(scope="module")
def portrait() -> Image.Image:
    with Image.open(published_photos()["Barack Obama"][0]) as photo:
        return photo.convert("RGB")


def variant(image: Image.Image, folder: Path, name: str) -> Path:
    target = folder / f"{name}.png"
    image.save(target)
    return target


def test_a_clear_portrait_scores_high_with_no_problem(
    face_engine: FaceEngine, portrait: Image.Image, tmp_path: Path
) -> None:
    quality = largest_face_quality(face_engine, variant(portrait, tmp_path, "as-is"))

    assert quality.score >= 90 and words(quality) == []
    assert abs(quality.yaw) < 10 and abs(quality.roll) < 5
    assert quality.inter_eye_distance > 100


@pytest.mark.parametrize(
    ("degrade", "problem", "weak"),
    [
        (lambda im: im.resize((im.width // 8, im.height // 8)), "the face is small", True),
        (lambda im: im.filter(ImageFilter.GaussianBlur(6)), "the face is blurred", True),
        # ArcFace copes with a dark face better than with a small or blurred one: named,
        # but not weak.
        (lambda im: ImageEnhance.Brightness(im).enhance(0.3), "the face is in shadow", False),
    ],
    ids=["downscaled", "blurred", "darkened"],
)
def test_each_degradation_lowers_the_score_and_is_named(
    face_engine: FaceEngine,
    portrait: Image.Image,
    tmp_path: Path,
    degrade: object,
    problem: str,
    weak: bool,
) -> None:
    clear = largest_face_quality(face_engine, variant(portrait, tmp_path, "clear"))
    degraded = largest_face_quality(face_engine, variant(degrade(portrait), tmp_path, "bad"))  # type: ignore[operator]

    assert degraded.score < clear.score - 20
    named = words(degraded)
    assert any(sentence.startswith(problem) for sentence in named), named
    assert is_weak({"quality_score": degraded.score}, DEFAULTS) is weak


def test_roll_follows_a_tilt_and_yaw_turns_sign_when_mirrored(
    face_engine: FaceEngine, portrait: Image.Image, tmp_path: Path
) -> None:
    clear = largest_face_quality(face_engine, variant(portrait, tmp_path, "clear"))
    tilted = largest_face_quality(
        face_engine, variant(portrait.rotate(20, resample=Image.Resampling.BICUBIC), tmp_path, "t")
    )
    mirrored = largest_face_quality(face_engine, variant(ImageOps.mirror(portrait), tmp_path, "m"))

    # PIL turns the photo 20° anticlockwise: the eye line falls to the right by 20°.
    assert tilted.roll - clear.roll == pytest.approx(-20, abs=3)
    assert mirrored.roll == pytest.approx(-clear.roll, abs=3)
    assert abs(mirrored.yaw + clear.yaw) < 10  # the same turn the other way, within noise


def test_a_small_face_says_how_small_by_the_projects_threshold() -> None:
    quality = {"quality_score": 30.0, "inter_eye_distance": 31.2, "sharpness": 200.0}
    quality |= {"exposure": 0.5, "illumination_uniformity": 0.9, "yaw": 41.0, "pitch": -35.0}
    strict = EmbeddingConfig(quality_min_eye_distance=60)

    assert face_problems(quality, strict) == [
        "the face is small: 31 px between the eyes, 60 or more works well",
        "the head is turned about 41° to the side",
        "the head is tilted about 35° down",
    ]
    assert face_problems({"quality_score": None}, strict) == []  # measured before quality
