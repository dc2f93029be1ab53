"""The face model: landmarks (MediaPipe face mesh), the built-in head, fitting, capture."""

# Here, not in fit.py, so that the CLI can show it without importing scipy and the model.
DEFAULT_SMOOTHING = 0.5  # at 30 fps: passes speech (< 6 Hz), damps frame-to-frame jitter
