"""`emospeaker corpus synth|mead|videos`: build a training corpus for the neural engine."""

from __future__ import annotations

import argparse
import shlex
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="build a neural-engine training corpus", description=__doc__)
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    s = kinds.add_parser(
        "synth",
        help="synthetic speech (festival, espeak-ng) with default-engine targets",
        description="Synthetic corpus: Debian voices with emotional prosody; targets from exact "
        "phone timings through the default engine's passes. Reproducible from --seed; a rerun "
        "finishes an interrupted corpus.",
    )
    s.add_argument("out", help="corpus folder (created)")
    s.add_argument("--clips", type=int, default=960, help="number of clips (default 960)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2, help="parallel processes")
    s.add_argument("--voices", help="comma-separated voice names (default: all installed)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(run=run_synth)
    register_mead(kinds)
    register_videos(kinds)


def run_synth(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..speech.synth import VOICES
    from ..train.synthetic import build_corpus
    from .common import progress_bar

    if args.clips < 1:
        raise InputError(f"--clips {args.clips} must be at least 1", field="clips")
    voices = [v.strip() for v in args.voices.split(",")] if args.voices else None
    unknown = [v for v in voices or [] if v not in VOICES]
    if unknown:
        raise InputError(f"unknown voice {unknown[0]!r}; use: {', '.join(VOICES)}", field="voices")
    command = shlex.join(["emospeaker", *sys.argv[1:]]) if sys.argv else ""
    with progress_bar("corpus", args.quiet) as job:
        manifest = build_corpus(args.out, args.clips, args.seed, args.workers, voices, command, job)
    if not args.quiet:
        print(f"wrote {manifest}", file=sys.stderr)
    return 0


def register_mead(kinds: argparse._SubParsersAction) -> None:
    m = kinds.add_parser(
        "mead",
        help="MEAD-layout videos -> FaceTrack targets and AUs (tracked and fitted, cached)",
        description="Preprocess ROOT/<speaker>/video/front/<emotion>/level_<n>/<NNN>.mp4 with "
        "MediaPipe face mesh and the face model's video fit. A rerun skips finished videos.",
    )
    m.add_argument("root", help="dataset root (contains the speaker folders)")
    m.add_argument("out", help="corpus folder (created)")
    m.add_argument("--levels", type=int, default=3, help="trained intensity levels (MEAD: 3)")
    m.add_argument("--val-speakers", default="", help="comma-separated held-out speakers")
    m.add_argument("--workers", type=int, default=1, help="parallel processes")
    m.add_argument("--limit", type=int, default=0, help="only the first N videos")
    m.add_argument("-q", "--quiet", action="store_true")
    m.set_defaults(run=run_mead)


def run_mead(args: argparse.Namespace) -> int:
    from ..train.mead import build_mead_corpus

    speakers = tuple(s.strip() for s in args.val_speakers.split(",") if s.strip())
    return _build_videos(args, build_mead_corpus, val_speakers=speakers, limit=args.limit)


def _build_videos(args: argparse.Namespace, build, **settings) -> int:
    """Run a video-corpus builder with the common arguments, a progress bar and a summary."""
    from .common import progress_bar

    command = shlex.join(["emospeaker", *sys.argv[1:]]) if sys.argv else ""
    with progress_bar("corpus", args.quiet) as job:
        manifest, skipped = build(
            args.root, args.out, levels=args.levels, workers=args.workers, command=command,
            job=job, **settings,
        )  # fmt: skip
    if not args.quiet:
        print(f"wrote {manifest} ({len(skipped)} videos skipped)", file=sys.stderr)
    return 0


def register_videos(kinds: argparse._SubParsersAction) -> None:
    v = kinds.add_parser(
        "videos",
        help="a folder of talking-head clips of one emotion -> FaceTrack targets and AUs",
        description="Preprocess ROOT/<match> videos (e.g. neutral read speech) with MediaPipe "
        "face mesh and the face model's video fit, each against its own resting face, as "
        "`emospeaker capture` does. A rerun skips finished videos.",
    )
    v.add_argument("root", help="folder of videos with their audio")
    v.add_argument("out", help="corpus folder (created)")
    v.add_argument("--match", default="*.mp4", help="file-name pattern (default *.mp4)")
    v.add_argument("--emotion", default="neutral", help="the clips' emotion (default neutral)")
    v.add_argument("--level", type=int, default=1, help="its level, of --levels (default 1)")
    v.add_argument("--levels", type=int, default=3, help="trained intensity levels (default 3)")
    v.add_argument("--val-match", default="", help="file-name pattern of held-out clips")
    v.add_argument("--workers", type=int, default=1, help="parallel processes")
    v.add_argument("-q", "--quiet", action="store_true")
    v.set_defaults(run=run_videos)


def run_videos(args: argparse.Namespace) -> int:
    from ..train.mead import build_flat_corpus

    return _build_videos(args, build_flat_corpus, match=args.match, emotion=args.emotion,
                         level=args.level, val_match=args.val_match)  # fmt: skip
