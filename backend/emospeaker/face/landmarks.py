"""MediaPipe face-mesh landmarks (478 points) for images and videos, in pixel units.

The one place that talks to MediaPipe: fitting, capture, the lip-sync benchmark and the
photo renderer all take landmarks from here. Points are [478, 3] float32: x and y in pixels
of the image, z in the same pixel scale (MediaPipe's normalised z times the image width),
smaller z is nearer the camera.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from ..jobs import Job

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: errors only
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUM_LANDMARKS = 478
# a few named points of the MediaPipe topology used across the project
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14
RIGHT_EYE_OUTER = 33  # the subject's right eye, on the image's left
LEFT_EYE_OUTER = 263


@contextmanager
def _face_mesh(static: bool, max_faces: int) -> Iterator[object]:
    import mediapipe as mp  # heavy: imported only when landmarks are needed

    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=static,
        max_num_faces=max_faces,
        refine_landmarks=True,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    ) as mesh:
        yield mesh


def _to_pixels(face: object, width: int, height: int) -> np.ndarray:
    pts = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
    return pts * np.array([width, height, width], dtype=np.float32)


def detect_faces(image: np.ndarray, max_faces: int = 4) -> list[np.ndarray]:
    """All faces in an RGB uint8 image, each [478, 3] in pixels, sorted left to right."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(
            f"expected an RGB uint8 image, got {image.dtype} {image.shape}", field="image"
        )
    height, width = image.shape[:2]
    with _face_mesh(static=True, max_faces=max_faces) as mesh:
        result = mesh.process(np.ascontiguousarray(image))
    faces = [_to_pixels(f, width, height) for f in result.multi_face_landmarks or []]
    return sorted(faces, key=lambda pts: float(pts[:, 0].mean()))


@dataclass(frozen=True)
class VideoLandmarks:
    """Per-frame landmarks of one face; frames without a face are NaN."""

    points: np.ndarray  # [frames, 478, 3] float32
    fps: Fraction
    size: tuple[int, int]  # (width, height)

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.points[:, 0, 0])


def video_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Decode a video's frames as RGB uint8 arrays."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def video_info(path: str | os.PathLike[str]) -> tuple[Fraction, int]:
    """(fps, approximate frame count) of a video file; InputError if it has no video."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: contains no video stream", field="video")
            stream = container.streams.video[0]
            fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
            count = stream.frames or int(
                float(stream.duration * stream.time_base) * fps if stream.duration else 0
            )
            return fps, count
    except av.FFmpegError as exc:
        raise InputError(f"{path}: cannot read video ({exc})", field="video") from None


def track_video(path: str | os.PathLike[str], job: Job | None = None) -> VideoLandmarks:
    """Landmarks of the most prominent face in every frame (MediaPipe's tracking mode)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such video file", field="video")
    fps, expected = video_info(path)
    job = job or Job()
    points: list[np.ndarray] = []
    size = (0, 0)
    with _face_mesh(static=False, max_faces=1) as mesh:
        for i, image in enumerate(video_frames(path)):
            size = (image.shape[1], image.shape[0])
            result = mesh.process(image)
            faces = result.multi_face_landmarks
            points.append(
                _to_pixels(faces[0], *size)
                if faces
                else np.full((NUM_LANDMARKS, 3), np.nan, np.float32)
            )
            if expected:
                job.progress("tracking", min(1.0, (i + 1) / expected))
    if not points:
        raise InputError(f"{path}: video has no frames", field="video")
    return VideoLandmarks(np.stack(points), fps, size)


def lip_aperture(points: np.ndarray) -> np.ndarray:
    """Inner-lip gap normalised by the outer eye-corner distance, per frame ([..., 478, 3])."""
    gap = np.linalg.norm(
        points[..., UPPER_LIP_INNER, :2] - points[..., LOWER_LIP_INNER, :2], axis=-1
    )
    eyes = np.linalg.norm(
        points[..., RIGHT_EYE_OUTER, :2] - points[..., LEFT_EYE_OUTER, :2], axis=-1
    )
    return gap / eyes
