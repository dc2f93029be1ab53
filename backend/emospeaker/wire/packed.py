"""Fast access to `repeated float` fields as raw little-endian float32 bytes.

Python protobuf (upb) copies a repeated float field one element at a time: 100k floats take
~25 ms to fill and ~10 ms to read, more than the rest of a call. The packed wire form is
just a tag, a length and the raw floats, so we hand upb those bytes to parse (C speed) and
read them back by serialising a copy holding that field alone.
"""

from __future__ import annotations

import sys
from array import array

from google.protobuf.message import Message


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def append_floats(message: Message, name: str, raw: bytes) -> None:
    """Append little-endian float32 `raw` bytes to the repeated float field `name`."""
    if len(raw) % 4:
        raise ValueError(f"{name}: {len(raw)} bytes is not a whole number of float32")
    if not raw:
        return
    number = message.DESCRIPTOR.fields_by_name[name].number
    message.MergeFromString(_varint(number << 3 | 2) + _varint(len(raw)) + raw)


def float_bytes(message: Message, name: str) -> bytes:
    """The repeated float field `name` as little-endian float32 bytes."""
    count = len(getattr(message, name))
    if count == 0:
        return b""
    only = type(message)()
    only.MergeFrom(message)
    for field in only.DESCRIPTOR.fields:
        if field.name != name:
            only.ClearField(field.name)
    only.DiscardUnknownFields()
    data = only.SerializeToString()  # tag, length, then the packed floats
    return data[len(data) - 4 * count :]


def float_array(message: Message, name: str) -> array:
    """The repeated float field `name` as array('f')."""
    out = array("f")
    out.frombytes(float_bytes(message, name))
    if sys.byteorder == "big":
        out.byteswap()
    return out


def array_bytes(values: array) -> bytes:
    """array('f') as little-endian bytes (for `append_floats`)."""
    if sys.byteorder == "big":
        values = array("f", values)
        values.byteswap()
    return values.tobytes()
