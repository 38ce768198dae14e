"""The bad-input corpus through the extraction flow: every file ends in a terminal status
with a face or a specific reason, and nothing else in the database changes."""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from likeness.config import get_settings
from likeness.db import repository
from likeness.db.models import Character
from likeness.db.session import transaction
from likeness.flows.extract import extract_character_embedding
from likeness.identity.status import Status
from tests import images
from tests.factories import faces_of, load_character, new_character, requested, stored

pytestmark = pytest.mark.usefixtures("prefect_server", "face_engine")

MakeImage = Callable[[Path], Path]

# Files that still show the face: each must be found, upright, as the original photo's.
READABLE: dict[str, MakeImage] = {
    "grayscale PNG": lambda d: images.photo_in_mode("yaoming.jpg", "L", d / "gray.png"),
    "CMYK JPEG": lambda d: images.photo_in_mode("yaoming.jpg", "CMYK", d / "cmyk.jpg"),
    "16-bit PNG": lambda d: images.photo_in_mode("yaoming.jpg", "I;16", d / "deep.png"),
    "PNG with alpha": lambda d: images.photo_in_mode("yaoming.jpg", "RGBA", d / "alpha.png"),
    "WebP": lambda d: images.photo_in_mode("yaoming.jpg", "RGB", d / "photo.webp"),
    "animated GIF": lambda d: images.animated_gif("yaoming.jpg", d / "animated.gif"),
    "EXIF-rotated portrait": lambda d: images.exif_rotated("yaoming.jpg", d / "rotated.jpg"),
}


def outside_symlink(storage: Path) -> Path:
    """A symlink inside the storage root to a photo outside it."""
    link = storage / "link.jpg"
    link.unlink(missing_ok=True)
    link.symlink_to(images.photo("yaoming.jpg"))
    return link


def dot_dot_path(storage: Path) -> Path:
    """A path that starts in the storage root and climbs out of it with ``..``."""
    outside = storage.parent.parent / "outside.jpg"
    outside.write_bytes(images.photo("yaoming.jpg").read_bytes())
    return storage / ".." / ".." / "outside.jpg"


# Files that cannot be used: the reason each must be reported with. The first ones are
# generated in a scratch folder and stored; the last ones are paths made in the storage root.
UNUSABLE: dict[str, tuple[MakeImage, str]] = {
    "zero bytes": (lambda d: images.empty_file(d / "empty.jpg"), "image file is empty"),
    "truncated JPEG": (lambda d: images.truncated_jpeg(d / "cut.jpg"), "corrupt or truncated"),
    "random bytes": (lambda d: images.random_bytes(d / "random.jpg"), "not a recognised image"),
    "text as .jpg": (lambda d: images.text_file(d / "notes.jpg"), "not a recognised image"),
    "PDF as .jpg": (lambda d: images.pdf_file(d / "scan.jpg"), "not a recognised image"),
    "50,000 x 50,000 PNG header": (
        lambda d: images.png_claiming_size(d / "bomb.png", 50_000, 50_000),
        "over the limit of 40000000",
    ),
    "missing file": (lambda d: d / "missing.jpg", "image not found"),
}
OUTSIDE_STORAGE: dict[str, MakeImage] = {"symlink out": outside_symlink, "..": dot_dot_path}


def snapshot(character_id: int) -> tuple[object, ...]:
    """Everything about a character an extraction may change."""
    with transaction() as session:
        row = repository.get_character(session, character_id=character_id)
        faces = repository.faces_of_character(session, character_id=character_id)
        return (
            row.embedding_status_id,
            row.source_image_path,
            None if row.face_embedding is None else np.asarray(row.face_embedding).tolist(),
            row.face_detection_confidence,
            row.face_bounding_box,
            row.embedding_extracted_at,
            row.embedding_error,
            [(f.id, f.is_primary, f.confidence) for f in faces],
        )


@pytest.fixture
def bystander() -> int:
    """A completed character no extraction of another may touch."""
    character_id = new_character(images.photo("t1.jpg"), name="bystander")
    extract_character_embedding(character_id)
    return character_id


@pytest.fixture(scope="module")
def upright_face() -> Character:
    character_id = new_character(images.photo("yaoming.jpg"), name="reference")
    extract_character_embedding(character_id)
    return load_character(character_id)


@pytest.mark.parametrize("make", READABLE.values(), ids=READABLE.keys())
def test_readable_variants_give_the_upright_face(
    make: MakeImage, tmp_path: Path, bystander: int, upright_face: Character
) -> None:
    before = snapshot(bystander)
    character_id = new_character(make(tmp_path))

    assert extract_character_embedding(character_id) == "completed"

    character = load_character(character_id)
    assert character.status is Status.COMPLETED
    assert len(faces_of(character_id)) == 1
    similarity = float(
        np.asarray(character.face_embedding) @ np.asarray(upright_face.face_embedding)
    )
    assert similarity > 0.8
    box, upright_box = character.face_bounding_box or {}, upright_face.face_bounding_box or {}
    assert all(abs(box[side] - upright_box[side]) <= 8 for side in ("x", "y", "width", "height"))
    assert snapshot(bystander) == before


def assert_failed_leaving_all_else(
    character_id: int, reason: str, earlier: tuple[object, ...]
) -> None:
    after = load_character(character_id)
    assert after.status is Status.FAILED
    assert reason in (after.embedding_error or "")
    # The embedding and faces of the earlier image are kept; only status and reason change.
    assert snapshot(character_id)[2:6] == earlier[2:6]
    assert snapshot(character_id)[7] == earlier[7]


@pytest.mark.parametrize(("make", "reason"), UNUSABLE.values(), ids=UNUSABLE.keys())
def test_unusable_files_fail_with_their_reason_and_change_nothing_else(
    make: MakeImage, reason: str, tmp_path: Path, bystander: int
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    earlier, bystander_before = snapshot(character_id), snapshot(bystander)
    with transaction() as session:
        repository.get_character(session, character_id=character_id).source_image_path = str(
            stored(make(tmp_path))
        )
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    assert extract_character_embedding(requested(character_id)) == "failed"

    assert_failed_leaving_all_else(character_id, reason, earlier)
    assert snapshot(bystander) == bystander_before
    # No file is decoded beyond the limits: the peak memory of this process stays put
    # (a 50,000 x 50,000 RGB decode would need 7.5 GB). ru_maxrss is in KiB on Linux.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200 * 1024


@pytest.mark.parametrize("make", OUTSIDE_STORAGE.values(), ids=OUTSIDE_STORAGE.keys())
def test_paths_leading_outside_the_storage_root_are_refused(
    make: MakeImage, bystander: int
) -> None:
    character_id = new_character(images.photo("yaoming.jpg"))
    extract_character_embedding(character_id)
    earlier, bystander_before = snapshot(character_id), snapshot(bystander)
    storage = get_settings().resolved_storage_root / "test"
    with transaction() as session:
        repository.get_character(session, character_id=character_id).source_image_path = str(
            make(storage)
        )

    assert extract_character_embedding(requested(character_id)) == "failed"

    assert_failed_leaving_all_else(character_id, "outside the storage root", earlier)
    assert snapshot(bystander) == bystander_before
