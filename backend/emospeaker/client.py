"""The EmoSpeaker gRPC client, importable with only grpcio and protobuf.

It is `emospeaker.wire.client` (which the Blender add-on bundles as is) under the package's
public name; `emospeaker.remote` turns its results into FaceTracks for numpy users.

    from emospeaker.client import Client, audio_file
    with Client("127.0.0.1:50051") as client:
        track = client.animate_track(audio_file("line.wav"), fps=(24, 1), emotion={"happy": 0.8})
"""

from .wire.client import *  # noqa: F403
from .wire.client import __all__  # noqa: F401
