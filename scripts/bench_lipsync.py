"""Lip-sync benchmark of an engine (default: the default engine).

(a) Synthetic speech with exact phone labels (festival and espeak-ng voices, see
    emospeaker.speech): share of P/B/M phones where the lips close within +-1 frame, and the
    Pearson r of the predicted mouth opening against the opening the true phones imply
    (best within +-2 frames), without and with the transcript.
(b) Real talking-head clips (../shared/data/lipsync_dev): Pearson r of the MediaPipe inner-lip
    aperture against the predicted opening, per clip and mean (best within +-MAX_LAG frames),
    next to the loudness-envelope baseline, and the means over the clips used to choose the
    default engine's constants (TUNING_CLIPS) and over the held-out rest. Landmark tracking
    is cached.

    PYTHONPATH=backend python scripts/bench_lipsync.py [--synthetic-only | --real-only]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
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
REAL_LAG = 3  # frames: the README allows a small constant audio/video offset
# the real clips whose figures chose the default engine's viseme openings (engines/default/
# visemes.py); the others are held out, so their figures say how the choice generalises
TUNING_CLIPS = ("vidtimit_fadg0_sa1", "styletalk_andrew_clip_1", "mead_W036_level_3_happy_007")
DEFAULT_CLIPS = ROOT.parent / "shared" / "data" / "lipsync_dev"
if not DEFAULT_CLIPS.is_dir():
    DEFAULT_CLIPS = Path("/work/shared/data/lipsync_dev")


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


def real(engine: str, clips_dir: Path, cache: Path, options: dict) -> None:
    clips = sorted(clips_dir.glob("*.mp4"))
    if not clips:
        print(f"(b) no clips in {clips_dir}")
        return
    print(f"(b) real clips in {clips_dir} (r best within +-{REAL_LAG} frames)")
    print(f"{'clip':40s} {'sec':>5s} {'r':>6s} {'lag':>4s} {'r+E':>6s} {'loud':>6s}  phones")
    rs, rs_emotion, louds, tuning = [], [], [], []
    for clip in clips:
        aperture, fps = tracked_aperture(clip, cache)
        audio = load_audio(clip)
        track = animate(audio, fps=fps, engine=engine, options=options)
        n = min(len(aperture), track.frames)
        r, lag = pearson_with_lag(aperture[:n], mouth_opening(track)[:n], REAL_LAG)
        emotion = labelled_emotion(clip)
        if emotion:
            felt = animate(audio, EmotionTimeline.parse(emotion), fps=fps, engine=engine,
                           options=options)  # fmt: skip
            r_emotion, _ = pearson_with_lag(aperture[:n], mouth_opening(felt)[:n], REAL_LAG)
        else:
            r_emotion = r
        loud = loudness_envelope(audio, track.times())
        r_loud, _ = pearson_with_lag(aperture[:n], loud[:n], REAL_LAG)
        rs.append(r)
        tuning.append(clip.stem in TUNING_CLIPS)
        rs_emotion.append(r_emotion)
        louds.append(r_loud)
        print(
            f"{clip.name:40s} {audio.duration:5.1f} {r:6.3f} {lag:4d} {r_emotion:6.3f} "
            f"{r_loud:6.3f}  {track.provenance.get('phones', '')}"
            + (f", +E: {emotion}" if emotion else "")
        )
    groups = {
        "mean": [True] * len(rs),
        "mean of the tuning clips": tuning,
        "mean of the held-out clips": [not t for t in tuning],
    }
    for label, keep in groups.items():
        if any(keep):
            r, r_emotion, r_loud = (np.mean(np.compress(keep, x)) for x in (rs, rs_emotion, louds))
            print(f"{label:40s} {'':5s} {r:6.3f} {'':4s} {r_emotion:6.3f} {r_loud:6.3f}")
    print("r: tracked aperture vs predicted opening (no emotion given); r+E: with the clip's")
    print("labelled emotion (MEAD clips); loud: loudness-envelope baseline\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="default")
    parser.add_argument("--sentences", type=int, default=4, help="sentences per voice")
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
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
