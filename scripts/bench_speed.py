"""Speed benchmark: 60 s of speech animated by an engine, phone recognition included.

Target: <= 2 s wall on a 2-core CPU, i.e. >= 30x real time, both in-process and as a whole
`emospeaker animate` process (interpreter start, imports, decoding the wav, writing the JSON).
Reports every in-process run, the median of the runs after the first (the worker pool is kept
between calls, as in a server) and the first run separately (a fresh CLI call pays for
starting the pool), the whole-process runs, the peak memory of this process and of its
children (the recogniser's workers), and the machine's load.

    PYTHONPATH=backend python scripts/bench_speed.py [--runs 5] [--process-runs 3]
        [--seconds 60] [--transcript]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.api import animate  # noqa: E402
from emospeaker.audio import Audio  # noqa: E402
from emospeaker.emotion import EmotionTimeline  # noqa: E402
from emospeaker.speech import synthesize  # noqa: E402
from emospeaker.speech.sentences import SENTENCES  # noqa: E402

TARGET_SECONDS = 2.0


def speech(seconds: float) -> tuple[Audio, str]:
    """`seconds` of festival speech (sentences spoken one after another) and its text."""
    parts, texts, total = [], [], 0.0
    voices = ("cmu_us_slt_arctic_hts", "kal_diphone")
    i = 0
    while total < seconds:
        utt = synthesize(SENTENCES[i % len(SENTENCES)], voices[(i // len(SENTENCES)) % 2])
        parts.append(utt.audio.samples)
        texts.append(utt.text)
        total += utt.duration
        i += 1
    samples = np.concatenate(parts)[: int(seconds * 16000)]
    return Audio(samples, f"<{seconds:g} s of festival speech>"), " ".join(texts)


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def children_cpu_seconds() -> float:
    """CPU time used so far by this process's living children (the pool workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _children():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _children() -> list[str]:
    return [
        pid
        for task in Path(f"/proc/{os.getpid()}/task").iterdir()
        for pid in (task / "children").read_text().split()
    ]


def children_peak_mb() -> list[float]:
    """Peak resident memory (VmHWM) of this process's living children (the pool workers)."""
    peaks = []
    for pid in _children():
        status = Path(f"/proc/{pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        peaks.append(kib / 1024)
    return peaks


EMOTION_KEYS = "0s=neutral:0,20s=happy:0.8,40s=sad:0.6"


def whole_process(audio: Audio, text: str, args: argparse.Namespace) -> list[float]:
    """Wall seconds of `python -m emospeaker animate WAV -o OUT.json`, run after run."""
    import soundfile

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        soundfile.write(wav, audio.samples, 16000)
        command = [sys.executable, "-m", "emospeaker", "animate", str(wav), "-o",
                   str(Path(tmp) / "track.json"), "--emotion-keys", EMOTION_KEYS,
                   "--engine", args.engine, "--quiet"]  # fmt: skip
        command += [f"--option={pair}" for pair in args.option]
        if args.transcript:
            (Path(tmp) / "text.txt").write_text(text)
            command += ["--transcript", str(Path(tmp) / "text.txt")]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "backend")}
        for run in range(args.process_runs):
            started = time.perf_counter()
            subprocess.run(command, check=True, env=env)
            times.append(time.perf_counter() - started)
            print(f"whole process run {run + 1}: {times[-1]:.2f} s wall")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--process-runs", type=int, default=3, help="whole CLI processes")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--engine", default="default")
    parser.add_argument("--transcript", action="store_true", help="with forced alignment")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    options = dict(pair.split("=", 1) for pair in args.option)
    audio, text = speech(args.seconds)
    if args.transcript:  # the text of the sentences, cut roughly where the audio was cut
        text = " ".join(
            text.split()[: int(len(text.split()) * args.seconds / (audio.duration + 1))]
        )
    emotion = EmotionTimeline.parse(EMOTION_KEYS)
    load_before = os.getloadavg()
    process_times = whole_process(audio, text, args)
    times, cpu_main, cpu_workers = [], [], []
    for run in range(args.runs):
        started, main0, workers0 = time.perf_counter(), time.process_time(), children_cpu_seconds()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            track = animate(
                audio,
                emotion,
                fps=30,
                transcript=text if args.transcript else None,
                engine=args.engine,
                options=options,
            )
        times.append(time.perf_counter() - started)
        cpu_main.append(time.process_time() - main0)
        cpu_workers.append(children_cpu_seconds() - workers0)
        print(f"run {run + 1}: {times[-1]:.2f} s wall, CPU {cpu_main[-1]:.2f} s here + "
              f"{cpu_workers[-1]:.2f} s in workers ({track.frames} frames, "
              f"phones {track.provenance.get('phones')})")  # fmt: skip
    warm = times[1:] or times
    median = statistics.median(warm)
    print(
        f"\n{audio.duration:.0f} s of speech, engine {args.engine}"
        f"{' with transcript' if args.transcript else ''}, {os.cpu_count()} cores"
    )
    print(f"first run (starts the worker pool): {times[0]:.2f} s")
    verdict = "met" if median <= TARGET_SECONDS else "MISSED"
    print(
        f"median of runs 2-{len(times)}: {median:.2f} s = {audio.duration / median:.0f}x real "
        f"time (target <= {TARGET_SECONDS:.1f} s: {verdict})"
    )
    if process_times:
        best = statistics.median(process_times)
        verdict = "met" if best <= TARGET_SECONDS else "MISSED"
        print(f"whole `emospeaker animate` process, median of {len(process_times)}: {best:.2f} s "
              f"(target <= {TARGET_SECONDS:.1f} s: {verdict})")  # fmt: skip
    warm_cpu = list(zip(cpu_main, cpu_workers, strict=True))[1:] or [(cpu_main[0], cpu_workers[0])]
    busiest = statistics.median(max(pair) for pair in warm_cpu)
    print(
        f"median CPU per run: {statistics.median(a for a, _ in warm_cpu):.2f} s here, "
        f"{statistics.median(b for _, b in warm_cpu):.2f} s in workers: on idle cores "
        f"the wall time would be about {busiest:.2f} s (the busier side)"
    )
    workers = children_peak_mb()
    print(
        f"peak memory: this process {peak_mb(resource.RUSAGE_SELF):.0f} MB, recogniser workers "
        f"{', '.join(f'{m:.0f}' for m in workers) or 'none'} MB; total "
        f"{peak_mb(resource.RUSAGE_SELF) + sum(workers):.0f} MB"
    )
    print(
        f"load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} "
        f"(other processes share these cores)"
    )


if __name__ == "__main__":
    main()
