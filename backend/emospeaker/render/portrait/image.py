"""Portrait bytes -> RGB pixels, refusing decompression bombs before decoding them.

A few hundred kilobytes of png can hold gigapixels of zeros, so the size is read from the
image's header (Pillow opens lazily: it parses the header and stops) and checked before OpenCV
decodes anything. OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS) cannot do this: it is read
once, when cv2 is first imported, which in the server happens before any request. Pillow comes
with the `face` extra (pyrender needs it), as does cv2.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from ...errors import InputError, LimitError

MAX_PORTRAIT_PIXELS = 50_000_000
FORMATS = "jpg, png, webp, bmp or tiff"


def decode_portrait(
    data: bytes, name: str, *, field: str = "portrait", max_pixels: int = MAX_PORTRAIT_PIXELS
) -> np.ndarray:
    """RGB uint8 [h, w, 3] pixels of an encoded image. Errors start with `name` (a file or
    "portrait") and carry `field`: InputError when `data` is not an image, LimitError when
    it has more than `max_pixels` pixels (refused from its header, before decoding)."""
    import cv2

    width, height = _header_size(data, name, field, max_pixels)
    _check_size(width, height, name, field, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise InputError(f"{name}: cannot decode the image ({exc.err})", field=field) from None
    if image is None:
        raise InputError(f"{name}: cannot decode the image ({FORMATS})", field=field)
    _check_size(image.shape[1], image.shape[0], name, field, max_pixels)  # header lied
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def header_pixels(
    data: bytes, name: str, *, field: str = "portrait", max_pixels: int = MAX_PORTRAIT_PIXELS
) -> int:
    """width x height of an encoded image from its header alone (nothing is decoded):
    InputError when it is not an image, LimitError over `max_pixels`."""
    width, height = _header_size(data, name, field, max_pixels)
    _check_size(width, height, name, field, max_pixels)
    return width * height


def _header_size(data: bytes, name: str, field: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) from the header alone."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # Pillow's own bomb limit: ours is checked next
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Image.DecompressionBombError as exc:  # over twice Pillow's limit
        raise LimitError(f"{name}: over {max_pixels} pixels ({exc})", field=field) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InputError(
            f"{name}: not an image ({FORMATS}; {len(data)} bytes)", field=field
        ) from None


def _check_size(width: int, height: int, name: str, field: str, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise LimitError(f"{name}: {width}x{height} is over {max_pixels} pixels", field=field)
