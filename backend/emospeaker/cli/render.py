"""`emospeaker render --image PORTRAIT AUDIO -o out.mp4`: a talking video of a portrait.

Animates AUDIO with the emotion keys (or takes a finished --track) and renders it with the
photo renderer (or, without --image, the built-in head of the mesh renderer).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..audio import DEFAULT_MAX_SECONDS, Audio
from ..engines import engine_names
from ..errors import InputError
from ..jobs import Job
from ..track import DEFAULT_FPS, FaceTrack
from .common import (
    add_emotion_args,
    add_remote_args,
    emotion_from_args,
    parse_options,
    progress_bar,
    text_or_file,
)

SIZE_CHOICES = {"256": 256, "512": 512, "full": 0}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render", help="render a talking video (photo or built-in head) to mp4", description=__doc__
    )
    p.add_argument("audio", nargs="?", help="speech to animate and to put in the video")
    p.add_argument("-o", "--output", help="video file (.mp4); default: AUDIO's name with .mp4")
    p.add_argument("--image", metavar="PORTRAIT", help="portrait photo (jpg, png, ...)")
    p.add_argument("--track", help="render this FaceTrack (.json, .npz, .csv) instead of animating")
    p.add_argument(
        "--size",
        choices=SIZE_CHOICES,
        default="512",
        help="256 or 512: a square crop around the face; full: the whole portrait (default 512)",
    )
    p.add_argument("--face", type=int, metavar="N", help="which face, 0 = leftmost")
    p.add_argument("--renderer", help="photo (default with --image) or mesh")
    add_emotion_args(p)
    p.add_argument("--transcript", help="what is said (text or a .txt file)")
    p.add_argument("--fps", help="frame rate when animating, e.g. 25 or 30000/1001 (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed for blinks, gaze and head drift")
    p.add_argument("--engine", default="default", choices=engine_names())
    p.add_argument("--option", action="append", metavar="NAME=VALUE", help="engine option")
    p.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_remote_args(p, "render")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.audio and not args.track:
        raise InputError("give the speech (AUDIO) or a finished --track", field="audio")
    if args.track and (args.emotion or args.emotion_keys or args.transcript or args.fps):
        raise InputError(
            "--track is already animated: --emotion, --emotion-keys, --transcript and --fps "
            "apply only when animating AUDIO",
            field="track",
        )
    output = Path(args.output or Path(args.audio or args.track).with_suffix(".mp4").name)
    from ..render.video import container_for

    container_for(output, "mp4" if args.server else None)  # a refused one costs no work
    renderer = args.renderer or ("photo" if args.image else "mesh")
    started = time.perf_counter()
    with progress_bar("render", args.quiet) as job:
        if args.server:
            frames = _render_remote(args, renderer, output, job)
        else:
            frames = _render_local(args, renderer, output, job)
    if not args.quiet:
        elapsed = time.perf_counter() - started
        where = f" on {args.server}" if args.server else ""
        print(
            f"wrote {output}: {frames} frames in {elapsed:.1f} s "
            f"({frames / elapsed:.1f} frames/s, {renderer} renderer{where})",
            file=sys.stderr,
        )
    return 0


def _render_local(args: argparse.Namespace, name: str, output: Path, job: Job) -> int:
    from ..render import get_renderer

    renderer = get_renderer(name)
    portrait = _read_image(args.image) if args.image else None
    if renderer.needs_portrait and portrait is None:
        raise InputError(f"the {name} renderer needs --image PORTRAIT", field="image")
    audio, track, render_job = load_motion(args, job, 0.1)
    renderer.render(
        track,
        output,
        audio=audio,
        portrait=portrait,
        size=SIZE_CHOICES[args.size],
        face_index=args.face,
        job=render_job,
    )
    return track.frames


def load_motion(
    args: argparse.Namespace, job: Job, share: float
) -> tuple[Audio | None, FaceTrack, Job]:
    """AUDIO (if given) and what to render: the --track file, or AUDIO animated with the
    emotion and engine arguments in the first `share` of `job`; and the part of `job` left
    for rendering. Shared by `render` and `preview`."""
    from ..api import animate
    from ..audio import load_audio
    from ..formats import load_track

    audio = load_audio(args.audio, max_seconds=args.max_audio_seconds) if args.audio else None
    if args.track:
        return audio, load_track(args.track), job
    track = animate(audio, emotion_from_args(args), job=job.part(0, share), **_settings(args))
    return audio, track, job.part(share, 1)


def _render_remote(args: argparse.Namespace, name: str, output: Path, job: Job) -> int:
    """The same render on an `emospeaker serve` backend; the video streams into `output`."""
    from ..formats import load_track
    from ..remote import call_errors, connect, remote_request
    from ..server.convert import track_to_wire
    from ..wire import client as wc

    for path, field in ((args.audio, "audio"), (args.image, "image"), (args.track, "track")):
        if path and not Path(path).is_file():
            raise InputError(f"{path}: no such {field} file", field=field)
    if args.track:
        motion = {"track": track_to_wire(load_track(args.track))}
        if args.audio:
            motion["audio"] = wc.audio_file(args.audio)
    else:
        motion = {"animate": remote_request(args.audio, emotion_from_args(args), **_settings(args))}
    request = wc.render_request(
        name,
        portrait=args.image,
        size=SIZE_CHOICES[args.size],
        face_index=args.face,
        **motion,
    )
    with connect(args.server, token=args.token, tls_root_cert=args.tls_ca, tls=args.tls) as client:
        stream = client.render(request, timeout=args.timeout, cancel_event=job.cancel_event)
        with call_errors(stream, job):
            result = stream.save(output, job.progress)
    return result.frames


def _settings(args: argparse.Namespace) -> dict:
    return dict(
        fps=args.fps or DEFAULT_FPS,
        transcript=text_or_file(args.transcript, "transcript"),
        engine=args.engine,
        seed=args.seed,
        options=parse_options(args.option),
    )


def _read_image(path: str):
    """RGB uint8 pixels of an image file; InputError naming the file otherwise (a decompression
    bomb is refused from its header, before decoding)."""
    from ..render.portrait.image import decode_portrait

    if not Path(path).is_file():
        raise InputError(f"{path}: no such image file", field="image")
    return decode_portrait(Path(path).read_bytes(), path, field="image")
