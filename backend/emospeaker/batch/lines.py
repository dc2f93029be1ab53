"""One line of a batch: skip it when its output is current, else animate and write it.

The same function runs in the batch's own process, in a thread feeding a server, and in a
Ray actor, so every path writes the same file and the same failure record.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import api
from ..audio import DEFAULT_MAX_SECONDS, Audio, load_audio
from ..engines import Engine, EngineInput
from ..errors import EmoSpeakerError
from ..files import atomic_output
from ..formats import load_track, save_track
from ..track import FaceTrack
from .manifest import BadRow, Line

# Makes the track for a prepared line; `api.run` locally, a server call remotely.
Producer = Callable[[Line, Engine | None, EngineInput | None, Audio], FaceTrack]

SIDECAR_SUFFIX = ".provenance.json"  # beside a Live Link CSV, which has no provenance


@dataclass(frozen=True)
class Outcome:
    """What happened to one line: `done`, `skipped` (already current) or `failed`."""

    row: int
    output: str
    status: str
    audio_seconds: float = 0.0
    seconds: float = 0.0
    error: str = ""
    field: str | None = None
    audio: str = ""

    def failure_record(self) -> dict[str, Any]:
        """The line of failures.jsonl for this outcome."""
        skip = ("status", "audio_seconds", "seconds")
        return {k: v for k, v in asdict(self).items() if k not in skip and v not in (None, "")}


def local_producer(
    line: Line, chosen: Engine | None, request: EngineInput | None, audio: Audio
) -> FaceTrack:  # noqa: E501
    """Animate in this process with its warm engines (what `emospeaker animate` runs)."""
    if chosen is None or request is None:
        chosen, request = api.prepare(audio, line.timeline(), **line.settings())
    return api.run(chosen, request)


def remote_producer(client: Any, timeout: float | None = None) -> Producer:
    """Animate on a server (or replicas) through `client` (an `emospeaker.client.Client`);
    the track is the one a local run makes, labelled with the same audio name."""
    from ..remote import animate_remote, remote_request

    def produce(line: Line, _chosen: Any, _request: Any, _audio: Audio) -> FaceTrack:
        call = remote_request(line.audio, line.timeline(), **line.settings())
        call.audio.name = line.audio_name
        return animate_remote(client, call, timeout=timeout)

    return produce


def process_line(
    line: Line | BadRow,
    outdir: Path,
    *,
    force: bool = False,
    max_audio_seconds: float = DEFAULT_MAX_SECONDS,
    produce: Producer = local_producer,
    need_local_engine: bool = True,
) -> Outcome:
    """Run one line; every error becomes a `failed` Outcome (a bad line never stops a batch)."""
    started = time.perf_counter()
    if isinstance(line, BadRow):
        return Outcome(line.row, line.output, "failed", error=line.message, audio=line.audio)
    try:
        outcome = _process(line, outdir, force, max_audio_seconds, produce, need_local_engine)
    except EmoSpeakerError as exc:
        field = getattr(exc, "field", None)
        return _failed(line, f"{exc}", field, started)
    except Exception as exc:  # a bug or a crashed library: record it, keep going
        where = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        return _failed(line, message, None, started)
    return outcome


def _process(
    line: Line,
    outdir: Path,
    force: bool,
    max_audio_seconds: float,
    produce: Producer,
    need_local_engine: bool,
) -> Outcome:
    started = time.perf_counter()
    target = outdir / line.output
    audio = load_audio(line.audio, name=line.audio_name, max_seconds=max_audio_seconds)
    chosen, request, checksum = _prepared(line, audio, need_local_engine)
    if not force and checksum is not None and recorded_checksum(target) == checksum:
        return Outcome(line.row, line.output, "skipped", audio=line.audio)
    track = produce(line, chosen, request, audio)
    save_track(track, target)
    if target.suffix.lower() == ".csv":
        _write_sidecar(target, track.provenance)
    seconds = time.perf_counter() - started
    return Outcome(line.row, line.output, "done", audio.duration, seconds, audio=line.audio)


def _prepared(
    line: Line, audio: Audio, need_local_engine: bool
) -> tuple[Engine | None, EngineInput | None, str | None]:
    """The prepared request and its checksum; without a local engine (a server has it)
    the checksum is unknown and the line is redone."""
    try:
        chosen, request = api.prepare(audio, line.timeline(), **line.settings())
    except EmoSpeakerError:
        if need_local_engine:
            raise
        return None, None, None
    return chosen, request, api.inputs_checksum(chosen, request)


def recorded_checksum(path: Path) -> str | None:
    """The `inputs_sha256` an existing output was made from (None: none, or unreadable)."""
    if path.suffix.lower() == ".csv":
        source = path.with_name(path.name + SIDECAR_SUFFIX)
        if not (path.is_file() and source.is_file()):
            return None
        try:
            return json.loads(source.read_text()).get("inputs_sha256")
        except (OSError, ValueError, AttributeError):
            return None
    if not path.is_file():
        return None
    try:
        return load_track(path).provenance.get("inputs_sha256")
    except EmoSpeakerError:
        return None


def _write_sidecar(target: Path, provenance: dict[str, Any]) -> None:
    with atomic_output(target.with_name(target.name + SIDECAR_SUFFIX)) as tmp:
        tmp.write_text(json.dumps(provenance, sort_keys=True, default=str))


def _failed(line: Line, message: str, field: str | None, started: float) -> Outcome:
    seconds = time.perf_counter() - started
    return Outcome(line.row, line.output, "failed", 0.0, seconds, message, field, audio=line.audio)
