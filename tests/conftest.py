"""Shared fixtures: repository paths and running the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# bpy reads this when imported: tests must never touch the user's Blender configuration.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="emospeaker-blender-"))

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "backend"
SAMPLE_AUDIO = ROOT / "samples" / "hello.flac"
SAMPLE_TEXT = (ROOT / "samples" / "hello.txt").read_text().strip()


def cli_env() -> dict[str, str]:
    """Environment that runs this checkout's package, installed or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BACKEND), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def run_cli():
    """Run `python -m emospeaker ARGS...`; returns the CompletedProcess (text mode)."""

    def run(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "emospeaker", *map(str, args)],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"emospeaker {' '.join(map(str, args))} failed:\n{proc.stderr}")
        return proc

    return run
