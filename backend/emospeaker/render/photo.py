"""One portrait + a FaceTrack -> a talking video, on the CPU with no downloaded weights.

The flow: find the face (MediaPipe), frame the canvas (a square crop or the whole image), fit
the face model to the photo's landmarks and drive it with the track, then warp the photo to
each frame's landmarks (skin mesh, eyeballs) with the face model's mouth interior (teeth,
gums, tongue) drawn in the frame's pose and expression, and encode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..audio import Audio
from ..errors import InputError
from ..face.landmarks import detect_faces
from ..jobs import Job
from ..track import FaceTrack
from . import SIZES, Renderer
from .portrait.animator import PortraitAnimator
from .portrait.framing import Framing, choose_face
from .portrait.motion import face_channels, face_motion
from .video import write_video

MOTION_BLOCK = 512  # frames whose landmarks are computed together


class PhotoRenderer(Renderer):
    name = "photo"
    needs_portrait = True

    def render(
        self,
        track: FaceTrack,
        output: Path,
        *,
        audio: Audio | None = None,
        portrait: np.ndarray | None = None,
        size: int = 512,
        face_index: int | None = None,
        job: Job | None = None,
    ) -> Path:
        job = job or Job()
        animator = self.prepare(portrait, size, face_index, job.part(0, 0.05))

        def frames() -> Iterator[np.ndarray]:
            # the motion of a block of frames at a time: a long track's landmarks for every
            # frame at once would take ~56 kB a frame before the first one is drawn
            values = track.values
            for start in range(0, track.frames, MOTION_BLOCK):
                block = FaceTrack.from_values(
                    values[start : start + MOTION_BLOCK], track.fps, channels=track.channels
                )
                targets = face_motion(animator.landmarks, block, animator.fit)
                weights, head = face_channels(animator.fit, block)
                yield from map(animator.frame, targets, weights, head)

        return write_video(
            output, frames(), track.fps, audio, total=track.frames, job=job.part(0.05, 1)
        )

    def prepare(
        self,
        portrait: np.ndarray | None,
        size: int = 512,
        face_index: int | None = None,
        job: Job | None = None,
    ) -> PortraitAnimator:
        """Find and frame the face and precompute its warp: everything before the first frame.

        Raises InputError before any work when the portrait has no usable face.
        """
        job = job or Job()
        if portrait is None:
            raise InputError("the photo renderer needs a portrait image", field="portrait")
        if size not in SIZES:
            raise InputError(
                f"size {size} is not one of 256, 512 or 0 (the portrait's full size)",
                field="size",
            )
        job.progress("finding the face", 0.0)
        face = choose_face(detect_faces(portrait), face_index, "portrait")
        framing = Framing.around(face, (portrait.shape[1], portrait.shape[0]), size)
        job.progress("preparing the warp", 0.5)
        return PortraitAnimator(framing.canvas(portrait), framing.to_canvas(face))
