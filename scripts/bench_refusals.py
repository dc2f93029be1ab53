"""Replay issue 12's attacks against a real `emospeaker serve` on 127.0.0.1 (default limits,
--max-concurrent 2): how each is answered, how fast, and what it costs the server in memory.

Each attack prints its request size, the status, the time to the answer, the server's RSS
after it and its peak RSS so far (VmHWM). Before the fix: the 368-byte header was accepted
(+1.8 GB), 10^6 emotion keys took 23.7 s and +1.04 GB, and a call refused as busy waited 41 s.

    .venv/bin/python scripts/bench_refusals.py
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.channels import ALL_CHANNELS  # noqa: E402
from emospeaker.wire import emospeaker_pb2 as pb  # noqa: E402


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def header_bomb(channels: list[str], frames: int = 900_001, layers: int = 64) -> bytes:
    header = pb.TrackHeader(
        channels=channels, fps=pb.Rational(num=1000, den=1), frames=frames,
        layers=[f"l{i}" for i in range(layers)],
    )  # fmt: skip
    return pb.RenderRequest(renderer="mesh", track=pb.Track(header=header)).SerializeToString()


def many_keys(count: int) -> bytes:
    request = pb.AnimateRequest()
    request.audio.pcm.samples = bytes(32000)
    request.audio.pcm.sample_rate = 16000
    for i in range(count):
        key = request.keys.keys.add(seconds=i * 0.001, interpolation="linear")
        key.intensities["happy"] = 0.5
        key.intensities["sad"] = 0.25
    return request.SerializeToString()


def checkpoint_path() -> bytes:
    request = pb.AnimateRequest(engine="neural", options={"checkpoint": "/etc/passwd"})
    request.audio.pcm.samples = bytes(32000)
    request.audio.pcm.sample_rate = 16000
    return request.SerializeToString()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    args = parser.parse_args()
    env = {"PYTHONPATH": str(ROOT / "backend"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emospeaker", "serve", "--port", "0", "--max-concurrent", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    address = re.fullmatch(r"emospeaker serving on (\S+)\n", proc.stdout.readline()).group(1)
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)])
    calls = {
        name: channel.unary_stream(
            f"/emospeaker.v1.EmoSpeaker/{name}",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        for name in ("Animate", "Render")
    }

    def send(method: str, data: bytes) -> tuple[str, float, str]:
        started = time.perf_counter()
        try:
            list(calls[method](data, timeout=120))
            code, details = "OK", ""
        except grpc.RpcError as exc:
            code, details = exc.code().name, exc.details() or ""
        return code, time.perf_counter() - started, details

    time.sleep(3)  # capabilities warm-up (engine imports) settles
    rss, peak = memory_mib(proc.pid)
    print(f"server at start                RSS {rss:7.1f} MiB  peak {peak:7.1f} MiB")
    keys = many_keys(args.keys)
    attacks = [
        ("368-byte header bomb", "Render", [header_bomb(list(ALL_CHANNELS[:8]))]),
        ("1000 channels", "Render", [header_bomb([f"c{i}" for i in range(1000)], 100)]),
        ("60 s at 1000 fps, 64 layers", "Render", [header_bomb(list(ALL_CHANNELS), 60_000)]),
        ("4 header bombs at once", "Render", [header_bomb(list(ALL_CHANNELS[:8]))] * 4),
        (f"{args.keys} emotion keys", "Animate", [keys]),
        (f"3 x {args.keys} keys at once", "Animate", [keys] * 3),
        ("checkpoint=/etc/passwd", "Animate", [checkpoint_path()]),
    ]
    for name, method, payloads in attacks:
        with ThreadPoolExecutor(len(payloads)) as pool:
            results = list(pool.map(lambda d, m=method: send(m, d), payloads))
        rss, peak = memory_mib(proc.pid)
        print(f"{name:<30} {len(payloads[0]):>10} bytes each  RSS {rss:7.1f} MiB  peak "
              f"{peak:7.1f} MiB")  # fmt: skip
        for code, seconds, details in results:
            print(f"    {code:<20} {seconds * 1000:9.1f} ms  {details[:110]}")
    alive = proc.poll() is None
    proc.terminate()
    proc.wait(30)
    print(f"server alive after all: {alive}")
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
