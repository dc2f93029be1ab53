"""EmoSpeaker for Blender: key emotions on the timeline, generate speech animation on an
EmoSpeaker backend, bake it onto any ARKit-style rig as layered NLA strips, export it.

The modules are imported in `register`, so `bake`, `track` and `arkit` can also be used (and
benchmarked) outside an installed extension.
"""

from __future__ import annotations

import importlib

MODULES = ("properties", "prefs", "operators", "ui")


def register() -> None:
    for name in MODULES:
        importlib.import_module(f"{__package__}.{name}").register()


def unregister() -> None:
    for name in reversed(MODULES):
        importlib.import_module(f"{__package__}.{name}").unregister()
