"""FaceTrack: per-frame face coefficients, the one data format of EmoSpeaker.

Frame i is the face at audio time i / fps; on a timeline it is frame `start_frame + i`.
A track is a set of additive layers (lips, emotion, head, eyes, ...) over the same channels;
the combined values are derived from them (sum, then clamp blendshapes to [0, 1]) and are
never stored twice, so an animator can mute or rescale a layer downstream.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .channels import ALL_CHANNELS, is_blendshape
from .errors import InputError

ENGINE_LAYERS: tuple[str, ...] = ("lips", "emotion", "head", "eyes")
MAX_FPS = 1000
MAX_FPS_TERM = 2**31 - 1
SNAP_DENOMINATOR = 1001
DEFAULT_FPS = Fraction(30)  # when a caller names none


def parse_fps(value: str | float | Fraction | tuple[int, int]) -> Fraction:
    """Parse a frame rate: 24, "25", "30000/1001", (24000, 1001), 29.97 -> a positive Fraction.

    Ratios are exact while their terms fit a video file's 32-bit ratio; decimals, and ratios
    too fine for a video file, are snapped to the nearest sensible rate (`snap_fps`).
    """
    try:
        if isinstance(value, tuple):
            fps = Fraction(int(value[0]), int(value[1]))
        elif isinstance(value, Fraction | int):
            fps = Fraction(value)
        elif isinstance(value, str) and "/" in value:
            num, den = value.split("/", 1)
            fps = Fraction(int(num), int(den))
        else:
            fps = snap_fps(Fraction(str(value).strip()))
    except (ValueError, ZeroDivisionError, TypeError, OverflowError):
        raise InputError(
            f"fps {value!r} is not a number or a ratio like 30000/1001", field="fps"
        ) from None
    if not (0 < fps <= MAX_FPS):
        raise InputError(f"fps {value} must be > 0 and <= {MAX_FPS}", field="fps")
    if max(fps.numerator, fps.denominator) > MAX_FPS_TERM:
        fps = snap_fps(fps)  # video files store frame rates as 32-bit ratios
    if fps <= 0:
        raise InputError(f"fps {value} must be > 0 and <= {MAX_FPS}", field="fps")
    return fps


def snap_fps(fps: Fraction) -> Fraction:
    """The sensible frame rate nearest to a measured or decimal one: an NTSC rate (n x
    1000/1001) within 0.005, else the nearest ratio with a denominator of at most 1001
    (30.0003, as OpenCV reports some mp4s, is 30; 12.5 stays 25/2)."""
    ntsc = Fraction(round(fps * 1001 / 1000) * 1000, 1001)
    if fps.denominator != 1 and ntsc > 0 and abs(float(fps - ntsc)) < 0.005:
        return ntsc
    if fps.denominator > SNAP_DENOMINATOR:
        return fps.limit_denominator(SNAP_DENOMINATOR)
    return fps


def frame_count(duration_seconds: Fraction | float, fps: Fraction) -> int:
    """Frames needed to cover [0, duration): ceil(duration * fps), computed exactly."""
    return max(1, math.ceil(Fraction(duration_seconds) * fps))


def _blendshape_mask(channels: tuple[str, ...]) -> np.ndarray:
    return np.array([is_blendshape(c) for c in channels], dtype=bool)


@dataclass(eq=False)
class FaceTrack:
    """Per-frame face coefficients as additive layers; see the module docstring."""

    fps: Fraction
    layers: dict[str, np.ndarray]
    channels: tuple[str, ...] = ALL_CHANNELS
    start_frame: int = 0
    emotion: np.ndarray | None = None  # [frames, 8] curves the track was made with
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fps = parse_fps(self.fps)
        self.channels = tuple(self.channels)
        if len(set(self.channels)) != len(self.channels):
            raise InputError("channel names must be unique", field="channels")
        if not self.layers:
            raise InputError("a FaceTrack needs at least one layer", field="layers")
        self.layers = {
            name: np.ascontiguousarray(v, dtype=np.float32) for name, v in self.layers.items()
        }
        shapes = {v.shape for v in self.layers.values()}
        if len(shapes) != 1 or next(iter(shapes))[1:] != (len(self.channels),):
            raise InputError(
                f"layers must all be [frames, {len(self.channels)}]; got "
                f"{ {k: v.shape for k, v in self.layers.items()} }",
                field="layers",
            )
        bad = [k for k, v in self.layers.items() if not np.isfinite(v).all()]
        if bad:
            raise InputError(f"layers {bad} contain NaN or infinite values", field="layers")
        if self.emotion is not None:
            self.emotion = np.ascontiguousarray(self.emotion, dtype=np.float32)
            if self.emotion.shape != (self.frames, 8):
                raise InputError(
                    f"emotion curves must be [{self.frames}, 8], got {self.emotion.shape}",
                    field="emotion",
                )
        self.start_frame = int(self.start_frame)

    @property
    def frames(self) -> int:
        return next(iter(self.layers.values())).shape[0]

    @property
    def duration(self) -> float:
        return float(self.frames / self.fps)

    @property
    def values(self) -> np.ndarray:
        """Combined [frames, channels] float32: sum of layers, blendshapes clamped to [0, 1]."""
        total = np.sum(list(self.layers.values()), axis=0, dtype=np.float32)
        mask = _blendshape_mask(self.channels)
        total[:, mask] = np.clip(total[:, mask], 0.0, 1.0)
        return total

    def times(self) -> np.ndarray:
        """Audio time in seconds of each frame."""
        return np.arange(self.frames, dtype=np.float64) / float(self.fps)

    def channel(self, name: str) -> np.ndarray:
        """Combined values of one channel."""
        return self.values[:, self.channels.index(name)]

    def __eq__(self, other: object) -> bool:
        """Exact equality of everything a track carries (used by round-trip tests)."""
        if not isinstance(other, FaceTrack):
            return NotImplemented
        return (
            self.fps == other.fps
            and self.start_frame == other.start_frame
            and self.channels == other.channels
            and self.layers.keys() == other.layers.keys()
            and all(np.array_equal(self.layers[k], other.layers[k]) for k in self.layers)
            and _optional_equal(self.emotion, other.emotion)
            and self.provenance == other.provenance
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_values(
        cls, values: np.ndarray, fps: Fraction, *, layer: str = "performance", **kwargs: Any
    ) -> FaceTrack:
        """A single-layer track, e.g. from capture or an imported CSV."""
        return cls(fps=fps, layers={layer: values}, **kwargs)

    def scaled(self, gains: Mapping[str, float]) -> FaceTrack:
        """A copy with some layers rescaled (0 mutes one)."""
        layers = {k: v * np.float32(gains.get(k, 1.0)) for k, v in self.layers.items()}
        return FaceTrack(
            self.fps, layers, self.channels, self.start_frame, self.emotion, dict(self.provenance)
        )


def _optional_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a, b)
