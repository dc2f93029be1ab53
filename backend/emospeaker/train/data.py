"""Random training crops from a corpus, sharded across DDP ranks and DataLoader workers.

A crop is `crop_seconds` of frames plus `context_seconds` of audio on each side (so the
encoders see real sound at the crop's edges, as they do inside a long clip at inference).
Augmentation is acoustic only (gain, a small room, a microphone's tilt or band limit,
background noise, a noise floor): the targets do not change, which is exactly the invariance
the lips should have, and it narrows the gap between synthesised and recorded speech.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..audio import SAMPLE_RATE, padded_slice
from ..emotion import EMOTION_INDEX
from .config import DataConfig
from .corpus import Clip, constant_curves

LAYERS = ("lips", "emotion", "head", "combined")


def crop(clip: Clip, start: int, frames: int, context: float) -> dict[str, Any]:
    """Frames [start, start + frames) of `clip` with their audio and `context` s around it."""
    fps = float(clip.fps)
    frames = min(frames, clip.frames - start)
    t0 = start / fps - context
    first = int(round(t0 * SAMPLE_RATE))
    count = int(round((frames / fps + 2 * context) * SAMPLE_RATE))
    audio = padded_slice(clip.audio, first, count)
    window = slice(start, start + frames)
    curves = constant_curves(frames, clip.emotion, clip.intensity)
    item: dict[str, Any] = {
        "samples": audio,
        "times": ((start + np.arange(frames)) / fps - first / SAMPLE_RATE).astype(np.float32),
        "frame_period": np.float32(1.0 / fps),
        "curves": curves,
        "mask": np.ones(frames, np.float32),
        "aus": clip.aus[window].astype(np.float32),
        "has_layers": np.float32(clip.has_layers),
        "emotion_index": EMOTION_INDEX[clip.emotion],
    }
    for name in LAYERS:
        layer = clip.layers.get(name)
        item[name] = (
            layer[window].astype(np.float32)
            if layer is not None
            else np.zeros((frames, next(iter(clip.layers.values())).shape[1]), np.float32)
        )
    return item


def mix_clips(
    groups: list[list[Clip]], shares: tuple[float, ...] = (), seed: int = 0
) -> list[Clip]:
    """One training list in which group i supplies shares[i] of the crops (to a clip): each
    group's clips are repeated, whole copies and then a seeded choice of them for the rest, so
    the largest group relative to its share appears once (each crop still starts at random
    within its clip). Without shares every clip counts once."""
    if not shares:
        return [clip for group in groups for clip in group]
    unit = max(len(group) / share for group, share in zip(groups, shares, strict=True))
    rng = np.random.default_rng(seed)
    mixed: list[Clip] = []
    for group, share in zip(groups, shares, strict=True):
        whole, rest = divmod(unit * share / len(group), 1.0)
        extra = rng.choice(len(group), round(rest * len(group)), replace=False)
        mixed += group * int(whole) + [group[i] for i in sorted(extra)]
    return mixed


def reverb(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small room: direct sound plus exponentially decaying noise (RT60 0.1-0.6 s)."""
    from scipy.signal import fftconvolve

    rt60 = rng.uniform(0.1, 0.6)
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    tail *= rng.uniform(0.05, 0.4) / max(np.sqrt(np.sum(tail**2)), 1e-9)
    tail[0] = 1.0
    return fftconvolve(audio, tail.astype(np.float32))[: len(audio)].astype(np.float32)


def lowpass(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cheaper microphone or codec: cut-off between 3 and 7 kHz."""
    from scipy.signal import butter, sosfilt

    sos = butter(4, rng.uniform(3000, 7000), fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, audio).astype(np.float32)


def augment(audio: np.ndarray, rng: np.random.Generator, cfg: DataConfig) -> np.ndarray:
    """Acoustic variety a recording has and a synthesiser lacks (targets stay unchanged)."""
    out = audio * np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
    if rng.random() < 0.5:
        out = reverb(out, rng)
    if rng.random() < 0.5:  # first-order tilt: brighter or duller microphone
        a = np.float32(rng.uniform(-0.6, 0.6))
        out = np.concatenate([out[:1], out[1:] - a * out[:-1]])
    if rng.random() < 0.25:
        out = lowpass(out, rng)
    if rng.random() < 0.7:
        power = float(np.mean(out**2)) + 1e-10
        snr = rng.uniform(*cfg.noise_snr_db)
        noise = rng.standard_normal(len(out)).astype(np.float32)
        if rng.random() < 0.5:  # pinkish: integrate a little
            noise = np.cumsum(noise) * 0.02
            noise -= np.convolve(noise, np.ones(101) / 101, mode="same")
        noise *= np.sqrt(power / (np.mean(noise**2) + 1e-12) / 10 ** (snr / 10))
        out = out + noise.astype(np.float32)
    # no recording is ever digitally silent: a floor of -80..-50 dB full scale
    out = out + rng.standard_normal(len(out)).astype(np.float32) * 10 ** rng.uniform(-4, -2.5)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Pad frames and samples to the longest item; `mask` marks the real frames."""
    batch: dict[str, torch.Tensor] = {}
    for key in items[0]:
        values = [np.asarray(item[key]) for item in items]
        if values[0].ndim == 0:
            batch[key] = torch.as_tensor(np.stack(values))
            continue
        longest = max(v.shape[0] for v in values)
        padded = np.zeros((len(values), longest, *values[0].shape[1:]), values[0].dtype)
        for i, v in enumerate(values):
            padded[i, : v.shape[0]] = v
        batch[key] = torch.from_numpy(padded)
    return batch


class CropStream(IterableDataset):
    """Endless shuffled crops; each (rank, worker) pair reads its own shard of every epoch."""

    def __init__(
        self, clips: list[Clip], cfg: DataConfig, seed: int, rank: int = 0, world: int = 1
    ):
        super().__init__()
        if not clips:
            raise ValueError("no training clips")
        self.clips, self.cfg, self.seed = clips, cfg, seed
        self.rank, self.world = rank, world

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        shard, shards = self.rank * workers + worker, self.world * workers
        epoch = 0
        while True:
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(len(self.clips))
            # every shard gets the same count per epoch (DDP steps must stay in lockstep)
            per_shard = max(1, len(order) // shards)
            picked = np.resize(order, per_shard * shards)[shard::shards]
            local = np.random.default_rng([self.seed, epoch, shard, 1])
            for index in picked:
                yield self.sample(self.clips[index], local)
            epoch += 1

    def sample(self, clip: Clip, rng: np.random.Generator) -> dict[str, Any]:
        frames = max(1, int(round(self.cfg.crop_seconds * float(clip.fps))))
        start = int(rng.integers(0, max(1, clip.frames - frames + 1)))
        item = crop(clip, start, frames, self.cfg.context_seconds)
        if self.cfg.augment:
            item["samples"] = augment(item["samples"], rng, self.cfg)
        return item
