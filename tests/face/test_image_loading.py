"""Unusable files are refused with a typed, specific error; usable ones decode to BGR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from likeness.face.image_loading import load_image
from likeness.identity.errors import (
    ImageCorrupt,
    ImageEmpty,
    ImageError,
    ImageMissing,
    ImageTooLarge,
    NotAnImage,
)
from tests import images

LIMITS = {"max_pixels": 40_000_000, "max_bytes": 30 * 1024 * 1024}


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda d: d / "missing.jpg", ImageMissing),  # never written
        (lambda d: images.empty_file(d / "empty.jpg"), ImageEmpty),
        (lambda d: images.truncated_jpeg(d / "truncated.jpg"), ImageCorrupt),
        (lambda d: images.random_bytes(d / "random.jpg"), NotAnImage),
        (lambda d: images.text_file(d / "notes.jpg"), NotAnImage),
        (lambda d: images.png_claiming_size(d / "bomb.png", 50_000, 50_000), ImageTooLarge),
        (lambda d: d, ImageMissing),  # a directory is not an image file
    ],
)
def test_unusable_files_raise_a_specific_error(
    tmp_path: Path, make: Callable[[Path], Path], error: type[ImageError]
) -> None:
    with pytest.raises(error) as raised:
        load_image(make(tmp_path), **LIMITS)
    assert raised.value.message
    assert raised.value.code != ImageError.code


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = images.photo("yaoming.jpg")
    with pytest.raises(ImageTooLarge, match="over the limit of 1000"):
        load_image(path, max_pixels=1000, max_bytes=LIMITS["max_bytes"])


def test_byte_limit_is_configurable() -> None:
    with pytest.raises(ImageTooLarge, match="bytes"):
        load_image(images.photo("yaoming.jpg"), max_pixels=LIMITS["max_pixels"], max_bytes=100)


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "I;16", "P"])
def test_every_common_pixel_mode_decodes_to_8_bit_bgr(tmp_path: Path, mode: str) -> None:
    source = Image.open(images.photo("yaoming.jpg"))
    path = tmp_path / ("image.jpg" if mode == "CMYK" else "image.png")

    loaded = load_image(images.photo_in_mode("yaoming.jpg", mode, path), **LIMITS)

    assert loaded.pixels.dtype == np.uint8
    assert loaded.pixels.shape == (source.height, source.width, 3)
    assert loaded.pixels.mean() > 20  # not crushed to black
