"""The wire layer: generated gRPC stubs (from protos/) and the client.

Everything in this package imports only grpcio, protobuf and its own modules (relatively),
so the Blender add-on can bundle it as is.
"""
