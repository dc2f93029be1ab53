"""`emospeaker animate AUDIO -o track.json`: speech + emotion -> FaceTrack file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..audio import DEFAULT_MAX_SECONDS
from ..engines import engine_names
from ..track import DEFAULT_FPS
from .common import (
    add_emotion_args,
    add_remote_args,
    emotion_from_args,
    parse_options,
    progress_bar,
    text_or_file,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "animate", help="animate speech into a FaceTrack (json, npz or csv)", description=__doc__
    )
    p.add_argument("audio", help="speech: wav, flac, ogg, mp3, m4a or a video file")
    p.add_argument(
        "-o",
        "--output",
        help="track file: .json, .npz or .csv (Live Link Face); default: AUDIO's name with .json",
    )
    p.add_argument(
        "--transcript", help="what is said (text or a .txt file): enables forced alignment"
    )
    add_emotion_args(p)
    p.add_argument(
        "--fps",
        default=str(DEFAULT_FPS),
        help=f"frame rate, e.g. 24, 25, 30000/1001 (default {DEFAULT_FPS})",
    )
    p.add_argument("--start-frame", type=int, default=0, help="timeline frame of audio time 0")
    p.add_argument("--seed", type=int, default=0, help="seed for blinks, gaze and head drift")
    p.add_argument("--engine", default="default", choices=engine_names())
    p.add_argument(
        "--option",
        action="append",
        metavar="NAME=VALUE",
        help="engine option (see `emospeaker info`); repeatable",
    )
    p.add_argument(
        "--emotion-poses",
        metavar="FILE.json",
        help="a character's own emotion poses and gains (the Blender add-on's Export Poses "
        "format); its gains are engine options that --option overrides",
    )
    p.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_remote_args(p, "animate")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..api import animate
    from ..audio import load_audio
    from ..formats import save_track
    from ..poses import load_poses

    output = Path(args.output or Path(args.audio).with_suffix(".json").name)
    timeline = emotion_from_args(args)
    transcript = text_or_file(args.transcript, "transcript")
    options = parse_options(args.option)
    poses = None
    if args.emotion_poses:
        poses, gains = load_poses(args.emotion_poses)
        options = {**_engine_gains(args.engine, gains), **options}
    started = time.perf_counter()
    settings = dict(
        fps=args.fps,
        start_frame=args.start_frame,
        transcript=transcript,
        engine=args.engine,
        seed=args.seed,
        options=options,
        emotion_poses=poses,
    )
    with progress_bar("animate", args.quiet) as job:
        if args.server:
            track = _animate_remote(args, timeline, settings, job)
        else:
            audio = load_audio(args.audio, max_seconds=args.max_audio_seconds)
            track = animate(audio, timeline, job=job, **settings)
    save_track(track, output)
    for warning in track.provenance.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        elapsed = time.perf_counter() - started
        print(
            f"wrote {output}: {track.frames} frames at {track.fps} fps "
            f"({track.duration:.2f} s of audio) in {elapsed:.2f} s "
            f"[{track.provenance['engine']} {track.provenance['engine_version']}"
            f"{' on ' + args.server if args.server else ''}]",
            file=sys.stderr,
        )
    return 0


def _engine_gains(engine: str, gains: dict[str, float]) -> dict[str, str]:
    """The character's gains the engine has options for; the others are named and dropped
    (the neural engine has no lip_gain, head_motion or blink_rate)."""
    from ..engines import get_engine

    try:
        known = set(get_engine(engine).options)
    except Exception:  # noqa: BLE001 - not installed here (a remote engine): send them all
        return {k: str(v) for k, v in gains.items()}
    dropped = sorted(set(gains) - known)
    if dropped:
        print(
            f"warning: engine {engine!r} has no option {', '.join(dropped)}: ignored",
            file=sys.stderr,
        )
    return {k: str(v) for k, v in gains.items() if k in known}


def _animate_remote(args: argparse.Namespace, timeline: Any, settings: dict, job: Any) -> Any:
    from ..errors import InputError
    from ..remote import animate_remote, connect, remote_request

    if not Path(args.audio).is_file():
        raise InputError(f"{args.audio}: no such audio file", field="audio")
    request = remote_request(args.audio, timeline, **settings)
    with connect(args.server, token=args.token, tls_root_cert=args.tls_ca, tls=args.tls) as client:
        return animate_remote(client, request, job=job, timeout=args.timeout)
