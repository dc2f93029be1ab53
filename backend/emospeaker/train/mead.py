"""Talking-head videos -> a training corpus (FaceTrack targets and AUs), cached.

Two layouts: MEAD's (below), and a flat folder of clips of one emotion (`find_flat_videos`,
e.g. neutral read speech such as GRID), whose clips are fitted against their own resting face
as `emospeaker capture` does.

Layout (as MEAD ships it; any dataset arranged the same way works):

    ROOT/<speaker>/video/front/<emotion>/level_<n>/<NNN>.mp4

The speech is the video's own audio track, or when the video has none, MEAD's separate file
ROOT/<speaker>/audio/<emotion>/level_<n>/<NNN>.m4a. Emotion folder names are the eight
categories (neutral, angry, contempt, disgusted, fear, happy, sad, surprised); level n of N
trained levels becomes intensity n / N.

Each video is tracked with MediaPipe face mesh and fitted with the face model's video fit
(`emospeaker.face.fit.fit_video`) into a FaceTrack; that combined track is the target (the
engine layers of a real face cannot be told apart, so training compares lips + emotion with
its expression and the head layer with its head pose, see losses.py). The fit measures
expressions from each speaker's own neutral face, taken once per speaker from their neutral
clips (`neutral_from`, cached in OUT/neutral/): fitting each clip against its own resting face
instead would erase an emotion held for the whole clip, which is exactly what MEAD records.
A speaker without neutral clips falls back to that per-clip rest, with a warning. Head pose is
taken relative to the clip's median pose (the actor's resting orientation is not a motion).
AUs are read from the fitted ARKit weights with the default engine's FACS table (train/au.py).
A clip whose face is missing on more than MAX_MISSING of its frames is skipped with a warning
(the fit bridges shorter gaps). Clips are written as they finish; a rerun skips those already
in the corpus.
"""

from __future__ import annotations

import re
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import av
import numpy as np

from .. import __version__
from ..audio import load_audio
from ..channels import HEAD_CHANNELS, index_of
from ..emotion import EMOTIONS
from ..errors import EmoSpeakerError, InputError
from ..jobs import Job
from .au import AU_NAMES, aus_from_values
from .corpus import Clip, CorpusWriter

MAX_MISSING = 0.2
_LEVEL = re.compile(r"^level_(\d+)$")


class MeadWarning(UserWarning):
    """A video was skipped (unreadable, no face, no audio)."""


@dataclass(frozen=True)
class MeadItem:
    path: Path
    speaker: str
    emotion: str
    level: int
    utterance: str
    val: bool = False  # held out for validation
    name: str = ""  # the clip's id when not made of the MEAD fields

    @property
    def id(self) -> str:
        return self.name or f"{self.speaker}_{self.emotion}_{self.level}_{self.utterance}"

    @property
    def number(self) -> int:
        return int(re.sub(r"\D", "", self.utterance) or 0)


def find_videos(root: str | Path, view: str = "front") -> list[MeadItem]:
    """Every ROOT/<speaker>/video/<view>/<emotion>/level_<n>/<NNN>.mp4, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder", field="root")
    items = []
    for path in sorted(root.glob(f"*/video/{view}/*/level_*/*.mp4")):
        speaker, _, _, emotion, level, _ = path.relative_to(root).parts
        match = _LEVEL.match(level)
        if emotion not in EMOTIONS or not match:
            warnings.warn(f"{path}: not a MEAD emotion/level folder, skipped", MeadWarning, 2)
            continue
        items.append(MeadItem(path, speaker, emotion, int(match.group(1)), path.stem))
    if not items:
        raise InputError(
            f"{root}: no videos in the MEAD layout <speaker>/video/{view}/<emotion>/"
            "level_<n>/<NNN>.mp4",
            field="root",
        )
    return items


def find_flat_videos(
    root: str | Path, match: str = "*.mp4", emotion: str = "neutral", level: int = 1
) -> list[MeadItem]:
    """Every ROOT/<match> video file as a clip of one `emotion` at one `level`, named by its
    file name; each is its own speaker (fitted against its own rest), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder", field="root")
    if emotion not in EMOTIONS:
        raise InputError(
            f"emotion {emotion!r} is not one of {', '.join(EMOTIONS)}", field="emotion"
        )
    paths = sorted(p for p in root.glob(match) if p.is_file())
    if not paths:
        raise InputError(f"{root}: no videos match {match!r}", field="match")
    stems = [p.stem for p in paths]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise InputError(
            f"{root}: clips would share a name ({', '.join(twice[:4])}); match fewer files",
            field="match",
        )
    return [MeadItem(p, p.stem, emotion, level, "", name=p.stem) for p in paths]


def _has_audio(path: Path) -> bool:
    with av.open(str(path)) as container:
        return bool(container.streams.audio)


def audio_path(item: MeadItem, root: Path) -> Path:
    if _has_audio(item.path):
        return item.path
    if item.name:  # a flat folder's clip: its sound is in the video or nowhere
        raise InputError(f"{item.path}: no audio track")
    sibling = root / item.speaker / "audio" / item.emotion / f"level_{item.level}"
    for suffix in (".m4a", ".wav", ".flac", ".mp3"):
        if (sibling / f"{item.utterance}{suffix}").is_file():
            return sibling / f"{item.utterance}{suffix}"
    raise InputError(f"{item.path}: no audio track and no {sibling}/{item.utterance}.m4a")


NEUTRAL_CLIPS = 3  # neutral videos per speaker used for their neutral shape


def speaker_neutral(root: Path, speaker: str, items: list[MeadItem], cache: Path):
    """The speaker's neutral face shape (see the module docstring), or None without one."""
    from ..face.fit import neutral_from
    from ..face.landmarks import track_video

    path = cache / f"{speaker}.npy"
    if path.is_file():
        return np.load(path)
    clips = [i for i in items if i.speaker == speaker and i.emotion == "neutral"][:NEUTRAL_CLIPS]
    if not clips:
        warnings.warn(
            f"{speaker}: no neutral clips; each clip is fitted against its own resting face",
            MeadWarning,
            stacklevel=2,
        )
        return None
    points = np.concatenate([track_video(c.path).points for c in clips])
    found = ~np.isnan(points[:, 0, 0])
    neutral = neutral_from(points[found])
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, neutral)
    return neutral


def process_video(
    item: MeadItem,
    root: Path,
    levels: int,
    neutral: np.ndarray | None,
) -> Clip:
    """One video -> a corpus clip (see the module docstring)."""
    from ..face.fit import fit_video
    from ..face.landmarks import track_video

    landmarks = track_video(item.path)
    found = landmarks.found
    if found.mean() < 1 - MAX_MISSING:
        raise InputError(f"{item.path}: a face on only {found.mean():.0%} of the frames")
    track = fit_video(landmarks, neutral=neutral, rest=neutral is None)
    values = track.values
    head = [index_of(c) for c in HEAD_CHANNELS]
    values[:, head] -= np.median(values[:, head], axis=0)
    audio = load_audio(audio_path(item, root), max_seconds=600)
    return Clip(
        id=item.id,
        audio=audio.samples,
        fps=track.fps,
        layers={"combined": values.astype(np.float32)},
        aus=aus_from_values(values),
        emotion=item.emotion,
        intensity=min(item.level, levels) / levels,
        level=item.level,
        speaker=item.speaker,
        split="val" if item.val else "train",
    )


def _process(args: tuple[MeadItem, Path, int, np.ndarray | None]) -> Clip | str:
    try:
        return process_video(*args)
    except (EmoSpeakerError, av.FFmpegError, ValueError) as exc:
        return f"{args[0].path}: {exc}"


def build_mead_corpus(
    root: str | Path,
    out: str | Path,
    *,
    levels: int = 3,
    val_speakers: tuple[str, ...] = (),
    workers: int = 1,
    limit: int = 0,
    command: str = "",
    job: Job | None = None,
) -> tuple[Path, list[str]]:
    """Preprocess every MEAD video under `root` into the corpus `out`.

    Returns (manifest path, messages of skipped videos)."""
    held = set(val_speakers)
    items = [
        replace(item, val=item.speaker in held if held else item.number % 10 == 0)
        for item in find_videos(root)[: limit or None]
    ]
    info = {"source": "mead", "val_speakers": list(val_speakers)}
    return build_video_corpus(
        items, root, out, info, levels=levels, workers=workers, command=command, job=job
    )


def build_flat_corpus(
    root: str | Path,
    out: str | Path,
    *,
    match: str = "*.mp4",
    emotion: str = "neutral",
    level: int = 1,
    levels: int = 3,
    val_match: str = "",
    workers: int = 1,
    command: str = "",
    job: Job | None = None,
) -> tuple[Path, list[str]]:
    """Preprocess a flat folder of clips of one emotion (see `find_flat_videos`) into `out`;
    clips whose name matches `val_match` are held out for validation."""
    items = [
        replace(item, val=bool(val_match) and fnmatch(item.path.name, val_match))
        for item in find_flat_videos(root, match, emotion, level)
    ]
    if not 1 <= level <= levels:
        raise InputError(f"level {level} must be between 1 and levels ({levels})", field="level")
    info = {"source": "videos", "match": match, "val_match": val_match, "emotion": emotion,
            "level": level}  # fmt: skip
    return build_video_corpus(
        items, root, out, info, levels=levels, own_rest=True, workers=workers,
        command=command, job=job,
    )  # fmt: skip


def build_video_corpus(
    items: list[MeadItem],
    root: str | Path,
    out: str | Path,
    info: dict[str, Any],
    *,
    levels: int,
    own_rest: bool = False,
    workers: int = 1,
    command: str = "",
    job: Job | None = None,
) -> tuple[Path, list[str]]:
    """Track and fit `items` into the corpus `out`, against each speaker's neutral face (or,
    with `own_rest`, each clip's own rest). Returns (manifest path, skipped videos)."""
    if levels < 1:
        raise InputError(f"levels {levels} must be at least 1", field="levels")
    job = job or Job()
    root = Path(root)
    info = {
        **info,
        "root": str(root),
        "levels": levels,
        "command": command,
        "emospeaker_version": __version__,
    }
    writer = CorpusWriter(out, AU_NAMES, info)
    pending = [it for it in items if not writer.done(it.id)]
    neutrals = {
        speaker: None if own_rest else speaker_neutral(root, speaker, items, Path(out) / "neutral")
        for speaker in sorted({it.speaker for it in pending})
    }
    todo = [(it, root, levels, neutrals[it.speaker]) for it in pending]
    skipped: list[str] = []
    done = len(items) - len(todo)
    complete = False
    try:
        with ExitStack() as stack:
            results = (
                stack.enter_context(ProcessPoolExecutor(workers)).map(_process, todo)
                if workers > 1
                else map(_process, todo)
            )
            for result in results:
                if isinstance(result, str):
                    skipped.append(result)
                    warnings.warn(result, MeadWarning, stacklevel=2)
                else:
                    writer.add(result)
                done += 1
                job.progress("tracking and fitting", done / len(items))
        complete = True
    finally:  # an interrupted run keeps what it made; a rerun finishes it
        path = writer.finish(complete)
    return path, skipped
