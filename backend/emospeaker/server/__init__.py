"""The gRPC backend: `emospeaker serve` and everything it is made of.

app.py           the server: service, health, reflection, auth, TLS, drain
servicer.py      GetCapabilities / Animate / Render
plans.py         requests checked up front, then run on a worker
convert.py       wire messages <-> FaceTrack, Audio, EmotionTimeline (numpy side)
capabilities.py  what this server offers
limits.py        limits and the bounded worker pool
auth.py          bearer token on every call
status.py        exceptions -> gRPC status codes
log.py           one JSON line per request
"""

from .app import Server, ServerConfig, is_loopback
from .limits import Limits

__all__ = ["Server", "ServerConfig", "Limits", "is_loopback"]
