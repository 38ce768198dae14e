"""InsightFace's own ``FaceAnalysis``, warm: the baseline the backfill is measured against.

Run as a module it is a user's whole loop script, from the shell to exit (``likeness bench
--only startup`` times it so): ``python -m likeness.devtools.face_analysis_loop IMAGE…``.
"""

from __future__ import annotations

import contextlib
import io
import sys

import cv2
from insightface.app import FaceAnalysis
from insightface.model_zoo.scrfd import SCRFD

from likeness.config import Settings, get_settings
from likeness.face.engine import choose_providers
from likeness.face.model_pack import resolve_model_pack


def face_analysis(settings: Settings) -> FaceAnalysis:
    """Detection and recognition of the configured pack, prepared, quietly."""
    resolve_model_pack(settings.model_pack, settings.resolved_model_root)
    with contextlib.redirect_stdout(io.StringIO()):
        app = FaceAnalysis(
            name=settings.model_pack,
            root=str(settings.resolved_model_root),
            allowed_modules=["detection", "recognition"],
            providers=choose_providers(settings.providers),
        )
        # The bundled detector has a batch axis that FaceAnalysis' RetinaFace class cannot
        # read; InsightFace's SCRFD class (same model family) can.
        app.det_model = app.models["detection"] = SCRFD(
            model_file=app.det_model.model_file, session=app.det_model.session
        )
        app.prepare(ctx_id=0, det_size=(settings.detection_size, settings.detection_size))
    return app


if __name__ == "__main__":
    analysis = face_analysis(get_settings())
    for path in sys.argv[1:]:
        analysis.get(cv2.imread(path))
