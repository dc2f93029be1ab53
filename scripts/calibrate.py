"""Calibrate the default engine on captured real speech (leave-one-source-out).

    PYTHONPATH=backend python scripts/calibrate.py capture   # once: clips -> cached tracks
    PYTHONPATH=backend python scripts/calibrate.py stats     # what real faces do, per group
    PYTHONPATH=backend python scripts/calibrate.py fit       # fit the lips pass, held out

`capture` runs, for every mp4 of ../shared/data/realtalk and lipsync_dev, MediaPipe's
tracking and the ICT fit (`face.fit.fit_video`, as `emospeaker capture` does) and, on the
audio, the default engine's phone recognition and prosody. Everything lands in a cache
(~/.cache/emospeaker/calibrate, or --cache), never in the repository: the clips are for
research use only.

`stats` prints, per source group, each channel's mean, std and 95th percentile over the
frames where the person speaks (prosody's `speaking` > 0.5) next to the engine's.

`fit` fits the lips pass's named constants (lips.py, engine.py) to the captured tracks with
one source group held out at a time and prints only held-out figures (see `calibration`).
The source groups are realtalk's name prefixes (web = ownweb, web, stock-like, hdtf) and
lipsync_dev.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
import warnings
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_capture import landmarks_of  # noqa: E402
from bench_lipsync import DEFAULT_CLIPS, REAL_LAG_SECONDS, source_group  # noqa: E402
from emospeaker.audio import load_audio  # noqa: E402
from emospeaker.channels import ALL_CHANNELS, index_of  # noqa: E402
from emospeaker.engines.default.engine import MOUTH_LEAD  # noqa: E402
from emospeaker.engines.default.lips import (  # noqa: E402
    ANTICIPATION,
    CARRY_OVER,
    LOUD_JAW,
    QUIET_JAW,
    LipsTuning,
    lips_layer,
)
from emospeaker.face.fit import FITTER_VERSION, fit_video  # noqa: E402
from emospeaker.face.landmarks import lip_aperture  # noqa: E402
from emospeaker.jobs import Job  # noqa: E402
from emospeaker.metrics import mouth_opening, pearson_with_lag  # noqa: E402
from emospeaker.speech.phones import PhoneSegment  # noqa: E402
from emospeaker.speech.prosody import Prosody, analyse  # noqa: E402
from emospeaker.speech.recognize import STANDARD  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "emospeaker" / "calibrate"


@dataclass
class Clip:
    """One captured clip: the real face (ARKit weights per video frame) and the audio's
    analysis, everything the fits need without decoding or recognising again."""

    name: str
    group: str
    fps: float
    real: np.ndarray  # [frames, ALL_CHANNELS] captured weights (ICT semantics)
    found: np.ndarray  # [frames] a face was tracked on this frame
    aperture: np.ndarray  # [frames] MediaPipe inner-lip aperture (NaN without a face)
    phones: list[PhoneSegment]
    prosody: Prosody
    duration: float

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.real)) / self.fps

    def speaking(self) -> np.ndarray:
        """Frames with a face where the person speaks."""
        return self.found & (self.prosody.sample("speaking", self.times) > 0.5)


def capture_clip(clip: Path, cache: Path) -> Path:
    """Track, fit and analyse one clip into cache/<name>.npz (skipped when up to date)."""
    stored = cache / f"{clip.stem}.npz"
    if stored.is_file() and stored.stat().st_mtime >= clip.stat().st_mtime:
        with np.load(stored) as data:
            if str(data["fitter"]) == FITTER_VERSION:
                return stored
    from emospeaker.engines.default.timing import find_phones

    video, _ = landmarks_of(clip, cache / "landmarks")
    track = fit_video(video)
    audio = load_audio(clip)
    prosody = analyse(audio.samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phones = find_phones(audio.samples, prosody, None, STANDARD, Job()).phones
    np.savez_compressed(
        stored,
        real=track.values.astype(np.float32),
        channels=np.array(track.channels),
        fps=float(video.fps),
        found=video.found,
        aperture=lip_aperture(video.points),
        phone=np.array([p.phone for p in phones]),
        start=np.array([p.start for p in phones]),
        end=np.array([p.end for p in phones]),
        samples=audio.samples.astype(np.float32),
        fitter=FITTER_VERSION,
    )
    return stored


def load_clip(stored: Path, group: str) -> Clip:
    """A cached clip (see capture_clip); the prosody is recomputed (fast, not stored)."""
    with np.load(stored) as data:
        assert tuple(data["channels"]) == ALL_CHANNELS, "cache from another channel set"
        samples = data["samples"]
        phones = [
            PhoneSegment(str(p), float(a), float(b))
            for p, a, b in zip(data["phone"], data["start"], data["end"], strict=True)
        ]
        return Clip(
            stored.stem, group, float(data["fps"]), data["real"], data["found"],
            data["aperture"], phones, analyse(samples), len(samples) / 16000.0,
        )  # fmt: skip


def clip_paths(dirs: list[Path]) -> list[Path]:
    return sorted(c for d in dirs for c in d.glob("*.mp4"))


def load_all(dirs: list[Path], cache: Path) -> list[Clip]:
    """Every captured clip (run `capture` first)."""
    clips = []
    for path in clip_paths(dirs):
        stored = cache / f"{path.stem}.npz"
        if not stored.is_file():
            raise SystemExit(f"{stored} missing: run `calibrate.py capture` first")
        clips.append(load_clip(stored, source_group(path)))
    return clips


def cmd_capture(args: argparse.Namespace) -> None:
    args.cache.mkdir(parents=True, exist_ok=True)
    for path in clip_paths(args.clips):
        started = time.perf_counter()
        capture_clip(path, args.cache)
        print(f"{path.name:50s} {time.perf_counter() - started:6.1f} s", flush=True)


# channels the tables show: the mouth the lips pass drives, and the living upper face
MOUTH = ("jawOpen", "mouthClose", "mouthLowerDownLeft", "mouthUpperUpLeft",
         "mouthStretchLeft", "mouthPucker", "mouthFunnel", "mouthRollLower", "mouthPressLeft",
         "mouthSmileLeft")  # fmt: skip
UPPER = ("browInnerUp", "browOuterUpLeft", "browDownLeft", "cheekSquintLeft", "eyeSquintLeft",
         "eyeBlinkLeft", "eyeWideLeft")  # fmt: skip


def engine_values(clip: Clip, options: dict | None = None, seed: int = 0) -> np.ndarray:
    """The default engine's combined [frames, ALL_CHANNELS] for the clip's audio (neutral),
    from the cached phones and prosody, exactly as `animate` composes them."""
    from emospeaker.engines.default.engine import DefaultEngine, compose_layers
    from emospeaker.track import FaceTrack

    settings = {k: o.default for k, o in DefaultEngine.options.items()} | (options or {})
    times = clip.times
    curves = np.zeros((len(times), 8))
    layers = compose_layers(clip.phones, clip.prosody, times, clip.duration, curves, seed, settings)
    return FaceTrack(Fraction(clip.fps).limit_denominator(1001), layers).values


def channel_stats(values: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """[names, 3]: mean, std and 95th percentile of each channel over the given frames."""
    cols = values[:, [index_of(n) for n in names]].astype(np.float64)
    return np.stack([cols.mean(0), cols.std(0), np.percentile(cols, 95, axis=0)], axis=1)


def speech_frames(clips: list[Clip], values: list[np.ndarray]) -> np.ndarray:
    """The rows of `values` (one array per clip) on the frames where each clip's person speaks."""
    return np.concatenate([v[c.speaking()] for c, v in zip(clips, values, strict=True)])


def print_stats(title: str, clips: list[Clip], real: list, engine: list, names: tuple) -> None:
    """Real against engine statistics per channel, per group and over all clips."""
    groups = sorted({c.group for c in clips})
    print(f"\n{title}: mean / std / p95 during speech, real | engine")
    print(f"{'channel':20s} {'group':>12s}  {'real mean':>9s} {'std':>6s} {'p95':>6s}  | "
          f"{'eng mean':>8s} {'std':>6s} {'p95':>6s}  std ratio")  # fmt: skip
    for k, name in enumerate(names):
        for label in [*groups, "all"]:
            pick = [i for i, c in enumerate(clips) if label in ("all", c.group)]
            chosen = [clips[i] for i in pick]
            r = channel_stats(speech_frames(chosen, [real[i] for i in pick]), names)[k]
            e = channel_stats(speech_frames(chosen, [engine[i] for i in pick]), names)[k]
            ratio = e[1] / r[1] if r[1] > 0 else float("nan")
            print(f"{name:20s} {label:>12s}  {r[0]:9.3f} {r[1]:6.3f} {r[2]:6.3f}  | "
                  f"{e[0]:8.3f} {e[1]:6.3f} {e[2]:6.3f}  {ratio:6.2f}")  # fmt: skip


def cmd_stats(args: argparse.Namespace) -> None:
    clips = load_all(args.clips, args.cache)
    real = [c.real for c in clips]
    engine = [engine_values(c) for c in clips]
    seconds = sum(c.speaking().sum() / c.fps for c in clips)
    print(f"{len(clips)} clips, {seconds:.0f} s of speech with a tracked face")
    print_stats("mouth", clips, real, engine, MOUTH)
    print_stats("upper face", clips, real, engine, UPPER)


# --- the lips fit -------------------------------------------------------------------------

IDENTITY = LipsTuning(1.0, (1.0, 0.0), (1.0, 0.0), 0.0, 1.0, 1.0, 0.0)  # the pass off
FITTED = ("jawOpen", "mouthLowerDownLeft", "mouthUpperUpLeft", "mouthClose", "mouthStretchLeft",
          "mouthPucker", "mouthFunnel")  # fmt: skip
LEADS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1)
SMOOTHINGS = (0.0, 0.02, 0.035, 0.05, 0.07)
COARTICULATION = (0.7, 1.0, 1.5)  # scales of ANTICIPATION and CARRY_OVER
LOUD_JAWS = ((QUIET_JAW, LOUD_JAW), (0.5, 1.2), (0.05, 1.6))


@dataclass(frozen=True)
class Timing:
    """The constants the correlation fit chooses (r hardly depends on the gains)."""

    lead: float
    smoothing: float
    coarticulation: float
    loud_jaw: tuple[float, float]

    def tuning(self, base: LipsTuning) -> LipsTuning:
        return replace(
            base,
            smoothing=self.smoothing,
            anticipation=self.coarticulation * ANTICIPATION,
            carry_over=self.coarticulation * CARRY_OVER,
            loud_jaw=self.loud_jaw,
        )


TIMINGS = [Timing(*t) for t in itertools.product(LEADS, SMOOTHINGS, COARTICULATION, LOUD_JAWS)]


def lips_values(clip: Clip, tuning: LipsTuning, lead: float) -> np.ndarray:
    """The engine's lips layer (the only layer on the mouth in neutral speech) for the clip."""
    loudness = clip.prosody.sample("loudness", clip.times + lead)
    return lips_layer(clip.phones, clip.times, loudness, 1.0, lead, tuning)[0]


def opening_r(clip: Clip, values: np.ndarray) -> tuple[float, float]:
    """(r at lag 0, best r within +-0.2 s) of the predicted opening against the tracked
    inner-lip aperture, as bench_lipsync measures it."""
    n = min(len(clip.aperture), len(values))
    opening = mouth_opening(values)[:n]
    r0, _ = pearson_with_lag(clip.aperture[:n], opening, 0)
    r, _ = pearson_with_lag(clip.aperture[:n], opening, round(REAL_LAG_SECONDS * clip.fps))
    return r0, r


def timing_scores(clips: list[Clip]) -> np.ndarray:
    """[timings, clips, 2]: (r0, r) of every candidate timing on every clip (computed once;
    each fold then picks on its training clips only)."""
    scores = np.zeros((len(TIMINGS), len(clips), 2))
    for t, timing in enumerate(TIMINGS):
        tuning = timing.tuning(IDENTITY)
        for c, clip in enumerate(clips):
            scores[t, c] = opening_r(clip, lips_values(clip, tuning, timing.lead))
    return scores


def group_std(clips: list[Clip], values: list[np.ndarray], name: str) -> float:
    """Mean over source groups of the channel's std during speech (each group counts once)."""
    col = index_of(name)
    stds = []
    for group in sorted({c.group for c in clips}):
        rows = [
            v[c.speaking(), col] for c, v in zip(clips, values, strict=True) if c.group == group
        ]
        stds.append(float(np.std(np.concatenate(rows))))
    return float(np.mean(stds))


def _share_ratio(clips: list[Clip], base: list[np.ndarray], name: str, jaw: str) -> float:
    """Least-squares share of the (scaled) jaw against the channel's own pose in the real
    channel: real ~ a * own + s * jaw (centred per clip, a, s >= 0); returns s / a (inf
    when the own pose has no weight)."""
    own, drop, real = [], [], []
    for clip, v in zip(clips, base, strict=True):
        m = clip.speaking()
        for series, out in ((v[m, index_of(name)], own), (v[m, index_of(jaw)], drop),
                            (clip.real[m, index_of(name)], real)):  # fmt: skip
            out.append(series - series.mean())
    x = np.stack([np.concatenate(own), np.concatenate(drop)], axis=1)
    (a, s), *_ = np.linalg.lstsq(x, np.concatenate(real), rcond=None)
    if a <= 0:
        return np.inf
    return max(s, 0.0) / a


def _close_share(clips: list[Clip], values: list[np.ndarray], target: float, now: float) -> float:
    """The share of the jaw in mouthClose (0..0.9) whose spread comes closest to `target`."""
    close, jaw = index_of("mouthClose"), index_of("jawOpen")
    best, best_gap = now, np.inf
    for share in np.arange(0.0, 0.91, 0.025):
        moved = [v.copy() for v in values]
        for v in moved:
            v[:, close] += (share - now) * v[:, jaw]
        gap = abs(group_std(clips, moved, "mouthClose") - target)
        if gap < best_gap:
            best, best_gap = float(share), gap
    return best


def fit_gains(clips: list[Clip], timing: Timing) -> LipsTuning:
    """Gains and shares for the training clips: the jaw's gain matches its real spread; each
    lip channel takes the least-squares share of the jaw, then one gain brings its spread to
    the real one; mouthClose takes the share of the jaw that matches its real spread."""
    tuning = timing.tuning(IDENTITY)
    real = [c.real for c in clips]
    target = {name: group_std(clips, real, name) for name in FITTED}
    base = [lips_values(c, tuning, timing.lead) for c in clips]
    jaw = target["jawOpen"] / group_std(clips, base, "jawOpen")
    tuning = replace(tuning, jaw_gain=jaw)
    base = [lips_values(c, tuning, timing.lead) for c in clips]
    shares = {}
    for name in ("mouthLowerDownLeft", "mouthUpperUpLeft"):
        ratio = _share_ratio(clips, base, name, "jawOpen")
        shares[name] = (0.0, 1.0) if np.isinf(ratio) else (1.0, ratio)
    tuning = replace(tuning, lower_down=shares["mouthLowerDownLeft"],
                     upper_up=shares["mouthUpperUpLeft"])  # fmt: skip
    for _ in range(3):  # multiplicative corrections: clipping and closures bend the spread
        values = [lips_values(c, tuning, timing.lead) for c in clips]
        ratio = {name: target[name] / max(group_std(clips, values, name), 1e-6)
                 for name in FITTED}  # fmt: skip
        close = _close_share(clips, values, target["mouthClose"], tuning.close_share)
        tuning = replace(
            tuning,
            jaw_gain=tuning.jaw_gain * ratio["jawOpen"],
            lower_down=tuple(v * ratio["mouthLowerDownLeft"] for v in tuning.lower_down),
            upper_up=tuple(v * ratio["mouthUpperUpLeft"] for v in tuning.upper_up),
            close_share=close,
            stretch_gain=tuning.stretch_gain * ratio["mouthStretchLeft"],
            round_gain=tuning.round_gain
            * float(np.sqrt(ratio["mouthPucker"] * ratio["mouthFunnel"])),
        )
    return tuning


def cmd_fit(args: argparse.Namespace) -> None:
    clips = load_all(args.clips, args.cache)
    groups = sorted({c.group for c in clips})
    started = time.perf_counter()
    scores = timing_scores(clips)
    print(f"{len(TIMINGS)} timings scored on {len(clips)} clips in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    before = [engine_lips(c) for c in clips]
    after: list[np.ndarray | None] = [None] * len(clips)
    print(f"\n{'held out':12s} {'lead':>5s} {'smooth':>6s} {'coart':>5s} {'loud_jaw':>10s}  "
          f"{'jaw':>5s} {'lowD a,s':>11s} {'upUp a,s':>11s} {'close':>5s} {'strch':>5s} "
          f"{'round':>5s}")  # fmt: skip
    for group in groups:
        train = [i for i, c in enumerate(clips) if c.group != group]
        objective = scores[:, train].mean(axis=1).sum(axis=1)  # mean r0 + mean r
        timing = TIMINGS[int(np.argmax(objective))]
        tuning = fit_gains([clips[i] for i in train], timing)
        print_tuning(group, timing, tuning)
        for i, clip in enumerate(clips):
            if clip.group == group:
                after[i] = lips_values(clip, tuning, timing.lead)
    print_held_out(clips, before, after)
    objective = scores.mean(axis=1).sum(axis=1)
    timing = TIMINGS[int(np.argmax(objective))]
    tuning = fit_gains(clips, timing)
    print("\nfitted on all groups (the engine's constants):")
    print_tuning("all", timing, tuning)


def engine_lips(clip: Clip) -> np.ndarray:
    """The current engine's lips layer (its own constants and default mouth lead)."""
    return lips_values(clip, LipsTuning(), MOUTH_LEAD)


def print_tuning(label: str, timing: Timing, t: LipsTuning) -> None:
    print(f"{label:12s} {timing.lead:5.2f} {timing.smoothing:6.3f} {timing.coarticulation:5.1f} "
          f"{timing.loud_jaw[0]:4.2f},{timing.loud_jaw[1]:4.2f}  {t.jaw_gain:5.2f} "
          f"{t.lower_down[0]:5.2f},{t.lower_down[1]:5.2f} {t.upper_up[0]:5.2f},{t.upper_up[1]:5.2f}"
          f" {t.close_share:5.2f} {t.stretch_gain:5.2f} {t.round_gain:5.2f}")  # fmt: skip


def print_held_out(clips: list[Clip], before: list, after: list) -> None:
    """Held-out figures per group: r0 / r, jaw p95 and each fitted channel's std against the
    real std (engine before -> after the fit)."""
    groups = sorted({c.group for c in clips})
    print("\nheld out (each group's figures come from the fit without it); before -> after")
    print(f"{'group':12s} {'clips':>5s} {'r0':>13s} {'r':>13s} {'jaw p95':>13s}")
    rows = {}
    for label in [*groups, "all"]:
        pick = [i for i, c in enumerate(clips) if label in ("all", c.group)]
        r_before = np.array([opening_r(clips[i], before[i]) for i in pick])
        r_after = np.array([opening_r(clips[i], after[i]) for i in pick])
        chosen = [clips[i] for i in pick]
        jaw = [np.percentile(speech_frames(chosen, [v[i] for i in pick])[:, index_of("jawOpen")],
                             95) for v in (before, after)]  # fmt: skip
        rows[label] = (pick, chosen)
        rb, ra = np.nanmean(r_before, axis=0), np.nanmean(r_after, axis=0)
        print(f"{label:12s} {len(pick):5d} {rb[0]:6.3f}>{ra[0]:6.3f} {rb[1]:6.3f}>{ra[1]:6.3f}"
              f" {jaw[0]:6.3f}>{jaw[1]:6.3f}")  # fmt: skip
    print("\nstd during speech, held out: real | engine before -> after (after / real)")
    print(f"{'channel':20s} " + " ".join(f"{g:>22s}" for g in [*groups, "all"]))
    for name in FITTED:
        cells = []
        for label in [*groups, "all"]:
            pick, chosen = rows[label]
            real = group_std(chosen, [clips[i].real for i in pick], name)
            b = group_std(chosen, [before[i] for i in pick], name)
            a = group_std(chosen, [after[i] for i in pick], name)
            cells.append(f"{real:.3f}|{b:.3f}>{a:.3f}({a / real:4.2f})")
        print(f"{name:20s} " + " ".join(f"{c:>22s}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("capture", "stats", "fit"))
    parser.add_argument("--clips", type=Path, nargs="+", default=DEFAULT_CLIPS)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    {"capture": cmd_capture, "stats": cmd_stats, "fit": cmd_fit}[args.command](args)


if __name__ == "__main__":
    main()
