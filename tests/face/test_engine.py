"""The face engine on the real buffalo_s models and real photos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from likeness.face.engine import FaceEngine, get_face_engine
from likeness.face.image_loading import load_image
from tests.images import (
    LOW_CONFIDENCE_FACE_IN_PLAYERS,
    YAO_MING_IN_PLAYERS,
    crop_square,
    exif_rotated,
    photo,
)

LIMITS = {"max_pixels": 40_000_000, "max_bytes": 30 * 1024 * 1024}


def detect(engine: FaceEngine, path: Path) -> list:  # type: ignore[type-arg]
    return engine.detect(load_image(path, **LIMITS).pixels)


@pytest.mark.parametrize(
    ("name", "expected_faces"),
    [
        ("t1.jpg", 6),  # group photo
        ("yaoming.jpg", 1),  # portrait
        ("gdp.jpg", 5),
        ("players.jpg", 22),  # team photo, several small faces below 0.7
        ("Tom_Hanks_54745.png", 1),  # 112x112 close-up: found only on the padded pass
    ],
)
def test_every_face_is_found_with_a_normed_embedding_inside_the_image(
    face_engine: FaceEngine, name: str, expected_faces: int
) -> None:
    image = load_image(photo(name), **LIMITS)
    faces = face_engine.detect(image.pixels)

    assert len(faces) == expected_faces
    for face in faces:
        assert face.embedding.shape == (512,)
        assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-3
        assert 0.0 < face.confidence <= 1.0
        box = face.bounding_box
        assert box.x >= 0 and box.y >= 0 and box.width > 0 and box.height > 0
        assert box.x + box.width <= image.width and box.y + box.height <= image.height
        assert len(face.landmarks) == 5
    assert [f.confidence for f in faces] == sorted((f.confidence for f in faces), reverse=True)


def test_same_person_is_far_more_similar_than_different_people(
    face_engine: FaceEngine, tmp_path: Path
) -> None:
    yao = detect(face_engine, photo("yaoming.jpg"))[0].embedding
    yao_in_players = detect(
        face_engine, crop_square(photo("players.jpg"), YAO_MING_IN_PLAYERS, 1.0, tmp_path / "y.png")
    )[0].embedding
    others = [face.embedding for face in detect(face_engine, photo("t1.jpg"))]
    others += [face.embedding for face in detect(face_engine, photo("gdp.jpg"))]

    same_person = float(yao @ yao_in_players)
    different_people = max(float(yao @ other) for other in others)
    assert same_person > 0.45
    assert different_people < 0.25
    assert same_person - different_people > 0.3


def test_team_photo_contains_yao_ming_as_the_most_similar_face(face_engine: FaceEngine) -> None:
    yao = detect(face_engine, photo("yaoming.jpg"))[0].embedding
    players = detect(face_engine, photo("players.jpg"))
    best = max(players, key=lambda face: float(face.embedding @ yao))
    x, y, _, _ = YAO_MING_IN_PLAYERS
    assert abs(best.bounding_box.x - x) <= 3 and abs(best.bounding_box.y - y) <= 3


def test_small_blurred_face_has_low_confidence(face_engine: FaceEngine, tmp_path: Path) -> None:
    crop = crop_square(
        photo("players.jpg"), LOW_CONFIDENCE_FACE_IN_PLAYERS, 1.0, tmp_path / "l.png"
    )
    faces = detect(face_engine, crop)
    assert len(faces) == 1
    assert 0.5 <= faces[0].confidence < 0.7


def test_engine_is_loaded_once_per_process(face_engine: FaceEngine) -> None:
    assert get_face_engine() is face_engine
    assert face_engine.providers[0] == "CPUExecutionProvider"
    assert face_engine.model_id == "buffalo_s"


def test_exif_rotated_portrait_is_detected_upright(face_engine: FaceEngine, tmp_path: Path) -> None:
    from PIL import Image

    upright = Image.open(photo("yaoming.jpg"))
    image = load_image(exif_rotated("yaoming.jpg", tmp_path / "rotated.jpg"), **LIMITS)
    faces = face_engine.detect(image.pixels)

    assert (image.width, image.height) == upright.size
    assert len(faces) == 1
    reference = detect(face_engine, photo("yaoming.jpg"))[0]
    assert float(faces[0].embedding @ reference.embedding) > 0.8


def test_large_jpeg_is_decoded_reduced_with_faces_in_source_pixels(
    face_engine: FaceEngine, tmp_path: Path
) -> None:
    from PIL import Image

    big = tmp_path / "big.jpg"
    with Image.open(photo("yaoming.jpg")) as small:
        small.resize((small.width * 16, small.height * 16), Image.Resampling.LANCZOS).save(
            big, quality=92
        )
    full = load_image(big, **LIMITS)
    reduced = load_image(big, **LIMITS, min_side=1600)

    assert reduced.scale == 2.0
    assert reduced.source_size == (full.width, full.height) == (233 * 16, 287 * 16)
    [face_full] = face_engine.detect_image(full)
    [face_reduced] = face_engine.detect_image(reduced)
    for mine, theirs in zip(
        face_reduced.bounding_box.corners(), face_full.bounding_box.corners(), strict=True
    ):
        assert abs(mine - theirs) <= 0.03 * face_full.bounding_box.width
    assert float(face_reduced.embedding @ face_full.embedding) > 0.9
    assert load_image(photo("t1.jpg"), **LIMITS, min_side=1600).scale == 1.0  # small: untouched


def test_the_openvino_recognizer_gives_onnxruntimes_embeddings_from_any_thread(
    face_engine: FaceEngine,
) -> None:
    """The default CPU engine runs ArcFace on OpenVINO; the same faces and embeddings as
    onnxruntime alone, also while several threads embed at once (as extraction streams and
    a warm worker's runs do)."""
    from concurrent.futures import ThreadPoolExecutor

    from likeness.config import Settings
    from likeness.face.engine import load_engine

    assert face_engine.recognizer_runtime == "openvino"
    reference = load_engine(Settings(recognizer_runtime="onnxruntime"))
    assert reference.recognizer_runtime == "onnxruntime"
    names = ["t1.jpg", "yaoming.jpg", "gdp.jpg", "players.jpg", "Tom_Hanks_54745.png"]
    expected = {name: detect(reference, photo(name)) for name in names}
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda name: detect(face_engine, photo(name)), names * 3))
    for name, faces in zip(names * 3, found, strict=True):
        assert len(faces) == len(expected[name])
        for ours, theirs in zip(faces, expected[name], strict=True):
            assert ours.bounding_box == theirs.bounding_box
            assert float(ours.embedding @ theirs.embedding) > 0.9999


def test_a_process_loads_the_models_without_insightfaces_mask_renderer() -> None:
    """A command's models load without the mask renderer's imports (albumentations,
    matplotlib: 0.65 s on every start), and InsightFace's own FaceAnalysis still imports."""
    script = (
        "import sys\n"
        "from likeness.face.engine import get_face_engine\n"
        "get_face_engine()\n"
        "print(sorted({'albumentations', 'matplotlib'} & sys.modules.keys()))\n"
        "from insightface.app import FaceAnalysis\n"
        "print(FaceAnalysis.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "FaceAnalysis"]
