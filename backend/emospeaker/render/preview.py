"""Mesh preview: the built-in head (ICT FaceKit, `face.head`) driven by a FaceTrack, rendered
offscreen with OpenGL.

pyrender's platform layer gives the context (OSMesa on the CPU by default; set
PYOPENGL_PLATFORM=egl for a GPU); the drawing is a handful of direct OpenGL calls. pyrender's
own scene renderer cost ~8x more per frame here and leaked ~30 MB a frame: it rebuilt and
re-uploaded the mesh, and (under OSMesa, whose context handle PyOpenGL hands out anew on each
query, defeating pyrender's program cache) compiled new shaders for every part of every
frame. Here the mesh stays on the GPU: each frame uploads only positions and normals (posed
on the CPU, where the neck blends between the head's turn and half of it), back faces are
skipped (all but the lash cards), and matte parts are lit per vertex (shading.py).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from ..audio import Audio
from ..channels import ARKIT_BLENDSHAPES
from ..errors import InputError
from ..face.head import Head, build_head
from ..face.normals import face_to_vertex, vertex_normals
from ..face.tracks import track_arrays
from ..files import atomic_output
from ..jobs import Job
from ..track import FaceTrack
from . import Renderer, gl
from .gl import GL
from .shading import GLOSSY, programs
from .video import write_video

BACKGROUND = (0.16, 0.17, 0.19)
DEFAULT_SIZE = 512  # what size 0 ("the portrait's full size" for the photo renderer) means here
# camera (eye, target) in the face frame: a head-and-shoulders bust, or a close face
FRAMING = {
    "bust": (np.array([0.0, -0.04, 0.66]), np.array([0.0, -0.055, -0.03])),
    "face": (np.array([0.0, -0.005, 0.52]), np.array([0.0, -0.025, -0.01])),
}
FIELD_OF_VIEW = {"bust": 27.0, "face": 24.0}  # vertical, degrees
# an orthographic front view (x, y of the face frame map linearly to pixels): (centre, half size)
ORTHOGRAPHIC = (np.array([0.0, -0.035]), 0.105)
IDENTITY = np.eye(4)  # the model matrix: vertices arrive posed
# ICT's parts are wound counter-clockwise seen from where they can be seen, so back faces
# are hidden, except the lash cards (thin sheets, seen from both sides)
TWO_SIDED = ("eyelashes_left", "eyelashes_right")


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world pose looking from `eye` at `target`, y up (OpenGL camera axes)."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, -forward, eye
    return pose


def _camera(framing: str) -> tuple[np.ndarray, np.ndarray]:
    """(eye position, view-projection matrix) of a square image."""
    if framing == "orthographic":
        (cx, cy), half = ORTHOGRAPHIC
        eye = np.array([cx, cy, 0.5])
        near, far = 0.05, 1.0
        projection = np.diag([1 / half, 1 / half, 2 / (near - far), 1.0])
        projection[2, 3] = (far + near) / (near - far)
        return eye, projection @ np.linalg.inv(_look_at(eye, np.array([cx, cy, 0.0])))
    if framing not in FRAMING:
        raise InputError(f"framing {framing!r}: use bust, face or orthographic", field="framing")
    eye, target = FRAMING[framing]
    near, far = 0.05, 5.0
    f = 1 / np.tan(np.radians(FIELD_OF_VIEW[framing]) / 2)
    projection = np.array(
        [
            [f, 0, 0, 0],
            [0, f, 0, 0],
            [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
            [0, 0, -1, 0],
        ]
    )
    return eye, projection @ np.linalg.inv(_look_at(eye, target))


@dataclass(frozen=True)
class _Draw:
    offset: int  # into the index buffer, bytes
    count: int  # indices
    cull: bool  # skip back faces
    per_pixel: bool  # lighting (see shading.py)


def _draw_groups(head: Head, cull: bool, per_pixel: bool) -> list[tuple[np.ndarray, _Draw]]:
    """The triangles sorted into draw calls by sidedness and lighting; the skin's shell comes
    first so that depth testing skips the hidden inner parts early."""
    model = head.model
    triangles = model.triangles
    two_sided = [model.part_names.index(p) for p in TWO_SIDED]
    one_sided = ~np.isin(model.part_of_vertex[triangles[:, 0]], two_sided)
    glossy = per_pixel | (head.roughness[triangles[:, 0]] < GLOSSY)
    groups, start = [], 0
    for sided in (True, False):
        for lit_per_pixel in (False, True):
            chosen = (one_sided == sided) & (glossy == lit_per_pixel)
            if chosen.any():
                count = 3 * int(chosen.sum())
                draw = _Draw(4 * start, count, cull and sided, lit_per_pixel)
                groups.append((triangles[chosen], draw))
                start += count
    return groups


class HeadRenderer:
    """Frames of the built-in head: `frame(weights, head)` -> RGB uint8 [size, size, 3].

    `per_pixel=True` lights every part per pixel rather than only the glossy ones: the
    reference look, slower, and a mean of under half a level in 255 from the default.
    `cull=False` draws every face from both sides: slower, and (as a test checks) the same
    picture.
    """

    def __init__(
        self,
        size: int = 512,
        framing: str = "bust",
        head: Head | None = None,
        *,
        per_pixel: bool = False,
        cull: bool = True,
    ):
        """`framing`: "bust", "face", or "orthographic" (see ORTHOGRAPHIC)."""
        if size < 16 or size > 4096 or size % 2:
            raise InputError(
                f"size {size} must be an even number of pixels in 16..4096", field="size"
            )
        eye, view_projection = _camera(framing)
        self.head = head or build_head()
        self.size = size
        vertices, triangles = self.head.neutral, self.head.triangles
        self._incidence = face_to_vertex(triangles, len(vertices))
        self._vertex_data = np.empty((len(vertices), 6), np.float32)  # position, normal
        self._context = gl.Offscreen(size, size)
        self._programs = programs(eye, view_projection)
        self._draws = self._upload_mesh(_draw_groups(self.head, cull, per_pixel))
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glClearColor(*BACKGROUND, 1.0)

    def _upload_mesh(self, groups: list[tuple[np.ndarray, _Draw]]) -> list[_Draw]:
        """The static buffers (colour + roughness; triangles in draw order) and the vertex
        buffer that each frame refills."""
        GL.glBindVertexArray(GL.glGenVertexArrays(1))
        self._vertex_buffer, materials, indices = GL.glGenBuffers(3)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._vertex_buffer)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, self._vertex_data.nbytes, None, GL.GL_STREAM_DRAW)
        for location, offset in ((0, 0), (1, 12)):  # position, normal: interleaved float32
            GL.glVertexAttribPointer(location, 3, GL.GL_FLOAT, False, 24, ctypes.c_void_p(offset))
            GL.glEnableVertexAttribArray(location)
        albedo_roughness = np.ascontiguousarray(
            np.hstack([self.head.colors, self.head.roughness[:, None]]), np.float32
        )
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, materials)
        GL.glBufferData(
            GL.GL_ARRAY_BUFFER, albedo_roughness.nbytes, albedo_roughness, GL.GL_STATIC_DRAW
        )
        GL.glVertexAttribPointer(2, 4, GL.GL_FLOAT, False, 16, ctypes.c_void_p(0))
        GL.glEnableVertexAttribArray(2)
        faces = np.ascontiguousarray(np.concatenate([f for f, _ in groups]), np.uint32)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, indices)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, faces.nbytes, faces, GL.GL_STATIC_DRAW)
        return [draw for _, draw in groups]

    def frame(self, weights: np.ndarray, head: np.ndarray | None = None) -> np.ndarray:
        """Render blendshape weights [52] with head channels [6] (pitch, yaw, roll, x, y, z)."""
        vertices = self.head.deform(np.clip(weights, 0.0, 1.0))
        if head is not None:
            vertices = self.head.pose(vertices, np.asarray(head, np.float64))
        self._vertex_data[:, :3] = vertices
        self._vertex_data[:, 3:] = vertex_normals(vertices, self.head.triangles, self._incidence)
        self._context.make_current()
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._vertex_buffer)
        GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, self._vertex_data.nbytes, self._vertex_data)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        for draw in self._draws:
            (GL.glEnable if draw.cull else GL.glDisable)(GL.GL_CULL_FACE)
            self._programs[draw.per_pixel].use(IDENTITY)
            GL.glDrawElements(
                GL.GL_TRIANGLES, draw.count, GL.GL_UNSIGNED_INT, ctypes.c_void_p(draw.offset)
            )
        return self._context.read_rgb()

    def frames(self, weights: np.ndarray, head: np.ndarray) -> Iterator[np.ndarray]:
        for w, h in zip(weights, head, strict=True):
            yield self.frame(w, h)

    def close(self) -> None:
        self._context.delete()

    def __enter__(self) -> HeadRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MeshRenderer(Renderer):
    """The `mesh` renderer: the built-in head as an mp4 (with the speech if given)."""

    name = "mesh"
    needs_portrait = False

    def render(
        self,
        track: FaceTrack,
        output: Path,
        *,
        audio: Audio | None = None,
        portrait: np.ndarray | None = None,
        size: int = 512,
        face_index: int | None = None,
        job: Job | None = None,
    ) -> Path:
        weights, head = track_arrays(track)
        with HeadRenderer(size or DEFAULT_SIZE) as renderer:
            return write_video(
                output,
                renderer.frames(weights, head),
                track.fps,
                audio,
                total=track.frames,
                job=job,
            )


SHEET_COLUMNS = 8


def contact_sheet(
    path: str | PathLike[str],
    tiles: Sequence[tuple[str, np.ndarray] | None],
    *,
    columns: int = SHEET_COLUMNS,
    tile: int = 256,
    job: Job | None = None,
) -> Path:
    """A labelled grid of renders, one per (label, weights [52]) (None: an empty cell),
    written as an image."""
    from PIL import Image, ImageDraw, ImageFont

    job = job or Job()
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile), tuple(int(c * 255) for c in BACKGROUND))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(10, tile // 14))
    with HeadRenderer(tile, framing="face") as renderer:
        for i, cell in enumerate(tiles):
            if cell is None:
                continue
            label, weights = cell
            x, y = (i % columns) * tile, (i // columns) * tile
            sheet.paste(Image.fromarray(renderer.frame(weights)), (x, y))
            draw.text((x + 6, y + tile - 6), label, fill=(240, 240, 240), font=font, anchor="ld")
            job.progress("rendering", (i + 1) / len(tiles))
    with atomic_output(path) as tmp:
        sheet.save(tmp)
    return Path(path)


def shape_tiles() -> list[tuple[str, np.ndarray]]:
    """(label, weights) for each ARKit shape at weight 1.

    mouthClose is shown on top of jawOpen, the only way ARKit uses it (alone it would push
    the lower lip into the upper).
    """
    tiles = []
    for i, name in enumerate(ARKIT_BLENDSHAPES):
        weights = np.zeros(len(ARKIT_BLENDSHAPES), np.float32)
        weights[i] = 1.0
        label = name
        if name == "mouthClose":
            weights[ARKIT_BLENDSHAPES.index("jawOpen")] = 1.0
            label = "mouthClose+jawOpen"
        tiles.append((label, weights))
    return tiles


def emotion_tiles(engine: str = "default", intensity: float = 1.0) -> list[tuple[str, np.ndarray]]:
    """(label, weights) of each emotion at `intensity` as the engine's emotion layer shapes it.

    Animates a second of near-silence (faint noise: silent audio is refused as input) with a
    constant emotion through the public API and takes the middle frame of the `emotion`
    layer (the combined values when there is none).
    """
    from ..api import animate
    from ..audio import SAMPLE_RATE, audio_from_pcm
    from ..emotion import EMOTIONS, EmotionTimeline

    hush = np.random.default_rng(0).normal(0.0, 3e-4, SAMPLE_RATE).astype(np.float32)
    silence = audio_from_pcm(hush, SAMPLE_RATE)
    tiles = []
    for emotion in EMOTIONS:
        track = animate(silence, EmotionTimeline.constant({emotion: intensity}), engine=engine)
        if "emotion" in track.layers:
            track = FaceTrack(track.fps, {"emotion": track.layers["emotion"]}, track.channels)
        weights, _ = track_arrays(track)
        tiles.append((f"{emotion} {intensity:g}", weights[track.frames // 2]))
    return tiles
