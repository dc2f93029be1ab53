"""Make the README's pictures (docs/images/*.png) with the project's own renderers.

    .venv/bin/python scripts/make_readme_images.py            # both pictures
    .venv/bin/python scripts/make_readme_images.py --out DIR

- head.png: the built-in head (mesh preview) speaking the bundled sample with an emotion
  change: four frames, labelled.
- photo.png: a portrait that ships with matplotlib (grace_hopper.jpg) animated by the photo
  renderer with the same track: the photo, then three frames.

Both come from the default engine on samples/hello.flac, so they change when the head, the
engine or the renderers do: rerun after such a change and commit the pictures (kept small:
256-colour PNGs, well under 200 KB each).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "hello.flac"
KEYS = "0s=neutral:0,0.8s=happy:1,2.4s=surprised:0.8,3.6s=sad:0.8"
TILE = 224
MAX_BYTES = 200_000


def sample_track():  # noqa: ANN201 - a FaceTrack
    """The bundled line with the README's emotion keys, on the default engine."""
    from emospeaker.api import animate
    from emospeaker.audio import load_audio
    from emospeaker.emotion import EmotionTimeline

    return animate(load_audio(SAMPLE), EmotionTimeline.parse(KEYS), fps=25, seed=0)


WINDOWS = (("neutral", 0.0, 0.8), ("happy", 1.2, 2.4), ("surprised", 2.7, 3.6), ("sad", 3.9, 9.0))


def picks(track) -> list[tuple[str, int]]:  # noqa: ANN001
    """(label, frame): in each emotion's stretch of the line (after the blend into it), the
    frame whose mouth opening is nearest the stretch's 75th percentile: mid-word, not the
    widest vowel."""
    jaw = track.values[:, track.channels.index("jawOpen")]
    chosen = []
    for emotion, start, end in WINDOWS:
        frames = np.arange(int(start * 25), min(int(end * 25), track.frames))
        target = np.percentile(jaw[frames], 75)
        frame = int(frames[np.argmin(np.abs(jaw[frames] - target))])
        chosen.append((f"{emotion}, {frame / 25:.1f} s", frame))
    return chosen


def head_frames(track, frames: list[int]) -> list[np.ndarray]:  # noqa: ANN001
    from emospeaker.face.tracks import track_arrays
    from emospeaker.render.preview import HeadRenderer

    weights, head = track_arrays(track)
    with HeadRenderer(TILE, framing="face") as renderer:
        return [renderer.frame(weights[f], head[f]) for f in frames]


def photo_frames(track, frames: list[int]) -> list[np.ndarray]:  # noqa: ANN001
    import matplotlib.cbook

    from emospeaker.render.photo import PhotoRenderer
    from emospeaker.render.portrait.motion import face_motion

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        portrait = np.asarray(Image.open(f).convert("RGB"))
    animator = PhotoRenderer().prepare(portrait, 256)
    targets = list(face_motion(animator.landmarks, track))
    return [animator.canvas] + [animator.frame(targets[f]) for f in frames]


def strip(images: list[np.ndarray], labels: list[str], path: Path) -> Path:
    """The images side by side at TILE px, labelled, as a small 256-colour PNG."""
    tiles = [Image.fromarray(np.asarray(im)).resize((TILE, TILE)) for im in images]
    sheet = Image.new("RGB", (TILE * len(tiles), TILE), (30, 30, 30))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for i, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        sheet.paste(tile, (i * TILE, 0))
        draw.text((i * TILE + 7, TILE - 7), label, fill=(255, 255, 255), font=font, anchor="ld",
                  stroke_width=2, stroke_fill=(0, 0, 0))  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(colors=256, dither=Image.Dither.NONE).save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes, over {MAX_BYTES}: make TILE smaller")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    track = sample_track()
    chosen = picks(track)
    labels = [label for label, _ in chosen]
    frames = [frame for _, frame in chosen]
    print(strip(head_frames(track, frames), labels, args.out / "head.png"))
    print(strip(photo_frames(track, frames), ["the photo", *labels], args.out / "photo.png"))


if __name__ == "__main__":
    main()
