"""One list of image formats: what an upload's bytes are recognised as is what a folder
import picks up by name."""

from __future__ import annotations

from likeness.storage.image_formats import IMAGE_SUFFIXES, SIGNATURES, sniff_suffix


def test_every_recognised_upload_has_a_suffix_that_an_import_picks_up() -> None:
    heads = [magic + b"\0" * 16 for magic, _ in SIGNATURES] + [b"RIFF\0\0\0\0WEBPVP8 "]

    sniffed = {sniff_suffix(head) for head in heads}

    assert None not in sniffed and sniffed <= IMAGE_SUFFIXES
    assert sniffed == {".jpg", ".png", ".gif", ".bmp", ".tif", ".webp"}
    assert sniff_suffix(b"%PDF-1.7 not an image") is None
