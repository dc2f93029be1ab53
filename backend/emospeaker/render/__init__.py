"""Renderers: FaceTrack -> frames -> video (mesh preview, photo)."""
