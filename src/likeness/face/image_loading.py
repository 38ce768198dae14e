"""Decode an image file into the BGR pixels the models take, refusing unusable files."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from likeness.config import Settings
from likeness.identity.errors import (
    ImageCorrupt,
    ImageEmpty,
    ImageMissing,
    ImageTooLarge,
    NotAnImage,
)
from likeness.storage import get_store

# Our own pixel limit replaces Pillow's global one (checked before decoding).
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class LoadedImage:
    path: str
    pixels: NDArray[np.uint8]  # H x W x 3, BGR (InsightFace's convention)
    scale: float = 1.0  # source-image pixels per decoded pixel (JPEGs decoded reduced)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def source_size(self) -> tuple[int, int]:
        return round(self.width * self.scale), round(self.height * self.scale)


def load_image(
    path: str | Path, *, max_pixels: int, max_bytes: int, min_side: int = 0
) -> LoadedImage:
    """Read the file at ``path`` with :func:`decode_image`, naming it by ``path``."""
    file = Path(path)
    if not file.is_file():
        raise ImageMissing(f"image not found: {file}")
    with file.open("rb") as stream:
        return decode_image(
            stream, str(file), max_pixels=max_pixels, max_bytes=max_bytes, min_side=min_side
        )


def decode_image(
    stream: BinaryIO, name: str, *, max_pixels: int, max_bytes: int, min_side: int = 0
) -> LoadedImage:
    """Decode the open file ``stream`` upright (EXIF orientation applied) as 8-bit BGR;
    ``name`` is how errors and logs refer to it.

    A JPEG whose longer side is at least twice ``min_side`` is decoded at 1/2, 1/4 or 1/8
    size by the JPEG decoder itself, its longer side staying at least ``min_side`` (0:
    always full size): detection needs no more, and decoding is several times faster.

    Raises an :class:`~likeness.identity.errors.ImageError` subclass for an empty, non-image,
    corrupt or oversized file.
    """
    size = stream.seek(0, os.SEEK_END)  # a file or bytes read from a bucket alike
    stream.seek(0)
    if size == 0:
        raise ImageEmpty(f"image file is empty (0 bytes): {name}")
    if size > max_bytes:
        raise ImageTooLarge(f"image file is {size} bytes, over the limit of {max_bytes}: {name}")
    try:
        with Image.open(stream) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"image is {width}x{height} = {width * height} pixels, "
                    f"over the limit of {max_pixels}: {name}"
                )
            if image.format == "JPEG" and min_side and max(width, height) >= 2 * min_side:
                ratio = min_side / max(width, height)
                image.draft("RGB", (math.ceil(width * ratio), math.ceil(height * ratio)))
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
            scale = width / image.size[0]
            ImageOps.exif_transpose(image, in_place=True)  # no copy of an upright image
            rgb = _to_rgb8(image)
    except UnidentifiedImageError as error:
        raise NotAnImage(f"not a recognised image format: {name}") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageCorrupt(f"image data is corrupt or truncated ({error}): {name}") from error
    bgr = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), dtype=np.uint8)
    return LoadedImage(path=name, pixels=bgr, scale=scale)


def _to_rgb8(image: Image.Image) -> NDArray[np.uint8]:
    """Any mode (grayscale, 16-bit, CMYK, palette, alpha) to 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Scale 16/32-bit samples to 8 bits instead of letting Pillow clip them.
        samples = np.asarray(image, dtype=np.float64)
        peak = samples.max() if samples.size and samples.max() > 255 else 255.0
        gray = np.clip(samples * (255.0 / peak), 0, 255).astype(np.uint8)
        return np.stack([gray, gray, gray], axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, as a person viewing the image would see them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":  # converting an RGB image would copy it for nothing
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def load_configured(path: str | Path, settings: Settings) -> LoadedImage:
    """:func:`load_image` with the limits and decode size of ``settings``."""
    return load_image(path, **limits(settings))


def limits(settings: Settings) -> dict[str, int]:
    return {
        "max_pixels": settings.max_image_pixels,
        "max_bytes": settings.max_image_bytes,
        "min_side": settings.decode_min_side,
    }


def load_source_image(key: str, settings: Settings) -> LoadedImage:
    """A character's source image, read once from the store (a file is opened only if it
    really is inside the storage folder; its size is checked before its bytes are read),
    named by its key in errors and logs."""
    store = get_store(settings)
    with store.open(key, settings.max_image_bytes) as stream:
        return decode_image(stream, store.label(key), **limits(settings))
