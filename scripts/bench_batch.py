"""Batch benchmark: N dialogue lines of 2-8 s speech, animated four ways.

    PYTHONPATH=backend python scripts/bench_batch.py [--lines 200] [--loop-lines 200]
        [--skip-ray] [--json results.json]

1. `emospeaker batch --jobs 1`: one process, warm engines, one line after another; and
   `emospeaker batch` as it runs by default: one warm worker process per core;
2. a loop of `emospeaker animate` calls, one process per line (what studios do today);
3. `emospeaker batch --ray` with two one-CPU workers on a local Ray cluster (a head and a
   second node on 127.0.0.1, started and stopped here);
4. a loop of Rhubarb Lip Sync (`rhubarb` on PATH) if installed, else a note.

The lines are the project's own synthesised speech (espeak-ng voices, varied rate and
length). Reports lines per minute, audio seconds per wall second and peak memory: the
largest summed RSS of the mode's process tree, sampled every 50 ms (for Ray: the driver
plus every process of the cluster). Target (issue 14): batch >= 3x the animate loop.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.speech import synthesize  # noqa: E402
from emospeaker.speech.sentences import SENTENCES  # noqa: E402

VOICES = ("en-us", "en-us+f1", "en-us+belinda", "en-gb-x-rp+m3")
EMOTIONS = ("happy:0.8", "sad:0.6", "angry:1", "surprised:0.5+happy:0.3", "")
TARGET_SPEEDUP = 3.0


def make_lines(folder: Path, count: int, seed: int = 0) -> tuple[Path, float]:
    """`count` wav files of 2-8 s and a manifest; returns it and the total audio seconds."""
    rng = random.Random(seed)
    rows, total = [], 0.0
    for n in range(count):
        words = " ".join(rng.sample(SENTENCES, 2)).split()
        size = rng.randint(4, len(words))
        while True:
            utt = synthesize(
                " ".join(words[:size]), rng.choice(VOICES), rate=rng.uniform(0.85, 1.2)
            )
            if utt.duration > 8 and size > 3:
                size -= 3
            elif utt.duration < 2 and size < len(words):
                size += 3
            else:
                break
        sf.write(folder / f"line{n:04d}.wav", utt.audio.samples, 16000)
        total += utt.duration
        rows.append(f"line{n:04d}.wav,{EMOTIONS[n % len(EMOTIONS)]},line{n:04d}")
    manifest = folder / "lines.csv"
    manifest.write_text("audio,emotion,output\n" + "\n".join(rows) + "\n")
    return manifest, total


# ---------------------------------------------------------------------------------------------
# Memory of a process tree, from /proc


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TreeMemory:
    """Peak summed RSS of the processes under `roots()` while the block runs."""

    def __init__(self, roots: Callable[[], list[int]]) -> None:
        self.roots, self.peak_mb = roots, 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            tree, seen, todo = _children(), set(), list(self.roots())
            while todo:
                pid = todo.pop()
                if pid not in seen:
                    seen.add(pid)
                    todo.extend(tree.get(pid, []))
            self.peak_mb = max(self.peak_mb, sum(_rss_mb(p) for p in seen))

    def __enter__(self) -> TreeMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------------------------
# The modes


def env() -> dict[str, str]:
    ray = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}  # a throwaway cluster
    return {**os.environ, "PYTHONPATH": str(ROOT / "backend"), **ray}


def emospeaker(*args: str) -> list[str]:
    return [sys.executable, "-m", "emospeaker", *args]


def timed(commands: list[list[str]], cwd: Path, extra_roots: list[int] | None = None) -> dict:
    """Run commands one after another; wall time and peak tree memory."""
    current: list[int] = []
    roots = lambda: current + (extra_roots or [])  # noqa: E731
    started = time.perf_counter()
    with TreeMemory(roots) as memory:
        for command in commands:
            proc = subprocess.Popen(command, cwd=cwd, env=env(), stderr=subprocess.PIPE)
            current[:] = [proc.pid]
            _, err = proc.communicate()
            if proc.returncode not in (0,):
                raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-2000:]}")
    return {"wall_s": time.perf_counter() - started, "peak_mb": memory.peak_mb}


def mode_batch(folder: Path, *jobs: str) -> dict:
    out = f"out_batch{''.join(jobs)}"
    return timed([emospeaker("batch", "lines.csv", "-o", out, "-q", *jobs)], folder)


def mode_animate_loop(folder: Path, count: int) -> dict:
    calls = [
        emospeaker("animate", f"line{n:04d}.wav", "-o", f"out_loop/line{n:04d}.json", "-q")
        for n in range(count)
    ]
    (folder / "out_loop").mkdir(exist_ok=True)
    return timed(calls, folder)


def mode_ray(folder: Path) -> dict:
    temp = Path(tempfile.mkdtemp(prefix="esbench", dir="/tmp"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = str(Path(sys.executable).with_name("ray"))
    common = ["start", "--block", "--num-cpus", "1", "--disable-usage-stats"]
    nodes = [
        [ray, *common, "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--include-dashboard", "false", "--temp-dir", str(temp)],
        [ray, *common, "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1"],
    ]  # fmt: skip
    procs = []
    try:
        for command in nodes:
            procs.append(subprocess.Popen(command, env={**env(), "RAY_TMPDIR": str(temp)},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True))  # fmt: skip
            time.sleep(8)  # a node registers within a few seconds
        command = emospeaker("batch", "lines.csv", "-o", "out_ray", "-q")
        command += ["--ray", f"127.0.0.1:{port}", "--jobs", "2"]
        return timed([command], folder, extra_roots=[p.pid for p in procs])
    finally:
        for proc in procs:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(15)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        shutil.rmtree(temp, ignore_errors=True)


def mode_rhubarb(folder: Path, count: int) -> dict | str:
    rhubarb = shutil.which("rhubarb")
    if rhubarb is None:
        return "skipped: Rhubarb Lip Sync is not installed (not a dependency; put it on PATH)"
    calls = [[rhubarb, "-q", "-f", "json", "-o", f"line{n:04d}.rhubarb.json",
              f"line{n:04d}.wav"] for n in range(count)]  # fmt: skip
    return timed(calls, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--loop-lines", type=int, help="lines for the per-process loops")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument(
        "--modes",
        default="batch1,batch,loop,ray,rhubarb",
        help="comma list of batch1, batch, loop, ray, rhubarb (default: all)",
    )
    parser.add_argument("--keep", type=Path, help="keep the lines and outputs in this folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="emospeaker-bench-batch-"))
    folder.mkdir(parents=True, exist_ok=True)
    loop = min(args.loop_lines or args.lines, args.lines)
    _, audio = make_lines(folder, args.lines)
    loop_audio = sum(sf.info(folder / f"line{n:04d}.wav").duration for n in range(loop))
    print(f"{args.lines} lines, {audio:.1f} s of speech ({loop} in the per-process loops), "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    results: dict[str, dict | str] = {}
    modes = set(args.modes.split(",")) - ({"ray"} if args.skip_ray else set())
    runs = [
        ("batch1", "batch, one process", lambda: mode_batch(folder, "--jobs", "1"), args.lines),
        ("batch", "batch, worker per core", lambda: mode_batch(folder), args.lines),
        ("loop", "loop of animate", lambda: mode_animate_loop(folder, loop), loop),
        ("ray", "batch --ray, 2 workers", lambda: mode_ray(folder), args.lines),
        ("rhubarb", "loop of rhubarb", lambda: mode_rhubarb(folder, loop), loop),
    ]
    for key, name, run, lines in runs:
        if key not in modes:
            continue
        seconds = audio if lines == args.lines else loop_audio
        result = run()
        if isinstance(result, dict):
            result["lines"] = lines
            result["lines_per_min"] = 60 * lines / result["wall_s"]
            result["audio_s_per_s"] = seconds / result["wall_s"]
            print(f"{name:24s} {result['lines_per_min']:8.1f} lines/min "
                  f"{result['audio_s_per_s']:7.1f} audio s/s  peak {result['peak_mb']:7.0f} MB  "
                  f"({lines} lines in {result['wall_s']:.1f} s)", flush=True)  # fmt: skip
        else:
            print(f"{name:24s} {result}", flush=True)
        results[name] = result
    speedup = None
    if {"batch", "loop"} <= modes:
        batch, looped = results["batch, worker per core"], results["loop of animate"]
        speedup = batch["lines_per_min"] / looped["lines_per_min"]  # type: ignore[index]
        verdict = "meets" if speedup >= TARGET_SPEEDUP else "MISSES"
        print(f"batch / animate loop = {speedup:.1f}x ({verdict} the {TARGET_SPEEDUP:g}x target)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "speedup": speedup}, indent=2))
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
