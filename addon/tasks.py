"""Long calls off Blender's main thread, with progress in the UI and Esc to cancel.

A `Task` runs one function in a worker thread; the function gets the task and reports
`task.progress(stage, fraction)` and checks `task.cancelled`. It never touches Blender data.
`TaskOperator` drives a task from an operator: interactively as a modal operator (a timer
polls the task, the status bar and the sidebar show progress, Esc cancels), or, when run from
a script or in background mode, by waiting for it in `execute`. Either way the result is
applied on the main thread in `finish`, inside the operator, so one undo step covers it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import bpy

RUNNING: list[Task] = []  # tasks in flight, newest last (the sidebar draws them)


class Task:
    def __init__(self, title: str, work: Callable[[Task], Any]) -> None:
        self.title = title
        self.stage = "starting"
        self.fraction = 0.0
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._work = work
        self._thread = threading.Thread(target=self._run, name=f"EmoSpeaker {title}", daemon=True)

    def start(self) -> Task:
        RUNNING.append(self)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self._work(self)
        except BaseException as exc:  # handed to the main thread, never lost
            self.error = exc
        finally:
            self._done.set()

    def progress(self, stage: str, fraction: float) -> bool:
        """Report progress; returns False once cancelled (the gRPC client then cancels)."""
        self.stage, self.fraction = stage, max(0.0, min(1.0, float(fraction)))
        return not self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_event(self) -> threading.Event:
        return self._cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def forget(self) -> None:
        if self in RUNNING:
            RUNNING.remove(self)


def cancel_all() -> None:
    for task in list(RUNNING):
        task.cancel()


class TaskOperator:
    """Mix into a bpy Operator; define `begin(context) -> Task | None` and
    `finish(context, result) -> set`. `begin` reports and returns None to refuse."""

    _task: Task | None = None
    _timer: Any = None

    def begin(self, context: bpy.types.Context) -> Task | None:
        raise NotImplementedError

    def finish(self, context: bpy.types.Context, result: Any) -> set[str]:
        raise NotImplementedError

    def describe_error(self, error: BaseException) -> str:
        return str(error) or type(error).__name__

    def release(self, task: Task) -> None:
        """Called last, whatever happened (finished, failed or cancelled): e.g. remove what
        the work left for `finish` but `finish` did not take."""

    # -- both paths end here, on the main thread

    def _end(self, context: bpy.types.Context, task: Task) -> set[str]:
        task.forget()
        try:
            if task.cancelled:
                self.report({"WARNING"}, f"{task.title} cancelled; nothing was changed")
                return {"CANCELLED"}
            if task.error is not None:
                self.report({"ERROR"}, f"{task.title} failed: {self.describe_error(task.error)}")
                return {"CANCELLED"}
            return self.finish(context, task.result)
        finally:
            self.release(task)

    # -- scripts and background mode: wait here (cancellable through the task from a thread)

    def execute(self, context: bpy.types.Context) -> set[str]:
        if self.options.is_invoke and context.window is not None and not bpy.app.background:
            return self._start_modal(context)
        task = self.begin(context)
        if task is None:
            return {"CANCELLED"}
        task.start()
        while not task.wait(0.05):
            pass
        return self._end(context, task)

    # -- interactive: a modal operator polling the task

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self.execute(context)

    def _start_modal(self, context: bpy.types.Context) -> set[str]:
        task = self.begin(context)
        if task is None:
            return {"CANCELLED"}
        self._task = task.start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 1000)
        self._show(context)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        task = self._task
        if event.type == "ESC" and event.value == "PRESS":
            task.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        self._show(context)
        if not task.done:
            return {"PASS_THROUGH"}
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        _redraw(context)
        return self._end(context, task)

    def _show(self, context: bpy.types.Context) -> None:
        task = self._task
        context.window_manager.progress_update(int(task.fraction * 1000))
        if context.workspace is not None:
            context.workspace.status_text_set(
                f"EmoSpeaker: {task.title} - {task.stage} {task.fraction:.0%}  (Esc to cancel)"
            )
        _redraw(context)


def _redraw(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES", "SEQUENCE_EDITOR"}:
                area.tag_redraw()
