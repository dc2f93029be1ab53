"""The training loop: one process, or one per GPU/CPU under torchrun (DDP).

    emospeaker train configs/neural_synthetic.toml
    torchrun --nproc_per_node 8 -m emospeaker.train configs/neural_mead.toml

DDP uses NCCL on GPUs and Gloo on CPU; mixed precision (bf16, or fp16 with a gradient scaler)
on GPU. Rank 0 writes `log.csv` (and TensorBoard events when tensorboard is installed),
`last.pt` (resumable: weights, optimizer, scheduler, scaler, step) and at the end `model.pt`
(weights + config + checksum only: the file the engine loads). A rerun with the same `out`
resumes from `last.pt` unless `resume=False`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from .. import __version__
from ..engines.neural.checkpoint import read_checkpoint, save_checkpoint
from ..engines.neural.losses import LossWeights, compute_losses
from ..engines.neural.model import EmoSpeakerNet, ModelConfig, default_layer_channels
from ..errors import InputError
from .config import Config
from .corpus import Clip, Corpus
from .data import CropStream, collate, crop, mix_clips

LOG_TERMS = (
    "total", "lips", "emotion", "head", "combined",
    "au_pull", "au_contrast", "au_probe", "au_push",
)  # fmt: skip


class TrainStep(nn.Module):
    """Model + losses as one module, so DDP sees every forward of a step."""

    def __init__(self, model: EmoSpeakerNet, weights: LossWeights):
        super().__init__()
        self.model, self.weights = model, weights

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return compute_losses(self.model, batch, self.weights)


class Dist:
    """Process-group facts; a single process is rank 0 of 1."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        self.device = torch.device(f"cuda:{self.local}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(self.device)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Average over ranks (NCCL reduces only GPU tensors: moved there and back)."""
        if self.world > 1:
            shared = values.to(self.device, copy=True)
            dist.all_reduce(shared)
            values = shared.cpu() / self.world
        return values

    def agree(self, value: int, what: str) -> None:
        """Fail clearly when ranks disagree (e.g. on the resume step without a shared `out`)."""
        if self.world > 1:
            t = torch.tensor([value, -value], device=self.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            if int(t[0]) != -int(t[1]):
                raise InputError(
                    f"processes disagree on {what} ({-int(t[1])}..{int(t[0])}); put [train] "
                    "out on a filesystem every machine shares",
                    field="train.out",
                )

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def autocast_for(setting: str, device: torch.device) -> tuple[Any, torch.amp.GradScaler | None]:
    """(autocast context factory, scaler or None) for the `amp` setting."""
    if device.type != "cuda" or setting == "off":
        return contextlib.nullcontext, None
    if setting == "auto":
        setting = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if setting not in ("bf16", "fp16"):
        raise InputError(f"[train] amp = {setting!r}: use auto, off, bf16 or fp16", field="amp")
    dtype = torch.bfloat16 if setting == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def learning_rate(step: int, cfg: Config) -> float:
    """Linear warm-up, then cosine decay to min_lr."""
    t = cfg.train
    if step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    progress = min(1.0, (step - t.warmup_steps) / max(1, t.steps - t.warmup_steps))
    return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1 + math.cos(math.pi * progress))


def push_weight(step: int, cfg: Config) -> float:
    start = cfg.train.push_start
    return cfg.loss.au_push * min(1.0, max(0.0, (step - start) / max(1, start)))


MEL_SAMPLE = 200  # clips whose audio sets the front end's normalisation


def mel_statistics(model: EmoSpeakerNet, clips: list[Clip], limit: int = MEL_SAMPLE) -> None:
    """Per-band log-mel mean/std of the corpus, stored in the model (and its checkpoints)."""
    sums = torch.zeros(model.cfg.n_mels, dtype=torch.float64)
    squares = torch.zeros_like(sums)
    count = 0
    with torch.no_grad():
        for clip in clips[:limit]:
            mel = model.front.centred(torch.from_numpy(clip.audio)[None])[0].double()
            sums += mel.sum(1)
            squares += mel.square().sum(1)
            count += mel.shape[1]
    mean = sums / count
    model.front.mean.copy_(mean.float())
    model.front.std.copy_((squares / count - mean.square()).clamp(min=1e-4).sqrt().float())


def open_corpora(cfg: Config) -> tuple[list[Corpus], list[list[Clip]], list[Clip]]:
    """(corpora, each corpus's training clips, validation clips) for `[data] corpus`. A corpus
    without a val split lends its first twentieth of training clips."""
    corpora = [Corpus(cfg.path(path)) for path in cfg.data.corpora]
    first = corpora[0]
    for other in corpora[1:]:
        if (other.au_names, other.channels) != (first.au_names, first.channels):
            raise InputError(
                f"{other.root}: its Action Units or channels differ from {first.root}'s; build "
                "both corpora with this version of emospeaker",
                field="data.corpus",
            )
    groups, val = [], []
    for corpus in corpora:
        train_clips = corpus.load("train")
        if not train_clips:
            raise InputError(f"{corpus.root}: no training clips (all are val)", field="data.corpus")
        groups.append(train_clips)
        val += corpus.load("val") or train_clips[: max(1, len(train_clips) // 20)]
    return corpora, groups, val


def build_model(
    cfg: Config, corpus: Corpus, clips: list[Clip], sample: list[Clip] | None = None
) -> EmoSpeakerNet:
    """A fresh network for `corpus`'s channels, its audio normalised by the statistics of
    `sample` (default: the first clips)."""
    layered = [c for c in clips if c.has_layers]
    channels = corpus.layer_channels(layered) if layered else default_layer_channels()
    settings = {**cfg.model, "au_names": corpus.au_names, "layer_channels": channels}
    model = EmoSpeakerNet(ModelConfig.from_dict(settings))
    mel_statistics(model, sample or clips)
    return model


class Logger:
    """CSV (always) and TensorBoard (when installed) on rank 0."""

    def __init__(self, out: Path, enabled: bool, tensorboard: bool, fresh: bool):
        self.enabled = enabled
        self.path = out / "log.csv"
        val = ("val_total", "val_lips", "val_emotion", "val_head")
        self.columns = ["step", "seconds", "lr", *LOG_TERMS, *val]
        self.writer = None
        if enabled and tensorboard:
            with contextlib.suppress(ImportError):
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"))
        if enabled and (fresh or not self.path.exists()):
            with self.path.open("w", newline="") as fh:
                csv.writer(fh).writerow(self.columns)

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", newline="") as fh:
            row = [step] + [_fmt(values.get(c)) for c in self.columns[1:]]
            csv.writer(fh).writerow(row)
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def validate(model: EmoSpeakerNet, clips: list[Clip], cfg: Config, device) -> dict[str, float]:
    """Mean loss terms over whole validation clips (no augmentation, full push weight)."""
    model.eval()
    totals: dict[str, float] = {}
    weights = cfg.loss
    for i in range(0, len(clips), cfg.train.batch_size):
        group = clips[i : i + cfg.train.batch_size]
        items = [crop(c, 0, c.frames, cfg.data.context_seconds) for c in group]
        losses = compute_losses(model, to_device(collate(items), device), weights)
        for key, value in losses.items():
            totals[key] = totals.get(key, 0.0) + float(value) * len(group)
    model.train()
    return {f"val_{k}": v / max(1, len(clips)) for k, v in totals.items()}


def restore(path: Path, model: nn.Module, optimizer, scaler, device: torch.device) -> int:
    """Load a resumable checkpoint into model, optimizer and scaler; returns its step."""
    payload = read_checkpoint(path, device)
    model.load_state_dict(payload["state_dict"])
    state = payload["train_state"]
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return int(state["step"])


def descend(loss: torch.Tensor, model: nn.Module, optimizer, scaler, clip: float) -> None:
    """One optimizer step with gradient clipping (and loss scaling under fp16)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    scaler.step(optimizer)
    scaler.update()


def train(cfg: Config, *, resume: bool = True, progress: Callable[[int, int], None] | None = None):
    """Run training as configured; returns the path of the final `model.pt` (rank 0)."""
    env = Dist()
    try:
        return _train(cfg, env, resume, progress)
    finally:
        env.close()


def _train(cfg: Config, env: Dist, resume: bool, progress) -> Path:
    t = cfg.train
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    torch.manual_seed(t.seed)
    np.random.seed(t.seed)
    out = cfg.path(t.out)
    corpora, groups, val_clips = open_corpora(cfg)
    train_clips = mix_clips(groups, cfg.data.shares, t.seed)
    # the audio statistics from every corpus alike (one corpus: its first clips, as before)
    sample = [clip for group in groups for clip in group[: MEL_SAMPLE // len(groups)]]
    model = build_model(cfg, corpora[0], train_clips, sample).to(env.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    autocast, scaler = autocast_for(t.amp, env.device)
    last = out / "last.pt"
    step = restore(last, model, optimizer, scaler, env.device) if resume and last.is_file() else 0
    env.agree(step, "the step to resume from")
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(_json(cfg.to_dict()))
    weights = replace(cfg.loss)
    stepper: nn.Module = TrainStep(model, weights)
    if env.world > 1:
        ids = [env.local] if env.device.type == "cuda" else None
        stepper = nn.parallel.DistributedDataParallel(stepper, device_ids=ids)
    stream = CropStream(train_clips, cfg.data, t.seed + step, env.rank, env.world)
    loader = DataLoader(
        stream,
        batch_size=t.batch_size,
        collate_fn=collate,
        num_workers=2 if env.device.type == "cuda" else 0,
        pin_memory=env.device.type == "cuda",
    )
    logger = Logger(out, env.main, t.tensorboard, fresh=step == 0)
    started, running, seen = time.perf_counter(), torch.zeros(len(LOG_TERMS)), 0
    last_val: dict[str, float] | None = None  # the final step's validation, reused in model.pt
    model.train()
    for batch in loader:
        if step >= t.steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)
        weights.au_push = push_weight(step, cfg)
        with autocast():
            losses = stepper(to_device(batch, env.device))
        descend(losses["total"], model, optimizer, scaler, t.grad_clip)
        step += 1
        running += torch.stack([losses[k].detach().float().cpu() for k in LOG_TERMS])
        seen += 1
        if progress is not None and env.main:
            progress(step, t.steps)
        if step % t.log_every == 0 or step == t.steps:
            mean = env.mean(running / seen)
            row = dict(zip(LOG_TERMS, mean.tolist(), strict=True))
            row.update(seconds=time.perf_counter() - started, lr=learning_rate(step - 1, cfg))
            if step % t.eval_every == 0 or step == t.steps:
                if env.main:
                    last_val = validate(model, val_clips, cfg, env.device)
                    row.update(last_val)
            logger.write(step, row)
            running.zero_()
            seen = 0
        if env.main and (step % t.checkpoint_every == 0 or step == t.steps):
            state = {"optimizer": optimizer.state_dict(), "step": step}
            if scaler is not None:
                state["scaler"] = scaler.state_dict()
            save_checkpoint(last, model, info=_info(cfg, corpora, step), train_state=state)
        if env.main and t.snapshot_every and step % t.snapshot_every == 0:
            save_checkpoint(out / f"step_{step:06d}.pt", model, info=_info(cfg, corpora, step))
        if step % t.checkpoint_every == 0 or step % t.eval_every == 0:
            env.barrier()
    final = out / "model.pt"
    if env.main:
        info = _info(cfg, corpora, step)
        info["train_seconds"] = round(time.perf_counter() - started, 1)
        info["val"] = last_val or validate(model, val_clips, cfg, env.device)
        save_checkpoint(final, model, info=info)
    env.barrier()
    return final


def _info(cfg: Config, corpora: list[Corpus], step: int) -> dict[str, Any]:
    skip = ("clips", "au_names", "channels")
    generators = [{k: v for k, v in c.manifest.items() if k not in skip} for c in corpora]
    return {
        "step": step,
        "train_config": cfg.to_dict(),
        "corpus": generators[0],
        "mixed_with": generators[1:],
        "corpus_clips": sum(len(c.entries()) for c in corpora),
        "emospeaker_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
    }


def _json(doc: Any) -> str:
    return json.dumps(doc, indent=1) + "\n"
