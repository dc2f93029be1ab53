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

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
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
MODEL_CACHE_COUNT = 4  # networks kept loaded (per checkpoint and device)
MODEL_CACHE_BYTES = 2 * 1024**3  # their weights together; also the largest file loaded
CHECKPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
CONTEXT_SECONDS = 2.5  # > half the front end's 3 s normalisation window + the encoders' reach


class NeuralEngine(Engine):
    name = "neural"
    version = "1.0.0"
    description = (
        "EmoSpeaker network (PyTorch): AU-decoupled audio content, emotion-intensity matrix; "
        "CPU or GPU"
    )
    options = {
        "checkpoint": Option(
            "",
            "checkpoint to use instead of the shipped model: a .pt file; through a server, "
            "the name of one in the server's --checkpoint-dir",
        ),
        "device": Option("auto", "where to run the network", choices=("auto", "cpu", "cuda")),
        "eyes": Option(True, "add blinks and gaze from the default engine's eyes pass"),
    }

    def __init__(self) -> None:
        self._models = ModelCache(MODEL_CACHE_COUNT, MODEL_CACHE_BYTES)
        self._lock = threading.Lock()  # guards the cache and the table of loading locks
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def remote_options(
        self, given: Mapping[str, str], checkpoint_dir: Path | None = None
    ) -> dict[str, str]:
        """A client names a checkpoint; it is looked up in the operator's `checkpoint_dir`
        (`serve --checkpoint-dir`), never opened from a path the client wrote."""
        options = super().remote_options(given, checkpoint_dir)
        if options.get("checkpoint"):
            options["checkpoint"] = str(checkpoint_path(options["checkpoint"], checkpoint_dir))
        return options

    def remote_choices(self, checkpoint_dir: Path | None = None) -> dict[str, tuple[str, ...]]:
        return {"checkpoint": tuple(checkpoint_names(checkpoint_dir))}

    def model(self, checkpoint: str = "", device: str = "auto") -> tuple[Any, dict[str, Any]]:
        """(network, checkpoint payload) for a checkpoint path and device, loaded once and
        kept in a bounded cache. Any load failure is one message that shows neither the
        folder nor anything read from the file."""
        import torch

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
        key = (path, device)
        with self._lock:
            cached = self._models.get(key)
            if cached is not None:
                return cached
            loading = self._loading.setdefault(key, threading.Lock())
        # one load per model at a time; calls for models already cached never wait for it
        with loading:
            with self._lock:
                cached = self._models.get(key)
            if cached is None:
                cached = _load(path, device)
                with self._lock:
                    self._models.put(key, cached, model_bytes(cached[0]))
                    self._loading.pop(key, None)
            return cached

    def inputs_fingerprint(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The checkpoint's content, not its name: a retrained file at the same path is new."""
        _, payload = self.model(options["checkpoint"], options["device"])
        return {"model_sha256": payload["checksum"]}

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


def checkpoint_path(name: str, folder: Path | None) -> Path:
    """The file of checkpoint `name` (with or without .pt) in the operator's `folder`; the
    shipped model's name always works. A path, or a name not there, is refused with the list
    of names this server offers."""
    stem = name[:-3] if name.endswith(".pt") else name
    if CHECKPOINT_NAME.fullmatch(stem) and ".." not in stem:
        if stem == DEFAULT_CHECKPOINT.stem:
            return DEFAULT_CHECKPOINT
        if folder is not None:
            path = Path(folder) / f"{stem}.pt"
            if path.is_file() and path.resolve().parent == Path(folder).resolve():
                return path
    raise InputError(
        f"option checkpoint={name[:100]!r}: this server has no checkpoint of that name "
        f"(give a name, not a path); available: {', '.join(checkpoint_names(folder))}",
        field="options.checkpoint",
    )


def checkpoint_names(folder: Path | None) -> list[str]:
    """Names a client may choose: the shipped model and the .pt files in `folder`."""
    names = [DEFAULT_CHECKPOINT.stem]
    if folder is not None and Path(folder).is_dir():
        names += sorted(
            p.stem for p in Path(folder).glob("*.pt") if CHECKPOINT_NAME.fullmatch(p.stem)
        )
    return list(dict.fromkeys(names))


def _load(path: str, device: str) -> tuple[Any, dict[str, Any]]:
    """(model, payload without its weights); one generic InputError for any failure (the
    exception is dropped before raising, so nothing it referenced is kept)."""
    from .checkpoint import load_model

    loaded = None
    try:
        if Path(path).stat().st_size <= MODEL_CACHE_BYTES:
            loaded = load_model(path, device)
    except Exception:  # missing, unreadable, not a checkpoint, damaged, other version
        pass
    if loaded is None:
        raise InputError(
            f"option checkpoint: cannot load {Path(path).name!r}: missing, not an EmoSpeaker "
            "neural checkpoint, damaged, too large, or made by another version",
            field="options.checkpoint",
        )
    model, payload = loaded
    payload.pop("state_dict", None)
    return model, payload


def model_bytes(model: Any) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelCache:
    """Least recently used models, at most `count` of them and `limit` bytes of weights."""

    def __init__(self, count: int, limit: int) -> None:
        self.count, self.limit = count, limit
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def get(self, key: Any) -> Any:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key][0]

    def put(self, key: Any, value: Any, size: int) -> None:
        self._items[key] = (value, size)
        self._items.move_to_end(key)
        while len(self._items) > 1 and (len(self._items) > self.count or self.bytes > self.limit):
            self._items.popitem(last=False)

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self._items.values())

    def __len__(self) -> int:
        return len(self._items)
