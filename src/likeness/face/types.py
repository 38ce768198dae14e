"""What detection finds: a face's box, confidence, landmarks and embedding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from likeness.face.quality import FaceQuality


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
class Face:
    bounding_box: BoundingBox
    confidence: float
    landmarks: list[list[float]]  # 5 points (eyes, nose, mouth corners), source pixels
    embedding: NDArray[np.float32]  # 512-d, L2 norm 1
    quality: FaceQuality | None = None  # measured on a loaded image (``detect_image``)
