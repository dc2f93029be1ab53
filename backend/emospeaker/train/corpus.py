"""A training corpus on disk: `manifest.json` plus one `clips/<id>.npz` per clip.

Both the synthetic generator and the MEAD reader write this layout, so training never cares
where a clip came from. A clip holds its audio (16 kHz int16), frame rate, FaceTrack targets
(the engine layers `lips`/`emotion`/`head`/`eyes` when known, else one `combined` track from a
video fit), per-frame Action-Unit activations, its emotion label, and optionally the phones
(for lip-closure evaluation). Writing is incremental and atomic: an interrupted preprocessing
run resumes where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE
from ..channels import ALL_CHANNELS
from ..emotion import EMOTION_INDEX, EMOTIONS
from ..errors import InputError
from ..files import atomic_output
from ..track import ENGINE_LAYERS

FORMAT = "emospeaker-corpus/1"


def constant_curves(frames: int, emotion: str, intensity: float) -> np.ndarray:
    """[frames, 8] emotion curves holding one category at one intensity (a clip's label)."""
    curves = np.zeros((frames, len(EMOTIONS)), np.float32)
    curves[:, EMOTION_INDEX[emotion]] = intensity
    return curves


@dataclass
class Clip:
    id: str
    audio: np.ndarray  # float32 mono at SAMPLE_RATE
    fps: Fraction
    layers: dict[str, np.ndarray]  # name -> [frames, channels]
    aus: np.ndarray  # [frames, AUs]
    emotion: str
    intensity: float  # 0..1 (1 = top trained level)
    level: int
    speaker: str = ""
    split: str = "train"
    text: str = ""
    phones: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return self.aus.shape[0]

    @property
    def has_layers(self) -> bool:
        return "lips" in self.layers

    def entry(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "emotion": self.emotion,
            "intensity": self.intensity,
            "level": self.level,
            "speaker": self.speaker,
            "split": self.split,
            "frames": self.frames,
            "fps": str(self.fps),
            "seconds": round(len(self.audio) / SAMPLE_RATE, 3),
        }


def save_clip(clip: Clip, path: Path) -> None:
    pcm = np.clip(np.round(clip.audio * 32767), -32768, 32767).astype(np.int16)
    arrays = {f"layer_{k}": v.astype(np.float32) for k, v in clip.layers.items()}
    starts = np.array([p[0] for p in clip.phones], np.float64)
    ends = np.array([p[1] for p in clip.phones], np.float64)
    meta = {k: v for k, v in clip.entry().items() if k not in ("frames", "seconds")}
    meta["text"] = clip.text
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                audio=pcm,
                aus=clip.aus.astype(np.float32),
                phone_start=starts,
                phone_end=ends,
                phone_label=np.array([p[2] for p in clip.phones], dtype=np.str_),
                meta=np.array(json.dumps(meta)),
                **arrays,
            )


def load_clip(path: Path) -> Clip:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        layers = {k[6:]: data[k] for k in data.files if k.startswith("layer_")}
        phones = list(
            zip(
                data["phone_start"].tolist(),
                data["phone_end"].tolist(),
                data["phone_label"].tolist(),
                strict=True,
            )
        )
        return Clip(
            id=meta["id"],
            audio=data["audio"].astype(np.float32) / 32767.0,
            fps=Fraction(meta["fps"]),
            layers=layers,
            aus=data["aus"],
            emotion=meta["emotion"],
            intensity=float(meta["intensity"]),
            level=int(meta["level"]),
            speaker=meta.get("speaker", ""),
            split=meta.get("split", "train"),
            text=meta.get("text", ""),
            phones=phones,
        )


class Corpus:
    """Reads a corpus folder; clips are loaded on demand."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        manifest = self.root / "manifest.json"
        if not manifest.is_file():
            raise InputError(
                f"{self.root}: not a corpus (no manifest.json); create one with "
                "`emospeaker corpus synth`, `corpus mead` or `corpus videos`",
                field="corpus",
            )
        self.manifest = json.loads(manifest.read_text())
        if self.manifest.get("format") != FORMAT:
            raise InputError(f"{manifest}: unknown corpus format", field="corpus")
        if not self.manifest.get("complete", True):
            raise InputError(
                f"{self.root}: the corpus is incomplete (its preparation was interrupted); "
                f"rerun: {self.manifest.get('command') or 'the command that made it'}",
                field="corpus",
            )
        self.au_names: tuple[str, ...] = tuple(self.manifest["au_names"])
        self.channels: tuple[str, ...] = tuple(self.manifest.get("channels", ALL_CHANNELS))

    def entries(self, split: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.manifest["clips"] if split is None or e["split"] == split]

    def load(self, split: str | None = None) -> list[Clip]:
        return [load_clip(self.root / "clips" / f"{e['id']}.npz") for e in self.entries(split)]

    def layer_channels(self, clips: list[Clip]) -> dict[str, tuple[str, ...]]:
        """Channels each engine layer ever moves in `clips` (what each head must predict)."""
        out = {}
        for layer in ("lips", "emotion", "head"):
            used = np.zeros(len(self.channels), bool)
            for clip in clips:
                if layer in clip.layers:
                    used |= np.abs(clip.layers[layer]).max(0) > 1e-6
            out[layer] = tuple(c for c, u in zip(self.channels, used, strict=True) if u)
        return out


RERUN_MAY_CHANGE = ("command", "clips_requested")


class CorpusWriter:
    """Adds clips to a corpus folder; `done(id)` lets a rerun skip finished clips."""

    def __init__(self, root: str | Path, au_names: tuple[str, ...], info: dict[str, Any]):
        self.root = Path(root)
        (self.root / "clips").mkdir(parents=True, exist_ok=True)
        self.au_names = tuple(au_names)
        self.info = info
        self.entries: dict[str, dict[str, Any]] = {}
        old = self.root / "manifest.json"
        if old.is_file():
            previous = json.loads(old.read_text())
            if tuple(previous.get("au_names", ())) == self.au_names and self._same_recipe(previous):
                self.entries = {e["id"]: e for e in previous["clips"]}

    def _same_recipe(self, previous: dict[str, Any]) -> bool:
        """Finished clips are kept only if made the same way (seed, voices, target engine...)."""
        return all(
            previous.get(key) == value
            for key, value in self.info.items()
            if key not in RERUN_MAY_CHANGE
        )

    def done(self, clip_id: str) -> bool:
        return clip_id in self.entries and (self.root / "clips" / f"{clip_id}.npz").is_file()

    def add(self, clip: Clip) -> None:
        if clip.emotion not in EMOTIONS:
            raise InputError(f"clip {clip.id}: unknown emotion {clip.emotion!r}", field="emotion")
        if set(clip.layers) - set(ENGINE_LAYERS) - {"combined"}:
            raise InputError(f"clip {clip.id}: unknown layers {sorted(clip.layers)}")
        save_clip(clip, self.root / "clips" / f"{clip.id}.npz")
        self.entries[clip.id] = clip.entry()

    def finish(self, complete: bool = True) -> Path:
        """Write the manifest; an incomplete corpus is refused for training until rerun."""
        manifest = {
            "format": FORMAT,
            "complete": complete,
            "au_names": list(self.au_names),
            "channels": list(ALL_CHANNELS),
            **self.info,
            "clips": [self.entries[k] for k in sorted(self.entries)],
        }
        path = self.root / "manifest.json"
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        return path
