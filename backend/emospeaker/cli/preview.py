"""`emospeaker preview AUDIO -o out.mp4`: the built-in head speaking, rendered offscreen.

With AUDIO the default (or chosen) engine animates it; `--track` renders an existing track
(AUDIO, if given, is muxed as its sound); `--sheet` renders a labelled contact sheet of all
52 shapes and, a row per intensity (0.5, 1, 1.5), the eight emotions as the engine's emotion
layer shapes them, instead of a video.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..audio import DEFAULT_MAX_SECONDS
from ..engines import engine_names
from .common import add_emotion_args, progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preview",
        help="render the built-in head driven by speech or a track to mp4 (or a contact sheet)",
        description=__doc__,
    )
    p.add_argument("audio", nargs="?", help="speech to animate (or to mux with --track)")
    p.add_argument("-o", "--output", help="mp4 to write; default: AUDIO's or TRACK's name .mp4")
    p.add_argument("--track", help="render this track file (.json, .npz, .csv) instead")
    p.add_argument("--sheet", metavar="PNG", help="write a contact sheet of shapes and emotions")
    add_emotion_args(p)
    p.add_argument("--fps", default="30", help="frame rate when animating AUDIO (default 30)")
    p.add_argument(
        "--size", type=int, help="video width and height (default 512), or a sheet's tile (256)"
    )
    p.add_argument("--transcript", help="what is said (text or .txt): forced alignment")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", default="default", choices=engine_names())
    p.add_argument("--option", action="append", metavar="NAME=VALUE", help="engine option")
    p.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..render.video import container_for

    started = time.perf_counter()
    if args.sheet:
        return _sheet(args, started)
    if not args.audio and not args.track:
        raise InputError("give AUDIO to animate, --track to render, or --sheet", field="audio")
    from ..render.preview import MeshRenderer
    from .render import load_motion

    size = args.size or 512
    source = Path(args.track or args.audio)
    output = Path(args.output or source.with_suffix(".mp4").name)
    container_for(output)  # a refused extension costs no work
    with progress_bar("preview", args.quiet) as job:
        audio, track, render_job = load_motion(args, job, 0.3)
        MeshRenderer().render(track, output, audio=audio, size=size, job=render_job)
    if not args.quiet:
        print(
            f"wrote {output}: {track.frames} frames at {track.fps} fps, {size}x{size}"
            f"{' with sound' if audio else ''} in {time.perf_counter() - started:.2f} s",
            file=sys.stderr,
        )
    return 0


SHEET_INTENSITIES = (0.5, 1.0, 1.5)


def _sheet(args: argparse.Namespace, started: float) -> int:
    from ..render.preview import SHEET_COLUMNS, contact_sheet, emotion_tiles, shape_tiles

    with progress_bar("sheet", args.quiet) as job:
        tiles = shape_tiles()
        tiles += [None] * (-len(tiles) % SHEET_COLUMNS)  # emotions start a row
        for intensity in SHEET_INTENSITIES:
            tiles += emotion_tiles(args.engine, intensity)
        contact_sheet(args.sheet, tiles, tile=args.size or 256, job=job)
    if not args.quiet:
        print(
            f"wrote {args.sheet}: {len(tiles)} tiles in {time.perf_counter() - started:.2f} s",
            file=sys.stderr,
        )
    return 0
