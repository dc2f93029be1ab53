"""`emospeaker head -o head.glb`: the built-in head as glTF (52 morph targets), optionally
animated by a track (morph weights + head rotation), e.g. for Blender or a game engine."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "head",
        help="export the built-in head (52 ARKit morph targets) as glTF",
        description=__doc__,
    )
    p.add_argument("-o", "--output", default="emospeaker_head.glb", help=".glb or .gltf")
    p.add_argument("--track", help="animate it with this track file (.json, .npz, .csv)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..face.gltf import export_head_gltf
    from ..formats import load_track

    track = load_track(args.track) if args.track else None
    path = export_head_gltf(args.output, track)
    if not args.quiet:
        frames = f" animated over {track.frames} frames" if track else ""
        print(f"wrote {path}{frames}", file=sys.stderr)
    return 0
