"""Checkpoints: weights + the model config that rebuilds them + a checksum + training info.

The checksum is a SHA-256 over the weights themselves (names, dtypes, shapes, bytes in a fixed
order), so it identifies a model independently of how the file was pickled; it is verified on
every load (a truncated or edited file is refused) and is what the engine's provenance reports.
Files are read with `torch.load(weights_only=True)`: loading never executes pickled code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from ...errors import InputError
from ...files import atomic_output
from .model import EmoSpeakerNet, ModelConfig

FORMAT = "emospeaker-neural/1"


def weights_checksum(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_checkpoint(
    path: str | Path,
    model: EmoSpeakerNet,
    *,
    info: dict[str, Any] | None = None,
    train_state: dict[str, Any] | None = None,
) -> str:
    """Write atomically; returns the weights checksum. `train_state` makes it resumable."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    checksum = weights_checksum(state)
    payload = {
        "format": FORMAT,
        "model_config": model.cfg.to_dict(),
        "state_dict": state,
        "checksum": checksum,
        "info": json.loads(json.dumps(info or {}, default=str)),  # plain types only
    }
    if train_state is not None:
        payload["train_state"] = train_state
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return checksum


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The verified payload of a checkpoint file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file", field="checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise InputError(f"{path}: cannot read checkpoint ({exc})", field="checkpoint") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{path}: not an EmoSpeaker neural checkpoint", field="checkpoint")
    actual = weights_checksum(payload["state_dict"])
    if actual != payload["checksum"]:
        raise InputError(
            f"{path}: checksum mismatch (file says {payload['checksum'][:12]}, weights are "
            f"{actual[:12]}): the file is damaged",
            field="checkpoint",
        )
    return payload


def model_from_payload(payload: dict[str, Any], source: str = "checkpoint") -> EmoSpeakerNet:
    """Rebuild the network; a checkpoint of another model version is a clear error."""
    try:
        model = EmoSpeakerNet(ModelConfig.from_dict(payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (ValueError, TypeError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(
            f"{source}: made by an incompatible version of the network ({first})",
            field="checkpoint",
        ) from None
    return model


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[EmoSpeakerNet, dict[str, Any]]:
    """(model in eval mode, payload) from a checkpoint file."""
    payload = read_checkpoint(path, map_location)
    model = model_from_payload(payload, str(path)).to(map_location).eval()
    return model, payload
