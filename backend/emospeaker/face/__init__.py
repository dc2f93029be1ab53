"""The face model: landmarks (MediaPipe face mesh), the built-in head, fitting, capture."""
