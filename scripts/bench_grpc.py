"""Benchmark the gRPC backend: 60 s of speech over loopback versus in-process.

Measures time to first frame and total time (median of --runs) for the same WAV bytes:
in-process = decode + `api.animate` (every frame exists only when the track is done);
remote = the pure-Python client (what the Blender add-on uses) against `emospeaker serve`
in its own process, until the assembled track. Then throughput with --clients concurrent
clients. Target: remote overhead <= 10%.

    PYTHONPATH=backend python scripts/bench_grpc.py [--runs 15] [--clients 8] [--engine NAME]
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.api import animate  # noqa: E402
from emospeaker.audio import SAMPLE_RATE, load_audio  # noqa: E402
from emospeaker.emotion import EmotionTimeline  # noqa: E402
from emospeaker.server.convert import timeline_to_wire  # noqa: E402
from emospeaker.wire import client as wc  # noqa: E402
from emospeaker.wire import emospeaker_pb2 as pb  # noqa: E402

KEYS = "0s=neutral:0,10s=happy:0.8,25s=sad:0.6@linear,40s=surprised:1,50s=angry:0.5"


def speech_wav(seconds: float) -> bytes:
    """`seconds` of festival speech: samples/hello.flac repeated, as 16-bit WAV bytes."""
    hello = load_audio(ROOT / "samples" / "hello.flac").samples
    samples = np.resize(hello, int(seconds * SAMPLE_RATE))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def local_once(data: bytes, engine: str) -> tuple[float, float, int]:
    started = time.perf_counter()
    audio = load_audio(data, name="bench.wav")
    track = animate(audio, EmotionTimeline.parse(KEYS), fps=30, engine=engine)
    total = time.perf_counter() - started
    return total, total, track.frames


def remote_once(client: wc.Client, request: pb.AnimateRequest) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = None
    assembler = wc.TrackAssembler()
    for event in client.animate(request):
        if first is None and isinstance(event, pb.FrameChunk):
            first = time.perf_counter() - started
        assembler.add(event)
    track = assembler.track()
    return first, time.perf_counter() - started, track.frames


def medians(runs: list[tuple[float, float, int]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def start_server(clients: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "emospeaker", "serve", "--port", "0"]
        + ["--max-concurrent", str(clients)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={"PYTHONPATH": str(ROOT / "backend"), "PATH": "/usr/bin:/bin"},
    )
    match = re.fullmatch(r"emospeaker serving on (\S+)\n", proc.stdout.readline())
    if not match:
        raise SystemExit("the server did not start")
    return proc, match.group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--engine", default="default")
    args = parser.parse_args()

    data = speech_wav(args.seconds)
    keys = timeline_to_wire(EmotionTimeline.parse(KEYS))
    audio = wc.audio_bytes(data, "bench.wav")
    request = wc.animate_request(audio, fps=30, emotion=keys, engine=args.engine)
    proc, address = start_server(args.clients)
    try:
        with wc.Client(address) as client:
            local_once(data, args.engine)  # warm-up: imports, engine pools, caches
            remote_once(client, request)
            local, remote = [], []
            for _ in range(args.runs):  # interleaved, so both see the same machine load
                local.append(local_once(data, args.engine))
                remote.append(remote_once(client, request))
            frames = local[0][2]
            assert remote[0][2] == frames
            l_first, l_total = medians(local)
            r_first, r_total = medians(remote)
            l_best, r_best = min(r[1] for r in local), min(r[1] for r in remote)

            def batch(_: int) -> None:
                remote_once(client, request)

            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(batch, range(args.clients * 2)))
            elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)

    clips = args.clients * 2
    mb = len(data) / 1e6
    print(
        f"clip: {args.seconds:g} s of speech, {mb:.2f} MB WAV, {frames} frames at 30 fps, "
        f"engine {args.engine!r}"
    )
    print(f"median of {args.runs} runs       in-process   over loopback   overhead")
    rows = (("time to first frame", l_first, r_first), ("total", l_total, r_total))
    for name, here, there in rows:
        extra = (there - here) * 1000
        print(
            f"  {name:<20} {here * 1000:9.1f} ms {there * 1000:11.1f} ms "
            f"{there / here - 1:+9.1%} ({extra:+.1f} ms)"
        )
    print(
        f"  best total           {l_best * 1000:9.1f} ms {r_best * 1000:11.1f} ms "
        f"{r_best / l_best - 1:+9.1%} ({(r_best - l_best) * 1000:+.1f} ms)"
    )
    print(
        f"throughput, {args.clients} concurrent clients: {clips} clips in {elapsed:.2f} s = "
        f"{clips / elapsed:.2f} clips/s = {clips * args.seconds / elapsed:.0f} s of audio per "
        f"second (one in-process caller: {1 / l_total:.2f} clips/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
