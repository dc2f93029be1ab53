"""The work budget: what a request will cost, read from its fields before anything is decoded
or allocated, on the gRPC thread, in time linear in the request's size.

A few hundred bytes can declare a track of a million frames, a million emotion keys or a
render of billions of pixels; every such number is checked here against the server's
`Limits` (serve flags, shown in GetCapabilities). What no limit could allow (an unknown
channel, a negative count) is INVALID_ARGUMENT (InputError); what this server's limits forbid
is RESOURCE_EXHAUSTED (LimitError). Both name the field and the limit. Where a cost is only
known after decoding (the length of an encoded audio file), the worker calls the same checks
right after decoding, before any engine or renderer work.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from ..channels import ALL_CHANNELS
from ..emotion import EMOTIONS
from ..errors import InputError, LimitError
from ..render import SIZES
from ..track import ENGINE_LAYERS, frame_count
from ..wire import emospeaker_pb2 as pb
from . import convert
from .limits import Limits

KNOWN_CHANNELS = frozenset(ALL_CHANNELS)
PREVIEW_PIXELS = 512 * 512  # what size 0 means without a portrait (the built-in head)
MAX_OPTIONS = 32
MAX_OPTION_CHARS = 1024
MAX_PROVENANCE_CHARS = 256 * 1024
PCM_BYTES = {pb.Pcm.INT16: 2, pb.Pcm.FLOAT32: 4}
SHAPE_CHECK_BYTES = 1024 * 1024  # larger requests have their keys counted before parsing


def check_shape(method: str, data: bytes, limits: Limits) -> None:
    """Count a large request's emotion keys before it is parsed.

    Parsing builds every key with its map: ~7 bytes of memory per byte of a key-heavy
    request. Read as a "shape" (the keys as raw byte strings, every other field left
    unparsed), the count costs about the request's own size.
    """
    if len(data) < SHAPE_CHECK_BYTES or method not in _shapes():
        return
    try:
        shape = _shapes()[method].FromString(data)
    except DecodeError:
        return  # the real parse reports it
    if method == "Render":
        shape, prefix = shape.animate, "animate."
    else:
        prefix = ""
    _check_key_count(len(shape.keys.keys), limits, prefix)


@cache
def _shapes() -> dict[str, Any]:
    """Message classes that read AnimateRequest / RenderRequest bytes down to the emotion
    keys only (same field numbers; each key stays bytes)."""
    bytes_type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
    message_type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
    repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    proto = descriptor_pb2.FileDescriptorProto(
        name="emospeaker_shape.proto", package="emospeaker.shape", syntax="proto3"
    )
    proto.message_type.add(name="Keys").field.add(
        name="keys", number=1, type=bytes_type, label=repeated
    )
    for name, field, number, inner in (
        ("Animate", "keys", 4, "Keys"),
        ("Render", "animate", 4, "Animate"),
    ):
        proto.message_type.add(name=name).field.add(
            name=field, number=number, type=message_type, type_name=f".emospeaker.shape.{inner}"
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"emospeaker.shape.{name}")
        )
        for name in ("Animate", "Render")
    }


def check_animate(request: pb.AnimateRequest, limits: Limits, prefix: str = "") -> int | None:
    """Check an AnimateRequest's declared sizes; returns the frames of the track it will make
    when the audio's length is known without decoding (PCM), else None."""
    _check_keys(request, limits, prefix)
    _check_options(request, prefix)
    _check_poses(request, prefix)
    if request.WhichOneof("emotion") == "curves":
        check_track(request.curves.frames, len(EMOTIONS), 1, limits, f"{prefix}curves.frames")
    seconds = pcm_seconds(request.audio, limits, f"{prefix}audio")
    if seconds is None:
        return None
    frames = frame_count(seconds, convert.fps_from_wire(request))
    check_track(frames, len(ALL_CHANNELS), len(ENGINE_LAYERS), limits, f"{prefix}audio")
    return frames


def check_render(request: pb.RenderRequest, limits: Limits) -> int:
    """Check a RenderRequest's declared sizes; returns the pixels of one output frame."""
    pixels = output_pixels(request, limits)
    kind = request.WhichOneof("motion")
    frames = None
    if kind == "track":
        frames = check_wire_track(request.track, limits)
        check_render_frames(frames, pixels, limits, "track.header.frames")
    elif kind == "animate":
        frames = check_animate(request.animate, limits, "animate.")
        if frames is not None:
            check_render_frames(frames, pixels, limits, "animate.audio")
    if request.HasField("audio"):
        pcm_seconds(request.audio, limits, "audio")
    return pixels


def check_track(frames: int, channels: int, layers: int, limits: Limits, field: str) -> None:
    """frames x channels x layers float32 values: the memory a track takes."""
    values = frames * channels * layers
    if values > limits.max_track_values:
        raise LimitError(
            f"{field}: {frames} frames x {channels} channels x {layers} layers = {values} "
            f"values, over this server's limit of {limits.max_track_values} "
            "(--max-track-values)",
            field=field,
        )


def check_render_frames(frames: int, pixels: int, limits: Limits, field: str) -> None:
    """frames x pixels: the work of a render."""
    if frames * pixels > limits.max_render_pixels:
        raise LimitError(
            f"{field}: {frames} frames of {pixels} pixels = {frames * pixels} pixels to render, "
            f"over this server's limit of {limits.max_render_pixels} (--max-render-pixels); "
            "render a smaller size or a shorter clip",
            field=field,
        )


def pcm_seconds(audio: pb.Audio, limits: Limits, field: str) -> float | None:
    """Seconds of raw PCM from its byte count (None for an encoded file or malformed PCM,
    which the decoder refuses); over --max-audio-seconds is refused."""
    if audio.WhichOneof("source") != "pcm":
        return None
    pcm = audio.pcm
    channels = pcm.channels or 1
    width = PCM_BYTES.get(pcm.format)
    if width is None or pcm.sample_rate <= 0 or not 1 <= channels <= convert.MAX_PCM_CHANNELS:
        return None
    seconds = len(pcm.samples) / (width * channels) / pcm.sample_rate
    if seconds > limits.max_audio_seconds:
        raise LimitError(
            f"{field}: {seconds:.1f} s of PCM is over this server's limit of "
            f"{limits.max_audio_seconds:g} s (--max-audio-seconds)",
            field=field,
        )
    return seconds


def output_pixels(request: pb.RenderRequest, limits: Limits) -> int:
    """Pixels of one output frame: size x size, or the portrait's own size (read from its
    header, never decoded here) when size is 0."""
    if request.size not in SIZES:
        raise InputError(
            f"size {request.size} must be one of {', '.join(map(str, SIZES))} (0: full image)",
            field="size",
        )
    portrait = (
        portrait_pixels(request.portrait, limits.max_portrait_pixels) if request.portrait else None
    )
    if request.size:
        return request.size * request.size
    return portrait or PREVIEW_PIXELS


def portrait_pixels(data: bytes, limit: int) -> int:
    """width x height from the image header; over `limit` is refused before decoding."""
    from ..render.portrait.image import header_pixels

    return header_pixels(data, "portrait", field="portrait", max_pixels=limit)


def check_wire_track(track: pb.Track, limits: Limits) -> int:
    """A sent track's header: frame count, rate, known and unique channels, layers; returns
    the frame count."""
    header = track.header
    fps = convert.wire_fps(header.fps, "track.header.fps")
    frames = header.frames
    if frames <= 0:
        raise InputError(f"track.header.frames {frames} must be >= 1", field="track.header.frames")
    if Fraction(frames) / fps > limits.max_audio_seconds:
        raise LimitError(
            f"track.header.frames {frames} at {fps} fps is {float(frames / fps):.6g} s, over this "
            f"server's limit of {limits.max_audio_seconds:g} s (--max-audio-seconds)",
            field="track.header.frames",
        )
    channels = check_channels(header.channels, "track.header.channels")
    layers = set(header.layers).union(chunk.layer for chunk in track.layers)
    if len(layers) > limits.max_layers:
        raise LimitError(
            f"track has {len(layers)} layers, over this server's limit of {limits.max_layers} "
            "(--max-layers)",
            field="track.header.layers",
        )
    check_track(frames, channels, max(1, len(layers)), limits, "track.header.frames")
    if len(track.provenance_json) > MAX_PROVENANCE_CHARS:
        raise LimitError(
            f"track.provenance_json has {len(track.provenance_json)} characters; the limit is "
            f"{MAX_PROVENANCE_CHARS}",
            field="track.provenance_json",
        )
    return frames


def check_channels(names: list[str], field: str) -> int:
    """Only FaceTrack channel names (GetCapabilities.channels), each once; returns how many."""
    if not names:
        raise InputError(f"{field} is empty: name the channels the track carries", field=field)
    seen: set[str] = set()
    for name in names:
        if name not in KNOWN_CHANNELS:
            raise InputError(
                f"{field}: unknown channel {name[:64]!r}; channels are the ARKit blendshapes and "
                "head pose names listed in GetCapabilities.channels",
                field=field,
            )
        if name in seen:
            raise InputError(f"{field}: channel {name!r} appears twice", field=field)
        seen.add(name)
    return len(seen)


def _check_keys(request: pb.AnimateRequest, limits: Limits, prefix: str) -> None:
    if request.WhichOneof("emotion") != "keys":
        return
    keys = request.keys.keys
    _check_key_count(len(keys), limits, prefix)
    for i, key in enumerate(keys):
        if len(key.intensities) > len(EMOTIONS):
            raise InputError(
                f"{prefix}keys[{i}].intensities has {len(key.intensities)} entries; there are "
                f"{len(EMOTIONS)} categories: {', '.join(EMOTIONS)}",
                field=f"{prefix}keys[{i}]",
            )


def _check_poses(request: pb.AnimateRequest, prefix: str) -> None:
    """At most one custom pose per emotion, each over the known channels at most."""
    poses = request.emotion_poses
    if len(poses) > len(EMOTIONS):
        raise InputError(
            f"{prefix}emotion_poses has {len(poses)} poses; at most one per emotion "
            f"({len(EMOTIONS)}: {', '.join(EMOTIONS)})",
            field=f"{prefix}emotion_poses",
        )
    for i, pose in enumerate(poses):
        if len(pose.channels) > len(ALL_CHANNELS):
            raise InputError(
                f"{prefix}emotion_poses[{i}] has {len(pose.channels)} channels; there are "
                f"{len(ALL_CHANNELS)}",
                field=f"{prefix}emotion_poses[{i}]",
            )


def _check_key_count(count: int, limits: Limits, prefix: str) -> None:
    if count > limits.max_emotion_keys:
        raise LimitError(
            f"{prefix}keys has {count} emotion keys, over this server's limit of "
            f"{limits.max_emotion_keys} (--max-emotion-keys); send dense curves instead",
            field=f"{prefix}keys",
        )


def _check_options(request: pb.AnimateRequest, prefix: str) -> None:
    options = request.options
    if len(options) > MAX_OPTIONS or any(
        len(k) + len(v) > MAX_OPTION_CHARS for k, v in options.items()
    ):
        raise InputError(
            f"{prefix}options: at most {MAX_OPTIONS} options of {MAX_OPTION_CHARS} characters; "
            "see GetCapabilities.engines[].options",
            field=f"{prefix}options",
        )
