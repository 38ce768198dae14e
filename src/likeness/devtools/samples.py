"""Test material made from the sample photos (crops, a blank and a truncated file), the
demo's images, and their import."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from likeness.config import Settings
from likeness.face.model_pack import sample_photos

# Boxes (x, y, width, height) in players.jpg: Yao Ming's face, and a small face SCRFD
# finds with confidence about 0.67 (below the 0.7 default threshold).
YAO_MING_IN_PLAYERS = (721, 142, 44, 50)
LOW_CONFIDENCE_FACE_IN_PLAYERS = (179, 267, 22, 28)


def crop_square(source: Path, box: tuple[int, int, int, int], scale: float, target: Path) -> Path:
    """Write a square crop centred on ``box``, ``scale`` times its longer side each way."""
    image = cv2.imread(str(source))
    if image is None:
        raise FileNotFoundError(f"cannot read {source}")
    x, y, w, h = box
    cx, cy, r = x + w / 2, y + h / 2, max(w, h) * scale
    top, left = int(max(0, cy - r)), int(max(0, cx - r))
    cv2.imwrite(str(target), image[top : int(cy + r), left : int(cx + r)])
    return target


def blank_image(target: Path) -> Path:
    cv2.imwrite(str(target), np.full((480, 640, 3), 255, dtype=np.uint8))
    return target


def truncated_jpeg(target: Path) -> Path:
    data = sample_photos()["yaoming.jpg"].read_bytes()
    target.write_bytes(data[: len(data) // 3])
    return target


def demo_images(folder: Path) -> list[Path]:
    """The sample photos plus generated cases, so the demo shows every status."""
    folder.mkdir(parents=True, exist_ok=True)
    players = sample_photos()["players.jpg"]
    return [
        *sample_photos().values(),
        crop_square(players, YAO_MING_IN_PLAYERS, 1.0, folder / "yao_ming_in_players.png"),
        crop_square(players, LOW_CONFIDENCE_FACE_IN_PLAYERS, 1.0, folder / "small_face.png"),
        blank_image(folder / "blank.png"),
        truncated_jpeg(folder / "corrupt.jpg"),
    ]


def import_demo_once(settings: Settings, project: str) -> int:
    """Import the demo images as characters of ``project`` unless that project exists;
    returns how many were imported."""
    from likeness.db import repository
    from likeness.db.session import transaction
    from likeness.extraction_requests import import_files

    with transaction() as session:
        if any(row.project == project for row in repository.character_overview(session)):
            return 0
    photos = demo_images(settings.home / "demo-inputs")
    import_files(photos, project=project)
    return len(photos)
