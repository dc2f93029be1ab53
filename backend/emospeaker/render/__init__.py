"""Renderers by name: FaceTrack (+ audio, + portrait) -> an mp4.

`mesh` draws the built-in head (emospeaker.render.preview); `photo` animates a single portrait
(emospeaker.render.photo). Both are imported lazily: they need the `face` extra.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..audio import Audio
from ..errors import InputError
from ..jobs import Job
from ..track import FaceTrack

# name -> "module:Class"
RENDERERS: dict[str, str] = {
    "mesh": "emospeaker.render.preview:MeshRenderer",
    "photo": "emospeaker.render.photo:PhotoRenderer",
}
SIZES = (256, 512, 0)  # 0: the portrait's full size


class Renderer(ABC):
    name: str
    needs_portrait: bool

    @abstractmethod
    def render(
        self,
        track: FaceTrack,
        output: Path,
        *,
        audio: Audio | None = None,
        portrait: np.ndarray | None = None,  # RGB uint8
        size: int = 512,
        face_index: int | None = None,
        job: Job | None = None,
    ) -> Path:
        """Write an mp4 of `track` to `output` (atomically) and return its path."""


def get_renderer(name: str) -> Renderer:
    """An instance of renderer `name`; a clear error when unknown or not installed."""
    if name not in RENDERERS:
        raise InputError(
            f"unknown renderer {name!r}; available: {', '.join(RENDERERS)}", field="renderer"
        )
    module, cls = RENDERERS[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)()
    except (ImportError, AttributeError) as exc:
        raise InputError(
            f"renderer {name!r} is not available here ({exc})", field="renderer"
        ) from exc
