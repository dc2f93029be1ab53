"""Render Shot: the current shot as a video from the backend, placed in the Sequencer.

The shot is the dialogue (the sound strip Generate uses, or the audio file) from its start
frame: video frame 0 is audio time 0, so the movie strip starts where the sound strip does.
Its motion is what the face does on screen over those frames (the baked layers with the
animator's edits, read back as the exporters do) or, when nothing is baked there, a new
animation from the Generate settings. A portrait photo makes it a `photo` render; without one
the backend draws its built-in head (`mesh`).

`gather` and `place` run on Blender's main thread; `render` runs in a worker and touches no
Blender data. The video is written beside its final name and moved there only when it is
placed, so a failed or cancelled render leaves no file and the scene as it was.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import bpy

from . import bake, compat, exporting, inputs, mapping
from .inputs import InputProblem, scene_fps
from .track import Track

SHOT_KEY = "emospeaker_shot"  # ID property naming the shot on the movie strips placed here
SIZES = {"256": 256, "512": 512, "FULL": 0}
MAX_CHANNEL = 128
MOTION_NEW = "a new animation from the Generate settings"


class PlacementError(Exception):
    """The video cannot go into the Sequencer as asked; the message says why."""


@dataclass
class Shot:
    """What one Render Shot sends and where its result goes (plain values: the worker reads
    them; `track` is None when the backend animates `request` first)."""

    name: str
    start: int  # timeline frame of audio time 0
    channel: int  # of the sound strip (0: the audio is a file)
    sound_strip: str  # "" when the audio is a file
    request: inputs.Request  # audio, fps and the Generate settings
    renderer: str
    portrait: bytes
    portrait_name: str
    size: int
    face_index: int | None
    output: Path
    track: Track | None = None
    motion: str = MOTION_NEW  # for the report
    notes: list[str] = field(default_factory=list)
    made_folder: bool = False  # the render made the output folder (removed again if unused)

    @property
    def fps(self) -> Fraction:
        return self.track.fps if self.track is not None else self.request.fps

    @property
    def staging(self) -> Path:
        """Where the worker writes the video (hidden, unique to this Blender)."""
        return self.output.with_name(f".{self.output.stem}.{os.getpid()}.rendering.mp4")


# ---------------------------------------------------------------------------------------------
# Main thread: what to send


def gather(context: bpy.types.Context) -> Shot:
    """The current shot as a render request; raises InputProblem naming what to fix."""
    scene = context.scene
    settings = scene.emospeaker
    request = inputs.gather(context)
    if settings.audio_source == "STRIP":
        strip = inputs.sound_strip(scene, settings)
        name, channel, sound = strip.name, strip.channel, strip.name
    else:
        strip, channel, sound = None, 0, ""
        name = Path(bpy.path.abspath(settings.audio_file)).stem
    portrait, portrait_name = _portrait(settings)
    renderer = "photo" if portrait_name else "mesh"
    size = SIZES[settings.render_size]
    notes = list(request.notes)
    if renderer == "mesh" and size == 0:
        size = 512
        notes.append("the built-in head has no full size: rendering 512x512")
    shot = Shot(
        name=name,
        start=request.start_frame,
        channel=channel,
        sound_strip=sound,
        request=request,
        renderer=renderer,
        portrait=portrait,
        portrait_name=portrait_name,
        size=size,
        face_index=settings.face_index if settings.face_index >= 0 else None,
        output=output_path(settings.render_folder, name),
        notes=notes,
    )
    if settings.render_motion == "BAKED":
        _read_bake(context, shot, strip)
    return shot


def _portrait(settings) -> tuple[bytes, str]:  # noqa: ANN001
    """(image file bytes, name) of the portrait: the image datablock's file, else the file
    path; empty when neither is set."""
    image = settings.portrait_image
    if image is not None:
        if image.packed_file is not None:
            return bytes(image.packed_file.data), image.name
        if image.source != "FILE" or not image.filepath:
            raise InputProblem(
                f"image '{image.name}' is not a photo file ({image.source.lower()}); "
                "save it to a file or choose a portrait file"
            )
        path = bpy.path.abspath(image.filepath, library=image.library)
    elif settings.portrait_file:
        path = bpy.path.abspath(settings.portrait_file)
    else:
        return b"", ""
    return inputs.read_file(path, "portrait"), os.path.basename(path)


def _read_bake(context: bpy.types.Context, shot: Shot, strip: Any) -> None:
    """Take the shot's motion from the animation baked on the face, when it covers the shot:
    exactly the take Generate made for it, or else the length of the audio."""
    scene = context.scene
    obj = scene.emospeaker.target
    if obj is None or obj.type != "MESH" or obj.data.shape_keys is None:
        return
    frames = bake.take_frames(obj, shot.start) or _audio_frames(shot.request, strip)
    last = shot.start + frames - 1
    baked = bake.baked_range(obj)
    if baked is None or baked[1] < shot.start or baked[0] > last:
        shot.notes.append(
            f"nothing is baked on '{obj.name}' over frames {shot.start}-{last}: rendering "
            + MOTION_NEW
        )
        return
    try:
        head = mapping.head_target(scene.emospeaker, obj)
    except mapping.MappingProblem as exc:
        head = None
        shot.notes.append(f"no head pose in the render: {exc}")
    shot.track = exporting.evaluate(scene, obj, mapping.bindings(obj), head, (shot.start, last))
    shot.motion = f"the animation on '{obj.name}'"


def _audio_frames(request: inputs.Request, strip: Any) -> int:
    """Frames covering the audio, as the backend counts them (ceil(duration * fps))."""
    if request.duration:
        return max(1, math.ceil(Fraction(request.duration) * request.fps))
    return max(1, int(strip.frame_duration)) if strip is not None else 1


def output_path(folder: str, name: str) -> Path:
    """`folder/<name>.mp4`; a `//` folder of an unsaved file goes to the add-on's user folder."""
    folder = folder or "//renders/"
    if folder.startswith("//") and not bpy.data.filepath:
        base = _user_folder()
    else:
        base = Path(bpy.path.abspath(folder))
    return base / f"{file_name(name)}.mp4"


def _user_folder() -> Path:
    try:  # persistent, per user: a temporary folder could vanish under the strip
        return Path(bpy.utils.extension_path_user(__package__, path="renders"))
    except (AttributeError, ValueError):  # not installed as an extension
        return Path(tempfile.gettempdir()) / "emospeaker-renders"


def file_name(name: str) -> str:
    """`name` with the characters no file system takes replaced."""
    return re.sub(r'[\x00-\x1f<>:"/\\|?*]+', "_", name).strip(" .") or "shot"


# ---------------------------------------------------------------------------------------------
# Worker thread: the call


def render(connection: Any, shot: Shot, task: Any) -> Any:
    """One Render call, streamed into `shot.staging`; returns the client's RenderResult."""
    from .wire import client as wire

    request = shot.request
    if shot.track is not None:
        motion = {
            "track": shot.track.to_wire(),
            "audio": wire.audio_bytes(request.audio, request.audio_name),
        }
    else:
        motion = {"animate": request.animate_request()}
    call = wire.render_request(
        shot.renderer,
        portrait=shot.portrait,
        size=shot.size,
        face_index=shot.face_index,
        **motion,
    )
    if not shot.output.parent.is_dir():
        shot.output.parent.mkdir(parents=True)
        shot.made_folder = True
    with connection.client() as client:
        task.progress("sending", 0.0)
        stream = client.render(call, cancel_event=task.cancel_event)
        result = stream.save(shot.staging, on_progress=task.progress)
    task.progress("placing", 1.0)
    return result


def discard(shot: Shot) -> None:
    """Remove the staged video if it is still there (the render failed or was cancelled),
    and the output folder if the render made it and it stayed empty."""
    try:
        shot.staging.unlink()
    except FileNotFoundError:
        pass
    if shot.made_folder and not shot.output.exists():
        try:
            shot.output.parent.rmdir()
        except OSError:  # not empty: something else is in it now
            pass


# ---------------------------------------------------------------------------------------------
# Main thread: the result into the Sequencer


def place(scene: bpy.types.Scene, shot: Shot, frames: int) -> tuple[Any, list[str]]:
    """Move the staged video to its name and put it on the first free channel above the sound
    strip from the sound's start frame, replacing this shot's earlier render strip (its
    channel is kept when free). Returns the strip and notes for the user."""
    notes = []
    start, base = shot.start, shot.channel
    if shot.sound_strip:
        sound = next(
            (s for s in compat.sequencer_strips(scene) if s.name == shot.sound_strip), None
        )
        if sound is None:
            notes.append(f"sound strip '{shot.sound_strip}' is gone; placed at frame {start}")
        else:  # it may have moved while the backend worked: follow the sound
            start, base = round(sound.frame_start), sound.channel
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = compat.editor_strips(editor)
    old = [s for s in strips if s.get(SHOT_KEY) == shot.name]
    span = (start, start + frames)
    channel = _free_channel(strips, span, base, old, prefer=[s.channel for s in old])
    # the new strip goes in before the old one leaves (a failure then removes nothing)
    spare = _free_channel(strips, span, base, (), prefer=[channel] if channel else [])
    if channel is None or spare is None:
        raise PlacementError(
            f"no free Sequencer channel above {base} over frames {start}-{span[1] - 1}"
        )
    os.replace(shot.staging, shot.output)
    path = str(shot.output)
    if bpy.data.filepath:
        try:
            path = bpy.path.relpath(path)
        except ValueError:  # another drive
            pass
    strip = compat.new_movie(editor, f"{shot.name} video", path, spare, start)
    for s in old:
        strips.remove(s)
    if strip.channel != channel:
        strip.channel = channel
    strip.name = f"{shot.name} video"  # free now that the earlier one is gone
    strip[SHOT_KEY] = shot.name
    editor.active_strip = strip
    notes += fps_notes(scene, shot.fps, getattr(strip, "fps", 0.0))
    return strip, notes


def _free(strips: Any, channel: int, span: tuple[int, int], ignore: Any) -> bool:
    start, end = span
    return not any(
        s.channel == channel
        and s.frame_final_start < end
        and s.frame_final_end > start
        and s not in ignore
        for s in strips
    )


def _free_channel(
    strips: Any, span: tuple[int, int], above: int, ignore: Any, prefer: Any = ()
) -> int | None:
    """The preferred channel if free over `span`, else the lowest free one above `above`."""
    for channel in [*prefer, *range(above + 1, MAX_CHANNEL + 1)]:
        if channel > above and _free(strips, channel, span, ignore):
            return channel
    return None


def fps_notes(scene: bpy.types.Scene, track_fps: Fraction, movie_fps: float) -> list[str]:
    """A warning when the video's frame rate is not the scene's (it would drift from the
    sound): e.g. the scene's rate changed while the backend rendered."""
    now = scene_fps(scene)
    rates = [float(track_fps)] + ([movie_fps] if movie_fps else [])
    if all(abs(rate - float(now)) < 1e-3 for rate in rates):
        return []
    return [
        f"the video runs at {float(track_fps):.3f} fps but the scene at {float(now):.3f} fps: "
        "it will drift from the sound; render the shot again at the scene's rate"
    ]
