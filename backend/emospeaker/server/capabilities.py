"""GetCapabilities: what this server offers, built once (engine and renderer imports can take
seconds) in the background at start-up, then served from memory."""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
import threading
from pathlib import Path

from .. import __version__
from ..channels import ALL_CHANNELS
from ..emotion import EMOTIONS, INTERPOLATIONS, MAX_INTENSITY
from ..engines import ENGINES, Option, get_engine
from ..render import RENDERERS, SIZES, get_renderer
from ..track import MAX_FPS
from ..wire import emospeaker_pb2 as pb
from .limits import Limits


class CapabilitiesCache:
    def __init__(self, limits: Limits, checkpoint_dir: Path | None = None) -> None:
        self._limits = limits
        self._checkpoint_dir = checkpoint_dir
        self._value: pb.Capabilities | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Start building in a background thread (also warms engine imports)."""
        threading.Thread(target=self.get, name="emospeaker-capabilities", daemon=True).start()

    def get(self) -> pb.Capabilities:
        with self._lock:
            if self._value is None:
                self._value = build(self._limits, self._checkpoint_dir)
            return self._value


def build(limits: Limits, checkpoint_dir: Path | None = None) -> pb.Capabilities:
    """Lists the registries through snapshots: plug-ins may register while this runs.
    Engines list the options a client may set, with the checkpoint names this server has."""
    renderers = [_renderer_info(name) for name in list(RENDERERS)]
    return pb.Capabilities(
        version=__version__,
        engines=[_engine_info(name, checkpoint_dir) for name in list(ENGINES)],
        renderers=[r.name for r in renderers if r.available],
        renderer_info=renderers,
        channels=ALL_CHANNELS,
        emotions=EMOTIONS,
        interpolations=INTERPOLATIONS,
        limits=pb.Limits(
            max_audio_seconds=limits.max_audio_seconds,
            max_message_bytes=limits.max_message_bytes,
            max_concurrent=limits.max_concurrent,
            max_fps=float(MAX_FPS),  # fixed by the formats, not configurable
            max_intensity=MAX_INTENSITY,
            max_frames_per_chunk=limits.max_frames_per_chunk,
            max_transcript_chars=limits.max_transcript_chars,
            max_track_values=limits.max_track_values,
            max_render_pixels=limits.max_render_pixels,
            max_emotion_keys=limits.max_emotion_keys,
            max_portrait_pixels=limits.max_portrait_pixels,
            max_layers=limits.max_layers,
        ),
        compute_device=compute_device(),
    )


def _engine_info(name: str, checkpoint_dir: Path | None = None) -> pb.EngineInfo:
    try:
        engine = get_engine(name)
    except Exception as exc:  # any import failure makes the engine unavailable, not the server
        return pb.EngineInfo(name=name, available=False, unavailable_reason=_reason(exc))
    choices = engine.remote_choices(checkpoint_dir)
    return pb.EngineInfo(
        name=name,
        version=engine.version,
        description=engine.description,
        options=[
            _option_info(k, o, choices.get(k))
            for k, o in engine.options.items()
            if k in engine.remote_allowed
        ],
        available=True,
        emotion_poses=engine.supports_emotion_poses,
    )


def _option_info(
    name: str, option: Option, choices: tuple[str, ...] | None = None
) -> pb.EngineOption:
    default = option.default
    text = ("true" if default else "false") if isinstance(default, bool) else str(default)
    info = pb.EngineOption(
        name=name,
        default_value=text,
        help=option.help,
        type=type(default).__name__,
        choices=list(choices or option.choices or ()),
    )
    if option.minimum is not None:
        info.minimum = option.minimum
    if option.maximum is not None:
        info.maximum = option.maximum
    return info


def _renderer_info(name: str) -> pb.RendererInfo:
    try:
        renderer = get_renderer(name)
    except Exception as exc:
        return pb.RendererInfo(name=name, available=False, unavailable_reason=_reason(exc))
    return pb.RendererInfo(
        name=name,
        available=True,
        needs_portrait=bool(getattr(renderer, "needs_portrait", False)),
        sizes=list(SIZES),
    )


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return f"{type(cause).__name__}: {cause}"


def compute_device() -> str:
    """Where neural engines would run, without importing torch just to ask.

    If torch is already loaded it answers. Otherwise the answer comes from cheap facts: a
    torch build with CUDA (its version.py) and an NVIDIA GPU the driver exposes.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        if torch.cuda.is_available():
            return f"cuda:0 ({torch.cuda.get_device_name(0)})"
        return "cpu"
    if not _torch_has_cuda() or os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "cpu"
    gpus = sorted(glob.glob("/proc/driver/nvidia/gpus/*/information"))
    if not gpus:
        return "cpu"
    model = next(
        (line.split(":", 1)[1].strip() for line in Path(gpus[0]).read_text().splitlines()
         if line.startswith("Model:")),
        "NVIDIA GPU",
    )  # fmt: skip
    return f"cuda:0 ({model})"


def _torch_has_cuda() -> bool:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    version = Path(list(spec.submodule_search_locations)[0]) / "version.py"
    try:
        text = version.read_text()
    except OSError:
        return False
    return any(
        line.startswith("cuda") and "None" not in line and "=" in line for line in text.splitlines()
    )
