"""Helpers for the gRPC tests: short speech-like audio, a slow engine and a flat renderer.

`SlowEngine` exists so cancellation, deadlines, busy refusals and draining can be timed
without depending on how fast the real engine is. It is a real Engine (the server cannot
tell it apart), registered under the name "slow". `FlatRenderer` is a real renderer (it
writes an mp4 through render/video.py) registered as "flat", so Render's streaming and
clean-up are tested before the mesh and photo renderers exist.
"""

from __future__ import annotations

import subprocess
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from emospeaker.channels import ALL_CHANNELS, index_of
from emospeaker.engines import ENGINES, Engine, EngineInput, Option
from emospeaker.errors import InputError
from emospeaker.jobs import Job
from emospeaker.render import RENDERERS, Renderer
from emospeaker.render.video import write_video
from emospeaker.track import ENGINE_LAYERS, FaceTrack

STEP_SECONDS = 0.01


def speech_pcm(seconds: float, rate: int = 16000, seed: int = 0) -> bytes:
    """Int16 mono PCM that is loud, varying and deterministic (syllable-like bursts)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    tone = np.sin(2 * np.pi * 180 * t) + 0.3 * rng.standard_normal(t.size)
    return (np.clip(envelope * tone * 0.4, -1, 1) * 32767).astype("<i2").tobytes()


class SlowEngine(Engine):
    """Takes `seconds` (an option) in small steps, reporting progress between them."""

    name = "slow"
    version = "test"
    description = "test engine that takes a set time"
    options = {"seconds": Option(1.0, "how long to take", minimum=0.0, maximum=600.0)}
    running = 0
    cancelled = 0
    lock = threading.Lock()

    def animate(self, request: EngineInput, job: Job) -> FaceTrack:
        with SlowEngine.lock:
            SlowEngine.running += 1
        try:
            deadline = time.monotonic() + request.options["seconds"]
            while time.monotonic() < deadline:
                remaining = deadline - time.monotonic()
                job.progress("waiting", 1 - remaining / max(request.options["seconds"], 1e-9))
                time.sleep(STEP_SECONDS)
        except BaseException:
            with SlowEngine.lock:
                SlowEngine.cancelled += 1
            raise
        finally:
            with SlowEngine.lock:
                SlowEngine.running -= 1
        shape = (request.frames, len(ALL_CHANNELS))
        layers = {name: np.zeros(shape, np.float32) for name in ENGINE_LAYERS}
        layers["lips"][:, index_of("jawOpen")] = 0.5
        return FaceTrack(
            request.fps, layers, start_frame=request.start_frame, emotion=request.emotion
        )


class HoardingEngine(Engine):
    """Allocates 16 MB, then fails: what a failed call leaves behind can be watched through
    the weak references in `kept` (registered by the tests that use it, as "hoard")."""

    name = "hoard"
    version = "test"
    description = "test engine that fails after allocating"
    kept: list = []

    def animate(self, request: EngineInput, job: Job) -> FaceTrack:
        big = np.ones(4_000_000, np.float32)
        HoardingEngine.kept.append(weakref.ref(big))
        raise InputError("refused after allocating", field="audio")


class FlatRenderer(Renderer):
    """Grey frames whose brightness follows jawOpen: enough to exercise Render end to end."""

    name = "flat"
    needs_portrait = False

    def render(self, track, output, *, audio=None, size=512, job=None, **_unused):
        side = size or 64
        jaw = track.channel("jawOpen") if "jawOpen" in track.channels else np.zeros(track.frames)
        frames = (np.full((side, side, 3), int(40 + 200 * j), np.uint8) for j in jaw)
        return write_video(output, frames, track.fps, audio, total=track.frames, job=job)


EXTRA_ENGINES = {
    "slow": "grpc_support:SlowEngine",
    "broken": "emospeaker.engines.not_installed:Engine",  # an engine whose import fails
}
EXTRA_RENDERERS = {
    "flat": "grpc_support:FlatRenderer",
    "missing": "emospeaker.render.not_written_yet:Renderer",  # a renderer not built yet
}


@contextmanager
def extra_components() -> Iterator[None]:
    """Add the test engines and renderers to the registries, and take them out again."""
    saved = dict(ENGINES), dict(RENDERERS)
    ENGINES.update(EXTRA_ENGINES)
    RENDERERS.update(EXTRA_RENDERERS)
    try:
        yield
    finally:
        for registry, old in zip((ENGINES, RENDERERS), saved, strict=True):
            registry.clear()
            registry.update(old)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost (openssl CLI); returns (cert, key)."""
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class running_server:  # noqa: N801 (used as a context manager)
    """An in-process server on a free 127.0.0.1 port: `with running_server(...) as s:`."""

    def __init__(
        self,
        token: str | None = None,
        tls: tuple[Path, Path] | None = None,
        checkpoint_dir: Path | None = None,
        **limits,
    ):
        from emospeaker.server import Limits, Server, ServerConfig

        config = ServerConfig(
            host="127.0.0.1",
            port=0,
            token=token,
            limits=Limits(**limits),
            checkpoint_dir=checkpoint_dir,
        )
        if tls:
            config.tls_cert, config.tls_key = tls
        self.server = Server(config)
        self.address = self.server.address

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(0).wait(10)
