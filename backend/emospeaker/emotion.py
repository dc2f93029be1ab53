"""Emotion keys on a timeline -> dense per-frame intensity curves [frames, 8].

A key sets the whole emotional state at one time: one or more categories with an intensity
each, every other category at 0 (exactly what the Blender add-on does when it keys all eight
properties together). Between two keys each category moves from the first key's value to the
second's with the first key's interpolation (constant, linear or smooth), as an F-curve does;
before the first key and after the last the state holds.

Intensity 0 means none and 1 the strongest trained level; values in between and above (up to
MAX_INTENSITY) are legal and every consumer must treat them smoothly.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

EMOTIONS: tuple[str, ...] = (
    "neutral", "angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised",
)  # fmt: skip
EMOTION_INDEX = {name: i for i, name in enumerate(EMOTIONS)}
INTERPOLATIONS: tuple[str, ...] = ("constant", "linear", "smooth")
MAX_INTENSITY = 4.0


def check_emotion(name: str, field_name: str = "emotion") -> str:
    """Normalise a category name; unknown names get an error listing the eight."""
    key = name.strip().lower()
    if key not in EMOTION_INDEX:
        raise InputError(
            f"unknown emotion {name!r}; use one of: {', '.join(EMOTIONS)}", field=field_name
        )
    return key


def check_intensity(value: float, field_name: str = "intensity") -> float:
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= MAX_INTENSITY):
        raise InputError(
            f"intensity {value} must be a number from 0 to {MAX_INTENSITY:g}", field=field_name
        )
    return value


@dataclass(frozen=True)
class EmotionKey:
    """The emotional state from `time` on (seconds, or timeline frames if unit == "frame")."""

    time: float
    intensities: Mapping[str, float]
    interpolation: str = "smooth"
    unit: str = "s"

    def __post_init__(self) -> None:
        if self.unit not in ("s", "frame"):
            raise InputError(f"key time unit {self.unit!r} must be 's' or 'frame'", field="unit")
        if not math.isfinite(self.time):
            raise InputError(f"key time {self.time} is not a finite number", field="time")
        if self.interpolation not in INTERPOLATIONS:
            raise InputError(
                f"unknown interpolation {self.interpolation!r}; use one of: "
                f"{', '.join(INTERPOLATIONS)}",
                field="interpolation",
            )
        clean = {check_emotion(k): check_intensity(v) for k, v in self.intensities.items()}
        object.__setattr__(self, "intensities", clean)

    def seconds(self, fps: Fraction, start_frame: int = 0) -> float:
        if self.unit == "frame":
            return float((Fraction(self.time) - start_frame) / fps)
        return self.time

    def vector(self) -> np.ndarray:
        out = np.zeros(len(EMOTIONS), dtype=np.float64)
        for name, value in self.intensities.items():
            out[EMOTION_INDEX[name]] = value
        return out


@dataclass(frozen=True)
class EmotionTimeline:
    """An ordered list of emotion keys; empty means no emotion at all."""

    keys: tuple[EmotionKey, ...] = field(default_factory=tuple)

    @classmethod
    def constant(cls, intensities: Mapping[str, float]) -> EmotionTimeline:
        return cls((EmotionKey(0.0, intensities, "constant"),))

    @classmethod
    def parse(cls, text: str) -> EmotionTimeline:
        """Parse the CLI forms.

        `happy:0.8` (constant), `happy:0.6+surprised:0.3` (a blend), or keys separated by
        commas: `0s=neutral:0,2.5s=happy:1,4s=sad:0.6@linear`, where time is seconds
        (`2.5s` or `2.5`) or frames (`60f`) and `@mode` picks the interpolation toward the
        next key.
        """
        text = text.strip()
        if not text:
            raise InputError("empty emotion specification", field="emotion")
        if "=" not in text:
            return cls.constant(_parse_state(text))
        return cls(tuple(_parse_key(part) for part in text.split(",") if part.strip()))

    @classmethod
    def from_json(cls, doc: Any) -> EmotionTimeline:
        """Keys from JSON: a list (or {"keys": [...]}) of objects with `time` (seconds) or
        `frame`, then `emotion` + `intensity` or `emotions` {name: intensity}, and optional
        `interpolation`."""
        items = doc.get("keys") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise InputError("emotion keys JSON must be a list of keys", field="emotion_keys")
        return cls(tuple(_key_from_json(item, i) for i, item in enumerate(items)))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EmotionTimeline:
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(
                f"{path}: cannot read emotion keys ({exc})", field="emotion_keys"
            ) from None
        try:
            return cls.from_json(doc)
        except InputError as exc:
            raise InputError(f"{path}: {exc}", field=exc.field) from None

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                ("frame" if k.unit == "frame" else "time"): k.time,
                "emotions": dict(k.intensities),
                "interpolation": k.interpolation,
            }
            for k in self.keys
        ]

    def curves(self, fps: Fraction, frames: int, start_frame: int = 0) -> np.ndarray:
        """Dense intensities [frames, 8] (float32) at audio times i / fps."""
        out = np.zeros((frames, len(EMOTIONS)), dtype=np.float32)
        if not self.keys:
            return out
        times = np.arange(frames, dtype=np.float64) / float(fps)
        ordered = sorted(self.keys, key=lambda k: k.seconds(fps, start_frame))  # stable
        at = np.array([k.seconds(fps, start_frame) for k in ordered])
        states = np.stack([k.vector() for k in ordered])
        # index of the last key at or before each frame (-1: before the first key)
        seg = np.searchsorted(at, times, side="right") - 1
        out[:] = states[np.clip(seg, 0, None)]
        for i in range(len(ordered) - 1):
            inside = seg == i
            span = at[i + 1] - at[i]
            if not inside.any() or span <= 0:
                continue
            u = (times[inside] - at[i]) / span
            w = _ease(ordered[i].interpolation, u)[:, None]
            out[inside] = (1 - w) * states[i] + w * states[i + 1]
        return out


def curves_from_array(values: Iterable[Iterable[float]], frames: int) -> np.ndarray:
    """Validate caller-supplied dense curves (e.g. sampled Blender properties)."""
    arr = np.asarray(values, dtype=np.float32)
    if arr.shape != (frames, len(EMOTIONS)):
        raise InputError(
            f"dense emotion curves must be [{frames}, {len(EMOTIONS)}] (frames x "
            f"{', '.join(EMOTIONS)}), got {list(arr.shape)}",
            field="emotion_curves",
        )
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > MAX_INTENSITY:
        raise InputError(
            f"emotion curve values must lie in [0, {MAX_INTENSITY:g}]", field="emotion_curves"
        )
    return arr


def _ease(mode: str, u: np.ndarray) -> np.ndarray:
    if mode == "constant":
        return np.zeros_like(u)
    if mode == "linear":
        return u
    return u * u * (3.0 - 2.0 * u)  # smoothstep: zero slope at both keys


_STATE_ITEM = re.compile(r"^\s*([A-Za-z]+)\s*(?::\s*([^\s:+]+))?\s*$")
_KEY = re.compile(r"^\s*([-+0-9.eE]+)\s*(s|f)?\s*=\s*(.+?)\s*(?:@\s*([a-z]+))?\s*$")


def _parse_state(text: str) -> dict[str, float]:
    state: dict[str, float] = {}
    for item in text.split("+"):
        m = _STATE_ITEM.match(item)
        if not m:
            raise InputError(
                f"cannot parse emotion {item.strip()!r}; expected CATEGORY[:INTENSITY], e.g. "
                f"happy:0.8",
                field="emotion",
            )
        intensity = 1.0
        if m.group(2) is not None:
            try:
                intensity = float(m.group(2))
            except ValueError:
                raise InputError(
                    f"intensity {m.group(2)!r} is not a number", field="intensity"
                ) from None
        state[check_emotion(m.group(1))] = check_intensity(intensity)
    return state


def _parse_key(text: str) -> EmotionKey:
    m = _KEY.match(text)
    if not m:
        raise InputError(
            f"cannot parse emotion key {text.strip()!r}; expected TIME=CATEGORY:INTENSITY, "
            f"e.g. 2.5s=happy:1 or 60f=sad:0.5@linear",
            field="emotion_keys",
        )
    try:
        time = float(m.group(1))
    except ValueError:
        raise InputError(f"key time {m.group(1)!r} is not a number", field="time") from None
    return EmotionKey(
        time,
        _parse_state(m.group(3)),
        m.group(4) or "smooth",
        "frame" if m.group(2) == "f" else "s",
    )


def _key_from_json(item: Any, i: int) -> EmotionKey:
    where = f"key {i}"
    if not isinstance(item, dict):
        raise InputError(f"{where} must be an object", field="emotion_keys")
    if "emotions" in item:
        state = item["emotions"]
        if not isinstance(state, dict):
            raise InputError(
                f"{where}: 'emotions' must map category to intensity", field="emotions"
            )
    elif "emotion" in item:
        state = {item["emotion"]: item.get("intensity", 1.0)}
    else:
        raise InputError(f"{where} needs 'emotion' (+ 'intensity') or 'emotions'", field="emotion")
    if ("time" in item) == ("frame" in item):
        raise InputError(f"{where} needs exactly one of 'time' (seconds) or 'frame'", field="time")
    unit = "frame" if "frame" in item else "s"
    try:
        return EmotionKey(
            float(item["frame" if unit == "frame" else "time"]),
            state,
            item.get("interpolation", "smooth"),
            unit,
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}", field=getattr(exc, "field", "emotion_keys")) from None
