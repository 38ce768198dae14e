"""Image-level checks on real photos and what a studio's bad uploads look like."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

from likeness.face.image_checks import Verdict, check_image, hamming
from tests import images


def verdicts(data: bytes) -> dict[str, Verdict]:
    return {check.name: check.result for check in check_image(data).checks}


def encoded(image: Image.Image, kind: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def test_a_good_photo_passes_every_check() -> None:
    report = check_image(images.photo("t1.jpg").read_bytes())
    assert report.result is Verdict.PASS, report.checks


def test_each_kind_of_weak_upload_is_named() -> None:
    with Image.open(images.photo("t1.jpg")) as photo:
        photo = photo.convert("RGB")
    tiny = images.photo("Tom_Hanks_54745.png").read_bytes()  # 112 x 112

    assert verdicts(tiny)["resolution"] is Verdict.FAIL
    assert verdicts(encoded(photo, quality=25))["compression"] is Verdict.WARN
    assert verdicts(encoded(photo.convert("L"), "PNG"))["colour_space"] is Verdict.WARN
    assert verdicts(encoded(photo.filter(ImageFilter.GaussianBlur(6))))["sharpness"] is Verdict.WARN
    assert verdicts(encoded(photo.point(lambda v: v // 6)))["exposure"] is Verdict.WARN
    assert verdicts(encoded(photo.crop((0, 0, 1280, 300))))["aspect"] is Verdict.WARN
    assert verdicts(encoded(photo, "BMP"))["file_type"] is Verdict.WARN
    broken = check_image(images.photo("t1.jpg").read_bytes()[:1000])
    assert broken.result is Verdict.FAIL and broken.perceptual_hash is None


def test_the_perceptual_hash_keeps_a_photo_through_re_encoding_and_tells_photos_apart() -> None:
    with Image.open(images.photo("t1.jpg")) as photo:
        again = encoded(photo.convert("RGB").resize((640, 443)), quality=60)
    first = check_image(images.photo("t1.jpg").read_bytes()).perceptual_hash
    other = check_image(images.photo("players.jpg").read_bytes()).perceptual_hash
    assert first is not None and other is not None

    assert hamming(first, check_image(again).perceptual_hash or 0) <= 6
    assert hamming(first, other) > 16
