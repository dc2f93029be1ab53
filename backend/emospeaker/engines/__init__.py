"""Engines by name. Imported lazily so the default engine never pulls in torch."""

from __future__ import annotations

import importlib
import threading

from ..errors import InputError
from .base import Engine, EngineInput, Option

__all__ = ["Engine", "EngineInput", "Option", "ENGINES", "get_engine", "engine_names"]

# name -> "module:Class"
ENGINES: dict[str, str] = {
    "default": "emospeaker.engines.default:DefaultEngine",
    "neural": "emospeaker.engines.neural:NeuralEngine",
}

_instances: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_names() -> list[str]:
    return list(ENGINES)


def get_engine(name: str) -> Engine:
    """The shared instance of engine `name` (created on first use)."""
    if name not in ENGINES:
        raise InputError(
            f"unknown engine {name!r}; available: {', '.join(ENGINES)}", field="engine"
        )
    with _lock:
        if name not in _instances:
            module, cls = ENGINES[name].split(":")
            _instances[name] = getattr(importlib.import_module(module), cls)()
        return _instances[name]
