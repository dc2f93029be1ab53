"""Send many random and malformed requests to a real `emospeaker serve`; report crashes.

A crash is the server process dying, a call that hangs (runs into the deadline), or an
answer other than a deliberate status (INTERNAL, UNKNOWN, UNAVAILABLE). Besides mutated
fields, requests declare what they do not carry: huge frame counts, thousands of channels,
layers and emotion keys, PCM meaning hours, odd and over-fine frame rates. Prints status-code
counts, the server's memory (RSS) before, at each quarter and after (growth that stops is the
renderers loading; growth that goes on is a leak), and how many request log lines it wrote.

    .venv/bin/python scripts/fuzz_grpc.py --requests 10000
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import math
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.channels import ALL_CHANNELS  # noqa: E402
from emospeaker.emotion import EMOTIONS  # noqa: E402
from emospeaker.wire import emospeaker_pb2 as pb  # noqa: E402

DELIBERATE = {
    "OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "UNIMPLEMENTED",
}  # fmt: skip
DEADLINE = 30.0
WILD_FLOATS = [math.nan, math.inf, -math.inf, -1.0, 1e300, -0.0, 5.0, 1e-320]
ODD_RATES = [(1000, 1), (1, 1001), (2**62, 3), (24000, 1001), (300003 * 2**33 + 1, 10000 * 2**33),
             (1, 2**31), (999_999, 1000), (7, 3)]  # fmt: skip


def speech(seconds: float, rng: random.Random) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    tone = np.sin(2 * np.pi * rng.uniform(90, 300) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return (tone * 12000).astype("<i2").tobytes()


def wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(pcm)
    return out.getvalue()


class Requests:
    """Mostly-valid requests with a few random mutations each, and raw corrupted bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pcm = [speech(s, self.rng) for s in (0.2, 0.5, 1.0)]
        self.wavs = [wav(p) for p in self.pcm]

    def animate(self) -> pb.AnimateRequest:
        r = self.rng
        request = pb.AnimateRequest(seed=r.randrange(1000), start_frame=r.randrange(-100, 100))
        if r.random() < 0.5:
            request.audio.encoded = r.choice(self.wavs)
        else:
            request.audio.pcm.CopyFrom(pb.Pcm(samples=r.choice(self.pcm), sample_rate=16000))
        if r.random() < 0.5:
            request.fps.CopyFrom(pb.Rational(num=r.choice([24, 25, 30000, 60]), den=1))
        if r.random() < 0.5:
            key = request.keys.keys.add(seconds=r.uniform(0, 2), interpolation="linear")
            key.intensities[r.choice(EMOTIONS)] = r.uniform(0, 4)
        for _ in range(r.choice([0, 1, 1, 2, 3])):
            r.choice(ANIMATE_MUTATIONS)(self, request)
        return request

    def render(self) -> pb.RenderRequest:
        r = self.rng
        request = pb.RenderRequest(renderer=r.choice(["mesh", "photo", "", "x"]), size=256)
        if r.random() < 0.5:
            request.animate.CopyFrom(self.animate())
        else:
            frames = r.randrange(-1, 20)
            header = pb.TrackHeader(
                channels=ALL_CHANNELS, fps=pb.Rational(num=25, den=1), frames=frames,
                layers=["lips"],
            )  # fmt: skip
            request.track.header.CopyFrom(header)
            chunk = request.track.layers.add(layer="lips", first_frame=0, frames=max(frames, 0))
            chunk.channels.append(r.choice(ALL_CHANNELS[:10] + ("bogus",)))
            count = max(frames, 0) + r.choice([0, 0, 1])
            chunk.values.extend(r.uniform(0, 1) for _ in range(count))
            if r.random() < 0.5:
                self.header(request.track)
        if r.random() < 0.3:
            request.portrait = r.randbytes(r.randrange(200))
        if r.random() < 0.2:
            request.size = r.choice([0, 300, -5, 512])
        if r.random() < 0.2:
            request.face_index = r.randrange(-3, 3)
        return request

    def header(self, track: pb.Track) -> None:
        """What a header declares, not what it carries: huge sizes, many channels and
        layers, odd rates, deep provenance."""
        r = self.rng
        header = track.header
        choice = r.randrange(6)
        if choice == 0:
            header.frames = r.choice([900_001, 2**31 - 1, r.randrange(2**31), 10**6])
        elif choice == 1:
            count = r.choice([62, 1000, 20_000])
            names = [f"c{i}" for i in range(count)] if r.random() < 0.5 else []
            header.ClearField("channels")
            header.channels.extend(names or list(ALL_CHANNELS) * (count // len(ALL_CHANNELS)))
        elif choice == 2:
            header.ClearField("layers")
            header.layers.extend(f"l{i}" for i in range(r.choice([9, 64, 1000, 20_000])))
            header.frames = r.choice([header.frames, 20_000, 900_001])
        elif choice == 3:
            num, den = r.choice(ODD_RATES)
            header.fps.num, header.fps.den = num, den
            header.frames = r.choice([header.frames, 60_000, 2**31 - 1])
        elif choice == 4:
            track.provenance_json = r.choice(["[" * 100_000, '{"a":' * 50_000, "x" * 300_000])
        else:
            for i in range(r.choice([100, 5000])):
                track.layers.add(layer=f"m{i}", first_frame=0, frames=0)

    def raw(self, message: bytes) -> bytes:
        """Serialised bytes, truncated or with bytes flipped."""
        r = self.rng
        data = bytearray(message)
        if data and r.random() < 0.5:
            del data[r.randrange(len(data)) :]
        for _ in range(r.randrange(1, 6)):
            if data:
                data[r.randrange(len(data))] = r.randrange(256)
        return bytes(data)


def _garbage_audio(q: Requests, request: pb.AnimateRequest) -> None:
    request.audio.encoded = q.rng.randbytes(q.rng.randrange(0, 3000))


def _cut_wav(q: Requests, request: pb.AnimateRequest) -> None:
    data = q.rng.choice(q.wavs)
    request.audio.encoded = data[: q.rng.randrange(len(data))]


def _pcm_fields(q: Requests, request: pb.AnimateRequest) -> None:
    r = q.rng
    pcm = pb.Pcm(samples=r.choice(q.pcm)[: r.randrange(1, 2000)], sample_rate=16000)
    setattr(pcm, r.choice(["sample_rate", "channels", "format"]), r.randrange(-5, 500000))
    request.audio.pcm.CopyFrom(pcm)


def _fps(q: Requests, request: pb.AnimateRequest) -> None:
    r = q.rng
    big = 2**63 - 1
    request.fps.num = r.choice([0, -1, big, r.randrange(-big, big)])
    request.fps.den = r.choice([0, -1, 1, big, r.randrange(-big, big)])


def _emotion(q: Requests, request: pb.AnimateRequest) -> None:
    r = q.rng
    key = request.keys.keys.add()
    if r.random() < 0.8:
        key.seconds = r.choice(WILD_FLOATS + [1.0])
    key.intensities[r.choice(list(EMOTIONS) + ["joy", "", "HAPPY"])] = r.choice(WILD_FLOATS)
    key.interpolation = r.choice(["", "linear", "bouncy", "\x00"])


def _curves(q: Requests, request: pb.AnimateRequest) -> None:
    r = q.rng
    request.curves.frames = r.randrange(-3, 50)
    request.curves.values.extend(r.choice(WILD_FLOATS + [0.5]) for _ in range(r.randrange(80)))


def _scalars(q: Requests, request: pb.AnimateRequest) -> None:
    r = q.rng
    choice = r.randrange(6)
    if choice == 0:
        request.engine = r.choice(["nope", "neural", "\u00e9", "default "])
    elif choice == 1:
        request.options[r.choice(["x", "seconds", ""])] = r.choice(["1", "nan", "-1e9"])
    elif choice == 2:
        request.seed = r.randrange(-(2**63), 2**63)
    elif choice == 3:
        request.frames_per_chunk = r.randrange(-(2**31), 2**31)
    elif choice == 4:
        request.start_frame = r.randrange(-(2**63), 2**63)
    else:
        request.transcript = "word " * r.choice([1, 30000])


def _drop_audio(q: Requests, request: pb.AnimateRequest) -> None:
    request.ClearField("audio")


def _many_keys(q: Requests, request: pb.AnimateRequest) -> None:
    r = q.rng
    for i in range(r.choice([100, 1001, 5000, 20_000])):
        request.keys.keys.add(seconds=i * 0.01).intensities[r.choice(EMOTIONS)] = 0.5


def _declared_sizes(q: Requests, request: pb.AnimateRequest) -> None:
    """PCM whose byte count means hours, curves declaring many frames, odd rates."""
    r = q.rng
    choice = r.randrange(3)
    if choice == 0:
        rate = r.choice([1000, 8000, 16000])
        request.audio.pcm.CopyFrom(pb.Pcm(samples=bytes(r.choice([2, 4]) * rate * 6),
                                          sample_rate=rate, format=r.choice([0, 1])))  # fmt: skip
    elif choice == 1:
        request.curves.frames = r.choice([2**31 - 1, 10**6, 100_000])
        request.curves.values.extend([0.5] * 8 * r.choice([1, 1000]))
    else:
        num, den = r.choice(ODD_RATES)
        request.fps.num, request.fps.den = num, den


ANIMATE_MUTATIONS = [
    _garbage_audio, _cut_wav, _pcm_fields, _fps, _emotion, _curves, _scalars, _drop_audio,
    _many_keys, _declared_sizes,
]  # fmt: skip


FUZZ_SERVER_ARGS = ["--max-concurrent", "4", "--max-audio-seconds", "5", "--max-message-mb", "1",
                    "--max-emotion-keys", "1000"]  # fmt: skip


def start_server(
    log_path: Path, server_args: list[str] = FUZZ_SERVER_ARGS
) -> tuple[subprocess.Popen, str]:
    """`emospeaker serve` on a free loopback port, logging to `log_path`; (process, address)."""
    env = {"PYTHONPATH": str(ROOT / "backend"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emospeaker", "serve", "--host", "127.0.0.1", "--port", "0",
         *server_args],
        stdout=subprocess.PIPE,
        stderr=log_path.open("w"),
        text=True,
        env=env,
    )  # fmt: skip
    line = proc.stdout.readline()
    match = re.fullmatch(r"emospeaker serving on (\S+)\n", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}; see {log_path}")
    return proc, match.group(1)


def raw_methods(channel: grpc.Channel) -> dict:
    """Animate and Render taking and returning raw bytes: requests go out as generated."""
    return {
        name: channel.unary_stream(
            f"/emospeaker.v1.EmoSpeaker/{name}",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        for name in ("Animate", "Render")
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        proc, address = start_server(log_path)
        channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)])
        methods = raw_methods(channel)
        gen = Requests(args.seed)
        lock = threading.Lock()

        def one_request() -> tuple[str, bytes]:
            with lock:  # the generator's random state is not thread-safe
                kind = gen.rng.random()
                if kind < 0.6:
                    return "Animate", gen.animate().SerializeToString()
                if kind < 0.8:
                    return "Render", gen.render().SerializeToString()
                name = gen.rng.choice(["Animate", "Render"])
                message = gen.animate() if name == "Animate" else gen.render()
                return name, gen.raw(message.SerializeToString())

        list(methods["Animate"](Requests(1).animate().SerializeToString(), timeout=DEADLINE))
        before = rss_mib(proc.pid)
        counts: collections.Counter[str] = collections.Counter()
        crashes: list[str] = []
        rss_trace: list[str] = []

        def send(_: int) -> None:
            method, data = one_request()
            try:
                for _reply in methods[method](data, timeout=DEADLINE):
                    pass
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
                if code not in DELIBERATE:
                    crashes.append(f"{method}: {code}: {exc.details()}")
            with lock:
                counts[f"{method} {code}"] += 1
                done = sum(counts.values())
                if done % max(1, args.requests // 4) == 0:  # growth that stops is a warm-up
                    rss_trace.append(f"{rss_mib(proc.pid):.1f}")

        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(send, range(args.requests)))
        elapsed = time.perf_counter() - started
        alive = proc.poll() is None
        after = rss_mib(proc.pid) if alive else float("nan")
        proc.terminate()
        proc.wait(30)
        logged = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
        request_lines = sum(1 for x in logged if x.get("event") == "request")
        internal = [x for x in logged if x.get("event") == "internal_error"]

    rate = args.requests / elapsed
    print(f"requests sent        {args.requests} in {elapsed:.1f} s ({rate:.0f}/s)")
    for name, n in sorted(counts.items()):
        print(f"  {name:<32} {n}")
    print(f"crashes              {len(crashes) + (0 if alive else 1)} (server alive: {alive})")
    for crash in crashes[:10]:
        print(f"  {crash}")
    for error in internal[:3]:
        print(f"  server traceback {error['incident']}:\n{error['traceback']}")
    print(f"server RSS           {before:.1f} MiB before, {after:.1f} MiB after")
    print(f"  at each quarter      {' -> '.join(rss_trace)} MiB")
    print(f"request log lines    {request_lines} (+1 warm-up; transport-level refusals unlogged)")
    return 0 if alive and not crashes else 1


if __name__ == "__main__":
    sys.exit(main())
