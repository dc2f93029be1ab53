"""`emospeaker info`: channels, emotions, engines, formats and versions."""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform

from .. import __version__
from ..channels import ALL_CHANNELS
from ..emotion import EMOTIONS, INTERPOLATIONS, MAX_INTENSITY


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info", help="list channels, emotions, engines and versions", description=__doc__
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def describe() -> dict:
    from ..engines import ENGINES, get_engine
    from ..formats import FORMATS

    engines = {}
    for name in ENGINES:
        try:
            e = get_engine(name)
            engines[name] = {
                "version": e.version,
                "description": e.description,
                "options": {
                    k: {"default": o.default, "help": o.help} for k, o in e.options.items()
                },
            }
        except ImportError as exc:  # optional dependency missing
            engines[name] = {"unavailable": str(exc)}
    optional = ("torch", "grpc", "mediapipe", "pyrender", "librosa")
    return {
        "emospeaker": __version__,
        "python": platform.python_version(),
        "channels": list(ALL_CHANNELS),
        "emotions": list(EMOTIONS),
        "intensity_range": [0.0, MAX_INTENSITY],
        "interpolations": list(INTERPOLATIONS),
        "engines": engines,
        "track_formats": sorted(FORMATS),
        "optional_packages": {m: importlib.util.find_spec(m) is not None for m in optional},
    }


def run(args: argparse.Namespace) -> int:
    info = describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"EmoSpeaker {info['emospeaker']} (Python {info['python']})")
    print(
        f"emotions ({len(info['emotions'])}): {', '.join(info['emotions'])}; intensity "
        f"{info['intensity_range'][0]:g}..{info['intensity_range'][1]:g}"
    )
    print(f"channels ({len(info['channels'])}): {', '.join(info['channels'])}")
    print("engines:")
    for name, e in info["engines"].items():
        if "unavailable" in e:
            print(f"  {name}: unavailable ({e['unavailable']})")
            continue
        print(f"  {name} {e['version']}: {e['description']}")
        for opt, spec in e["options"].items():
            print(f"    --option {opt}=... (default {spec['default']}): {spec['help']}")
    print(f"track formats: {', '.join(info['track_formats'])}")
    print(
        "optional packages: "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in info["optional_packages"].items())
    )
    return 0
