"""SCRFD detection + ArcFace embedding, loaded once per process and reused."""

from __future__ import annotations

import contextlib
import glob
import io
import logging
import threading
import warnings
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from likeness.config import Settings, get_settings
from likeness.face.image_loading import LoadedImage
from likeness.face.insightface_import import without_mask_renderer
from likeness.face.model_pack import ModelPackError, resolve_model_pack
from likeness.face.quality import measure
from likeness.identity.faces import BoundingBox, Face

log = logging.getLogger(__name__)

# A face filling the whole frame (a tight crop) is missed by SCRFD; a second pass on the
# image padded by this fraction of its longer side on every edge finds it.
CLOSE_UP_PADDING = 0.5


def choose_providers(requested: list[str] | None) -> list[str]:
    """CUDA when onnxruntime offers it, else CPU, unless providers were configured."""
    import onnxruntime

    if requested:
        return requested
    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class FaceEngine:
    """The detector and recognizer of one model pack, with batched recognition."""

    def __init__(
        self,
        pack_dir: Path,
        *,
        model_id: str,
        providers: list[str],
        detection_size: int,
        min_detection_score: float,
        intra_op_threads: int = 0,
        streams: int = 1,
        recognizer_runtime: str = "onnxruntime",
    ) -> None:
        import onnxruntime

        without_mask_renderer()
        from insightface.model_zoo.model_zoo import ModelRouter
        from insightface.model_zoo.scrfd import SCRFD

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        onnxruntime.set_default_logger_severity(3)
        models: dict[str, Any] = {}
        # InsightFace's own router, as FaceAnalysis uses it, plus our session options.
        # It prints to stdout, which belongs to our JSON output: keep it in the log instead.
        with contextlib.redirect_stdout(io.StringIO()) as chatter:
            for onnx_file in sorted(glob.glob(str(pack_dir / "*.onnx"))):
                try:
                    router = ModelRouter(onnx_file)
                    model = router.get_model(providers=providers, sess_options=options)
                except Exception as error:  # onnxruntime and protobuf raise their own kinds
                    raise ModelPackError(f"could not load model {onnx_file}: {error}") from error
                if model is not None and model.taskname in ("detection", "recognition"):
                    models.setdefault(model.taskname, model)
        log.debug("insightface: %s", chatter.getvalue().strip())
        missing = {"detection", "recognition"} - models.keys()
        if missing:
            raise ModelPackError(f"model pack in {pack_dir} has no {' or '.join(missing)} model")
        # InsightFace routes SCRFD files to its RetinaFace class, which cannot read detectors
        # exported with a batch axis (as the bundled det_500m is); its SCRFD class reads both.
        self.detector = SCRFD(
            model_file=models["detection"].model_file, session=models["detection"].session
        )
        self.recognizer = models["recognition"]
        self.detector.prepare(
            0, input_size=(detection_size, detection_size), det_thresh=min_detection_score
        )
        self.recognizer.prepare(0)
        self.model_id = model_id
        self.providers: list[str] = self.detector.session.get_providers()
        self.recognizer_runtime = "onnxruntime"
        if recognizer_runtime == "openvino" and self.providers[0] == "CPUExecutionProvider":
            self.recognizer.session = _openvino_session(
                self.recognizer.model_file, streams, intra_op_threads
            )
            self.recognizer_runtime = "openvino"
        log.info(
            "face engine %s loaded from %s on %s, recognizer on %s",
            model_id,
            pack_dir,
            self.providers[0],
            self.recognizer_runtime,
        )

    def detect(self, image: NDArray[np.uint8]) -> list[Face]:
        """Every face in a BGR image, highest confidence first, embedded in one batch."""
        height, width = image.shape[:2]
        searched: NDArray[Any] = image
        offset = 0
        boxes, keypoints = self.detector.detect(searched, max_num=0)
        if len(boxes) == 0:
            offset = int(max(height, width) * CLOSE_UP_PADDING)
            searched = cv2.copyMakeBorder(
                image, offset, offset, offset, offset, cv2.BORDER_CONSTANT, value=(0, 0, 0)
            )
            boxes, keypoints = self.detector.detect(searched, max_num=0)
        if len(boxes) == 0:
            return []
        embeddings = self.embed(searched, keypoints)
        faces = [
            Face(
                bounding_box=_clip_box(box[:4] - offset, width, height),
                confidence=float(box[4]),
                landmarks=(points - offset).round(2).tolist(),
                embedding=embedding,
            )
            for box, points, embedding in zip(boxes, keypoints, embeddings, strict=True)
        ]
        return sorted(faces, key=lambda face: face.confidence, reverse=True)

    def detect_image(self, image: LoadedImage) -> list[Face]:
        """:meth:`detect` on a loaded image, boxes and landmarks in source-image pixels, each
        face with its quality components (measured on the decoded pixels)."""
        faces = [
            replace(
                face,
                quality=measure(
                    image.pixels,
                    face.bounding_box.as_tuple(),
                    np.asarray(face.landmarks, dtype=np.float32),
                    image.scale,
                ),
            )
            for face in self.detect(image.pixels)
        ]
        if image.scale == 1.0:
            return faces
        width, height = image.source_size
        return [
            replace(
                face,
                bounding_box=_clip_box(
                    np.asarray(face.bounding_box.corners(), dtype=np.float32) * image.scale,
                    width,
                    height,
                ),
                landmarks=[[round(v * image.scale, 2) for v in point] for point in face.landmarks],
            )
            for face in faces
        ]

    def embed(self, image: NDArray[Any], keypoints: NDArray[np.float32]) -> NDArray[np.float32]:
        """Aligned 112x112 crops of every face through the recognizer in one call, L2-normed."""
        from insightface.utils import face_align

        size = self.recognizer.input_size[0]
        with warnings.catch_warnings():
            # insightface calls a scikit-image API that warns of its deprecation.
            warnings.simplefilter("ignore", FutureWarning)
            crops = [
                face_align.norm_crop(image, landmark=points, image_size=size)
                for points in keypoints
            ]
        features = np.asarray(self.recognizer.get_feat(crops), dtype=np.float32)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        normed: NDArray[np.float32] = features / np.maximum(norms, 1e-12)
        return normed


def _openvino_session(model_file: str, streams: int, threads: int) -> Any:
    from likeness.face.openvino_session import OpenVinoSession

    try:
        return OpenVinoSession(model_file, streams=streams, threads_per_stream=threads)
    except Exception as error:  # OpenVINO raises its own kinds
        raise ModelPackError(f"OpenVINO could not load {model_file}: {error}") from error


def _clip_box(corners: NDArray[np.float32], width: int, height: int) -> BoundingBox:
    x1, y1, x2, y2 = (float(value) for value in corners)
    left, top = max(0, round(x1)), max(0, round(y1))
    right, bottom = min(width, round(x2)), min(height, round(y2))
    return BoundingBox(x=left, y=top, width=max(1, right - left), height=max(1, bottom - top))


def load_engine(settings: Settings) -> FaceEngine:
    pack_dir = resolve_model_pack(settings.model_pack, settings.resolved_model_root)
    return FaceEngine(
        pack_dir,
        model_id=settings.model_pack,
        providers=choose_providers(settings.providers),
        detection_size=settings.detection_size,
        min_detection_score=settings.min_detection_score,
        intra_op_threads=settings.intra_op_threads,
        streams=settings.resolved_extraction_streams,
        recognizer_runtime=settings.recognizer_runtime,
    )


@lru_cache(maxsize=2)
def _cached_engine(settings_json: str) -> FaceEngine:
    return load_engine(Settings.model_validate_json(settings_json))


_loading = threading.Lock()


def get_face_engine(settings: Settings | None = None) -> FaceEngine:
    """The process-wide engine for these settings: models load once and are reused (a
    thread that asks while another loads them waits for those)."""
    with _loading:
        return _cached_engine((settings or get_settings()).model_dump_json())
