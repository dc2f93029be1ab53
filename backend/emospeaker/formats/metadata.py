"""The track metadata shared by the JSON and npz formats (everything but the arrays)."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from ..errors import InputError
from ..track import FaceTrack

FORMAT_NAME = "emospeaker.facetrack"
FORMAT_VERSION = 1


def header(track: FaceTrack) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "fps": [track.fps.numerator, track.fps.denominator],
        "start_frame": track.start_frame,
        "frames": track.frames,
        "channels": list(track.channels),
        # keys sorted at every level: the same track gives the same bytes whether it was
        # made here or arrived from a server (whose provenance JSON is sorted)
        "provenance": json.loads(json.dumps(track.provenance, sort_keys=True)),
    }


def check_header(meta: dict[str, Any]) -> None:
    if meta.get("format") != FORMAT_NAME:
        raise InputError(f"not a FaceTrack file (format is {meta.get('format')!r})", field="format")
    if meta.get("version", 0) > FORMAT_VERSION:
        raise InputError(
            f"FaceTrack version {meta['version']} is newer than this EmoSpeaker reads "
            f"({FORMAT_VERSION}); upgrade EmoSpeaker",
            field="version",
        )


def fps_of(meta: dict[str, Any]) -> Fraction:
    num, den = meta["fps"]
    return Fraction(num, den)
