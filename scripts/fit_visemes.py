"""Fit how far each viseme class of the default engine opens the mouth, from real speech.

Where the jaw values in engines/default/visemes.py come from. The engine's mouth opening is
close to linear in its class openings: opening(t) ~ sum_c share_c(t) * loudness_c(t) * open_c
(lips.coarticulate and lips.loudness_shares, with the engine's recognised phones). So the
openings that best follow a target are a least-squares fit, drawn towards the current ones
(ridge) and, per clip or utterance, free in offset and scale as Pearson r is. Two targets:

- the MediaPipe inner-lip aperture of the real tuning clips (TUNING_CLIPS,
  ../shared/data/lipsync_dev; the other clips stay held out);
- the opening implied by the true phones of synthetic speech (festival and espeak-ng, other
  voice/sentence pairs than bench_lipsync's; phones recognised and aligned to the text),
  which keeps the fit from trading away what the synthetic benchmark measures.
  --synthetic-weight sets its share.

Prints, per class, the current and the fitted opening and the jawOpen that would give it.
P/B/M and F/V are left out (closures are forced, see lips.close_lips), as are rest and the
in-breath. The model leaves out the forced closures, clipping and the benchmark's lag search,
so its suggestions are a direction, not an answer: round them, check each with
bench_lipsync.py (tuning and held-out means, synthetic figures), then edit visemes.CLASSES by
hand. Engine 1.1.0 took them where the benchmark agreed; not, for example, a wider CDNS or a
narrower AA, which cost the synthetic figures with the transcript.

    PYTHONPATH=backend python scripts/fit_visemes.py [--ridge 30] [--synthetic-weight 0.5]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from bench_lipsync import SHARED_DATA, tracked_aperture  # noqa: E402
from emospeaker.audio import load_audio  # noqa: E402
from emospeaker.channels import ALL_CHANNELS, index_of  # noqa: E402
from emospeaker.engines.default.engine import MOUTH_LEAD  # noqa: E402
from emospeaker.engines.default.lips import (  # noqa: E402
    coarticulate,
    loudness_shares,
    viseme_segments,
)
from emospeaker.engines.default.timing import find_phones  # noqa: E402
from emospeaker.engines.default.visemes import CLASS_NAMES, CLASS_POSES, LIP_CHANNELS  # noqa: E402
from emospeaker.jobs import Job  # noqa: E402
from emospeaker.metrics import mouth_opening, opening_from_phones, pearson_with_lag  # noqa: E402
from emospeaker.speech import VOICES, synthesize  # noqa: E402
from emospeaker.speech.prosody import analyse  # noqa: E402
from emospeaker.speech.recognize import STANDARD  # noqa: E402
from emospeaker.speech.sentences import SENTENCES  # noqa: E402

FPS = 30
FIXED = ("rest", "breath", "PBM", "FV")

# the real clips whose figures chose the viseme openings of engine 1.1.0; bench_lipsync's
# per-group figures on realtalk hold them all out
TUNING_CLIPS = ("vidtimit_fadg0_sa1", "styletalk_andrew_clip_1", "mead_W036_level_3_happy_007")


def class_openings() -> np.ndarray:
    """mouth_opening of each class's pose on its own."""
    layer = np.zeros((len(CLASS_NAMES), len(ALL_CHANNELS)), np.float32)
    layer[:, [index_of(n) for n in LIP_CHANNELS]] = CLASS_POSES
    return mouth_opening(layer)


def design(samples: np.ndarray, times: np.ndarray, transcript: str | None = None) -> np.ndarray:
    """[frames, classes]: each class's loudness-weighted share, from the engine's phones."""
    prosody = analyse(samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phones = find_phones(samples, prosody, transcript, STANDARD, Job()).phones
    at = times + MOUTH_LEAD
    return loudness_shares(
        coarticulate(viseme_segments(phones), at), prosody.sample("loudness", at)
    )


def real_blocks(clips: Path, cache: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    blocks = []
    for stem in TUNING_CLIPS:
        clip = clips / f"{stem}.mp4"
        aperture, fps = tracked_aperture(clip, cache)
        x = design(load_audio(clip).samples, np.arange(len(aperture)) / fps)
        _, lag = pearson_with_lag(aperture, x @ class_openings(), 3)  # the clip's A/V offset
        x = np.roll(x, -lag, axis=0)
        keep = np.isfinite(aperture)
        blocks.append((x[keep], aperture[keep]))
        print(f"real: {stem} ({keep.sum()} frames, lag {lag})")
    return blocks


def synthetic_blocks(per_voice: int) -> list[tuple[np.ndarray, np.ndarray]]:
    blocks = []
    for v, voice in enumerate(VOICES):
        for k in range(per_voice):  # other sentences than bench_lipsync gives this voice
            utt = synthesize(SENTENCES[(v * per_voice + k + per_voice) % len(SENTENCES)], voice)
            times = np.arange(int(np.ceil(utt.duration * FPS))) / FPS
            truth = opening_from_phones(utt.phones, times)
            for transcript in (None, utt.text):  # recognised and aligned phones
                blocks.append((design(utt.audio.samples, times, transcript), truth))
    print(f"synthetic: {len(blocks) // 2} utterances")
    return blocks


def normal_equations(blocks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """X'X and X'y over blocks, each centred (a free offset) and its target standardised."""
    xtx, xty = 0.0, 0.0
    for x, y in blocks:
        x = x - x.mean(axis=0)
        y = (y - y.mean()) / (y.std() + 1e-12)
        xtx, xty = xtx + x.T @ x, xty + x.T @ y
    return xtx, xty


def fit(real, synthetic, ridge: float, synthetic_weight: float) -> np.ndarray:
    current = class_openings()
    a_real, b_real = normal_equations(real)
    a_syn, b_syn = normal_equations(synthetic)
    balance = synthetic_weight * np.trace(a_real) / np.trace(a_syn)  # share of the two targets
    a, b = a_real + balance * a_syn, b_real + balance * b_syn
    scale = current @ b / (current @ a @ current)  # the current openings' best overall scale
    free = np.array([name not in FIXED for name in CLASS_NAMES])
    prior = scale * current
    a_ridge = a + ridge * np.diag(free.astype(float))
    # fixed classes keep their opening: solve for the free ones only
    rhs = b + ridge * free * prior - a_ridge[:, ~free] @ prior[~free]
    solved = prior.copy()
    solved[free] = np.linalg.solve(a_ridge[np.ix_(free, free)], rhs[free])
    return solved / scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=SHARED_DATA / "lipsync_dev")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "emospeaker" / "bench_lipsync"
    )
    parser.add_argument("--ridge", type=float, default=30.0, help="pull towards current values")
    parser.add_argument("--synthetic-weight", type=float, default=0.5)
    parser.add_argument("--sentences", type=int, default=4, help="synthetic sentences per voice")
    args = parser.parse_args()
    fitted = fit(
        real_blocks(args.clips, args.cache),
        synthetic_blocks(args.sentences),
        args.ridge,
        args.synthetic_weight,
    )
    current = class_openings()
    jaw = CLASS_POSES[:, LIP_CHANNELS.index("jawOpen")]
    print(f"\n{'class':8s} {'opening':>8s} {'fitted':>7s} {'jawOpen':>8s} {'-> fitted':>9s}")
    for i, name in enumerate(CLASS_NAMES):
        if name not in FIXED:
            suggested = max(0.0, jaw[i] + fitted[i] - current[i])
            print(f"{name:8s} {current[i]:8.2f} {fitted[i]:7.2f} {jaw[i]:8.2f} {suggested:9.2f}")


if __name__ == "__main__":
    main()
