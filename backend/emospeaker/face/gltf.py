"""The built-in head (ICT FaceKit, `face.head`) as glTF 2.0: its materials, 52 morph targets
and a FaceTrack animation.

The file (.glb, or .gltf with the buffer embedded) holds a node `EmoSpeakerHead` that turns
the head about its neck pivot (the track's head channels: rotation and translation) with a
child mesh node holding one primitive per material (skin, mouth, gums, teeth, tongue,
sclera, iris, lashes; painted vertex colours in COLOR_0), each with the 52 ARKit morph
targets (the head's own shapes) as sparse accessors and their names in
`mesh.extras.targetNames` (Blender's importer turns them into shape keys); and a node
`EmoSpeakerNeck` with the base of the neck and the shoulders (below `NECK_CUT`, where the
shapes move the skin by under a millimetre), which turns by half the head's rotation. Rigid
nodes keep the file simple for any importer; the price is a seam at the cut when the head
turns (the preview blends the neck smoothly instead). A track becomes one animation: the
morph weights (LINEAR) and both nodes' rotation and translation. Frame i of the track is at
time (start_frame + i) / fps.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..channels import ARKIT_BLENDSHAPES
from ..errors import InputError
from ..files import atomic_output
from ..track import FaceTrack
from .anatomy import HEAD_PIVOT
from .head import ROUGHNESS, Head, build_head
from .normals import vertex_normals
from .pose import NECK_SHARE, head_rotation
from .tracks import track_arrays

FLOAT, UINT = 5126, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
NECK_CUT = -0.19  # metres (face frame): skin wholly below this is the neck node's


class _Builder:
    """Accumulates buffer views and accessors into one binary buffer."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def view(self, data: np.ndarray, target: int | None = None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        raw = np.ascontiguousarray(data).tobytes()
        entry: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(raw)}
        if target is not None:
            entry["target"] = target
        self.blob.extend(raw)
        self.views.append(entry)
        return len(self.views) - 1

    def accessor(self, data: np.ndarray, kind: str, target: int | None = None, bounds=False) -> int:
        data = np.asarray(data)
        component = UINT if data.dtype.kind in "ui" else FLOAT
        data = data.astype(np.uint32 if component == UINT else np.float32)
        entry: dict[str, Any] = {
            "bufferView": self.view(data, target),
            "componentType": component,
            "count": int(len(data)),
            "type": kind,
        }
        if bounds:
            flat = data.reshape(len(data), -1)
            entry["min"] = flat.min(axis=0).tolist()
            entry["max"] = flat.max(axis=0).tolist()
        self.accessors.append(entry)
        return len(self.accessors) - 1

    def sparse_vec3(self, dense: np.ndarray) -> int:
        """A VEC3 accessor of zeros except where `dense` [n, 3] is non-zero (morph targets)."""
        dense = dense.astype(np.float32)
        moving = np.flatnonzero(np.any(np.abs(dense) > 1e-6, axis=1)).astype(np.uint32)  # 1 µm
        entry: dict[str, Any] = {
            "componentType": FLOAT,
            "count": int(len(dense)),
            "type": "VEC3",
            "min": dense.min(axis=0).tolist(),
            "max": dense.max(axis=0).tolist(),
        }
        if len(moving):
            entry["sparse"] = {
                "count": int(len(moving)),
                "indices": {"bufferView": self.view(moving), "componentType": UINT},
                "values": {"bufferView": self.view(dense[moving])},
            }
        self.accessors.append(entry)
        return len(self.accessors) - 1


def _materials(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": f"EmoSpeaker_{name}",
            "doubleSided": True,
            "pbrMetallicRoughness": {
                "baseColorFactor": [1.0, 1.0, 1.0, 1.0],
                "metallicFactor": 0.0,
                "roughnessFactor": ROUGHNESS[name],
            },
        }
        for name in names
    ]


def _split(head: Head) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks [T] of the head mesh's and the neck mesh's triangles."""
    model = head.model
    skin = np.isin(model.part_of_vertex, [model.part_names.index(p) for p in ("face", "head")])
    low = skin & (head.vertices[:, 1] < NECK_CUT)
    neck = low[model.triangles].all(axis=1)
    return ~neck, neck


def _primitives(b: _Builder, head: Head, chosen: np.ndarray, morphs: bool) -> list[dict[str, Any]]:
    """One primitive per material among the `chosen` triangles, each with its own vertices."""
    model = head.model
    vertices, deltas = head.vertices, head.deltas if morphs else None
    normals = vertex_normals(vertices, model.triangles)
    primitives = []
    for m, name in enumerate(model.material_names):
        triangles = model.triangles[chosen & (model.triangle_material == m)]
        if not len(triangles):
            continue
        rows, local = np.unique(triangles, return_inverse=True)
        primitive = {
            "attributes": {
                "POSITION": b.accessor(vertices[rows], "VEC3", ARRAY_BUFFER, bounds=True),
                "NORMAL": b.accessor(normals[rows], "VEC3", ARRAY_BUFFER),
                "COLOR_0": b.accessor(head.colors[rows], "VEC3", ARRAY_BUFFER),
            },
            "indices": b.accessor(local.reshape(-1), "SCALAR", ELEMENT_ARRAY_BUFFER),
            "material": m,
            "extras": {"material": name},
        }
        if deltas is not None:
            primitive["targets"] = [{"POSITION": b.sparse_vec3(d[rows])} for d in deltas]
        primitives.append(primitive)
    return primitives


def _animation(
    b: _Builder, track: FaceTrack, pivot_node: int, mesh_node: int, neck_node: int
) -> dict[str, Any]:
    weights, head = track_arrays(track)
    times = (track.start_frame + np.arange(track.frames)) / float(track.fps)
    time_accessor = b.accessor(times.astype(np.float32), "SCALAR", bounds=True)
    translation = b.accessor(HEAD_PIVOT[None, :] + head[:, 3:6], "VEC3")
    head_turn = _quaternions(head_rotation(head[:, :3]))
    neck_turn = _quaternions(head_rotation(NECK_SHARE * head[:, :3]))
    outputs = [
        (mesh_node, "weights", b.accessor(np.clip(weights, 0, 1).reshape(-1), "SCALAR")),
        (pivot_node, "rotation", b.accessor(head_turn, "VEC4")),
        (pivot_node, "translation", translation),
        (neck_node, "rotation", b.accessor(neck_turn, "VEC4")),
        (neck_node, "translation", translation),
    ]
    samplers, channels = [], []
    for i, (node, path, output) in enumerate(outputs):
        samplers.append({"input": time_accessor, "output": output, "interpolation": "LINEAR"})
        channels.append({"sampler": i, "target": {"node": node, "path": path}})
    name = str(track.provenance.get("name") or track.provenance.get("engine") or "EmoSpeaker")
    return {"name": name, "samplers": samplers, "channels": channels}


def _quaternions(rotations: np.ndarray) -> np.ndarray:
    """Unit quaternions (x, y, z, w) of rotation matrices [n, 3, 3], sign-continuous."""
    from scipy.spatial.transform import Rotation

    quats = Rotation.from_matrix(rotations).as_quat()
    for i in range(1, len(quats)):  # keep neighbours in the same hemisphere: no flips
        if np.dot(quats[i], quats[i - 1]) < 0:
            quats[i] = -quats[i]
    return quats


def head_gltf(head: Head | None = None, track: FaceTrack | None = None) -> tuple[dict, bytes]:
    """The glTF JSON document and its binary buffer."""
    head = head or build_head()
    b = _Builder()
    face, neck_triangles = _split(head)
    primitives = _primitives(b, head, face, morphs=True)
    neck = _primitives(b, head, neck_triangles, morphs=False)
    pivot, back = HEAD_PIVOT.tolist(), (-HEAD_PIVOT).tolist()
    nodes = [
        {"name": "EmoSpeakerHead", "translation": pivot, "children": [1]},
        {"name": "EmoSpeakerHeadMesh", "mesh": 0, "translation": back},
        {"name": "EmoSpeakerNeck", "translation": pivot, "children": [3]},
        {"name": "EmoSpeakerNeckMesh", "mesh": 1, "translation": back},
    ]
    document: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "EmoSpeaker (emospeaker.face.gltf)"},
        "scene": 0,
        "scenes": [{"name": "EmoSpeaker", "nodes": [0, 2]}],
        "nodes": nodes,
        "meshes": [
            {
                "name": "EmoSpeakerHead",
                "primitives": primitives,
                "weights": [0.0] * len(ARKIT_BLENDSHAPES),
                "extras": {"targetNames": list(ARKIT_BLENDSHAPES)},
            },
            {"name": "EmoSpeakerNeck", "primitives": neck},
        ],
        "materials": _materials(head.model.material_names),
    }
    if track is not None:
        document["animations"] = [_animation(b, track, 0, 1, 2)]
    document["bufferViews"] = b.views
    document["accessors"] = b.accessors
    document["buffers"] = [{"byteLength": len(b.blob)}]
    return document, bytes(b.blob)


def export_head_gltf(
    path: str | os.PathLike[str], track: FaceTrack | None = None, head: Head | None = None
) -> Path:
    """Write the head (and `track` as an animation) to .glb or .gltf, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".glb", ".gltf"):
        raise InputError(f"{path}: glTF files end in .glb or .gltf", field="output")
    document, blob = head_gltf(head, track)
    with atomic_output(path) as tmp:
        if suffix == ".gltf":
            uri = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
            document["buffers"][0]["uri"] = uri
            tmp.write_text(json.dumps(document, separators=(",", ":")))
        else:
            tmp.write_bytes(_glb(document, blob))
    return path


def _glb(document: dict, blob: bytes) -> bytes:
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    blob = blob + b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    header = struct.pack("<4sII", b"glTF", 2, total)
    return (
        header
        + struct.pack("<I4s", len(text), b"JSON")
        + text
        + struct.pack("<I4s", len(blob), b"BIN\0")
        + blob
    )
