"""Assemble and run the gRPC server: service, health, reflection, auth, TLS, limits, drain."""

from __future__ import annotations

import ipaddress
import socket
import threading
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


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False  # allow a non-loopback address without token or TLS
    limits: Limits = field(default_factory=Limits)


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
    if is_loopback(config.host) or config.insecure or config.token or config.tls_cert:
        return
    raise InputError(
        f"refusing to serve on {config.host}, which other machines can reach, without "
        "--token or --tls-cert/--tls-key (anyone on the network could use it); add "
        "--insecure to do it anyway",
        field="host",
    )


class Server:
    """A configured gRPC server. `start()`, then `stop(grace)` drains in-flight calls."""

    def __init__(self, config: ServerConfig) -> None:
        check_exposure(config)
        if bool(config.tls_cert) != bool(config.tls_key):
            raise InputError("--tls-cert and --tls-key go together", field="tls")
        self.config = config
        limits = config.limits
        self.pool = WorkerPool(limits.max_concurrent)
        self.capabilities = CapabilitiesCache(limits)
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
        self._grpc.add_generic_rpc_handlers(
            (service_handler(Servicer(limits, self.pool, self.capabilities)),)
        )
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
        )

    def stop(self, grace: float | None = None) -> threading.Event:
        """Refuse new calls (health: NOT_SERVING), let running ones finish for `grace`
        seconds, then cancel the rest. The event is set once everything has stopped."""
        self.health.enter_graceful_shutdown()
        log.event("drain", running=self.pool.running, grace_seconds=grace)
        stopped = self._grpc.stop(grace)
        done = threading.Event()

        def finish() -> None:
            stopped.wait()
            self.pool.shutdown()
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
