"""Talking to the EmoSpeaker backend: the client from the preferences, the capabilities it
reported, and a local `emospeaker serve` process the add-on can start and always stops.

Nothing here touches Blender data from a worker thread: functions that run in the background
take plain values and return plain values.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any

READY = re.compile(r"^emospeaker serving on (\S+)\s*$")
START_TIMEOUT = 120.0  # the first start of a fresh environment compiles caches


@dataclass(frozen=True)
class Connection:
    """The preferences a call needs, copied out of Blender for a worker thread."""

    address: str
    token: str = ""
    tls: bool = False
    root_cert: str = ""
    timeout: float = 0.0  # 0: no deadline

    def client(self) -> Any:
        from .wire import client

        if not self.address.strip():
            raise client.ServerUnavailable(
                "UNAVAILABLE", "no backend address set in the EmoSpeaker preferences"
            )
        cert = self.root_cert or None
        if cert and not os.path.isfile(cert):
            raise client.ServerUnavailable(
                "UNAVAILABLE", f"TLS root certificate {cert}: no such file"
            )
        return client.Client(
            self.address.strip(),
            token=self.token or None,
            tls_root_cert=cert if self.tls else None,
            tls=self.tls or None,
            timeout=self.timeout or None,
        )


@dataclass
class Capabilities:
    """What the last connection check learned, as plain values for drawing."""

    address: str
    version: str
    device: str
    engines: list[tuple[str, bool, str]]  # name, available, description or why not
    renderers: list[str]
    max_audio_seconds: float
    error: str = ""


@dataclass
class _State:
    capabilities: Capabilities | None = None
    servers: list[LocalServer] = field(default_factory=list)


STATE = _State()


def check(connection: Connection) -> Capabilities:
    """Ask the backend what it offers (raises the client's error on failure)."""
    with connection.client() as client:
        caps = client.capabilities(timeout=10.0)
    return Capabilities(
        address=connection.address,
        version=caps.version,
        device=caps.compute_device,
        engines=[
            (e.name, e.available, e.description if e.available else e.unavailable_reason)
            for e in caps.engines
        ],
        renderers=list(caps.renderers),
        max_audio_seconds=caps.limits.max_audio_seconds,
    )


def engine_names() -> list[str]:
    caps = STATE.capabilities
    if caps is None or not caps.engines:
        return ["default"]
    return [name for name, available, _ in caps.engines if available]


# ---------------------------------------------------------------------------------------------
# A local backend process


class LocalServer:
    """`PYTHON -m emospeaker serve --port 0`, started and watched by the add-on."""

    def __init__(self, python: str, module_path: str = "", token: str = "") -> None:
        self.python = python
        self.module_path = module_path
        self.token = token
        self.address = ""
        self.process: subprocess.Popen | None = None
        self._ready = threading.Event()
        self._log_file = tempfile.TemporaryFile(mode="w+")  # stderr, quoted when it fails

    def launch(self) -> None:
        """Start the process (on Blender's main thread). `--exit-with-parent` makes the server
        drain and exit if Blender ends without stopping it, a crash included."""
        if not self.python or not os.path.isfile(self.python):
            raise RuntimeError(
                f"Python '{self.python}' not found: set the backend Python (an environment "
                "with EmoSpeaker installed) in the add-on preferences"
            )
        env = dict(os.environ)
        if self.module_path:
            paths = [self.module_path, env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        if self.token:
            env["EMOSPEAKER_TOKEN"] = self.token
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [
                self.python,
                "-m",
                "emospeaker",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--exit-with-parent",
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
            text=True,
        )
        STATE.servers.append(self)
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def wait_ready(self, cancel: threading.Event | None = None) -> str:
        """Wait for the ready line and return HOST:PORT (blocks: run it in a worker thread)."""
        waited = 0.0
        while not self._ready.wait(0.1):
            waited += 0.1
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the backend exited (code {self.process.returncode}): {self.tail()}"
                )
            if cancel is not None and cancel.is_set():
                self.stop()
                raise RuntimeError("cancelled while the backend was starting")
            if waited > START_TIMEOUT:
                self.stop()
                raise RuntimeError(
                    f"the backend did not get ready within {START_TIMEOUT:g} s: {self.tail()}"
                )
        return self.address

    def _read_stdout(self) -> None:
        for line in self.process.stdout:  # keeps draining after the ready line
            match = READY.match(line)
            if match and not self._ready.is_set():
                self.address = match.group(1)
                self._ready.set()

    def tail(self) -> str:
        try:
            self._log_file.seek(0)
            lines = [ln.strip() for ln in self._log_file.read().splitlines() if ln.strip()]
        except (OSError, ValueError):
            lines = []
        return " | ".join(lines[-5:]) or "no output"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (the server drains), then kill if it is still there after `grace` s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self in STATE.servers:
            STATE.servers.remove(self)


def local_server() -> LocalServer | None:
    return next((s for s in STATE.servers if s.running), None)


def stop_all() -> None:
    for server in list(STATE.servers):
        server.stop()


atexit.register(stop_all)
