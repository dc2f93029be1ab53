"""Evaluating an engine on a corpus split, and the neural model's decoupling.

Per clip, the engine animates the clip's audio with the clip's emotion, and we measure:
- lip sync, as the lip-sync benchmark does (emospeaker.metrics): Pearson r of the predicted
  mouth opening with the target track's opening and with the opening the true phones imply,
  and the share of p/b/m phones whose lips close within one frame;
- emotion-AU agreement: AU activations read back from the predicted face (the default
  engine's FACS table, inverted by non-negative least squares) against the clip's AUs: mean
  cosine similarity, and how often the most similar (cosine) emotion prototype is the clip's
  emotion (clips of emotions with AUs, i.e. all but neutral).

Decoupling (neural only): a linear probe is trained to tell the emotion category from the
clip mean and deviation of the content (high-level) features, with 2-fold cross-validation
over clips (use `--split all` for a larger sample); the score
is its accuracy above chance, rescaled so 0 = chance, 1 = perfect (lower is better). The same
probe on the low-level features is the reference that shows emotion *is* in the audio.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..audio import Audio
from ..emotion import EMOTION_INDEX, EMOTIONS
from ..jobs import Job
from ..metrics import (
    bilabial_closure_share,
    lips_closed,
    mouth_opening,
    opening_from_phones,
    pearson_with_lag,
)
from ..speech.phones import PhoneSegment
from ..track import FaceTrack
from .au import aus_from_values, emotion_prototypes
from .corpus import Clip, constant_curves


def target_track(clip: Clip) -> FaceTrack:
    layers = clip.layers if clip.has_layers else {"combined": clip.layers["combined"]}
    return FaceTrack(clip.fps, dict(layers))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-8 and nb < 1e-8:
        return 1.0
    return float(a @ b / max(na * nb, 1e-8))


def evaluate_clip(clip: Clip, track: FaceTrack, au_names: tuple[str, ...]) -> dict[str, Any]:
    target = target_track(clip)
    predicted_open = mouth_opening(track)
    row: dict[str, Any] = {"id": clip.id, "emotion": clip.emotion, "level": clip.level}
    row["opening_r"] = pearson_with_lag(predicted_open, mouth_opening(target))[0]
    if clip.phones:
        phones = [PhoneSegment(p, s, e) for s, e, p in clip.phones]
        implied = opening_from_phones(phones, track.times())
        row["phones_r"] = pearson_with_lag(predicted_open, implied)[0]
        share, count = bilabial_closure_share(lips_closed(track), phones, float(clip.fps))
        row["closure_hits"], row["closures"] = share * count if count else 0.0, count
    predicted_aus = aus_from_values(track.values, au_names).mean(0)
    row["au_cosine"] = cosine(predicted_aus, clip.aus.mean(0))
    row["predicted_aus"] = predicted_aus
    return row


def summarise(rows: list[dict[str, Any]], au_names: tuple[str, ...]) -> dict[str, Any]:
    def mean(key: str) -> float:
        values = [r[key] for r in rows if key in r and np.isfinite(r[key])]
        return float(np.mean(values)) if values else float("nan")

    closures = sum(r.get("closures", 0) for r in rows)
    hits = sum(r.get("closure_hits", 0.0) for r in rows)
    prototypes = {e: p for e, p in emotion_prototypes(au_names).items() if p.any()}
    emotional = [r for r in rows if r["emotion"] in prototypes]
    correct = [
        max(prototypes, key=lambda e: cosine(prototypes[e], r["predicted_aus"])) == r["emotion"]
        for r in emotional
    ]
    return {
        "clips": len(rows),
        "opening_r_vs_target": mean("opening_r"),
        "opening_r_vs_phones": mean("phones_r"),
        "bilabial_closure": hits / closures if closures else float("nan"),
        "bilabials": closures,
        "au_cosine": mean("au_cosine"),
        "au_emotion_accuracy": float(np.mean(correct)) if correct else float("nan"),
    }


def evaluate_engine(
    clips: list[Clip],
    au_names: tuple[str, ...],
    engine: str = "neural",
    options: dict[str, Any] | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """Lip-sync and emotion-AU figures of `engine` on `clips`."""
    from ..api import animate

    job = job or Job()
    rows = []
    for i, clip in enumerate(clips):
        job.progress(f"{engine}: {clip.id}", i / max(1, len(clips)))
        track = animate(
            Audio(clip.audio, clip.id),
            constant_curves(clip.frames, clip.emotion, clip.intensity),
            fps=clip.fps,
            engine=engine,
            options=options,
        )
        rows.append(evaluate_clip(clip, track, au_names))
    job.progress(engine, 1.0)
    return summarise(rows, au_names)


def _features(model: Any, clip: Clip) -> dict[str, Any]:
    """The network's per-frame features of each encoder level for `clip`, on its device."""
    import torch

    device = next(model.parameters()).device
    times = torch.arange(clip.frames, dtype=torch.float64) / float(clip.fps)
    with torch.inference_mode():
        return model.features(
            torch.from_numpy(clip.audio)[None].to(device),
            times.float()[None].to(device),
            torch.tensor([1.0 / float(clip.fps)], device=device),
        )


def clip_features(model: Any, clip: Clip) -> dict[str, np.ndarray]:
    """Clip mean and standard deviation of each encoder level's per-frame features (the
    deviation carries prosody ranges, e.g. a wide pitch range)."""
    import torch

    feats = _features(model, clip)
    return {
        k: torch.cat([v[0].mean(0), v[0].std(0)]).float().cpu().numpy() for k, v in feats.items()
    }


def decoupling(model: Any, clips: list[Clip], seed: int = 0) -> dict[str, float]:
    """Emotion-probe accuracy on content vs low-level features (see module doc)."""
    import torch

    from ..engines.neural.losses import probe_accuracy

    feats = [clip_features(model, c) for c in clips]
    labels = torch.tensor([EMOTION_INDEX[c.emotion] for c in clips])
    classes = len(EMOTIONS)
    chance = float(np.max(np.bincount(labels.numpy(), minlength=classes)) / len(clips))
    fold = np.random.default_rng(seed).permutation(len(clips)) % 2
    out: dict[str, float] = {"chance": chance}
    for level in ("high", "low"):
        x = torch.from_numpy(np.stack([f[level] for f in feats])).float()
        accs = []
        for k in (0, 1):
            train, test = fold != k, fold == k
            accs.append(probe_accuracy(x[train], labels[train], x[test], labels[test], classes))
        acc = float(np.mean(accs))
        out[f"probe_accuracy_{level}"] = acc
        out[f"decoupling_{level}"] = max(0.0, (acc - chance) / (1 - chance))
    return out


INTENSITY_GRID = (0.0, 1 / 3, 0.5, 2 / 3, 1.0, 1.5, 2.0, 4.0)


def intensity_response(model: Any, clip: Clip) -> dict[str, list[float]]:
    """Per emotion, the mean emotion-layer blendshape weight on `clip` at INTENSITY_GRID
    (trained levels are 1/3, 2/3 and 1): between-level and beyond-top behaviour at a glance."""
    import torch

    feats = _features(model, clip)
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = {}
        for k, emotion in enumerate(EMOTIONS):
            row = []
            for s in INTENSITY_GRID:
                curves = torch.zeros(1, clip.frames, len(EMOTIONS), device=device)
                curves[..., k] = s
                layer = model.layers(feats, curves)["emotion"][..., model.blendshape]
                row.append(round(float(layer.mean()), 4))
            out[emotion] = row
    return out
