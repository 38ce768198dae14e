"""Import InsightFace without its mask renderer.

``import insightface`` (and so any of its submodules) imports ``insightface.app``, whose
mask renderer pulls in albumentations, matplotlib and a 3D face toolkit: 0.65 of its 0.94 s,
under the interpreter lock that a command starting its flow, models and data checks side
by side shares. likeness never renders masks, so that one module is stood in for by an
empty one; ``FaceAnalysis`` and every model class import as before.
"""

from __future__ import annotations

import sys
from types import ModuleType

MASK_RENDERER = "insightface.app.mask_renderer"


def without_mask_renderer() -> None:
    """Call before the process first imports InsightFace; afterwards it changes nothing."""
    if "insightface" not in sys.modules:
        sys.modules.setdefault(MASK_RENDERER, ModuleType(MASK_RENDERER, "not imported"))
