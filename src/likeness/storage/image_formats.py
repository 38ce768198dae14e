"""The image formats the face engine reads, known two ways: by their leading bytes (an
upload: the bytes decide the type, not the name) and by their file names (a folder that
`likeness import` reads)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SIGNATURES: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
]
WEBP = ".webp"  # RIFF, then a size, then WEBP: no fixed prefix
IMAGE_SUFFIXES = {suffix for _, suffix in SIGNATURES} | {WEBP, ".jpeg", ".tiff"}


def sniff_suffix(head: bytes) -> str | None:
    """The file suffix of the format these leading bytes start (None: not one of them)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return next((suffix for magic, suffix in SIGNATURES if head.startswith(magic)), None)


def expand_image_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories contribute their image files, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return found
