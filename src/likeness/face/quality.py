"""Why a face may be recognised poorly, measured on the pixels the engine already has, in
the manner of ISO/IEC 29794-5 (OFIQ): size, head pose, sharpness, exposure, illumination,
and one unified score from 0 to 100.

Head pose comes from SCRFD's five landmarks (eye centres, nose tip, mouth corners) and a
generic 3D face: roll is the eye line's angle; yaw and pitch are the turns of the generic
face that put its nose where the landmarks put it. No extra model runs, so the components
cost well under a millisecond a face. (A five-point ``solvePnP`` fit was tried first: it
moved pitch by 18° when a photo was only tilted. See docs/benchmarks.md for how far off the
angles are on photos of known pose.)
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np
from numpy.typing import NDArray

from likeness.identity.faces import FaceQuality

# A generic face in millimetres, from the nose tip: the eyes 32 to each side, 33 up and 24
# back; the mouth 30 down and 22 back.
EYE_HALF, NOSE_DEPTH = 32.0, 24.0
EYES_Y, EYES_Z = 33.0, 24.0
EYES_TO_MOUTH, DEPTH_GAP = 63.0, 2.0
CROP = 112  # the face region is compared at the recognizer's input size
DARK, BRIGHT = 8, 247  # grey levels counted as clipped


def measure(
    pixels: NDArray[np.uint8],
    box: tuple[int, int, int, int],
    landmarks: NDArray[np.float32],
    scale: float = 1.0,
) -> FaceQuality:
    """The face's components and score. ``box`` (x, y, width, height) and ``landmarks`` in
    ``pixels``' coordinates; ``scale``: source pixels per decoded pixel."""
    height, width = pixels.shape[:2]
    left_eye, right_eye = landmarks[0], landmarks[1]
    eyes = float(np.linalg.norm(right_eye - left_eye))
    roll = math.degrees(math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    yaw, pitch = _yaw_and_pitch(landmarks, roll)
    region = _region(pixels, box)
    grey = np.asarray(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    exposure = float(grey.mean()) / 255.0
    left, right = float(grey[:, : CROP // 2].mean()), float(grey[:, CROP // 2 :].mean())
    uniformity = 1.0 - abs(left - right) / max(left + right, 1.0)
    _, _, w, h = box
    components = FaceQuality(
        score=0.0,
        inter_eye_distance=eyes * scale,
        face_share=(w * h) / float(width * height),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        sharpness=laplacian_variance(grey),
        exposure=exposure,
        clipped_share=clipped_share(grey),
        illumination_uniformity=uniformity,
    )
    return replace(components, score=unified_score(components))


def laplacian_variance(grey: NDArray[np.uint8]) -> float:
    """Sharpness: the variance of the Laplacian (a blurred image has few edges)."""
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def clipped_share(grey: NDArray[np.uint8]) -> float:
    """The share of pixels black or white: detail the exposure lost."""
    return float(((grey <= DARK) | (grey >= BRIGHT)).mean())


def unified_score(quality: FaceQuality) -> float:
    """0-100 from each component's fitness (0-1): the root of their weighted geometric mean
    times the worst one, so one very poor component (a blur, a tiny face) pulls the score
    down however good the others are."""
    fitness = {
        # 60 px between the eyes or more recognise well; 12 px hardly at all.
        "size": _ramp(quality.inter_eye_distance, 12.0, 60.0),
        # Turned up to 15° costs nothing; 60° to the side (45° up or down) a lot.
        "pose": _ramp(-abs(quality.yaw), -60.0, -15.0) * _ramp(-abs(quality.pitch), -45.0, -15.0),
        "sharpness": _ramp(math.log10(quality.sharpness + 1.0), 1.0, 2.3),
        "exposure": _ramp(-abs(quality.exposure - 0.5), -0.42, -0.2)
        * (1.0 - quality.clipped_share),
        "illumination": _ramp(quality.illumination_uniformity, 0.6, 0.9),
    }
    weights = {"size": 0.3, "pose": 0.25, "sharpness": 0.25, "exposure": 0.1, "illumination": 0.1}
    floor = {name: max(value, 0.01) for name, value in fitness.items()}
    mean = math.exp(sum(weights[name] * math.log(value) for name, value in floor.items()))
    return round(100.0 * math.sqrt(mean * min(floor.values())), 1)


def _ramp(value: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear between."""
    return min(1.0, max(0.0, (value - low) / (high - low)))


def _region(pixels: NDArray[np.uint8], box: tuple[int, int, int, int]) -> NDArray[np.uint8]:
    x, y, w, h = box
    crop = pixels[max(0, y) : max(0, y) + max(1, h), max(0, x) : max(0, x) + max(1, w)]
    if crop.size == 0:
        return np.zeros((CROP, CROP, 3), dtype=np.uint8)
    interpolation = cv2.INTER_AREA if crop.shape[1] > CROP else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(crop, (CROP, CROP), interpolation=interpolation), dtype=np.uint8)


def _yaw_and_pitch(landmarks: NDArray[np.float32], roll: float) -> tuple[float, float]:
    """Yaw and pitch of the generic face that puts its nose where SCRFD found it, with the
    eye line levelled first (so a tilted photo changes roll only, and a mirrored one only
    yaw's sign). The nose tip stands :data:`NOSE_DEPTH` before the eyes: turned by yaw, it
    moves ``NOSE_DEPTH * sin(yaw)`` from the eyes' midpoint while half the eye distance
    shrinks to ``EYE_HALF * cos(yaw)``; pitch moves it between the eyes and the mouth."""
    turn = math.radians(-roll)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    points = (np.asarray(landmarks, dtype=np.float64).reshape(5, 2) - landmarks[2]) @ rotation.T
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    half_eyes = max(float(np.linalg.norm(right_eye - left_eye)) / 2.0, 1e-6)
    middle_x = float(left_eye[0] + right_eye[0] + left_mouth[0] + right_mouth[0]) / 4.0
    yaw = math.degrees(math.atan((nose[0] - middle_x) / half_eyes * EYE_HALF / NOSE_DEPTH))
    eyes_y = float(left_eye[1] + right_eye[1]) / 2.0
    mouth_y = float(left_mouth[1] + right_mouth[1]) / 2.0
    share = (nose[1] - eyes_y) / max(mouth_y - eyes_y, 1e-6)  # 0: at the eyes, 1: at the mouth
    # From share = (EYES_Y cos p - EYES_Z sin p) / (EYES_TO_MOUTH cos p - DEPTH_GAP sin p).
    pitch = math.degrees(math.atan((EYES_TO_MOUTH * share - EYES_Y) / (DEPTH_GAP * share - EYES_Z)))
    return yaw, pitch
