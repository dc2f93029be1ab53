"""Speed of the neural engine: 60 s of speech animated, median of 5 runs, vs real time.

    python scripts/bench_neural.py [--seconds 60] [--runs 5] [--threads 2] [--checkpoint PATH]

Prints the cold first call (model load included), the median warm wall time, the real-time
factor (target >= 30x on a 2-core CPU) and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.api import animate  # noqa: E402
from emospeaker.audio import Audio, load_audio  # noqa: E402
from emospeaker.emotion import EmotionTimeline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint", default="", help="default: the shipped model")
    parser.add_argument("--no-eyes", action="store_true", help="network only, no eyes pass")
    parser.add_argument("--fps", default="30")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    sample = load_audio(ROOT / "samples" / "hello.flac").samples
    repeats = int(np.ceil(args.seconds * 16000 / len(sample)))
    audio = Audio(np.tile(sample, repeats)[: int(args.seconds * 16000)], "bench")
    keys = EmotionTimeline.parse("0s=neutral:0,10s=happy:1,25s=angry:0.6,40s=sad:1.3@linear")
    options = {"checkpoint": args.checkpoint, "eyes": not args.no_eyes}

    def once() -> float:
        start = time.perf_counter()
        track = animate(audio, keys, fps=args.fps, engine="neural", options=options)
        assert track.frames > 0
        return time.perf_counter() - start

    cold = once()
    warm = [once() for _ in range(args.runs)]
    median = statistics.median(warm)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"neural engine, {args.seconds:g} s of speech at {args.fps} fps, "
          f"{args.threads} torch threads, eyes={'off' if args.no_eyes else 'on'}")  # fmt: skip
    print(f"  cold first call (loads the model): {cold:.3f} s")
    print(f"  warm median of {args.runs}: {median:.3f} s  (runs: "
          f"{', '.join(f'{w:.3f}' for w in warm)})")  # fmt: skip
    print(f"  real-time factor: {args.seconds / median:.0f}x (target >= 30x)")
    print(f"  peak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
