"""The "neural" engine: the EmoSpeaker network behind the common Engine interface.

Loads the shipped checkpoint (trained by the project's own scripts on its synthetic corpus,
see weights/README.md) or any other via the `checkpoint` option; CPU or GPU. The network
writes the `lips`, `emotion` and `head` layers; the `eyes` layer (blinks and gaze, which the
audio cannot predict) comes from the default engine's seeded eyes pass, so the same seed gives
the same blinks whichever engine made the mouth.

Long audio runs in chunks with enough audio context on each side that the result equals one
pass (the front end's normalisation reaches 1.5 s and the encoders ~0.5 s each way), which
bounds memory and gives progress and cancellation points.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...audio import SAMPLE_RATE, padded_slice
from ...errors import InputError
from ...jobs import Job
from ...track import FaceTrack
from ..base import Engine, EngineInput, Option

WEIGHTS = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = WEIGHTS / "emospeaker-synthetic.pt"
CHUNK_SECONDS = 30.0
CONTEXT_SECONDS = 2.5  # > half the front end's 3 s normalisation window + the encoders' reach


class NeuralEngine(Engine):
    name = "neural"
    version = "1.0.0"
    description = (
        "EmoSpeaker network (PyTorch): AU-decoupled audio content, emotion-intensity matrix; "
        "CPU or GPU"
    )
    options = {
        "checkpoint": Option("", "checkpoint file (.pt) to use instead of the shipped model"),
        "device": Option("auto", "where to run the network", choices=("auto", "cpu", "cuda")),
        "eyes": Option(True, "add blinks and gaze from the default engine's eyes pass"),
    }

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def model(self, checkpoint: str = "", device: str = "auto") -> tuple[Any, dict[str, Any]]:
        """(network, checkpoint payload) for a checkpoint path and device, loaded once."""
        import torch

        from .checkpoint import load_model

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise InputError(
                "option device=cuda: this machine has no CUDA GPU (torch "
                f"{torch.__version__}); use device=cpu or auto",
                field="options.device",
            )
        path = (
            str(Path(checkpoint).expanduser().resolve()) if checkpoint else str(DEFAULT_CHECKPOINT)
        )
        with self._lock:
            key = (path, device)
            if key not in self._models:
                model, payload = load_model(path, device)
                payload.pop("state_dict", None)
                self._models[key] = (model, payload)
            return self._models[key]

    def animate(self, request: EngineInput, job: Job) -> FaceTrack:
        job.progress("loading model", 0.0)
        model, payload = self.model(request.options["checkpoint"], request.options["device"])
        layers = predict_layers(model, request, job.part(0.02, 0.9))
        if request.options["eyes"]:
            job.progress("eyes", 0.9)
            layers["eyes"] = eyes_layer(request)
        else:
            layers["eyes"] = np.zeros_like(layers["lips"])
        job.progress("eyes", 1.0)
        source = request.options["checkpoint"] or DEFAULT_CHECKPOINT.name
        return FaceTrack(
            request.fps,
            layers,
            channels=tuple(model.cfg.channels),
            start_frame=request.start_frame,
            emotion=request.emotion,
            provenance={"model_sha256": payload["checksum"], "checkpoint": Path(source).name},
        )


def predict_layers(model: Any, request: EngineInput, job: Job) -> dict[str, np.ndarray]:
    """Run the network over the request in chunks: layer name -> [frames, channels]."""
    import torch

    device = next(model.parameters()).device
    fps = float(request.fps)
    samples = request.audio.samples
    frames = request.frames
    per_chunk = max(1, int(CHUNK_SECONDS * fps))
    outputs: dict[str, list[np.ndarray]] = {}
    for first in range(0, frames, per_chunk):
        job.progress("network", first / frames)
        last = min(frames, first + per_chunk)
        t0 = first / fps - CONTEXT_SECONDS
        begin = int(round(t0 * SAMPLE_RATE))
        end = int(round((last / fps + CONTEXT_SECONDS) * SAMPLE_RATE))
        audio = padded_slice(samples, begin, end - begin)
        times = np.arange(first, last) / fps - begin / SAMPLE_RATE
        with torch.inference_mode():
            layers = model(
                torch.from_numpy(audio)[None].to(device),
                torch.from_numpy(times.astype(np.float32))[None].to(device),
                torch.tensor([1.0 / fps], device=device),
                torch.from_numpy(request.emotion[first:last])[None].to(device),
            )
        for name, value in layers.items():
            outputs.setdefault(name, []).append(value[0].float().cpu().numpy())
    job.progress("network", 1.0)
    return {name: np.concatenate(parts) for name, parts in outputs.items()}


def eyes_layer(request: EngineInput) -> np.ndarray:
    """Blinks and gaze of the default engine's eyes pass for the same request and seed
    (blinks gather in the pauses its prosody analysis finds)."""
    from ...speech.prosody import analyse
    from ..default.eyes import eyes_layer as default_eyes

    times = np.arange(request.frames, dtype=np.float64) / float(request.fps)
    pauses = analyse(request.audio.samples).pauses
    return default_eyes(times, request.audio.duration, request.emotion, pauses, request.seed)
