"""Reading and writing FaceTracks, one small module per file format.

`save_track` / `load_track` pick the format from the file suffix. Writes go to a temporary
file that is renamed into place, so a failed export never leaves a partial file behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from ..files import atomic_output
from ..track import FaceTrack
from . import json_format, livelink_csv, npz_format

Writer = Callable[[FaceTrack, Path], None]
Reader = Callable[[Path], FaceTrack]

FORMATS: dict[str, tuple[Writer, Reader]] = {
    ".json": (json_format.write, json_format.read),
    ".npz": (npz_format.write, npz_format.read),
    ".csv": (livelink_csv.write, livelink_csv.read),
}


def _format_for(path: Path) -> tuple[Writer, Reader]:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise InputError(
            f"{path}: unknown track format {path.suffix!r}; use one of "
            f"{', '.join(sorted(FORMATS))}",
            field="output",
        ) from None


def save_track(track: FaceTrack, path: str | os.PathLike[str]) -> Path:
    """Write `track` in the format its suffix names, atomically."""
    path = Path(path)
    writer, _ = _format_for(path)
    with atomic_output(path) as tmp:
        writer(track, tmp)
    return path


def load_track(path: str | os.PathLike[str]) -> FaceTrack:
    """Read a track written by `save_track` (or a Live Link Face CSV recording)."""
    path = Path(path)
    _, reader = _format_for(path)
    if not path.is_file():
        raise InputError(f"{path}: no such track file", field="track")
    try:
        return reader(path)
    except InputError:
        raise
    except (ValueError, KeyError, OSError) as exc:
        raise InputError(
            f"{path}: not a readable {path.suffix} track ({exc})", field="track"
        ) from exc
