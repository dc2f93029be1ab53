"""A batch manifest: one row per line of dialogue, as CSV or JSON Lines.

Reading checks the manifest as a whole (format, column names) and raises InputError for it;
a row that is wrong on its own (no audio, a start frame that is not a number, an output name
another row already uses) becomes a `BadRow`, so one bad line never stops a batch. Values
are checked again, by the same code as `emospeaker animate`, when the line runs.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..emotion import EmotionTimeline
from ..errors import InputError
from ..formats import FORMATS
from ..track import DEFAULT_FPS

COLUMNS: dict[str, str] = {
    "audio": "speech file (wav, flac, ogg, mp3, m4a, video); relative to the manifest",
    "transcript": "what is said: text, or a .txt file relative to the manifest (optional)",
    "emotion": "happy:0.8, a blend happy:0.6+surprised:0.3, keys 0s=neutral:0,2s=happy:1, "
    "or a keys .json file (optional)",
    "fps": f"frame rate, e.g. 24 or 30000/1001 (default {DEFAULT_FPS})",
    "start_frame": "timeline frame of audio time 0 (default 0)",
    "seed": "seed for blinks, gaze and head drift (default 0)",
    "engine": "engine name (default: default)",
    "options": "engine options NAME=VALUE separated by ';' (JSON Lines: also an object)",
    "output": "output file name inside OUTDIR (default: the audio's name)",
    "format": f"{', '.join(s[1:] for s in FORMATS)} when output has no suffix (default json)",
}

TEMPLATE_CSV = """\
audio,transcript,emotion,fps,start_frame,seed,engine,options,output,format
lines/hero_0001.wav,Where were you last night?,happy:0.8,24,0,0,default,,hero_0001,json
lines/hero_0002.wav,lines/hero_0002.txt,"0s=neutral:0,1.5s=angry:0.9@smooth",30000/1001,1001,7,default,lip_gain=1.2;recognizer=fast,act1/hero_0002.npz,
lines/villain_0001.flac,,sad:0.5+fear:0.3,25,,,,,,csv
"""

TEMPLATE_JSONL = """\
{"audio": "lines/hero_0001.wav", "transcript": "Where were you last night?", "emotion": "happy:0.8", "fps": 24, "output": "hero_0001"}
{"audio": "lines/hero_0002.wav", "transcript": "lines/hero_0002.txt", "emotion": "0s=neutral:0,1.5s=angry:0.9@smooth", "fps": "30000/1001", "start_frame": 1001, "seed": 7, "options": {"lip_gain": 1.2, "recognizer": "fast"}, "output": "act1/hero_0002.npz"}
{"audio": "lines/villain_0001.flac", "emotion": "sad:0.5+fear:0.3", "fps": 25, "format": "csv"}
"""  # noqa: E501


@dataclass(frozen=True)
class Line:
    """One line of dialogue, its paths resolved against the manifest's folder."""

    row: int  # 1-based data row (a CSV's header is not counted)
    audio: str  # the file to read
    audio_name: str  # as the manifest writes it: the provenance's audio_source
    output: str  # relative to OUTDIR, with its format's suffix
    transcript: str | None = None
    transcript_file: str | None = None  # read when the line runs
    emotion: str | None = None  # a spec, or the resolved path of a keys .json file
    fps: str = str(DEFAULT_FPS)
    start_frame: int = 0
    seed: int = 0
    engine: str = "default"
    options: dict[str, str] = field(default_factory=dict)

    def timeline(self) -> EmotionTimeline:
        """The emotion keys, read exactly as `animate --emotion/--emotion-keys` reads them."""
        if not self.emotion:
            return EmotionTimeline()
        if self.emotion.endswith(".json") or Path(self.emotion).is_file():
            return EmotionTimeline.load(self.emotion)
        return EmotionTimeline.parse(self.emotion)

    def transcript_text(self) -> str | None:
        """The transcript, read from its file as `animate --transcript FILE` reads it."""
        if not self.transcript_file:
            return self.transcript
        try:
            return Path(self.transcript_file).read_text().strip()
        except OSError as exc:
            message = f"{self.transcript_file}: cannot read transcript ({exc})"
            raise InputError(message, field="transcript") from None

    def settings(self) -> dict[str, Any]:
        """Keyword arguments of `api.animate` / `remote.remote_request` for this line (a
        transcript file is read as `animate --transcript` reads it)."""
        return dict(
            fps=self.fps,
            start_frame=self.start_frame,
            transcript=self.transcript_text(),
            engine=self.engine,
            seed=self.seed,
            options=dict(self.options),
        )


@dataclass(frozen=True)
class BadRow:
    """A row that cannot become a Line; it goes to the failures file."""

    row: int
    message: str
    audio: str = ""
    output: str = ""


def read_manifest(path: str | os.PathLike[str]) -> list[Line | BadRow]:
    """All rows of a .csv or .jsonl manifest, in order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such manifest", field="manifest")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in (".jsonl", ".ndjson"):
        records = _jsonl_records(path)
    else:
        raise InputError(
            f"{path}: manifest must be .csv or .jsonl (JSON Lines), not {suffix or 'no suffix'}",
            field="manifest",
        )
    base = path.parent.resolve()  # absolute: a Ray actor or farm task has its own cwd
    rows = [_row(i, record, base) for i, record in enumerate(records, start=1)]
    return _unique_outputs(rows)


def select_shard(rows: list[Line | BadRow], shard: tuple[int, int] | None) -> list[Line | BadRow]:
    """Shard I of N (1-based) takes rows I, I+N, I+2N, ...: the same slice on every machine,
    and long and short lines spread evenly when a manifest is sorted by length."""
    if shard is None:
        return rows
    index, count = shard
    return [r for r in rows if (r.row - 1) % count == index - 1]


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` with 1 <= I <= N."""
    index, sep, count = text.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = (0, 0)
    if not sep or not 1 <= shard[0] <= shard[1]:
        raise InputError(f"--shard {text!r} must be I/N with 1 <= I <= N, e.g. 3/8", field="shard")
    return shard


def _csv_records(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        _check_columns(path, reader.fieldnames or [])
        return [
            {_column(k): v for k, v in record.items() if k is not None}
            for record in reader
            if any((v or "").strip() for v in record.values() if isinstance(v, str))
        ]


def _jsonl_records(path: Path) -> list[dict[str, Any]]:
    records = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            record = {"__error__": f"line {number} is not JSON ({exc.msg})"}
        if not isinstance(record, dict):
            record = {"__error__": f"line {number} is not a JSON object"}
        _check_columns(path, [k for k in record if k != "__error__"])
        records.append({_column(k): v for k, v in record.items()})
    return records


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _check_columns(path: Path, names: list[str]) -> None:
    unknown = sorted({_column(n) for n in names} - set(COLUMNS))
    if unknown:
        raise InputError(
            f"{path}: unknown column(s) {', '.join(unknown)}; columns are {', '.join(COLUMNS)}",
            field="manifest",
        )
    if names and "audio" not in {_column(n) for n in names} and path.suffix.lower() == ".csv":
        raise InputError(f"{path}: the header has no 'audio' column", field="manifest")


def _row(row: int, record: dict[str, Any], base: Path) -> Line | BadRow:
    audio = _text(record.get("audio"))
    try:
        if "__error__" in record:
            raise InputError(record["__error__"], field="manifest")
        if not audio:
            raise InputError("no audio given", field="audio")
        return Line(
            row=row,
            audio=_resolve(base, audio),
            audio_name=str(Path(audio)),
            output=_output_name(audio, _text(record.get("output")), _text(record.get("format"))),
            **_transcript(base, _text(record.get("transcript"))),
            emotion=_emotion(base, _text(record.get("emotion"))),
            fps=_text(record.get("fps")) or str(DEFAULT_FPS),
            start_frame=_integer(record.get("start_frame"), "start_frame"),
            seed=_integer(record.get("seed"), "seed"),
            engine=_text(record.get("engine")) or "default",
            options=_options(record.get("options")),
        )
    except InputError as exc:
        return BadRow(row, str(exc), audio=audio)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _resolve(base: Path, value: str) -> str:
    path = Path(os.path.expanduser(value))
    return str(path if path.is_absolute() else base / path)


def _transcript(base: Path, value: str) -> dict[str, str | None]:
    """Text, or a file (a .txt name, or one that exists) as `animate --transcript` decides."""
    if not value:
        return {}
    path = Path(_resolve(base, value))
    if path.suffix.lower() == ".txt" or (len(value) < 4096 and path.is_file()):
        return {"transcript_file": str(path)}
    return {"transcript": value}


def _emotion(base: Path, value: str) -> str | None:
    if not value:
        return None
    path = Path(_resolve(base, value))
    return str(path) if value.endswith(".json") or path.is_file() else value


def _integer(value: Any, name: str) -> int:
    text = _text(value)
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{name} {text!r} is not a whole number", field=name) from None


def _options(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k).strip(): _text(v) for k, v in value.items()}
    options = {}
    for pair in _text(value).split(";"):
        if not pair.strip():
            continue
        name, sep, setting = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"option {pair.strip()!r} must look like NAME=VALUE", field="options")
        options[name.strip()] = setting.strip()
    return options


def _output_name(audio: str, output: str, fmt: str) -> str:
    """OUTDIR-relative name with the format's suffix; never outside OUTDIR."""
    fmt = fmt.lower().lstrip(".")
    if fmt and f".{fmt}" not in FORMATS:
        raise InputError(
            f"format {fmt!r}: use one of {', '.join(s[1:] for s in FORMATS)}", field="format"
        )
    name = PurePosixPath(output.replace("\\", "/") if output else PurePosixPath(audio).stem)
    if name.is_absolute() or ".." in name.parts or not name.name:
        raise InputError(f"output {output!r} must be a name inside OUTDIR", field="output")
    suffix = name.suffix.lower()
    if suffix in FORMATS:
        if fmt and suffix != f".{fmt}":
            raise InputError(f"output {output!r} does not end in .{fmt}", field="output")
        return str(name)
    return f"{name}.{fmt or 'json'}"


def _unique_outputs(rows: list[Line | BadRow]) -> list[Line | BadRow]:
    """A later row writing the same output as an earlier one is a bad row."""
    first: dict[str, int] = {}
    checked: list[Line | BadRow] = []
    for row in rows:
        if isinstance(row, Line):
            key = row.output.lower()
            if key in first:
                row = BadRow(
                    row.row, f"output {row.output} is also written by row {first[key]}",
                    audio=row.audio, output=row.output,
                )  # fmt: skip
            else:
                first[key] = row.row
        checked.append(row)
    return checked
