"""Add-on preferences: where the backend is (address, token, TLS), a local backend the add-on
can start and stop, and the connection check that shows what the backend offers."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import BoolProperty, FloatProperty, StringProperty

from . import backend, tasks

PACKAGE = __package__


def get(context: bpy.types.Context) -> Any:
    return context.preferences.addons[PACKAGE].preferences


def connection(context: bpy.types.Context) -> backend.Connection:
    p = get(context)
    return backend.Connection(
        address=p.address,
        token=p.token,
        tls=p.use_tls,
        root_cert=bpy.path.abspath(p.root_cert) if p.root_cert else "",
        timeout=p.timeout,
    )


class EmoSpeakerPreferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    address: StringProperty(
        name="Backend Address",
        default="127.0.0.1:50051",
        description="HOST:PORT of `emospeaker serve` (set by Start Local Backend)",
    )
    token: StringProperty(
        name="Token", subtype="PASSWORD", description="Sent as 'authorization: Bearer TOKEN'"
    )
    use_tls: BoolProperty(name="TLS", description="Connect over TLS")
    root_cert: StringProperty(
        name="Root Certificate",
        subtype="FILE_PATH",
        description="PEM file of the CA that signed the server's certificate (empty: system)",
    )
    timeout: FloatProperty(
        name="Timeout", default=0.0, min=0.0, unit="TIME_ABSOLUTE",
        description="Longest a Generate call may take in seconds (0: no limit)",
    )  # fmt: skip
    python: StringProperty(
        name="Backend Python",
        subtype="FILE_PATH",
        description="Python of an environment with EmoSpeaker installed (its .venv/bin/python)",
    )
    module_path: StringProperty(
        name="Extra Module Folder",
        subtype="DIR_PATH",
        description="Added to PYTHONPATH, e.g. a checkout's backend/ folder (optional)",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        col = layout.column()
        col.prop(self, "address")
        col.prop(self, "token")
        row = col.row()
        row.prop(self, "use_tls")
        sub = row.row()
        sub.enabled = self.use_tls
        sub.prop(self, "root_cert", text="")
        col.prop(self, "timeout")
        col.operator("emospeaker.check_connection", icon="LINKED")
        draw_capabilities(col)

        box = layout.box()
        box.label(text="Local Backend", icon="CONSOLE")
        box.prop(self, "python")
        box.prop(self, "module_path")
        server = backend.local_server()
        row = box.row()
        if server is None:
            row.operator("emospeaker.start_backend", icon="PLAY")
        else:
            row.label(text=f"running on {server.address} (pid {server.process.pid})")
            row.operator("emospeaker.stop_backend", icon="CANCEL")
        draw_progress(box)


def draw_capabilities(layout: bpy.types.UILayout) -> None:
    caps = backend.STATE.capabilities
    if caps is None:
        return
    box = layout.box()
    box.label(
        text=f"EmoSpeaker {caps.version} at {caps.address} on {caps.device}", icon="CHECKMARK"
    )
    for name, available, text in caps.engines:
        box.label(text=f"{name}: {text}", icon="CHECKMARK" if available else "X")
    box.label(text=f"renderers: {', '.join(caps.renderers) or 'none'}; "
                   f"audio up to {caps.max_audio_seconds:g} s")  # fmt: skip


def draw_progress(layout: bpy.types.UILayout) -> None:
    for task in tasks.RUNNING:
        row = layout.row(align=True)
        text = f"{task.title}: {task.stage}"
        row.progress(factor=task.fraction, type="BAR", text=text)  # Blender 4.0+
        row.operator("emospeaker.cancel", text="", icon="X")


class EMOSPEAKER_OT_check_connection(tasks.TaskOperator, bpy.types.Operator):
    """Connect to the backend and show its version, engines and limits"""

    bl_idname = "emospeaker.check_connection"
    bl_label = "Check Connection"

    def begin(self, context: bpy.types.Context) -> tasks.Task:
        conn = connection(context)
        return tasks.Task("Connection check", lambda task: backend.check(conn))

    def finish(self, context: bpy.types.Context, result: backend.Capabilities) -> set[str]:
        backend.STATE.capabilities = result
        engines = ", ".join(n for n, ok, _ in result.engines if ok) or "none"
        self.report({"INFO"}, f"EmoSpeaker {result.version} at {result.address}: engines {engines}")
        return {"FINISHED"}

    def describe_error(self, error: BaseException) -> str:
        backend.STATE.capabilities = None
        return str(error)


class EMOSPEAKER_OT_start_backend(tasks.TaskOperator, bpy.types.Operator):
    """Run `emospeaker serve` from the configured Python on a free local port and connect to it
    (stopped when Blender quits or the add-on is disabled)"""

    bl_idname = "emospeaker.start_backend"
    bl_label = "Start Local Backend"

    def begin(self, context: bpy.types.Context) -> tasks.Task | None:
        p = get(context)
        running = backend.local_server()
        if running is not None:
            self.report({"INFO"}, f"a local backend already runs on {running.address}")
            return None
        python = bpy.path.abspath(p.python) if p.python else ""
        path = bpy.path.abspath(p.module_path) if p.module_path else ""
        server = backend.LocalServer(python, path, p.token)
        try:
            server.launch()
        except (OSError, RuntimeError) as exc:
            self.report({"ERROR"}, f"cannot start the backend: {exc}")
            return None
        conn = connection(context)

        def work(task: tasks.Task) -> backend.Capabilities:
            task.progress("starting the backend", 0.1)
            address = server.wait_ready(task.cancel_event)
            task.progress("connecting", 0.9)
            return backend.check(backend.Connection(address, conn.token))

        return tasks.Task("Local backend", work)

    def finish(self, context: bpy.types.Context, result: backend.Capabilities) -> set[str]:
        get(context).address = result.address
        get(context).use_tls = False
        backend.STATE.capabilities = result
        self.report({"INFO"}, f"local backend {result.version} serving on {result.address}")
        return {"FINISHED"}


class EMOSPEAKER_OT_stop_backend(bpy.types.Operator):
    """Stop the local backend the add-on started"""

    bl_idname = "emospeaker.stop_backend"
    bl_label = "Stop Local Backend"

    def execute(self, context: bpy.types.Context) -> set[str]:
        backend.stop_all()
        backend.STATE.capabilities = None
        self.report({"INFO"}, "local backend stopped")
        return {"FINISHED"}


CLASSES = (
    EmoSpeakerPreferences,
    EMOSPEAKER_OT_check_connection,
    EMOSPEAKER_OT_start_backend,
    EMOSPEAKER_OT_stop_backend,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    backend.stop_all()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
