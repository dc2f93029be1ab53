"""The one interface every engine implements: audio + emotion curves -> FaceTrack."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import Audio
from ..errors import InputError
from ..jobs import Job
from ..track import FaceTrack


@dataclass(frozen=True)
class Option:
    """An engine option: its default, bounds and a line of help for CLI, server and add-on."""

    default: float | int | bool | str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def parse(self, name: str, value: Any) -> Any:
        kind = type(self.default)
        try:
            if kind is bool and isinstance(value, str):
                parsed: Any = value.strip().lower() in ("1", "true", "yes", "on")
            else:
                parsed = kind(value)
        except (TypeError, ValueError):
            raise InputError(
                f"option {name}={value!r} must be a {kind.__name__}", field=f"options.{name}"
            ) from None
        if self.choices is not None and parsed not in self.choices:
            raise InputError(
                f"option {name}={parsed!r}: use one of {', '.join(self.choices)}",
                field=f"options.{name}",
            )
        low = self.minimum if self.minimum is not None else -np.inf
        high = self.maximum if self.maximum is not None else np.inf
        if kind in (int, float) and not (low <= parsed <= high):
            raise InputError(
                f"option {name}={parsed} must lie in [{low}, {high}]", field=f"options.{name}"
            )
        return parsed


@dataclass(frozen=True)
class EngineInput:
    """Everything an engine needs, already validated and resampled to the track's grid."""

    audio: Audio
    fps: Fraction
    frames: int
    emotion: np.ndarray  # [frames, 8] intensities, see emospeaker.emotion
    start_frame: int = 0
    transcript: str | None = None
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    # custom emotion poses {emotion: [ALL_CHANNELS] weights at intensity 1}, see poses.py
    emotion_poses: Mapping[str, np.ndarray] = field(default_factory=dict)


class Engine(ABC):
    """Turns speech and emotion into a layered FaceTrack. Instances are reused across calls
    (a server keeps one per name), so `animate` must not keep per-call state."""

    name: str
    version: str
    description: str
    options: Mapping[str, Option] = {}
    # whether `animate` uses EngineInput.emotion_poses (api.animate warns when it does not)
    supports_emotion_poses: bool = False

    def resolve_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with validated user values; unknown names are an error."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise InputError(
                f"engine {self.name!r} has no option {unknown[0]!r}; options: {allowed}",
                field="options",
            )
        return {
            k: o.parse(k, given[k]) if k in given else o.default for k, o in self.options.items()
        }

    def remote_options(
        self, given: Mapping[str, str], checkpoint_dir: Path | None = None
    ) -> dict[str, str]:
        """The options a remote client (the server's caller) sent, as this engine will use
        them: only the names in `remote_allowed`; an engine whose options name files maps
        names to files in the operator's `checkpoint_dir` here, never taking a client's path."""
        refused = sorted(set(given) - set(self.remote_allowed))
        if refused:
            allowed = ", ".join(sorted(self.remote_allowed)) or "none"
            raise InputError(
                f"engine {self.name!r} takes no option {refused[0][:64]!r} from a client; "
                f"options: {allowed}",
                field="options",
            )
        return dict(given)

    def remote_choices(self, checkpoint_dir: Path | None = None) -> dict[str, tuple[str, ...]]:
        """Values a client may choose for options whose choices depend on the server
        (e.g. checkpoint names), for GetCapabilities."""
        return {}

    @property
    def remote_allowed(self) -> tuple[str, ...]:
        """Option names a client may set over the network (default: all of them)."""
        return tuple(self.options)

    def provenance(self) -> dict[str, Any]:
        """Engine-specific provenance (e.g. a model checksum)."""
        return {}

    def inputs_fingerprint(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """What decides this engine's output beyond its version and resolved `options` (a
        model file's checksum, say): a batch reruns a line when it changes."""
        return self.provenance()

    @abstractmethod
    def animate(self, request: EngineInput, job: Job) -> FaceTrack:
        """Produce the track; call `job.progress` between steps (it raises on cancel)."""
