"""Convert ICT FaceKit (MIT) into the package's compact face model asset.

    .venv/bin/python scripts/make_face_asset.py [--source ../shared/data/ict_facekit]

Reads the upstream neutral OBJ and the expression / identity offsets and writes
`backend/emospeaker/face/data/ict_facekit/` with the MIT notice and the upstream commit beside
the arrays. What the conversion does, and why:

- Frame: centimetres -> metres, origin midway between the eyeball centres (sphere fits to the
  scleras), +x the character's left, +y up, +z out of the face: the project's face frame
  (`emospeaker.face.anatomy`), so poses and exports need no conversion.
- Parts: the face, head, mouth socket, eye sockets, gums, tongue, teeth, eyeballs (sclera and
  iris as separate materials) and eyelashes. The lacrimal fluid, eye blend and eye occlusion
  shells are dropped: they are transparent overlays that need a layered, sorted renderer to
  look right and change nothing in an opaque render.
- Channels: the 52 ARKit blendshapes in `channels.ARKIT_BLENDSHAPES` order; `_L`/`_R` are
  Left/Right; `browInnerUp` and `cheekPuff` are the sum of ICT's halves; `tongueOut` is built
  here on ICT's tongue (ICT has none).
- Storage: expression offsets are sparse (vertices that move by more than 10 µm) float16 in
  millimetres (0.02 mm steps at the largest offsets); identity components dense float16, the
  first `IDENTITY_COMPONENTS` (the rest move the surface by under 0.3 mm RMS, below what
  MediaPipe's landmarks can resolve).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sparse
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.channels import ARKIT_BLENDSHAPES  # noqa: E402
from emospeaker.face.model import ASSET_DIR, ASSET_FILE, PART_MATERIALS  # noqa: E402

UPSTREAM = "ICT-VGL/ICT-FaceKit at commit da5f95a, folder FaceXModel/"
IDENTITY_COMPONENTS = 30
SPARSE_MM = 0.01  # offsets below this many millimetres are dropped

# Upstream geometry table (README.upstream.md): name, first vertex, first polygon. Each part
# runs to the next one's start.
UPSTREAM_PARTS = [
    ("face", 0, 0),
    ("head", 9409, 9230),
    ("mouth_socket", 11248, 11144),
    ("eye_socket_left", 13294, 13226),
    ("eye_socket_right", 13678, 13630),
    ("gums_tongue", 14062, 14034),
    ("teeth", 17039, 17006),
    ("eyeball_left", 21451, 21496),
    ("eyeball_right", 23021, 23094),
    ("overlays", 24591, 24692),  # lacrimal fluid, eye blend, eye occlusion: dropped
    ("eyelashes_left", 25351, 25304),
    ("eyelashes_right", 26035, 25844),
    ("end", 26719, 26384),
]


def read_obj(path: Path) -> tuple[list[list[int]], list[list[int]], list[str], np.ndarray]:
    """Polygons (vertex ids), their UV ids, their material names, and the UVs of an OBJ.

    Read by hand because the mesh libraries split an OBJ by material and renumber its
    vertices, while the offsets are indexed by the OBJ's own vertex order.
    """
    polygons, uv_polygons, materials, uvs = [], [], [], []
    material = ""
    for line in path.read_text().splitlines():
        if line.startswith("vt "):
            uvs.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("usemtl "):
            material = line.split()[1]
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            polygons.append([int(c[0]) - 1 for c in corners])
            uv_polygons.append([int(c[1]) - 1 for c in corners])
            materials.append(material)
    return polygons, uv_polygons, materials, np.array(uvs)


def sphere_center(points: np.ndarray) -> np.ndarray:
    """Least-squares centre of a sphere through points [N, 3]."""
    a = np.c_[2 * points, np.ones(len(points))]
    b = (points**2).sum(1)
    return np.linalg.lstsq(a, b, rcond=None)[0][:3]


def tongue_vertices(
    polygons: list[list[int]], uv_polygons: list[list[int]], neutral: np.ndarray, span: slice
) -> np.ndarray:
    """The tongue's vertices among the gums and tongue: its UV islands are the ones on the
    midline, at most 2.8 cm to each side, and at least 6 cm long front to back (the palate and
    the gums are wider, the mouth floor and inner gums shorter)."""
    polys = polygons[span]
    uv_polys = uv_polygons[span]
    rows = [a for p in uv_polys for a in p]
    cols = [b for p in uv_polys for b in p[1:] + p[:1]]
    n = max(rows) + 1
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, island = connected_components(graph, directed=False)
    tongue: set[int] = set()
    for label in np.unique([island[p[0]] for p in uv_polys]):
        ids = np.unique(
            [v for p, t in zip(polys, uv_polys, strict=True) if island[t[0]] == label for v in p]
        )
        x, z = neutral[ids, 0], neutral[ids, 2]
        if abs(x.mean()) < 0.2 and np.abs(x).max() <= 2.8 and np.ptp(z) >= 6.0:
            tongue.update(ids.tolist())
    return np.array(sorted(tongue))


def tongue_out(neutral: np.ndarray, tongue: np.ndarray) -> np.ndarray:
    """Offsets [N, 3] (cm) that push the tongue out between the lips: the front two thirds slide
    forward up to 2.8 cm and down 0.5 cm, the root stays, smoothly in between."""
    z = neutral[tongue, 2]
    t = np.clip((z - z.min()) / np.ptp(z) * 1.5 - 0.5, 0.0, 1.0)
    w = t * t * (3 - 2 * t)
    out = np.zeros_like(neutral)
    out[tongue, 2] = 2.8 * w
    out[tongue, 1] = -0.5 * w
    return out


def convert(source: Path) -> dict[str, np.ndarray]:
    polygons, uv_polygons, materials, _ = read_obj(source / "generic_neutral_mesh.obj")
    data = np.load(source / "ict_facekit_deltas.npz")
    neutral_cm = data["neutral"].astype(np.float64)
    names = [str(n) for n in data["expression_names"]]

    spans = {
        name: (slice(v0, v1), slice(p0, p1))
        for (name, v0, p0), (_, v1, p1) in zip(UPSTREAM_PARTS, UPSTREAM_PARTS[1:], strict=False)
    }
    tongue = tongue_vertices(polygons, uv_polygons, neutral_cm, spans["gums_tongue"][1])
    by_name = dict(zip(names, data["expressions"].astype(np.float64), strict=True))
    offsets = []
    for channel in ARKIT_BLENDSHAPES:
        if channel in ("browInnerUp", "cheekPuff"):
            offsets.append(by_name[f"{channel}_L"] + by_name[f"{channel}_R"])
        elif channel == "tongueOut":
            offsets.append(tongue_out(neutral_cm, tongue))
        elif channel in by_name:  # jawLeft, mouthRight, ...: sideways moves, not halves
            offsets.append(by_name[channel])
        else:
            offsets.append(
                by_name[
                    channel.removesuffix("Left") + "_L"
                    if channel.endswith("Left")
                    else channel.removesuffix("Right") + "_R"
                ]
            )
    offsets = np.stack(offsets)

    # keep every part but the overlays; renumber vertices
    keep_parts = [p for p, _, _ in UPSTREAM_PARTS[:-1] if p != "overlays"]
    kept = np.concatenate([np.arange(26719)[spans[p][0]] for p in keep_parts])
    new_id = np.full(len(neutral_cm), -1)
    new_id[kept] = np.arange(len(kept))

    # parts: gums and tongue become two parts (the tongue has its own shape and material)
    part_names, part_of_vertex = [], np.zeros(len(kept), np.int16)
    is_tongue = np.zeros(len(neutral_cm), bool)
    is_tongue[tongue] = True
    for part in keep_parts:
        ids = new_id[np.arange(26719)[spans[part][0]]]
        if part == "gums_tongue":
            for sub, mask in (("gums", ~is_tongue), ("tongue", is_tongue)):
                part_names.append(sub)
                part_of_vertex[ids[mask[spans[part][0]]]] = len(part_names) - 1
        else:
            part_names.append(part)
            part_of_vertex[ids] = len(part_names) - 1

    # triangles (quads fanned) and their material
    triangles, triangle_material = [], []
    material_names = sorted(set(PART_MATERIALS.values()) | {"iris"})
    for part in keep_parts:
        for poly, upstream_material in zip(
            polygons[spans[part][1]], materials[spans[part][1]], strict=True
        ):
            ids = new_id[poly]
            part_name = part_names[part_of_vertex[ids[0]]]
            material = "iris" if "Iris" in upstream_material else PART_MATERIALS[part_name]
            for k in range(1, len(ids) - 1):
                triangles.append((ids[0], ids[k], ids[k + 1]))
                triangle_material.append(material_names.index(material))

    # frame: metres, origin between the eyeball centres
    scleras = [
        np.unique(
            [
                v
                for p, m in zip(polygons, materials, strict=True)
                if m == f"M_Sclera{side}"
                for v in p
            ]
        )
        for side in ("Left", "Right")
    ]
    center = 0.5 * (sphere_center(neutral_cm[scleras[0]]) + sphere_center(neutral_cm[scleras[1]]))
    center[0] = 0.0
    neutral_m = (neutral_cm[kept] - center) / 100.0

    asset = {
        "vertices": neutral_m.astype(np.float32),
        "triangles": np.array(triangles, np.uint16),
        "triangle_material": np.array(triangle_material, np.uint8),
        "material_names": np.array(material_names),
        "part_names": np.array(part_names),
        "part_of_vertex": part_of_vertex,
        "channels": np.array(ARKIT_BLENDSHAPES),
        "landmarks68": new_id[
            np.array(
                json.loads((source / "vertex_indices.json").read_text())["idx_to_landmark_verts"]
            )
        ].astype(np.int32),
    }
    # sparse float16 millimetre offsets
    mm = offsets[:, kept] * 10.0
    index, delta, start = [], [], [0]
    for shape in mm:
        moved = np.flatnonzero(np.abs(shape).max(1) > SPARSE_MM)
        index.append(moved)
        delta.append(shape[moved])
        start.append(start[-1] + len(moved))
    asset["shape_index"] = np.concatenate(index).astype(np.uint16)
    asset["shape_delta_mm"] = np.concatenate(delta).astype(np.float16)
    asset["shape_start"] = np.array(start, np.int32)
    identities = data["identities"][:IDENTITY_COMPONENTS, kept].astype(np.float64) * 10.0
    asset["identity_mm"] = identities.astype(np.float16)
    return asset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=ROOT.parent / "shared" / "data" / "ict_facekit"
    )
    args = parser.parse_args()
    asset = convert(args.source)
    ASSET_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(ASSET_FILE, **asset)
    shutil.copyfile(args.source / "LICENSE", ASSET_DIR / "LICENSE")
    (ASSET_DIR / "SOURCE.md").write_text(
        f"# ICT FaceKit (converted)\n\nFrom {UPSTREAM}, under the MIT licence (`LICENSE`).\n"
        "Converted by `scripts/make_face_asset.py` (see its docstring for what it keeps and "
        "why); rebuild with\n`.venv/bin/python scripts/make_face_asset.py --source "
        "PATH/TO/ict_facekit`.\n"
    )
    size = ASSET_FILE.stat().st_size / 1e6
    print(
        f"{ASSET_FILE.relative_to(ROOT)}: {len(asset['vertices'])} vertices, "
        f"{len(asset['triangles'])} triangles, {size:.1f} MB"
    )


if __name__ == "__main__":
    main()
