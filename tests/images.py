"""Test images: the real sample photos, crops of them, and generated broken files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from likeness.samples import (
    LOW_CONFIDENCE_FACE_IN_PLAYERS,
    YAO_MING_IN_PLAYERS,
    blank_image,
    crop_square,
    sample_photos,
    truncated_jpeg,
)

__all__ = [
    "LOW_CONFIDENCE_FACE_IN_PLAYERS",
    "YAO_MING_IN_PLAYERS",
    "blank_image",
    "crop_square",
    "truncated_jpeg",
]


def photo(name: str) -> Path:
    return sample_photos()[name]


def noise_image(target: Path) -> Path:
    rng = np.random.default_rng(7)
    cv2.imwrite(str(target), rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    return target


def random_bytes(target: Path) -> Path:
    target.write_bytes(np.random.default_rng(11).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return target


def text_file(target: Path) -> Path:
    target.write_text("this is not an image\n")
    return target


def empty_file(target: Path) -> Path:
    target.write_bytes(b"")
    return target


def png_claiming_size(target: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    target.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return target
