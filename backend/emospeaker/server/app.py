"""Assemble and run the gRPC server: service, health, reflection, auth, TLS, limits, drain."""

from __future__ import annotations

import fcntl
import ipaddress
import os
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..errors import InputError
from . import log
from .auth import TokenInterceptor
from .capabilities import CapabilitiesCache
from .limits import Limits, WorkerPool
from .servicer import SERVICE, Servicer, service_handler

LIGHT_THREADS = 8  # for capabilities, health, reflection and quick refusals while all work
WORKDIR_PREFIX = "emospeaker-serve-"  # + pid: one per server process, swept when it is dead
LOCK_FILE = ".server.lock"  # held (flock) by the running server that owns the folder


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False  # allow a non-loopback address without TLS (and token)
    limits: Limits = field(default_factory=Limits)
    checkpoint_dir: Path | None = None  # neural checkpoints clients may choose by name


def is_loopback(host: str) -> bool:
    """True when `host` only reaches this machine (127.0.0.0/8, ::1, or a name for them)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_exposure(config: ServerConfig) -> None:
    """Off loopback a server needs TLS: without it anyone can use it, or (with --token) the
    token crosses the network in clear text. `--insecure` is the explicit opt-out."""
    if is_loopback(config.host) or config.insecure or config.tls_cert:
        return
    if config.token:
        raise InputError(
            f"refusing to serve on {config.host}, which other machines can reach, with --token "
            "but without TLS: the token would cross the network in clear text; add "
            "--tls-cert/--tls-key, or --insecure to do it anyway",
            field="tls",
        )
    raise InputError(
        f"refusing to serve on {config.host}, which other machines can reach, without "
        "--tls-cert/--tls-key and --token (anyone on the network could use it); add "
        "--insecure to do it anyway",
        field="host",
    )


def exposure_warning(config: ServerConfig) -> str | None:
    """What an operator who chose an exposed set-up must be told (on stderr), if anything."""
    if is_loopback(config.host):
        return None
    if not config.tls_cert:
        what = "the token crosses the network in clear text" if config.token else "no token"
        return (
            f"--insecure: serving on {config.host} without TLS ({what}); anyone who can reach "
            "it can use this server"
        )
    if not config.token:
        return f"anyone who can reach {config.host} can use this server (no --token)"
    return None


def sweep_stale_workdirs(root: Path | None = None) -> list[Path]:
    """Remove the work folders of servers that no longer run (killed, so never cleaned up).
    A running server holds a lock on its folder's LOCK_FILE, which the kernel drops when the
    process dies, so this holds across containers sharing /tmp (process ids do not); a folder
    without one falls back to the process id in its name. Returns what was removed."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        if _abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def lock_workdir(path: Path) -> int:
    """Hold `path`'s lock for as long as this process runs (or until the fd is closed)."""
    fd = os.open(path / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _abandoned(path: Path) -> bool:
    lock = path / LOCK_FILE
    if lock.exists():
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its server runs
            return False
        finally:
            os.close(fd)
        return True
    pid = path.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
    return pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


class Server:
    """A configured gRPC server. `start()`, then `stop(grace)` drains in-flight calls."""

    def __init__(self, config: ServerConfig) -> None:
        check_exposure(config)
        if bool(config.tls_cert) != bool(config.tls_key):
            raise InputError("--tls-cert and --tls-key go together", field="tls")
        self.config = config
        limits = config.limits
        self.pool = WorkerPool(limits.max_concurrent)
        self.capabilities = CapabilitiesCache(limits, config.checkpoint_dir)
        threads = limits.max_concurrent + LIGHT_THREADS
        interceptors = []
        if config.token:
            interceptors.append(TokenInterceptor(config.token, _log_denied))
        self._grpc = grpc.server(
            ThreadPoolExecutor(threads, thread_name_prefix="emospeaker-rpc"),
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", limits.max_message_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),  # a second server on a taken port must fail
            ],
            maximum_concurrent_rpcs=threads,
        )
        self.servicer = Servicer(limits, self.pool, self.capabilities, config.checkpoint_dir)
        self._grpc.add_generic_rpc_handlers((service_handler(self.servicer),))
        self.workdir: Path | None = None
        self._stopped: threading.Event | None = None
        self.health = health.HealthServicer(experimental_non_blocking=True)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        reflection.enable_server_reflection(
            (SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), self._grpc
        )
        self.port = self._bind()

    def _bind(self) -> int:
        host = self.config.host
        target = f"[{host}]:{self.config.port}" if ":" in host else f"{host}:{self.config.port}"
        try:
            if self.config.tls_cert:
                key = Path(self.config.tls_key).read_bytes()
                chain = Path(self.config.tls_cert).read_bytes()
                creds = grpc.ssl_server_credentials([(key, chain)])
                port = self._grpc.add_secure_port(target, creds)
            else:
                port = self._grpc.add_insecure_port(target)
        except OSError as exc:
            raise InputError(f"cannot read the TLS files: {exc}", field="tls") from None
        except RuntimeError as exc:
            raise InputError(f"cannot listen on {target}: {exc}", field="port") from None
        if not port:
            raise InputError(f"cannot listen on {target} (in use?)", field="port")
        return port

    @property
    def address(self) -> str:
        host = self.config.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def start(self) -> None:
        swept = sweep_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
        self._workdir_lock = lock_workdir(self.workdir)
        self.servicer.workdir = self.workdir
        self._grpc.start()
        for name in ("", SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.capabilities.warm()
        log.event(
            "start",
            address=self.address,
            tls=bool(self.config.tls_cert),
            token=bool(self.config.token),
            max_concurrent=self.config.limits.max_concurrent,
            swept_stale_folders=len(swept),
        )

    def stop(self, grace: float | None = None) -> threading.Event:
        """Drain: health says NOT_SERVING and new calls are refused (UNAVAILABLE) at once,
        while the port stays open; running work gets `grace` seconds to finish and stream its
        result, then gRPC cancels the rest. The event is set once everything has stopped.
        A second call (a second signal) cancels what still runs."""
        if self._stopped is not None:
            self._grpc.stop(0)
            return self._stopped
        self._stopped = done = threading.Event()
        self.servicer.draining.set()
        for name in ("", SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        log.event("drain", running=self.pool.running, grace_seconds=grace)
        deadline = time.monotonic() + (grace or 0)

        def finish() -> None:
            while self.pool.running and time.monotonic() < deadline:
                time.sleep(0.02)
            self._grpc.stop(max(0.0, deadline - time.monotonic())).wait()
            self.pool.shutdown()
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                os.close(self._workdir_lock)
            log.event("stop")
            done.set()

        threading.Thread(target=finish, name="emospeaker-stop", daemon=True).start()
        return done

    def wait(self, timeout: float | None = None) -> bool:
        return self._grpc.wait_for_termination(timeout)


def _log_denied(method: str, reason: str, peer: str) -> None:
    entry = log.RequestLog(method.rsplit("/", 1)[-1], peer)
    entry.fail("UNAUTHENTICATED", f"{reason} token")
    entry.write()
