"""A minimal offscreen OpenGL target: pyrender's platform context, one framebuffer, readback.

PYOPENGL_PLATFORM picks the context: `osmesa` (default; Mesa on the CPU) or `egl` (a GPU, or
Mesa headless). It must be set before OpenGL is first imported: take OpenGL's `GL` from here.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

import numpy as np  # noqa: E402
from OpenGL import GL  # noqa: E402
from OpenGL.GL import shaders  # noqa: E402

from ..errors import EmoSpeakerError  # noqa: E402


def _platform(width: int, height: int):
    """pyrender's context for PYOPENGL_PLATFORM (it knows each platform's set-up quirks)."""
    name = os.environ["PYOPENGL_PLATFORM"]
    if name == "osmesa":
        from pyrender.platforms.osmesa import OSMesaPlatform

        return OSMesaPlatform(width, height)
    if name == "egl":
        from pyrender.platforms import egl

        device = egl.get_device_by_index(int(os.environ.get("EGL_DEVICE_ID", "0")))
        return egl.EGLPlatform(width, height, device=device)
    raise EmoSpeakerError(f"PYOPENGL_PLATFORM={name!r}: offscreen rendering needs osmesa or egl")


class Offscreen:
    """An OpenGL context drawing into its own colour + depth framebuffer of width x height.

    Each instance has its own context: `make_current()` before drawing when several exist.
    """

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self._platform = _platform(width, height)
        self._platform.init_context()
        self._platform.make_current()
        self._framebuffer = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._framebuffer)
        self._renderbuffers = GL.glGenRenderbuffers(2)
        for buffer, storage, attachment in zip(
            self._renderbuffers,
            (GL.GL_RGBA8, GL.GL_DEPTH_COMPONENT24),
            (GL.GL_COLOR_ATTACHMENT0, GL.GL_DEPTH_ATTACHMENT),
            strict=True,
        ):
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, buffer)
            GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, storage, width, height)
            GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, attachment, GL.GL_RENDERBUFFER, buffer)
        if GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER) != GL.GL_FRAMEBUFFER_COMPLETE:
            raise EmoSpeakerError("OpenGL refused a colour + depth framebuffer")
        GL.glViewport(0, 0, width, height)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)

    def make_current(self) -> None:
        self._platform.make_current()
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._framebuffer)

    def read_rgb(self) -> np.ndarray:
        """The finished frame: RGB uint8 [height, width, 3], top row first."""
        data = GL.glReadPixels(0, 0, self.width, self.height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        return np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3)[::-1]

    def delete(self) -> None:
        """Free the context (and with it every buffer and program made in it)."""
        if self._platform is not None:
            self._platform.make_current()
            self._platform.delete_context()
            self._platform = None


def program(vertex: str, fragment: str) -> int:
    """A linked shader program from GLSL sources (compile errors name the failing line)."""
    return shaders.compileProgram(
        shaders.compileShader(vertex, GL.GL_VERTEX_SHADER),
        shaders.compileShader(fragment, GL.GL_FRAGMENT_SHADER),
        validate=False,  # validation needs a bound vertex array; drawing checks the same
    )
