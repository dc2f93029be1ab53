"""The wire layer: generated gRPC stubs (from protos/) and the client (client.py; with
requests.py, track.py, errors.py and packed.py).

Everything in this package imports only grpcio, protobuf and its own modules (relatively),
so the Blender add-on can bundle it as is.
"""
