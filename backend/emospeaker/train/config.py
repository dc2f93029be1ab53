"""Training configuration: a TOML file with [data], [model], [loss] and [train] tables.

Every key has a default here, unknown keys are errors (a typo must not silently train the
wrong model), and `--set section.key=value` overrides work from the command line.
Relative paths in the file are relative to the current directory (run from the repository
root, as the README's commands do).
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from ..engines.neural.losses import LossWeights
from ..errors import InputError


@dataclass
class DataConfig:
    corpus: str | list[str] = "data/synthetic"  # one corpus, or several mixed by `shares`
    shares: tuple[float, ...] = ()  # each corpus's share of the training crops; () = by clips
    crop_seconds: float = 2.4
    context_seconds: float = 0.3  # audio beyond the crop on each side, for the encoders
    augment: bool = True
    noise_snr_db: tuple[float, float] = (5.0, 40.0)
    gain_db: tuple[float, float] = (-9.0, 6.0)

    @property
    def corpora(self) -> list[str]:
        return [self.corpus] if isinstance(self.corpus, str) else list(self.corpus)


@dataclass
class TrainSettings:
    out: str = "runs/neural"
    steps: int = 4000
    batch_size: int = 16  # per process
    lr: float = 2e-3
    min_lr: float = 5e-5
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    push_start: int = 500  # the AU push starts after this many steps, ramping over as many
    amp: str = "auto"  # auto (bf16/fp16 on GPU, off on CPU), off, bf16, fp16
    seed: int = 0
    threads: int = 0  # torch CPU threads per process; 0 keeps torch's default
    log_every: int = 25
    eval_every: int = 500
    checkpoint_every: int = 500
    snapshot_every: int = 0  # also keep weights-only step_NNNNNN.pt every this many steps
    tensorboard: bool = True  # used when the tensorboard package is installed


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    loss: LossWeights = field(default_factory=LossWeights)
    train: TrainSettings = field(default_factory=TrainSettings)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": asdict(self.data),
            "model": dict(self.model),
            "loss": asdict(self.loss),
            "train": asdict(self.train),
        }

    def path(self, value: str) -> Path:
        """A path from the config: absolute, or relative to the current directory."""
        return Path(value).expanduser().absolute()


_SECTIONS = {"data": DataConfig, "loss": LossWeights, "train": TrainSettings}


def _build(cls: type, values: dict[str, Any], section: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InputError(
            f"unknown setting [{section}] {unknown[0]}; known: {', '.join(sorted(known))}",
            field=f"{section}.{unknown[0]}",
        )
    clean = {}
    for key, value in values.items():
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list | tuple):
                raise InputError(
                    f"[{section}] {key} = {value!r} must be a list", field=f"{section}.{key}"
                )
            value = tuple(value)
        elif (section, key) == ("data", "corpus") and not isinstance(value, str):
            folders = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
            if not folders or not value:
                raise InputError(
                    "[data] corpus must be a folder or a list of folders", field="data.corpus"
                )
            value = list(value)
        elif isinstance(default, float) and isinstance(value, int):
            value = float(value)
        elif type(default) is not type(value):
            raise InputError(
                f"[{section}] {key} = {value!r} must be a {type(default).__name__}",
                field=f"{section}.{key}",
            )
        clean[key] = value
    return cls(**clean)


def _check_shares(data: DataConfig) -> None:
    """One positive number per corpus, or none (checked before any corpus is read)."""
    shares = data.shares
    if shares and (
        len(shares) != len(data.corpora)
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in shares)
        or min(shares) <= 0
    ):
        raise InputError(
            f"[data] shares {list(shares)}: give one positive share per corpus "
            f"({len(data.corpora)}), or none",
            field="data.shares",
        )


def config_from_dict(doc: dict[str, Any], source: str = "") -> Config:
    unknown = sorted(set(doc) - {"data", "model", "loss", "train"})
    if unknown:
        raise InputError(
            f"unknown config table [{unknown[0]}]; tables: data, model, loss, train",
            field=unknown[0],
        )
    parts = {name: _build(cls, doc.get(name, {}), name) for name, cls in _SECTIONS.items()}
    _check_shares(parts["data"])
    return Config(model=dict(doc.get("model", {})), source=source, **parts)


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a TOML config and apply `section.key=value` overrides."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read training config ({exc})", field="config") from None
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise InputError(f"override {item!r} must look like section.key=value", field="set")
        doc.setdefault(section, {})[name] = _literal(raw.strip())
    try:
        return config_from_dict(doc, str(path))
    except InputError as exc:
        raise InputError(f"{path}: {exc}", field=exc.field) from None


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text
