"""`emospeaker capture VIDEO -o track.json`: a talking-head video -> FaceTrack."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

from ..face import DEFAULT_SMOOTHING
from .common import progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="capture a FaceTrack from a talking-head video (MediaPipe landmarks + fitting)",
        description=__doc__,
    )
    p.add_argument("video", help="a video file with one face (mp4, mov, webm, ...)")
    p.add_argument(
        "-o", "--output", help="track file: .json, .npz or .csv; default: VIDEO's name with .json"
    )
    p.add_argument(
        "--smoothing",
        type=float,
        default=DEFAULT_SMOOTHING,
        help=f"temporal smoothing of the weights, 0 = none (default {DEFAULT_SMOOTHING})",
    )
    p.add_argument("--layer", default="performance", help="name of the track's layer")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=run)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..face.fit import fit_video
    from ..face.landmarks import track_video
    from ..formats import save_track

    video = Path(args.video)
    output = Path(args.output or video.with_suffix(".json").name)
    if args.smoothing < 0:
        raise InputError("--smoothing must be >= 0", field="smoothing")
    started = time.perf_counter()
    with progress_bar("capture", args.quiet) as job:
        landmarks = track_video(video, job.part(0.0, 0.9))
        track = fit_video(
            landmarks,
            job.part(0.9, 1.0),
            smoothing=args.smoothing,
            layer=args.layer,
            provenance={"source": video.name, "source_sha256": _sha256(video)},
        )
    save_track(track, output)
    if not args.quiet:
        found = track.provenance["frames_with_face"]
        print(
            f"wrote {output}: {track.frames} frames at {track.fps} fps, face in {found}, "
            f"median fit error {track.provenance['median_error_mm']} mm, "
            f"in {time.perf_counter() - started:.2f} s",
            file=sys.stderr,
        )
    return 0
