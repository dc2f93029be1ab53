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
import time
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
    engine_options: dict[str, list[str]] = field(default_factory=dict)
    engine_poses: dict[str, bool] = field(default_factory=dict)  # uses custom emotion poses


@dataclass
class _State:
    capabilities: Capabilities | None = None
    servers: list[LocalServer] = field(default_factory=list)
    # the panel's status line: the last background check, by address
    checked_address: str = ""
    checked_at: float = -1e9
    check_error: str = ""
    checking: bool = False


STATE = _State()
STATUS_TTL = 10.0  # seconds a status check is reused before the panel asks again


def status(connection: Connection) -> tuple[str, str]:
    """('ok' | 'down' | 'checking', text) for the panel, never blocking: the answer of the
    last check of this address, and a new check in a worker thread when that one is older
    than STATUS_TTL (a refused connection answers in milliseconds, a silent host in 2 s)."""
    now = time.monotonic()
    same = STATE.checked_address == connection.address
    if not STATE.checking and (not same or now - STATE.checked_at > STATUS_TTL):
        STATE.checking = True
        threading.Thread(target=_check_status, args=(connection,), daemon=True).start()
    if not same:
        return "checking", f"checking {connection.address}..."
    caps = STATE.capabilities
    if not STATE.check_error and caps is not None and caps.address == connection.address:
        engines = ", ".join(n for n, ok, _ in caps.engines if ok) or "none"
        return (
            "ok",
            f"EmoSpeaker {caps.version} at {caps.address} ({caps.device}); engines {engines}",
        )
    return "down", f"no backend at {connection.address}: {STATE.check_error or 'not checked'}"


def _check_status(connection: Connection) -> None:
    try:
        caps = check(connection, timeout=2.0)
        STATE.capabilities, STATE.check_error = caps, ""
    except Exception as exc:  # noqa: BLE001 - any failure means "not connected", with why
        STATE.check_error = _short(exc)
    finally:
        STATE.checked_address, STATE.checked_at = connection.address, time.monotonic()
        STATE.checking = False


def _short(exc: BaseException) -> str:
    text = getattr(exc, "details", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:120]


def check(connection: Connection, timeout: float = 10.0) -> Capabilities:
    """Ask the backend what it offers (raises the client's error on failure)."""
    with connection.client() as client:
        caps = client.capabilities(timeout=timeout)
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
        engine_options={e.name: [o.name for o in e.options] for e in caps.engines},
        engine_poses={e.name: e.emotion_poses for e in caps.engines},
    )


def supports_poses(engine: str) -> bool | None:
    """Whether the backend's `engine` uses custom emotion poses (None: not known yet)."""
    caps = STATE.capabilities
    if caps is None or engine not in caps.engine_poses:
        return True if engine == "default" else None
    return caps.engine_poses[engine]


def known_options(engine: str, values: dict[str, float], notes: list[str]) -> dict[str, str]:
    """The character's gains that `engine` has options for (all of them for the default
    engine when the backend was not asked yet); a note names what is left out."""
    caps = STATE.capabilities
    if caps is not None and engine in caps.engine_options:
        known = set(caps.engine_options[engine])
    else:
        known = set(values) if engine == "default" else set()
    dropped = [k for k, v in values.items() if k not in known and v != 1.0]
    if dropped:
        notes.append(f"engine '{engine}' has no option {', '.join(dropped)}: not sent")
    return {k: f"{v:g}" for k, v in values.items() if k in known}


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
