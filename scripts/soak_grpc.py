"""Soak a real `emospeaker serve` on 127.0.0.1 with mixed calls; report its memory (RSS).

Calls, in a fixed random mix: valid Animate calls, garbage bytes, oversize requests (a huge
track header, too many emotion keys, PCM over the length limit) and calls cancelled after
their first progress message. Failures must not keep memory: RSS is printed at each quarter
of the calls after a warm-up, and the run fails (exit 1) when it keeps growing after the
warm-up, or when any call ends INTERNAL / UNKNOWN / UNAVAILABLE.

Bounded: at most --calls calls and --max-seconds seconds, on loopback only (the script starts
its own server).

    .venv/bin/python scripts/soak_grpc.py --calls 2000
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.channels import ALL_CHANNELS  # noqa: E402
from emospeaker.wire import emospeaker_pb2 as pb  # noqa: E402
from fuzz_grpc import raw_methods, rss_mib, start_server  # noqa: E402

MAX_CALLS = 100_000
WARM_UP_SHARE = 0.2  # of the calls: engine imports, caches and allocator pools fill up
FLAT_MIB = 25.0  # growth after the warm-up that still counts as flat
DELIBERATE = {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "CANCELLED", "FAILED_PRECONDITION"}
SERVER_ARGS = [
    "--max-concurrent", "2", "--max-audio-seconds", "5", "--max-message-mb", "8",
    "--max-emotion-keys", "1000", "--max-track-values", "2000000",
]  # fmt: skip


def speech(seconds: float, rng: random.Random) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    tone = np.sin(2 * np.pi * rng.uniform(90, 300) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return (tone * 12000).astype("<i2").tobytes()


class Mix:
    """The four kinds of call, as (kind, method, request bytes)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.voices = [speech(s, self.rng) for s in (0.3, 0.6, 1.0)]
        self.lock = threading.Lock()

    def next(self) -> tuple[str, str, bytes]:
        with self.lock:
            kind = self.rng.choices(["valid", "garbage", "oversize", "cancelled"], [4, 2, 3, 1])[0]
            return kind, *getattr(self, kind)()

    def _animate(self, seconds_index: int) -> pb.AnimateRequest:
        pcm = pb.Pcm(samples=self.voices[seconds_index], sample_rate=16000)
        request = pb.AnimateRequest(audio=pb.Audio(pcm=pcm), seed=self.rng.randrange(100))
        request.keys.keys.add(seconds=0.1).intensities["happy"] = self.rng.uniform(0, 1)
        return request

    def valid(self) -> tuple[str, bytes]:
        return "Animate", self._animate(self.rng.randrange(3)).SerializeToString()

    def cancelled(self) -> tuple[str, bytes]:
        return "Animate", self._animate(2).SerializeToString()

    def garbage(self) -> tuple[str, bytes]:
        method = self.rng.choice(["Animate", "Render"])
        return method, self.rng.randbytes(self.rng.randrange(1, 4000))

    def oversize(self) -> tuple[str, bytes]:
        r = self.rng
        choice = r.randrange(3)
        if choice == 0:  # a few hundred bytes declaring a huge track
            header = pb.TrackHeader(
                channels=ALL_CHANNELS[:8], fps=pb.Rational(num=1000, den=1),
                frames=r.choice([900_001, 2**31 - 1, 4_000]), layers=[f"l{i}" for i in range(64)],
            )  # fmt: skip
            request = pb.RenderRequest(renderer="mesh", size=256, track=pb.Track(header=header))
            return "Render", request.SerializeToString()
        request = self._animate(0)
        if choice == 1:  # too many emotion keys (~0.5 MB)
            for i in range(20_000):
                request.keys.keys.add(seconds=i * 0.001).intensities["sad"] = 0.5
        else:  # PCM over the length limit (~1 MB)
            request.audio.pcm.samples = bytes(2 * 16000 * 30)
        return "Animate", request.SerializeToString()


def call(methods: dict, kind: str, method: str, data: bytes) -> str:
    stream = methods[method](data, timeout=60)
    try:
        for _ in stream:
            if kind == "cancelled":
                stream.cancel()
        return "OK"
    except grpc.RpcError as exc:
        return exc.code().name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help=f"at most {MAX_CALLS}")
    parser.add_argument("--max-seconds", type=float, default=900, help="stop early after this")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    calls = max(8, min(args.calls, MAX_CALLS))

    with tempfile.TemporaryDirectory() as tmp:
        proc, address = start_server(Path(tmp) / "server.log", SERVER_ARGS)
        channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)])
        methods = raw_methods(channel)
        mix = Mix(args.seed)
        counts: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        warm_up = int(calls * WARM_UP_SHARE)
        quarter = max(1, (calls - warm_up) // 4)
        trace: list[tuple[int, float]] = []
        deadline = time.monotonic() + args.max_seconds

        def send(_: int) -> None:
            if time.monotonic() > deadline or proc.poll() is not None:
                return
            kind, method, data = mix.next()
            code = call(methods, kind, method, data)
            with lock:
                counts[(kind, code)] += 1
                done = sum(counts.values())
                if done == warm_up or (done > warm_up and (done - warm_up) % quarter == 0):
                    trace.append((done, rss_mib(proc.pid)))

        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(send, range(calls)))
        elapsed = time.perf_counter() - started
        alive = proc.poll() is None
        proc.terminate()
        proc.wait(60)
        channel.close()

    done = sum(counts.values())
    print(f"calls                {done} of {calls} in {elapsed:.1f} s (server alive: {alive})")
    for (kind, code), n in sorted(counts.items()):
        print(f"  {kind:<10} {code:<22} {n}")
    print("server RSS (MiB) after warm-up and at each quarter:")
    for n, rss in trace:
        print(f"  after {n:>6} calls   {rss:8.1f}")
    bad = sum(n for (_, code), n in counts.items() if code not in DELIBERATE)
    growth = trace[-1][1] - trace[0][1] if len(trace) > 1 else float("nan")
    flat = len(trace) > 1 and growth <= FLAT_MIB
    print(f"growth after warm-up {growth:+.1f} MiB ({'flat' if flat else 'NOT flat'}, "
          f"allowed {FLAT_MIB:g}); undeliberate statuses: {bad}")  # fmt: skip
    return 0 if alive and flat and bad == 0 and done == calls else 1


if __name__ == "__main__":
    sys.exit(main())
