"""What detection finds: a face's box, confidence, landmarks, embedding and quality."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class BoundingBox:
    x: int
    y: int
    width: int
    height: int

    def as_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}

    @property
    def area(self) -> int:
        return self.width * self.height

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height

    def corners(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.width, self.y + self.height

    def iou(self, other: BoundingBox) -> float:
        """Intersection over union of two boxes."""
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.width, other.x + other.width)
        bottom = min(self.y + self.height, other.y + other.height)
        overlap = max(0, right - left) * max(0, bottom - top)
        union = self.area + other.area - overlap
        return overlap / union if union else 0.0


@dataclass(frozen=True)
class FaceQuality:
    score: float  # 0-100: how well the face is likely to be recognised
    inter_eye_distance: float  # source-image pixels
    face_share: float  # the face box's share of the image
    yaw: float  # degrees, + turned to the image's right
    pitch: float  # degrees, + looking up
    roll: float  # degrees, + the eye line rising to the right
    sharpness: float  # variance of the Laplacian of the face region at 112 px
    exposure: float  # mean brightness of the face region, 0-1
    clipped_share: float  # share of the face region's pixels black or white
    illumination_uniformity: float  # 1: both halves of the face equally lit

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class Face:
    bounding_box: BoundingBox
    confidence: float
    landmarks: list[list[float]]  # 5 points (eyes, nose, mouth corners), source pixels
    embedding: NDArray[np.float32]  # 512-d, L2 norm 1
    quality: FaceQuality | None = None  # measured on a loaded image (``detect_image``)
