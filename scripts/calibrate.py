"""Calibrate the default engine on captured real speech (leave-one-source-out).

    PYTHONPATH=backend python scripts/calibrate.py capture   # once: clips -> cached tracks
    PYTHONPATH=backend python scripts/calibrate.py stats     # what real faces do, per group
    PYTHONPATH=backend python scripts/calibrate.py fit       # fit the lips pass, held out
    PYTHONPATH=backend python scripts/calibrate.py upper     # fit the upper face, held out

From a worktree, pass `--clips /work/shared/data/realtalk /work/shared/data/lipsync_dev`.

`capture` runs, for every mp4 of ../shared/data/realtalk and lipsync_dev, MediaPipe's
tracking and the ICT fit (`face.fit.fit_video`, as `emospeaker capture` does) and, on the
audio, the default engine's phone recognition and prosody. Everything lands in a cache
(~/.cache/emospeaker/calibrate, or --cache), never in the repository: the clips are for
research use only.

`stats` prints, per source group, each channel's mean, std and 95th percentile over the
frames where the person speaks (prosody's `speaking` > 0.5) next to the engine's.

`fit` fits the lips pass's named constants (lips.py, engine.py) to the captured tracks with
one source group held out at a time and prints only held-out figures (see `calibration`).
`upper` fits the head layer's prosodic upper face (head.py: brows with the melody, squints
and eye widening on accents) so that each channel's spread during speech reaches the lower
quartile of the source groups' captured spread (capture noise only adds spread, so the
cleanest groups are the best estimate), and prints the captured blink rates; held out too.

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
from emospeaker.engines.default.head import BROW_RAISE, UpperFace, head_layer  # noqa: E402
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
    clips = sorted(c for d in dirs for c in d.glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no mp4 clips in {', '.join(map(str, dirs))} (see --clips)")
    return clips


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

IDENTITY = LipsTuning(1.0, (1.0, 0.0), (1.0, 0.0), 0.0, 1.0, 1.0, 1.0, 0.0)  # the pass off
FITTED = ("jawOpen", "mouthLowerDownLeft", "mouthUpperUpLeft", "mouthClose", "mouthStretchLeft",
          "mouthPucker", "mouthFunnel", "mouthRollLower", "mouthPressLeft")  # fmt: skip
# The timing grid. A wider one (leads 0.01-0.06 s, smoothing to 0.05 s, coarticulation time
# constants x0.7-1.5, other loudness responses) scored better on the training groups but
# worse held out (r0 0.475 against 0.491): it fits each source's own audio/video offset.
LEADS = (0.02, 0.03, 0.04)
SMOOTHINGS = (0.0, 0.02, 0.035)
COARTICULATION = (1.0,)  # scales of ANTICIPATION and CARRY_OVER
LOUD_JAWS = ((QUIET_JAW, LOUD_JAW),)


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
REFERENCE = Timing(0.03, 0.0, 1.0, (0.2, 1.4))  # engine 1.1.0's: where the gains start


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


def timing_scores(clips: list[Clip], base: LipsTuning) -> np.ndarray:
    """[timings, clips, 2]: (r0, r) of every candidate timing, with the gains of `base`."""
    scores = np.zeros((len(TIMINGS), len(clips), 2))
    for t, timing in enumerate(TIMINGS):
        tuning = timing.tuning(base)
        for c, clip in enumerate(clips):
            scores[t, c] = opening_r(clip, lips_values(clip, tuning, timing.lead))
    return scores


def fit_lips(clips: list[Clip]) -> tuple[Timing, LipsTuning]:
    """The whole lips fit on the given clips: gains at the reference timing, then the timing
    that maximises r0 + r (each source group counting once) with those gains, then the gains
    again at that timing."""
    gains = fit_gains(clips, REFERENCE)
    scores = timing_scores(clips, gains)
    timing = TIMINGS[int(np.argmax(balanced(scores, clips)))]
    return timing, fit_gains(clips, timing)


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


def real_share(clips: list[Clip], name: str) -> float:
    """How real faces share the jaw's drop with a channel: the least-squares slope of the
    captured channel on the captured jawOpen during speech (centred per clip), averaged over
    source groups (each counts once), at least 0."""
    slopes = []
    for group in sorted({c.group for c in clips}):
        xs, ys = [], []
        for clip in (c for c in clips if c.group == group):
            m = clip.speaking()
            x, y = clip.real[m, index_of("jawOpen")], clip.real[m, index_of(name)]
            xs.append(x - x.mean())
            ys.append(y - y.mean())
        x, y = np.concatenate(xs), np.concatenate(ys)
        slopes.append(float(x @ y / max(x @ x, 1e-9)))
    return max(0.0, float(np.mean(slopes)))


def fit_gains(clips: list[Clip], timing: Timing) -> LipsTuning:
    """Shares and gains for the training clips. jawOpen, mouthStretch, the rounding and the
    seal (roll, press) take the gain that brings their spread during speech to the real one.
    The lip channels keep each class's own shape: the spread they miss comes from a share of
    the jaw's drop (so the opening keeps its timing), or, where their own poses already move
    more than real lips, a gain below 1. mouthClose takes the share of the jaw real faces show
    (real_share). A few multiplicative steps, as clipping and the forced closures bend the
    spread."""
    real = [c.real for c in clips]
    target = {name: group_std(clips, real, name) for name in FITTED}
    tuning = replace(timing.tuning(IDENTITY), close_share=real_share(clips, "mouthClose"))
    for _ in range(6):
        values = [lips_values(c, tuning, timing.lead) for c in clips]
        ratio = {name: target[name] / max(group_std(clips, values, name), 1e-6)
                 for name in FITTED}  # fmt: skip
        tuning = replace(
            tuning,
            jaw_gain=tuning.jaw_gain * ratio["jawOpen"],
            lower_down=_lip_step(tuning.lower_down, ratio["mouthLowerDownLeft"]),
            upper_up=_lip_step(tuning.upper_up, ratio["mouthUpperUpLeft"]),
            stretch_gain=tuning.stretch_gain * ratio["mouthStretchLeft"],
            round_gain=tuning.round_gain
            * float(np.sqrt(ratio["mouthPucker"] * ratio["mouthFunnel"])),
            seal_gain=tuning.seal_gain
            * float(np.sqrt(ratio["mouthRollLower"] * ratio["mouthPressLeft"])),
        )
    return tuning


def _lip_step(gain_share: tuple[float, float], ratio: float) -> tuple[float, float]:
    """One step towards the target spread: grow the jaw's share (own gain 1), or, with no
    share left, shrink the own gain."""
    gain, share = gain_share
    if ratio > 1 or share > 0:
        grown = max(share * ratio, 0.0) if share > 0 else 0.5 * (ratio - 1)
        return (1.0, grown) if grown > 0.01 or ratio > 1 else (1.0, 0.0)
    return (gain * ratio, 0.0)


def balanced(scores: np.ndarray, clips: list[Clip]) -> np.ndarray:
    """Per timing: mean r0 + mean r over the clips (each clip counts once, as in
    bench_lipsync's "all"; weighting each source group once chose timings that fit the small
    groups' audio/video offsets and lost held out)."""
    return scores.mean(axis=1).sum(axis=1)


def reference_timing(clips: list[Clip]) -> tuple[Timing, LipsTuning]:
    """The gains alone, at engine 1.1.0's timing."""
    return REFERENCE, fit_gains(clips, REFERENCE)


PROCEDURES = {"gains, 1.1.0 timing": reference_timing, "gains and timing": fit_lips}


def cmd_fit(args: argparse.Namespace) -> None:
    """Both procedures held out; the engine's constants come from the one that holds out
    better (mean r0 + r over the clips)."""
    clips = load_all(args.clips, args.cache)
    groups = sorted({c.group for c in clips})
    before = [engine_lips(c) for c in clips]
    held_out = {}
    for label, procedure in PROCEDURES.items():
        print(f"\n=== {label}")
        print(f"{'held out':12s} {'lead':>5s} {'smooth':>6s} {'coart':>5s} {'loud_jaw':>10s}  "
              f"{'jaw':>5s} {'lowD a,s':>11s} {'upUp a,s':>11s} {'close':>5s} {'strch':>5s} "
              f"{'round':>5s} {'seal':>5s}")  # fmt: skip
        after: list = [None] * len(clips)
        for group in groups:
            timing, tuning = procedure([c for c in clips if c.group != group])
            print_tuning(group, timing, tuning)
            for i, clip in enumerate(clips):
                if clip.group == group:
                    after[i] = lips_values(clip, tuning, timing.lead)
        print_held_out(clips, before, after)
        held_out[label] = np.nanmean([opening_r(c, v) for c, v in zip(clips, after, strict=True)])
    chosen = max(held_out, key=held_out.get)
    timing, tuning = PROCEDURES[chosen](clips)
    print(f"\nfitted on all groups with '{chosen}' (the engine's constants):")
    print_tuning("all", timing, tuning)


def engine_lips(clip: Clip) -> np.ndarray:
    """The current engine's lips layer (its own constants and default mouth lead)."""
    return lips_values(clip, LipsTuning(), MOUTH_LEAD)


def print_tuning(label: str, timing: Timing, t: LipsTuning) -> None:
    print(f"{label:12s} {timing.lead:5.2f} {timing.smoothing:6.3f} {timing.coarticulation:5.1f} "
          f"{timing.loud_jaw[0]:4.2f},{timing.loud_jaw[1]:4.2f}  {t.jaw_gain:5.2f} "
          f"{t.lower_down[0]:5.2f},{t.lower_down[1]:5.2f} {t.upper_up[0]:5.2f},{t.upper_up[1]:5.2f}"
          f" {t.close_share:5.2f} {t.stretch_gain:5.2f} {t.round_gain:5.2f} {t.seal_gain:5.2f}",
          flush=True)  # fmt: skip


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


# --- the upper face ------------------------------------------------------------------------

UPPER_FITTED = ("browInnerUp", "browOuterUpLeft", "browDownLeft", "eyeSquintLeft",
                "cheekSquintLeft", "eyeWideLeft")  # fmt: skip
BLINK_RISE = 0.15  # a blink: eyeBlink rises this far above the clip's median (captured blinks
BLINK_GAP = 0.25  # are damped by the capture's smoothing); s between two blinks at least


ENGINE_1_1 = UpperFace(0.35, 0.0, 0.8, 0.0, 0.0, 0.0, 0.0)  # accent brow raises only


def upper_values(clip: Clip, upper: UpperFace) -> np.ndarray:
    """The engine's head layer (the prosodic upper face) for the clip, neutral, seed 0."""
    curves = np.zeros((len(clip.times), 8))
    return head_layer(clip.prosody, clip.times, curves, 0, 1.0, upper)


def blinks_per_minute(clip: Clip, series: np.ndarray) -> float:
    """Blinks per minute of tracked face: rises of eyeBlink above its median + BLINK_RISE."""
    found = clip.found
    up = series > np.median(series[found]) + BLINK_RISE
    starts = np.flatnonzero(up[1:] & ~up[:-1]) + 1
    kept = [s for k, s in enumerate(starts) if k == 0 or s - starts[k - 1] >= BLINK_GAP * clip.fps]
    return len(kept) / max(found.sum() / clip.fps / 60.0, 1e-9)


def group_percentile(clips: list[Clip], values: list[np.ndarray], name: str, q: float) -> float:
    """The q-th percentile over source groups of the channel's std during speech."""
    stds = [group_std([c for c in clips if c.group == g],
                      [v for c, v in zip(clips, values, strict=True) if c.group == g], name)
            for g in sorted({c.group for c in clips})]  # fmt: skip
    return float(np.percentile(stds, q))


def fit_upper(clips: list[Clip]) -> UpperFace:
    """Amplitudes whose spread matches the lower quartile of the groups' captured spread: the
    accent brow raise stays, the melody's share is searched; the rest are linear gains."""
    real = [c.real for c in clips]
    target = {n: group_percentile(clips, real, n, 25) for n in UPPER_FITTED}
    off = UpperFace(BROW_RAISE, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    best = (np.inf, 0.0)
    for pitch in np.linspace(0.0, 3.0, 31):
        values = [upper_values(c, replace(off, brow_pitch=pitch)) for c in clips]
        gap = abs(group_std(clips, values, "browInnerUp") - target["browInnerUp"])
        best = min(best, (gap, float(pitch)))
    unit = replace(off, brow_pitch=best[1], brow_down=1.0, eye_squint=1.0, cheek_squint=1.0,
                   eye_wide=1.0)  # fmt: skip
    values = [upper_values(c, unit) for c in clips]

    def gain(name: str) -> float:
        return target[name] / max(group_std(clips, values, name), 1e-6)

    return replace(unit, brow_outer=gain("browOuterUpLeft"), brow_down=gain("browDownLeft"),
                   eye_squint=gain("eyeSquintLeft"), cheek_squint=gain("cheekSquintLeft"),
                   eye_wide=gain("eyeWideLeft"))  # fmt: skip


def cmd_upper(args: argparse.Namespace) -> None:
    clips = load_all(args.clips, args.cache)
    groups = sorted({c.group for c in clips})
    real = [c.real for c in clips]
    before = [upper_values(c, ENGINE_1_1) for c in clips]
    after: list = [None] * len(clips)
    rate = {g: float(np.median([blinks_per_minute(c, c.real[:, index_of("eyeBlinkLeft")])
                                for c in clips if c.group == g])) for g in groups}  # fmt: skip
    print(f"{'held out':12s} {'brow_pitch':>10s} {'outer':>5s} {'brow_down':>9s} {'eye_sq':>6s} "
          f"{'cheek_sq':>8s} {'eye_wide':>8s} {'blinks/min':>10s}")  # fmt: skip
    for group in groups:
        train = [c for c in clips if c.group != group]
        upper = fit_upper(train)
        blinks = float(np.median([rate[g] for g in groups if g != group]))
        print(f"{group:12s} {upper.brow_pitch:10.2f} {upper.brow_outer:5.2f} "
              f"{upper.brow_down:9.2f} "
              f"{upper.eye_squint:6.2f} {upper.cheek_squint:8.2f} {upper.eye_wide:8.2f} "
              f"{blinks:10.1f}")  # fmt: skip
        for i, clip in enumerate(clips):
            if clip.group == group:
                after[i] = upper_values(clip, upper)
    print("\nstd during speech, held out: real | engine before -> after; range = the groups'")
    print(f"{'channel':16s} {'range':>11s} " + " ".join(f"{g:>19s}" for g in groups))
    for name in UPPER_FITTED:
        stds = {g: [group_std([c for c in clips if c.group == g],
                              [v[i] for i, c in enumerate(clips) if c.group == g], name)
                    for v in (real, before, after)] for g in groups}  # fmt: skip
        low, high = min(v[0] for v in stds.values()), max(v[0] for v in stds.values())
        cells = [f"{r:.3f}|{b:.3f}>{a:.3f}" for r, b, a in stds.values()]
        print(f"{name:16s} {low:5.3f}-{high:5.3f} " + " ".join(f"{c:>19s}" for c in cells))
    print("\ncaptured blinks per minute (median clip) per group: "
          + ", ".join(f"{g} {r:.0f}" for g, r in rate.items()))  # fmt: skip
    upper = fit_upper(clips)
    print(f"\nfitted on all groups: {upper}, blinks/min {np.median(list(rate.values())):.1f}")


# --- emotions against the captured MEAD clips ----------------------------------------------

REGIONS = {  # MediaPipe face-mesh landmarks (subject's right, then left)
    "inner brows": (107, 336), "outer brows": (70, 300), "upper lids": (159, 386),
    "cheeks": (205, 425), "mouth corners": (61, 291), "upper lip": (0,), "lower lip": (17,),
    "chin": (152,),
}  # fmt: skip


def expression_displacement(weights: np.ndarray) -> np.ndarray:
    """[478, 3] mm: the model's mean face with these ARKit weights, minus the mean face."""
    from emospeaker.face.expression import expression_model

    model = expression_model()
    return 1000.0 * (model.deform(weights) - model.neutral)


def region_table(fields: dict[str, np.ndarray]) -> None:
    """Per region: mean displacement of each field (x = towards the subject's left, y up,
    z forward, mm; x mirrored on the right side so that outwards is positive), then each
    field's RMS displacement and its cosine with the first (the real face)."""
    print(f"{'region':14s}" + "".join(f" {name + ' dx,dy,dz':>22s}" for name in fields))
    for region, points in REGIONS.items():
        cells = []
        for field in fields.values():
            d = field[list(points)].copy()
            if len(points) == 2:
                d[0, 0] *= -1  # the subject's right side: outwards is -x
            m = d.mean(axis=0)
            cells.append(f"{m[0]:6.1f},{m[1]:6.1f},{m[2]:6.1f}")
        print(f"{region:14s}" + "".join(f" {cell:>22s}" for cell in cells))
    real = next(iter(fields.values())).ravel()
    for name, field in fields.items():
        flat = field.ravel()
        cosine = real @ flat / max(np.linalg.norm(real) * np.linalg.norm(flat), 1e-9)
        rms = float(np.sqrt(np.mean(np.sum(field**2, axis=1))))
        print(f"{name:>10s}: RMS displacement {rms:5.2f} mm, cosine with real {cosine:5.2f}")


def cmd_emotions(args: argparse.Namespace) -> None:
    """The emotion prototypes against the captured MEAD clips at their level.

    The real face is fitted with rest=False (weights from the model's neutral, so the held
    expression stays); the engine animates the clip's own audio with the clip's label, and
    once neutral for contrast. Each side's median weights over the frames with a face (the
    mouth speaks in all three) are shown as landmark displacement on the model's mean face."""
    from bench_lipsync import labelled_emotion
    from emospeaker.api import animate
    from emospeaker.channels import ARKIT_BLENDSHAPES
    from emospeaker.emotion import EmotionTimeline

    for path in clip_paths(args.clips):
        label = labelled_emotion(path)
        if not label:
            continue
        emotion, level = label.split(":")
        video, _ = landmarks_of(path, args.cache / "landmarks")
        captured = fit_video(video, rest=False).values[video.found, :52]
        audio = load_audio(path)
        engine = {}
        for name, keyed in (("engine", label), ("neutral", "neutral:0")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                track = animate(audio, EmotionTimeline.parse(keyed), fps=Fraction(video.fps))
            n = min(track.frames, len(video.found))
            engine[name] = np.median(track.values[:n][video.found[:n], :52], axis=0)
        median = np.median(captured, axis=0)
        print(f"\n{path.stem}: {emotion} at intensity {float(level):.2f}, while speaking")
        region_table({"real": expression_displacement(median),
                      **{k: expression_displacement(v) for k, v in engine.items()}})  # fmt: skip
        # the emotion's own part: each face minus the engine's neutral speech on this audio
        speech = expression_displacement(engine["neutral"])
        felt = expression_displacement(median) - speech
        keyed = expression_displacement(engine["engine"]) - speech
        cosine = (
            felt.ravel() @ keyed.ravel() / max(np.linalg.norm(felt) * np.linalg.norm(keyed), 1e-9)
        )
        rms = [float(np.sqrt(np.mean(np.sum(f**2, axis=1)))) for f in (felt, keyed)]
        print(f"emotion part (minus neutral speech): RMS real {rms[0]:.2f} mm, engine "
              f"{rms[1]:.2f} mm, cosine {cosine:.2f}")  # fmt: skip
        for name, weights in (("captured", median), ("engine", engine["engine"])):
            top = np.argsort(-weights)[:7]
            print(f"{name + ' median weights:':26s}" + ", ".join(
                f"{ARKIT_BLENDSHAPES[k]} {weights[k]:.2f}" for k in top))  # fmt: skip
    intensity_table()


def intensity_table() -> None:
    """Every emotion's RMS landmark displacement from neutral (mm, mean face) over intensity,
    the emotion layer alone in a pause: the growth is smooth and monotone, above 1 too."""
    from emospeaker.emotion import EMOTIONS
    from emospeaker.engines.default.emotion import emotion_layer

    levels = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    print("\nemotion layer alone, RMS displacement from neutral (mm) at intensity")
    print(f"{'emotion':10s}" + "".join(f"{x:>7.2f}" for x in levels))
    for e, emotion in enumerate(EMOTIONS[1:], start=1):
        curves = np.zeros((len(levels), len(EMOTIONS)))
        curves[:, e] = levels
        weights = emotion_layer(curves, np.zeros(len(levels)), np.zeros(len(levels)))[:, :52]
        rms = [np.sqrt(np.mean(np.sum(expression_displacement(w) ** 2, axis=1))) for w in weights]
        print(f"{emotion:10s}" + "".join(f"{r:7.2f}" for r in rms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("capture", "stats", "fit", "upper", "emotions"))
    parser.add_argument("--clips", type=Path, nargs="+", default=DEFAULT_CLIPS)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    {
        "capture": cmd_capture,
        "stats": cmd_stats,
        "fit": cmd_fit,
        "upper": cmd_upper,
        "emotions": cmd_emotions,
    }[args.command](args)


if __name__ == "__main__":
    main()
