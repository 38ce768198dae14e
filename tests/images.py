"""Test images: the real sample photos, crops of them, and generated broken files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from likeness.devtools.samples import (
    LOW_CONFIDENCE_FACE_IN_PLAYERS,
    YAO_MING_IN_PLAYERS,
    blank_image,
    crop_square,
    truncated_jpeg,
)
from likeness.face.model_pack import sample_photos

__all__ = [
    "LOW_CONFIDENCE_FACE_IN_PLAYERS",
    "YAO_MING_IN_PLAYERS",
    "blank_image",
    "crop_square",
    "truncated_jpeg",
]


def photo(name: str) -> Path:
    return sample_photos()[name]


def large_group_png(directory: Path) -> Path:
    """The six-face group photo as a 4,000-pixel PNG: decoding it takes long enough to
    kill a worker in the middle of its run."""
    picture = cv2.imread(str(photo("t1.jpg")))
    scale = 4000 / max(picture.shape[:2])
    target = directory / "t1-large.png"
    cv2.imwrite(str(target), cv2.resize(picture, None, fx=scale, fy=scale))
    return target


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


def pdf_file(target: Path) -> Path:
    """A (minimal, valid) PDF document, whatever ``target``'s extension claims."""
    target.write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return target


def photo_in_mode(name: str, mode: str, target: Path) -> Path:
    """A sample photo saved as ``target``'s format in a Pillow mode; ``I;16`` is 16-bit
    grayscale using the full 16-bit range."""
    from PIL import Image

    with Image.open(photo(name)) as source:
        rgb = source.convert("RGB")
    if mode == "I;16":
        converted = rgb.convert("I").point(lambda v: v * 256).convert("I;16")
    elif mode == "RGBA":
        converted = rgb.convert("RGBA")
        converted.putalpha(Image.new("L", rgb.size, 200))
    else:
        converted = rgb.convert(mode)
    converted.save(target)
    return target


def animated_gif(name: str, target: Path) -> Path:
    """Three frames: the sample photo first, then two plain frames."""
    from PIL import Image

    with Image.open(photo(name)) as source:
        first = source.convert("RGB")
    plain = [Image.new("RGB", first.size, colour) for colour in ((40, 40, 40), (200, 200, 200))]
    first.save(target, save_all=True, append_images=plain, duration=200, loop=0)
    return target


def exif_rotated(name: str, target: Path) -> Path:
    """Pixels stored rotated, with EXIF orientation 6 telling viewers to rotate them back."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(photo(name)) as upright:
        upright.transpose(Image.Transpose.ROTATE_90).save(target, exif=exif)
    return target
