"""The photo renderer's parts: framing a portrait, the warp mesh, eyes, mouth interior.

`emospeaker.render.photo.PhotoRenderer` strings them together; each part works on plain
arrays (an RGB canvas and [478, 2] landmark positions in its pixels) and is testable alone.
"""
