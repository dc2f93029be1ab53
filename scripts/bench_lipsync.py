"""Lip-sync benchmark of an engine (default: the default engine).

(a) Synthetic speech with exact phone labels (festival and espeak-ng voices, see
    emospeaker.speech): share of P/B/M phones where the lips close within +-1 frame, and the
    Pearson r of the predicted mouth opening against the opening the true phones imply
    (best within +-2 frames), without and with the transcript.
(b) Real talking-head clips (../shared/data/realtalk and lipsync_dev): Pearson r of the
    MediaPipe inner-lip aperture against the predicted opening at lag 0 and at the best lag
    within +-0.2 s, per clip and per source group (realtalk's prefix groups; lipsync_dev is
    one more), next to the loudness-envelope baseline. Landmark tracking is cached.

    PYTHONPATH=backend python scripts/bench_lipsync.py [--synthetic-only | --real-only]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.api import animate  # noqa: E402
from emospeaker.audio import load_audio  # noqa: E402
from emospeaker.emotion import EmotionTimeline  # noqa: E402
from emospeaker.metrics import (  # noqa: E402
    bilabial_closure_share,
    lips_closed,
    loudness_envelope,
    mouth_opening,
    opening_from_phones,
    pearson_with_lag,
)
from emospeaker.speech import VOICES, synthesize  # noqa: E402
from emospeaker.speech.sentences import SENTENCES  # noqa: E402

FPS = 30
SYNTH_LAG = 2
REAL_LAG_SECONDS = 0.2  # the data's READMEs allow a small constant audio/video offset
WEB_PREFIXES = ("ownweb", "web", "stock-like", "hdtf")  # one group in realtalk's README
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_CLIPS = [SHARED_DATA / "realtalk", SHARED_DATA / "lipsync_dev"]


def synthetic(engine: str, per_voice: int, options: dict) -> None:
    print(f"(a) synthetic speech, {per_voice} sentences per voice, {FPS} fps")
    header = f"{'voice':24s} {'sec':>5s} {'PBM':>4s}  {'closed':>7s} {'closed+T':>8s}"
    print(header + f"  {'r':>6s} {'r+T':>6s} {'loud':>6s} {'aligned':>8s}")
    totals: dict[str, list[float]] = {k: [] for k in ("close", "closeT", "r", "rT", "loud")}
    counts = 0
    for v, voice in enumerate(VOICES):
        texts = [SENTENCES[(v * per_voice + k) % len(SENTENCES)] for k in range(per_voice)]
        rows: dict[str, list[float]] = {k: [] for k in totals}
        seconds, bilabials, aligned = 0.0, 0, 0
        for text in texts:
            utt = synthesize(text, voice)
            seconds += utt.duration
            for key, transcript in (("", None), ("T", utt.text)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    track = animate(
                        utt.audio, fps=FPS, transcript=transcript, engine=engine, options=options
                    )
                truth = opening_from_phones(utt.phones, track.times())
                share, n = bilabial_closure_share(lips_closed(track), utt.phones, FPS)
                rows["close" + key] += [share] * n
                rows["r" + key].append(pearson_with_lag(mouth_opening(track), truth, SYNTH_LAG)[0])
                aligned += track.provenance.get("phones") == "aligned"
                if not key:
                    bilabials += n
                    loud = loudness_envelope(utt.audio, track.times())
                    rows["loud"].append(pearson_with_lag(loud, truth, SYNTH_LAG)[0])
        counts += bilabials
        means = {k: float(np.mean(x)) for k, x in rows.items()}
        for k in totals:
            totals[k] += rows[k]
        print(
            f"{voice:24s} {seconds:5.1f} {bilabials:4d}  {means['close']:7.1%} "
            f"{means['closeT']:8.1%}  {means['r']:6.3f} {means['rT']:6.3f} {means['loud']:6.3f}"
            f" {aligned:5d}/{len(texts)}"
        )
    m = {k: float(np.mean(x)) for k, x in totals.items()}
    print(
        f"{'all':24s} {'':5s} {counts:4d}  {m['close']:7.1%} {m['closeT']:8.1%}  "
        f"{m['r']:6.3f} {m['rT']:6.3f} {m['loud']:6.3f}"
    )
    print("closed: share of P/B/M with closed lips within +-1 frame; r: opening vs true phones;")
    print("+T: with the transcript (forced alignment; 'aligned' counts the sentences where the")
    print("alignment was accepted, the others fell back to recognition); loud: loudness-envelope")
    print("baseline\n")


def tracked_aperture(clip: Path, cache: Path) -> tuple[np.ndarray, float]:
    """Inner-lip aperture per video frame (NaN without a face) and the video's fps."""
    from emospeaker.face.landmarks import lip_aperture, track_video

    cached = cache / f"{clip.stem}.aperture.npz"
    if cached.is_file() and cached.stat().st_mtime >= clip.stat().st_mtime:
        data = np.load(cached)
        return data["aperture"], float(data["fps"])
    landmarks = track_video(clip)
    aperture = lip_aperture(landmarks.points)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(cached, aperture=aperture, fps=float(landmarks.fps))
    return aperture, float(landmarks.fps)


def labelled_emotion(clip: Path) -> str | None:
    """MEAD names carry the acted emotion and its level (1-3; 3 = intensity 1)."""
    match = re.search(r"level_(\d)_([a-z]+)_", clip.name)
    return f"{match.group(2)}:{int(match.group(1)) / 3:.2f}" if match else None


def source_group(clip: Path) -> str:
    """The clip's source (the prefix groups of realtalk's README; lipsync_dev is one more)."""
    if clip.parent.name == "lipsync_dev":
        return "lipsync_dev"
    prefix = clip.name.split("_", 1)[0]
    return "web" if prefix in WEB_PREFIXES else prefix


@dataclass
class ClipResult:
    name: str
    group: str
    seconds: float
    r0: float  # Pearson r at lag 0
    r: float  # best r within +-REAL_LAG_SECONDS
    lag: int  # its lag in frames (positive: the prediction runs late)
    fps: float
    r_emotion: float  # best r given the MEAD label (= r for unlabelled clips)
    r_loud: float


def measure_clip(clip: Path, cache: Path, engine: str, options: dict) -> ClipResult:
    aperture, fps = tracked_aperture(clip, cache)
    audio = load_audio(clip)
    max_lag = round(REAL_LAG_SECONDS * fps)
    track = animate(audio, fps=fps, engine=engine, options=options)
    n = min(len(aperture), track.frames)
    opening = mouth_opening(track)[:n]
    r0, _ = pearson_with_lag(aperture[:n], opening, 0)
    r, lag = pearson_with_lag(aperture[:n], opening, max_lag)
    emotion = labelled_emotion(clip)
    r_emotion = r
    if emotion:
        felt = animate(audio, EmotionTimeline.parse(emotion), fps=fps, engine=engine,
                       options=options)  # fmt: skip
        r_emotion, _ = pearson_with_lag(aperture[:n], mouth_opening(felt)[:n], max_lag)
    loud = loudness_envelope(audio, track.times())
    r_loud, _ = pearson_with_lag(aperture[:n], loud[:n], max_lag)
    return ClipResult(clip.stem, source_group(clip), audio.duration, r0, r, lag, fps,
                      r_emotion, r_loud)  # fmt: skip


def real(engine: str, clip_dirs: list[Path], cache: Path, options: dict) -> list[ClipResult]:
    clips = sorted(c for d in clip_dirs for c in d.glob("*.mp4"))
    if not clips:
        print(f"(b) no clips in {', '.join(map(str, clip_dirs))}")
        return []
    print(f"(b) real clips in {', '.join(map(str, clip_dirs))}: tracked inner-lip aperture vs")
    print(f"    predicted opening, r at lag 0 and best within +-{REAL_LAG_SECONDS} s")
    print(f"{'clip':44s} {'group':>11s} {'sec':>5s} {'r0':>6s} {'r':>6s} {'lag':>4s} "
          f"{'r+E':>6s} {'loud':>6s}")  # fmt: skip
    results = []
    for clip in clips:
        res = measure_clip(clip, cache, engine, options)
        results.append(res)
        print(f"{res.name:44s} {res.group:>11s} {res.seconds:5.1f} {res.r0:6.3f} {res.r:6.3f} "
              f"{res.lag:4d} {res.r_emotion:6.3f} {res.r_loud:6.3f}")  # fmt: skip
    print_groups(results)
    return results


def print_groups(results: list[ClipResult]) -> None:
    """Means per source group and over all clips (each clip counts once)."""
    groups = sorted({res.group for res in results})
    print(f"\n{'group':12s} {'clips':>5s} {'sec':>6s} {'r0':>6s} {'r':>6s} {'lag ms':>7s} "
          f"{'r+E':>6s} {'loud':>6s}")  # fmt: skip
    for label in [*groups, "all"]:
        rows = [res for res in results if label in ("all", res.group)]
        m = {k: float(np.nanmean([getattr(res, k) for res in rows]))
             for k in ("r0", "r", "r_emotion", "r_loud")}  # fmt: skip
        lag_ms = 1000 * float(np.mean([res.lag / res.fps for res in rows]))
        seconds = sum(res.seconds for res in rows)
        print(f"{label:12s} {len(rows):5d} {seconds:6.1f} {m['r0']:6.3f} {m['r']:6.3f} "
              f"{lag_ms:7.0f} {m['r_emotion']:6.3f} {m['r_loud']:6.3f}")  # fmt: skip
    print("r0: at lag 0; r: best lag; lag ms: mean best lag (positive: the prediction is late);")
    print("r+E: with the clip's labelled emotion (MEAD clips); loud: loudness-envelope baseline\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="default")
    parser.add_argument("--sentences", type=int, default=4, help="sentences per voice")
    parser.add_argument(
        "--clips", type=Path, nargs="+", default=DEFAULT_CLIPS, help="folders of mp4 clips"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "emospeaker"
        / "bench_lipsync",
    )
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--synthetic-only", action="store_true")
    group.add_argument("--real-only", action="store_true")
    args = parser.parse_args()
    options = dict(pair.split("=", 1) for pair in args.option)
    started = time.perf_counter()
    if not args.real_only:
        synthetic(args.engine, args.sentences, options)
    if not args.synthetic_only:
        real(args.engine, args.clips, args.cache, options)
    print(f"benchmark took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
