"""Mesh preview: the built-in head driven by a FaceTrack, rendered offscreen with pyrender.

Without a display this uses OSMesa (CPU); set PYOPENGL_PLATFORM=egl to use a GPU instead.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")  # must precede any OpenGL import

from collections.abc import Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ..audio import Audio  # noqa: E402
from ..channels import ARKIT_BLENDSHAPES  # noqa: E402
from ..errors import InputError  # noqa: E402
from ..face.head import Head, build_head  # noqa: E402
from ..face.head.mesh import ROUGHNESS  # noqa: E402
from ..face.head.normals import face_to_vertex, vertex_normals  # noqa: E402
from ..face.pose import head_transform, neck_transform  # noqa: E402
from ..face.tracks import track_arrays  # noqa: E402
from ..files import atomic_output  # noqa: E402
from ..jobs import Job  # noqa: E402
from ..track import FaceTrack  # noqa: E402
from . import Renderer  # noqa: E402
from .video import write_video  # noqa: E402

BACKGROUND = (0.16, 0.17, 0.19)
# camera (eye, target) in the face frame: a head-and-shoulders bust, or a close face
FRAMING = {
    "bust": (np.array([0.0, -0.035, 0.60]), np.array([0.0, -0.045, -0.02])),
    "face": (np.array([0.0, -0.035, 0.40]), np.array([0.0, -0.040, -0.01])),
}
# an orthographic front view (x, y of the face frame map linearly to pixels): (centre, half size)
ORTHOGRAPHIC = (np.array([0.0, -0.035]), 0.105)


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, -forward, eye
    return pose


class HeadRenderer:
    """Frames of the built-in head: `frame(weights, head)` -> RGB uint8 [size, size, 3]."""

    def __init__(self, size: int = 512, framing: str = "bust", head: Head | None = None):
        """`framing`: "bust", "face", or "orthographic" (see ORTHOGRAPHIC)."""
        import pyrender  # heavy, and needs PYOPENGL_PLATFORM set first

        if size < 16 or size > 4096 or size % 2:
            raise InputError(f"size {size} must be an even number of pixels in 16..4096", "size")
        self._pyrender = pyrender
        self.head = head or build_head()
        self.size = size
        mesh = self.head.mesh
        self._incidence = face_to_vertex(mesh.faces, len(mesh.vertices))
        self._colors = np.concatenate([mesh.colors, np.ones((len(mesh.colors), 1))], 1).astype(
            np.float32
        )
        self._materials = {
            name: pyrender.MetallicRoughnessMaterial(
                baseColorFactor=(1.0, 1.0, 1.0, 1.0),
                metallicFactor=0.0,
                roughnessFactor=rough,
                doubleSided=True,
            )
            for name, rough in ROUGHNESS.items()
        }
        self.scene = pyrender.Scene(bg_color=(*BACKGROUND, 1.0), ambient_light=(0.25, 0.25, 0.25))
        if framing == "orthographic":
            (cx, cy), half = ORTHOGRAPHIC
            camera = pyrender.OrthographicCamera(xmag=half, ymag=half, znear=0.05, zfar=1.0)
            self.scene.add(camera, pose=_look_at(np.array([cx, cy, 0.5]), np.array([cx, cy, 0.0])))
        else:
            eye, target = FRAMING[framing]
            fov = np.radians(26.0 if framing == "bust" else 24.0)
            self.scene.add(pyrender.PerspectiveCamera(yfov=fov), pose=_look_at(eye, target))
        for position, intensity in (
            ((-0.35, 0.45, 0.6), 4.5),
            ((0.5, 0.1, 0.35), 2.0),
            ((0.0, 0.3, -0.6), 2.0),
        ):
            light = pyrender.DirectionalLight(color=(1.0, 0.98, 0.95), intensity=intensity)
            self.scene.add(light, pose=_look_at(np.array(position), np.zeros(3)))
        self._node = None
        self._parts = [p for p in self.head.mesh.parts if p.name != "neck"]
        neck = self.head.mesh.part("neck")
        neck_mesh = pyrender.Mesh(
            [self._primitive(neck, mesh.vertices, self._normals(mesh.vertices))]
        )
        self._neck = self.scene.add(neck_mesh, pose=np.eye(4))
        self._renderer = pyrender.OffscreenRenderer(size, size)

    def _normals(self, vertices: np.ndarray) -> np.ndarray:
        return vertex_normals(vertices, self.head.mesh.faces, self._incidence)

    def _primitive(self, part, vertices: np.ndarray, normals: np.ndarray):
        rows = part.vertices
        return self._pyrender.Primitive(
            positions=vertices[rows].astype(np.float32),
            normals=normals[rows],
            color_0=self._colors[rows],
            indices=self.head.mesh.faces[part.faces] - rows.start,
            material=self._materials[part.material],
        )

    def frame(self, weights: np.ndarray, head: np.ndarray | None = None) -> np.ndarray:
        """Render blendshape weights [52] with head channels [6] (pitch, yaw, roll, x, y, z)."""
        vertices = self.head.deform(np.clip(weights, 0.0, 1.0))
        normals = self._normals(vertices)
        primitives = [self._primitive(part, vertices, normals) for part in self._parts]
        if self._node is not None:
            self.scene.remove_node(self._node)
        head = np.zeros(6) if head is None else np.asarray(head)
        self._node = self.scene.add(self._pyrender.Mesh(primitives), pose=head_transform(head))
        self.scene.set_pose(self._neck, neck_transform(head))
        color, _ = self._renderer.render(self.scene)
        return color

    def frames(self, weights: np.ndarray, head: np.ndarray) -> Iterator[np.ndarray]:
        for w, h in zip(weights, head, strict=True):
            yield self.frame(w, h)

    def close(self) -> None:
        self._renderer.delete()

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
        with HeadRenderer(size) as renderer:
            return write_video(
                output,
                renderer.frames(weights, head),
                track.fps,
                audio,
                total=track.frames,
                job=job,
            )


def contact_sheet(
    path: str | os.PathLike[str],
    tiles: Sequence[tuple[str, np.ndarray]],
    *,
    columns: int = 8,
    tile: int = 256,
    job: Job | None = None,
) -> Path:
    """A labelled grid of renders, one per (label, weights [52]), written as an image."""
    from PIL import Image, ImageDraw, ImageFont

    job = job or Job()
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile), tuple(int(c * 255) for c in BACKGROUND))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(10, tile // 14))
    with HeadRenderer(tile, framing="face") as renderer:
        for i, (label, weights) in enumerate(tiles):
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
