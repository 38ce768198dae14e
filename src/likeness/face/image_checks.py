"""Image-level checks of a source image, before any face is looked at: is the file a good
photo to take a likeness from? Each check says pass, warn or fail with its reason.

They read the file's header (format, mode, colour profile, JPEG quantisation tables) and a
small greyscale copy of the upright image (sharpness, exposure, a perceptual hash); the
duplicate check compares that hash with other characters' source images (done by the
caller, who has the database)."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from likeness.face.quality import clipped_share, laplacian_variance

ANALYSIS_SIDE = 1024  # the longer side of the copy sharpness and exposure are measured on
# Pixels below which a source image is too small, and below which it is small.
MIN_SIDE_FAIL, MIN_SIDE_WARN = 160, 720
MIN_FILE_BYTES = 30_000  # a photo smaller than this is likely compressed to mush
MAX_ASPECT = 3.0
MIN_SHARPNESS = 20.0  # variance of the Laplacian of the whole image at 1024 px
MIN_BRIGHTNESS, MAX_BRIGHTNESS, MAX_CLIPPED = 0.15, 0.85, 0.25
MIN_JPEG_QUALITY = 60
# Perceptual hashes that differ in at most this many of 64 bits show the same photo.
SAME_PHOTO_BITS = 6
GOOD_FORMATS = {"JPEG", "PNG", "WEBP"}


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    result: Verdict
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class ImageReport:
    checks: list[Check]
    perceptual_hash: int | None  # None: the image could not be decoded

    @property
    def result(self) -> Verdict:
        return worst(self.checks)


def worst(checks: list[Check]) -> Verdict:
    """The worst result among the checks: an image is as good as its weakest point."""
    results = {check.result for check in checks}
    return next((v for v in (Verdict.FAIL, Verdict.WARN) if v in results), Verdict.PASS)


def check_image(data: bytes) -> ImageReport:
    """Every check of one image file's bytes except the duplicate check."""
    checks = [_file_size(len(data))]
    try:
        with Image.open(io.BytesIO(data)) as image:
            checks += [_file_type(image), _colour_space(image), _compression(image)]
            image.draft("L", (ANALYSIS_SIDE, ANALYSIS_SIDE))
            upright = ImageOps.exif_transpose(image)
            width, height = upright.size
            scale = max(1.0, max(image.size) / max(width, height))
            grey = np.asarray(upright.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return ImageReport(
            [*checks, Check("decode", Verdict.FAIL, f"cannot be read: {error}")], None
        )
    original = (round(width * scale), round(height * scale))
    checks += [_resolution(*original), _aspect(*original)]
    small = _shrunk(grey)
    checks += [_sharpness(small), _exposure(small)]
    return ImageReport(checks, perceptual_hash(small))


def duplicate_check(matches: list[tuple[int, str]]) -> Check:
    """``matches``: other characters (id, name) whose source image has the same hash."""
    if not matches:
        return Check("duplicate", Verdict.PASS, "no other character has this photo")
    named = ", ".join(f"{name} (#{character_id})" for character_id, name in matches[:3])
    return Check("duplicate", Verdict.WARN, f"the same photo is the source image of {named}")


def perceptual_hash(grey: NDArray[np.uint8]) -> int:
    """64-bit difference hash: each bit says whether a pixel of a 9x8 copy is brighter
    than its right neighbour; re-encoding, resizing and mild edits keep it."""
    tiny = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (tiny[:, 1:] > tiny[:, :-1]).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value - (1 << 63)  # as a signed 64-bit integer, PostgreSQL's BIGINT


def hamming(first: int, second: int) -> int:
    return bin((first ^ second) & ((1 << 64) - 1)).count("1")


def _shrunk(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    height, width = grey.shape
    factor = ANALYSIS_SIDE / max(height, width)
    if factor >= 1:
        return grey
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _file_size(size: int) -> Check:
    if size < MIN_FILE_BYTES:
        return Check(
            "file_size", Verdict.WARN, f"{size} bytes: a photo this small is heavily compressed"
        )
    return Check("file_size", Verdict.PASS, f"{size} bytes")


def _file_type(image: Image.Image) -> Check:
    if image.format in GOOD_FORMATS:
        return Check("file_type", Verdict.PASS, str(image.format))
    return Check(
        "file_type",
        Verdict.WARN,
        f"{image.format}: JPEG, PNG or WebP keep a photo best for this purpose",
    )


def _colour_space(image: Image.Image) -> Check:
    if image.mode in ("L", "LA", "1", "I;16", "I"):
        return Check("colour_space", Verdict.WARN, "a greyscale image: colour helps recognition")
    if image.mode == "CMYK":
        return Check("colour_space", Verdict.WARN, "CMYK (print) colours: an RGB photo is better")
    profile = image.info.get("icc_profile")
    if profile and b"sRGB" not in profile:
        return Check("colour_space", Verdict.WARN, "a colour profile other than sRGB")
    return Check("colour_space", Verdict.PASS, f"{image.mode}")


def _compression(image: Image.Image) -> Check:
    tables = getattr(image, "quantization", None) if image.format == "JPEG" else None
    if not tables:
        return Check("compression", Verdict.PASS, "not a JPEG" if image.format != "JPEG" else "")
    quality = _jpeg_quality(np.asarray(tables[0], dtype=np.float64))
    if quality < MIN_JPEG_QUALITY:
        return Check(
            "compression", Verdict.WARN, f"heavy JPEG compression (quality about {quality})"
        )
    return Check("compression", Verdict.PASS, f"JPEG quality about {quality}")


def _jpeg_quality(luminance: NDArray[np.float64]) -> int:
    """The libjpeg quality setting whose scaled standard table is nearest this one."""
    # libjpeg's standard luminance table (quality 50).
    standard = np.array(
        [
            [16, 11, 10, 16, 24, 40, 51, 61],
            [12, 12, 14, 19, 26, 58, 60, 55],
            [14, 13, 16, 24, 40, 57, 69, 56],
            [14, 17, 22, 29, 51, 87, 80, 62],
            [18, 22, 37, 56, 68, 109, 103, 77],
            [24, 35, 55, 64, 81, 104, 113, 92],
            [49, 64, 78, 87, 103, 121, 120, 101],
            [72, 92, 95, 98, 112, 100, 103, 99],
        ],
        dtype=np.float64,
    )
    ratio = float(np.mean(luminance)) / float(np.mean(standard)) * 100.0
    return max(1, min(100, round(100 - ratio / 2 if ratio <= 100 else 5000 / ratio)))


def _resolution(width: int, height: int) -> Check:
    short = min(width, height)
    size = f"{width}x{height}"
    if short < MIN_SIDE_FAIL:
        return Check("resolution", Verdict.FAIL, f"{size}: {MIN_SIDE_FAIL} px or more needed")
    if short < MIN_SIDE_WARN:
        return Check("resolution", Verdict.WARN, f"{size}: {MIN_SIDE_WARN} px or more works well")
    return Check("resolution", Verdict.PASS, size)


def _aspect(width: int, height: int) -> Check:
    ratio = max(width, height) / max(1, min(width, height))
    if ratio > MAX_ASPECT:
        return Check("aspect", Verdict.WARN, f"{ratio:.1f}:1 is an unusual frame for a portrait")
    return Check("aspect", Verdict.PASS, f"{ratio:.2f}:1")


def _sharpness(grey: NDArray[np.uint8]) -> Check:
    variance = laplacian_variance(grey)
    if variance < MIN_SHARPNESS:
        return Check("sharpness", Verdict.WARN, f"the image is blurred (sharpness {variance:.0f})")
    return Check("sharpness", Verdict.PASS, f"sharpness {variance:.0f}")


def _exposure(grey: NDArray[np.uint8]) -> Check:
    brightness = float(grey.mean()) / 255.0
    clipped = clipped_share(grey)
    if brightness < MIN_BRIGHTNESS:
        return Check("exposure", Verdict.WARN, f"under-exposed (brightness {brightness:.2f})")
    if brightness > MAX_BRIGHTNESS:
        return Check("exposure", Verdict.WARN, f"over-exposed (brightness {brightness:.2f})")
    if clipped > MAX_CLIPPED:
        return Check("exposure", Verdict.WARN, f"{clipped:.0%} of the pixels are black or white")
    return Check("exposure", Verdict.PASS, f"brightness {brightness:.2f}")
