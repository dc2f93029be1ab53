"""Training losses of the EmoSpeaker network (the forms are documented in model.py).

A batch is a dict of tensors from `emospeaker.train.data.collate`:
samples [B, N], times [B, F], frame_period [B], curves [B, F, 8], mask [B, F] (valid frames),
targets [B, F, channels] per layer (`lips`, `emotion`, `head`; or only `combined` for video
fits, whose layers cannot be separated), has_layers [B], aus [B, F, AUs], emotion [B] (index).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call

from .model import EYE_PREFIXES, HEAD_LAYERS, EmoSpeakerNet

SCALE = 100.0  # blendshape errors are ~0.1: squared and scaled, the terms are of order 1


@dataclass
class LossWeights:
    lips: float = 1.0
    emotion: float = 1.0
    head: float = 0.5
    velocity: float = 0.5
    au_pull: float = 0.2
    au_contrast: float = 0.05
    au_probe: float = 0.2
    au_push: float = 0.1
    tau: float = 0.1
    # video fits: weight of the expression channels the lips head does not write (brows,
    # squints...); 0 learns only the mouth of their expression (their head pose and AUs still
    # count), e.g. from neutral read speech
    combined_upper: float = 1.0


def masked_mse(pred: torch.Tensor, target: torch.Tensor, frames: torch.Tensor, chans: torch.Tensor):
    """Mean squared error over valid frames and the channels a head writes, times SCALE."""
    weight = frames[..., None] * chans
    error = (pred.float() - target.float()).square() * weight
    return SCALE * error.sum() / weight.sum().clamp(min=1.0)


def velocity(x: torch.Tensor) -> torch.Tensor:
    return x[:, 1:] - x[:, :-1]


def layer_loss(pred, target, frames, chans, w: LossWeights) -> torch.Tensor:
    pair = frames[:, 1:] * frames[:, :-1]
    return masked_mse(pred, target, frames, chans) + w.velocity * masked_mse(
        velocity(pred), velocity(target), pair, chans
    )


def clip_mean(x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Mean over valid frames: [B, F, C] -> [B, C]."""
    return (x * frames[..., None]).sum(1) / frames.sum(1, keepdim=True).clamp(min=1.0)


def au_logits(pred: torch.Tensor, target: torch.Tensor, tau: float) -> torch.Tensor:
    """Similarity of each clip's predicted AUs to every clip's true AUs: [B, B]."""
    return -torch.cdist(pred.float(), target.float()).square() / tau


def same_au_targets(target: torch.Tensor) -> torch.Tensor:
    """Row-normalised matrix of clips sharing (nearly) the same AU target: the positives."""
    same = (torch.cdist(target, target) < 1e-3).float()
    return same / same.sum(1, keepdim=True)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * logits.log_softmax(-1)).sum(-1).mean()


def frozen(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run `module` with its parameters detached: gradients reach only `x`."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    return functional_call(module, params, (x,))


def compute_losses(
    model: EmoSpeakerNet, batch: dict[str, torch.Tensor], w: LossWeights
) -> dict[str, torch.Tensor]:
    """All loss terms and their weighted sum `total` for one batch."""
    feats = model.features(batch["samples"], batch["times"], batch["frame_period"])
    layers = model.layers(feats, batch["curves"])
    frames = batch["mask"].to(layers["lips"].dtype)
    out: dict[str, torch.Tensor] = {}
    layered = batch["has_layers"].to(frames.dtype)[:, None]
    weights = {"lips": w.lips, "emotion": w.emotion, "head": w.head}
    for name in HEAD_LAYERS:
        out[name] = layer_loss(layers[name], batch[name], frames * layered, model.mask(name), w)
    # video fits: lips + emotion against the combined expression, head against the head pose
    combined = frames * (1.0 - layered)
    lips = model.mask("lips")
    expression = model.blendshape.float() * _non_eye(model) * (lips + w.combined_upper * (1 - lips))
    out["combined"] = layer_loss(
        layers["lips"] + layers["emotion"], batch["combined"], combined, expression, w
    ) + w.head * layer_loss(
        layers["head"], batch["combined"], combined, (~model.blendshape).float(), w
    )
    total = sum(weights[k] * out[k] for k in HEAD_LAYERS) + out["combined"]

    aus = batch["aus"].float()
    clip_aus = clip_mean(aus, frames)
    positives = same_au_targets(clip_aus)
    low_aus = model.action_units(feats)
    out["au_pull"] = ((low_aus.float() - aus).square().mean(-1) * frames).sum() / frames.sum()
    out["au_contrast"] = soft_cross_entropy(
        au_logits(clip_mean(low_aus, frames), clip_aus, w.tau), positives
    )
    probe = frozen(model.au_decoder, model.au_high(feats["high"].detach()))
    out["au_probe"] = ((probe.float() - aus).square().mean(-1) * frames).sum() / frames.sum()
    pushed = frozen(model.au_decoder, frozen(model.au_high, feats["high"]))
    uniform = torch.full_like(positives, 1.0 / positives.shape[1])
    out["au_push"] = soft_cross_entropy(
        au_logits(clip_mean(pushed, frames), clip_aus, w.tau), uniform
    )
    total = (
        total
        + w.au_pull * out["au_pull"]
        + w.au_contrast * out["au_contrast"]
        + w.au_probe * out["au_probe"]
        + w.au_push * out["au_push"]
    )
    out["total"] = total
    return out


def _non_eye(model: EmoSpeakerNet) -> torch.Tensor:
    keep = [not name.startswith(EYE_PREFIXES) for name in model.cfg.channels]
    return torch.tensor(keep, dtype=torch.float32, device=model.blendshape.device)


def probe_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    classes: int,
    steps: int = 100,
) -> float:
    """Accuracy of a linear (logistic) probe trained on standardised features."""
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    a, b = (train_x - mean) / std, (test_x - mean) / std
    probe = torch.nn.Linear(a.shape[1], classes)
    opt = torch.optim.LBFGS(probe.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(probe(a), train_y) + 1e-3 * probe.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float((probe(b).argmax(-1) == test_y).float().mean())
